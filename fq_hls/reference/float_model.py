"""Numpy float executor of a `CompressedModel` (fake-quantized weights, float activations).

It is the float side of every check of the integer path (lowering, reference, engine) and works without
torch. Tensors are NCHW float32; fc outputs are (N, O, 1, 1) internally and the logits come back (N, O).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..model import CompressedModel, Node
from ..node_geometry import conv_geometry, pool_geometry
from .patches import cols_to_nchw, im2col, windows


def _weighted(node: Node, x: np.ndarray) -> np.ndarray:
    w = node.weight.dequantize()
    if node.op == "fc":
        if w.ndim != 2:
            raise InputError(f"node {node.name!r}: fc weight must be (O, I), got {w.shape}")
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != w.shape[1]:
            raise InputError(f"node {node.name!r}: fc expects {w.shape[1]} inputs, got {x2.shape[1]}")
        y = (x2 @ w.T)[:, :, None, None]
    else:
        k, s, p = conv_geometry(node)
        if x.shape[1] != w.shape[1]:
            raise InputError(
                f"node {node.name!r}: conv expects {w.shape[1]} input channels, got {x.shape[1]}"
            )
        cols, oh, ow = im2col(x, k, s, p)
        y = cols_to_nchw(cols @ w.reshape(w.shape[0], -1).T, x.shape[0], oh, ow)
    if node.bias is not None:
        y = y + node.bias.astype(np.float32)[None, :, None, None]
    if node.bn is not None:
        a, c = node.bn.affine()
        y = y * a.astype(np.float32)[None, :, None, None] + c.astype(np.float32)[None, :, None, None]
    return y


def run_node(node: Node, inputs: list[np.ndarray]) -> np.ndarray:
    """Float output of one node given its input arrays (in `node.inputs` order)."""
    x = inputs[0]
    if node.op in ("conv", "fc"):
        y = _weighted(node, x)
    elif node.op == "maxpool":
        k, s, p = pool_geometry(node)
        y = windows(x, k, s, p, pad_value=-np.inf).max(axis=(-2, -1))
    elif node.op == "avgpool":
        y = x.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32)
    elif node.op == "add":
        if len(inputs) != 2 or inputs[0].shape != inputs[1].shape:
            raise InputError(f"node {node.name!r}: add needs two inputs of the same shape")
        y = inputs[0] + inputs[1]
    elif node.op == "flatten":
        y = x.reshape(x.shape[0], -1, 1, 1)
    else:
        raise InputError(f"node {node.name!r}: unknown op {node.op!r}")
    if node.relu:
        y = np.maximum(y, 0)
    return y.astype(np.float32, copy=False)


def run_float(cm: CompressedModel, x: np.ndarray, return_all: bool = False):
    """Logits (N, num_classes) float32 of the fake-quantized model on normalised NCHW input `x`.

    With `return_all`, a dict of every tensor by name ("input" and each node's output, NCHW).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(cm.input_shape):
        raise InputError(f"input must be (N, {', '.join(map(str, cm.input_shape))}), got {x.shape}")
    t: dict[str, np.ndarray] = {"input": x}
    for node in cm.nodes:
        missing = [i for i in node.inputs if i not in t]
        if missing:
            raise InputError(f"node {node.name!r}: input {missing[0]!r} is not computed before it")
        t[node.name] = run_node(node, [t[i] for i in node.inputs])
    if return_all:
        return t
    return t[cm.output].reshape(x.shape[0], -1)


def calibrate_numpy(
    cm: CompressedModel, x: np.ndarray, percentile: float = 99.99, batch_size: int = 32
) -> dict[str, float]:
    """Fill `cm.act_max` with the `percentile` of |value| of the input and of every node output.

    Over several batches the largest per-batch percentile is kept (conservative). A tensor that is zero
    everywhere gets 1.0 (any scale represents it). Returns `cm.act_max`.
    """
    x = np.asarray(x, dtype=np.float32)
    found: dict[str, float] = {}
    for start in range(0, x.shape[0], batch_size):
        t = run_float(cm, x[start : start + batch_size], return_all=True)
        for name, v in t.items():
            a = np.abs(v).ravel()
            q = float(np.percentile(a, percentile)) if a.size else 0.0
            if q <= 0.0:
                q = float(a.max()) if a.size else 0.0
            found[name] = max(found.get(name, 0.0), q)
    for name, q in found.items():
        cm.act_max[name] = q if q > 0.0 and np.isfinite(q) else 1.0
    return cm.act_max
