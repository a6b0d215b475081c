"""ONNX export of a compressed model (needs the `export` extra: onnx, onnxruntime).

* `integer_onnx(graph)`: the integer network (fq_hls.ir) in standard ONNX ops, bit-exact with the numpy
  reference (fq_hls.reference.run_integer); see fq_hls/export/integer.py for how each step stays exact.
* `float_onnx(model)`: the fake-quantized float network (fq_hls.reference.float_model), within FLOAT_RTOL.
* `check_integer` / `check_float`: run the ONNX model in onnxruntime against the numpy reference.
"""

from .check import FLOAT_RTOL, check_float, check_integer
from .float_net import float_onnx
from .integer import integer_onnx

__all__ = ["FLOAT_RTOL", "check_float", "check_integer", "float_onnx", "integer_onnx"]
