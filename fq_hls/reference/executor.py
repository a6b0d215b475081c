"""Bit-exact numpy executor of the integer IR (the semantics in fq_hls/ir.py). It is the contract.

Convolutions run as im2col + matmul. The matmul runs in float32 or float64 only where that is provably
exact: every product and every partial sum (in any order) is an integer bounded by
max_o sum_i |w[o, i]| * max|x| < 2^24 (float32) or 2^53 (float64); otherwise in int64.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import InputError
from ..ir import ConvLayer, IntegerGraph, Layer, PoolLayer
from .patches import im2col, windows


def _matmul_dtype(bound: int) -> type:
    if bound < 1 << 24:
        return np.float32
    if bound < 1 << 53:
        return np.float64
    return np.int64


def conv_acc(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """int64 accumulator (N, O, OH, OW) of a conv/fc layer on integer input x (N, C, H, W)."""
    if x.ndim != 4 or x.shape[1] != layer.in_ch:
        raise InputError(f"layer {layer.name!r}: input must be (N, {layer.in_ch}, H, W), got {x.shape}")
    w2 = np.asarray(layer.weights).reshape(layer.out_ch, -1)
    xmax = max(abs(int(x.min())), abs(int(x.max()))) if x.size else 0
    dt = _matmul_dtype(int(np.abs(w2, dtype=np.int64).sum(axis=1).max(initial=0)) * xmax)
    cols, oh, ow = im2col(x.astype(dt), layer.kernel, layer.stride, layer.pad)
    y = w2.astype(dt) @ cols.T  # (O, N*OH*OW)
    return y.reshape(layer.out_ch, x.shape[0], oh, ow).transpose(1, 0, 2, 3).astype(np.int64)


def requantize(t: np.ndarray, shift: np.ndarray, relu: bool) -> np.ndarray:
    """clamp((t + 2^(shift-1)) >> shift) per channel (axis 1), arithmetic shift; uint8 if relu else int8."""
    sh = np.asarray(shift, np.int64).reshape(1, -1, 1, 1)
    q = (t + (np.int64(1) << (sh - 1))) >> sh
    if relu:
        return np.clip(q, 0, 255).astype(np.uint8)
    return np.clip(q, -128, 127).astype(np.int8)


def _col(v) -> np.ndarray:
    return np.asarray(v, np.int64).reshape(1, -1, 1, 1)


def run_conv(layer: ConvLayer, x: np.ndarray, res: np.ndarray | None = None) -> np.ndarray:
    acc = conv_acc(layer, x) + _col(layer.bias)
    if layer.out_bits == 32:
        return acc.astype(np.int32)
    t = acc * _col(layer.mult)
    if layer.residual is not None:
        if res is None or res.shape != t.shape:
            got = None if res is None else res.shape
            raise InputError(f"layer {layer.name!r}: residual must have shape {t.shape}, got {got}")
        rt = res.astype(np.int64) * _col(layer.res_mult)
        if layer.res_shift is not None:
            rt = rt << _col(layer.res_shift)
        t = t + rt
    return requantize(t, layer.shift, layer.relu)


def run_pool(layer: PoolLayer, x: np.ndarray) -> np.ndarray:
    if layer.mode == "max":
        # padding with the type's minimum equals "max over valid positions" (a window always holds one)
        lo = np.iinfo(x.dtype).min
        return np.ascontiguousarray(
            windows(x, layer.kernel, layer.stride, layer.pad, pad_value=lo).max(axis=(-2, -1))
        )
    if layer.mode == "avg":
        s = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
        q = (s * np.int64(layer.mult) + (np.int64(1) << np.int64(layer.shift - 1))) >> np.int64(layer.shift)
        return np.clip(q, 0, 255).astype(np.uint8)
    raise InputError(f"layer {layer.name!r}: unknown pool mode {layer.mode!r}")


def run_layer(layer: Layer, tensors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Output of one layer from the tensors it reads (`tensors[layer.input]`, and its residual).

    Returns int8/uint8 (N, C, H, W) for 8-bit layers (uint8 iff ReLU; max pool keeps the input dtype),
    int32 for out_bits == 32.
    """
    if layer.input not in tensors:
        raise InputError(f"layer {layer.name!r}: input tensor {layer.input!r} not given")
    x = np.asarray(tensors[layer.input])
    if x.dtype.kind not in "iu":
        raise InputError(
            f"layer {layer.name!r}: input {layer.input!r} must be an integer array, got {x.dtype}"
        )
    if isinstance(layer, ConvLayer):
        res = None
        if layer.residual is not None:
            if layer.residual not in tensors:
                raise InputError(f"layer {layer.name!r}: residual tensor {layer.residual!r} not given")
            res = np.asarray(tensors[layer.residual])
        return run_conv(layer, x, res)
    if isinstance(layer, PoolLayer):
        return run_pool(layer, x)
    raise InputError(f"unknown layer type {type(layer).__name__}")


def run_integer(
    graph: IntegerGraph,
    x_int8: np.ndarray,
    return_all: bool = False,
    inputs: Mapping[str, np.ndarray] | None = None,
):
    """int32 logits (N, classes) of the integer graph on int8 NCHW input, bit for bit as the hardware.

    `inputs` supplies external tensors (e.g. the residual of a single-layer test graph). With `return_all`,
    a dict of every tensor by name (NCHW, int8/uint8/int32, the output too).
    """
    info = graph.tensors[graph.input]
    x = np.asarray(x_int8)
    want = np.int8 if info.signed else np.uint8
    if x.dtype != want:
        raise InputError(f"input {graph.input!r} must be {np.dtype(want).name}, got {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(info.shape):
        raise InputError(
            f"input {graph.input!r} must be (N, {', '.join(map(str, info.shape))}), got {x.shape}"
        )
    t: dict[str, np.ndarray] = dict(inputs or {})
    t[graph.input] = x
    for layer in graph.layers:
        t[layer.output] = run_layer(layer, t)
    if return_all:
        return t
    out = t[graph.output]
    return out.reshape(out.shape[0], -1)
