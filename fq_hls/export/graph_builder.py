"""A small accumulator of ONNX nodes and initializers with unique names (wraps onnx.helper)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # ReduceSum with its axes as an input (13+); Clip/Max/Min/Mod on int64 (12+)
ONNX_DTYPE = {
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.int16): TensorProto.INT16,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.float32): TensorProto.FLOAT,
}


class GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()

    def fresh(self, base: str) -> str:
        """A tensor name starting with `base` that is not used yet."""
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str, out: str | None = None, **attrs) -> str:
        """Append one node; returns its output tensor (`out` if given, else a fresh name from `base`)."""
        if out is None:
            out = self.fresh(base)
        else:
            self._names.add(out)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.fresh(f"{base}/{op_type}"), **attrs))
        return out

    def cast(self, x: str, dtype, base: str, out: str | None = None) -> str:
        return self.op("Cast", [x], base, out, to=ONNX_DTYPE[np.dtype(dtype)])

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers, doc_string=doc)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="fq-hls",
                              doc_string=doc)
        m.ir_version = min(m.ir_version, 8)  # what onnxruntime >= 1.14 reads
        for k, v in metadata.items():
            entry = m.metadata_props.add()
            entry.key, entry.value = k, str(v)
        onnx.checker.check_model(m, full_check=True)
        return m


def tensor_info(name: str, dtype, shape: list) -> onnx.ValueInfoProto:
    """Value info with a symbolic batch dimension "N" where shape holds None."""
    return helper.make_tensor_value_info(name, ONNX_DTYPE[np.dtype(dtype)], ["N" if d is None else d for d in shape])
