"""CompressedModel -> ONNX of the fake-quantized float network (fq_hls.reference.float_model, float32).

Same operations in the same order as the numpy float executor: conv / fc with the dequantized weights and
the conv bias, batch norm as y * a + c (eval statistics, a = gamma / sqrt(var + eps)), ReLU, max pool (padding
never wins), global average pool, residual add, flatten. Input "input" float32 (N, C, H, W), normalised with
the model's mean/std; output "logits" float32 (N, classes). Agreement with the numpy executor is to float32
rounding (summation order), see fq_hls.export.check.FLOAT_RTOL.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import InputError
from ..model import CompressedModel, Node
from ..model_validation import validate_model
from ..node_geometry import conv_geometry, pool_geometry
from .graph_builder import GraphBuilder, tensor_info


def _col(v) -> np.ndarray:
    return np.asarray(v, np.float32).reshape(1, -1, 1, 1)


def _weighted(b: GraphBuilder, node: Node, x: str) -> str:
    w = node.weight.dequantize()
    base = node.name
    if node.op == "fc":
        flat = b.op("Flatten", [x], f"{base}/flat", axis=1)
        inputs = [flat, b.const(f"{base}/weight", w.reshape(w.shape[0], -1))]
        if node.bias is not None:
            inputs.append(b.const(f"{base}/bias", np.asarray(node.bias, np.float32).ravel()))
        y = b.op("Gemm", inputs, f"{base}/gemm", transB=1)
        y = b.op("Unsqueeze", [y, b.const(f"{base}/axes", np.array([2, 3], np.int64))], f"{base}/nchw")
    else:
        k, s, p = conv_geometry(node)
        inputs = [x, b.const(f"{base}/weight", w)]
        if node.bias is not None:
            inputs.append(b.const(f"{base}/bias", np.asarray(node.bias, np.float32).ravel()))
        y = b.op("Conv", inputs, f"{base}/conv", kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    if node.bn is not None:
        a, c = node.bn.affine()
        y = b.op("Mul", [y, b.const(f"{base}/bn_a", _col(a))], f"{base}/bn_mul")
        y = b.op("Add", [y, b.const(f"{base}/bn_c", _col(c))], f"{base}/bn")
    return y


def _node(b: GraphBuilder, node: Node, inputs: list[str]) -> str:
    base = node.name
    if node.op in ("conv", "fc"):
        y = _weighted(b, node, inputs[0])
    elif node.op == "maxpool":
        k, s, p = pool_geometry(node)
        y = b.op("MaxPool", inputs[:1], f"{base}/max", kernel_shape=[k, k], strides=[s, s], pads=[p] * 4)
    elif node.op == "avgpool":
        y = b.op("GlobalAveragePool", inputs[:1], f"{base}/avg")
    elif node.op == "add":
        y = b.op("Add", inputs[:2], f"{base}/add")
    elif node.op == "flatten":
        y = b.op("Flatten", inputs[:1], f"{base}/flat", axis=1)
        y = b.op("Unsqueeze", [y, b.const(f"{base}/axes", np.array([2, 3], np.int64))], f"{base}/nchw")
    else:
        raise InputError(f"node {node.name!r}: op {node.op!r} has no ONNX export")
    if node.relu:
        y = b.op("Relu", [y], f"{base}/relu")
    return y


def float_onnx(cm: CompressedModel) -> onnx.ModelProto:
    """The ONNX model of the fake-quantized float network: float32 "input" -> float32 "logits"."""
    validate_model(cm, f"{cm.arch} model")
    b = GraphBuilder()
    b.fresh("input")
    out = {"input": "input"}
    for node in cm.nodes:
        missing = [i for i in node.inputs if i not in out]
        if missing:
            raise InputError(f"node {node.name!r}: input {missing[0]!r} is not computed before it")
        out[node.name] = _node(b, node, [out[i] for i in node.inputs])
    b.op("Flatten", [out[cm.output]], "logits", out="logits", axis=1)
    meta = {
        "fq_hls.kind": "float",
        "fq_hls.arch": cm.arch,
        "fq_hls.method": cm.method,
        "fq_hls.input": "float32 NCHW = (pixels - mean) / std",
        "fq_hls.mean": ",".join(repr(float(v)) for v in cm.mean),
        "fq_hls.std": ",".join(repr(float(v)) for v in cm.std),
    }
    return b.model(
        f"{cm.arch}_{cm.method}_float",
        [tensor_info("input", np.float32, [None, *(int(v) for v in cm.input_shape)])],
        [tensor_info("logits", np.float32, [None, int(cm.num_classes)])],
        "fq-hls fake-quantized float network (fq_hls.reference.float_model)",
        meta,
    )
