"""IntegerGraph -> ONNX, bit-exact with fq_hls.reference.run_integer (the arithmetic of fq_hls/ir.py).

Standard ONNX ops only (opset 17), chosen so that every step is exact in onnxruntime:

* 8-bit tensors keep their IR name and type (int8 / uint8); the input is "input" int8 (N, C, H, W), the output
  "logits" int32 (N, classes) for the final fc of fq_hls.lower.
* Convolution: `Conv` on integer-valued float32 (weights stored as int8/int16/int32, cast to float32). A
  float32 sum of integer products is exact while every partial sum stays below 2^24 in magnitude, whatever
  the order. Weights whose worst case
  sum_i |w[o, i]| * max|x| reaches 2^24 are split into signed base-2^b digits, w = sum_j d_j * 2^(b j), with
  the largest b that keeps each digit's convolution under that bound; each digit convolution is cast to
  int64, scaled by 2^(b j) and summed in int64 (the reference decides float32/float64/int64 by the same bound).
* Requantization in int64: t = (acc + bias) * mult + res * res_mult * 2^res_shift, then
  floor((t + 2^(shift-1)) / 2^shift) as `Div(u - Mod(u, 2^shift), 2^shift)` (Mod with fmod=0 takes the sign
  of the divisor, so the division is exact and the result is the arithmetic right shift), then `Clip` to
  [0, 255] (ReLU) or [-128, 127] and a `Cast` to uint8 / int8.
* Max pool: `MaxPool` on float32 (its padding never wins, as the reference's "valid positions only");
  global average pool: int64 `ReduceSum`, then the same rounding shift and clamp to uint8.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..errors import InputError
from ..ir import ConvLayer, IntegerGraph, PoolLayer
from .graph_builder import GraphBuilder, tensor_info

FLOAT_EXACT = 1 << 24  # float32 represents every integer below this


def _col(v) -> np.ndarray:
    return np.asarray(v, np.int64).reshape(1, -1, 1, 1)


def weight_digits(name: str, w: np.ndarray, xmax: int) -> list[tuple[int, np.ndarray]]:
    """(shift, digits) pieces with w = sum digits * 2^shift, each piece's conv exact in float32 on |x| <= xmax."""
    w = np.asarray(w, np.int64)
    a, sign = np.abs(w), np.sign(w)
    top = int(a.max(initial=0)).bit_length()
    if top == 0:
        return [(0, np.zeros_like(w))]
    for b in range(top, 0, -1):
        pieces = []
        for shift in range(0, top, b):
            d = (a >> shift) & ((1 << b) - 1)
            if int(d.reshape(d.shape[0], -1).sum(axis=1).max()) * xmax >= FLOAT_EXACT:
                break
            if d.any():
                pieces.append((shift, sign * d))
        else:
            return pieces
    raise InputError(f"layer {name!r}: {w[0].size} inputs per output channel are too many for an exact float32 "
                     "convolution even with 1-bit weight digits")


def _floor_shift(b: GraphBuilder, u: str, shift: np.ndarray, base: str) -> str:
    """floor(u / 2^shift) in int64 (shift per channel, or a scalar)."""
    d = b.const(f"{base}/pow2_shift", np.left_shift(np.int64(1), np.asarray(shift, np.int64)))
    r = b.op("Mod", [u, d], f"{base}/rem", fmod=0)
    return b.op("Div", [b.op("Sub", [u, r], f"{base}/floor_num"), d], f"{base}/floor")


def _clamp_cast(b: GraphBuilder, q: str, relu: bool, base: str, out: str) -> str:
    lo, hi, dt = (0, 255, np.uint8) if relu else (-128, 127, np.int8)
    c = b.op("Clip", [q, b.const(f"{base}/lo", np.array(lo, np.int64)), b.const(f"{base}/hi", np.array(hi, np.int64))],
             f"{base}/clip")
    return b.cast(c, dt, base, out)


def _conv(b: GraphBuilder, g: IntegerGraph, layer: ConvLayer, out: str) -> str:
    base = layer.name
    xmax = 128 if g.tensors[layer.input].signed else 255
    xf = b.cast(layer.input, np.float32, f"{base}/x_float")
    attrs = dict(kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2, pads=[layer.pad] * 4)
    acc = None
    for shift, digits in weight_digits(layer.name, layer.weights, xmax):
        # stored in the smallest integer type that holds the digits (4x smaller than float32 for 8-bit
        # levels); the Cast to float32 is a constant that onnxruntime folds when it loads the model
        m = int(np.abs(digits).max(initial=0))
        store = np.int8 if m <= 127 else np.int16 if m <= 32767 else np.int32
        wint = b.const(f"{base}/weight" + (f"_digit{shift}" if shift else ""), digits.astype(store))
        wname = b.cast(wint, np.float32, f"{base}/weight_float")
        part = b.cast(b.op("Conv", [xf, wname], f"{base}/conv", **attrs), np.int64, f"{base}/acc")
        if shift:
            part = b.op("Mul", [part, b.const(f"{base}/pow2_{shift}", np.array(1 << shift, np.int64))],
                        f"{base}/acc_shifted")
        acc = part if acc is None else b.op("Add", [acc, part], f"{base}/acc_sum")
    acc = b.op("Add", [acc, b.const(f"{base}/bias", _col(layer.bias))], f"{base}/acc_bias")
    if layer.out_bits == 32:
        return b.cast(acc, np.int32, base, out)
    t = b.op("Mul", [acc, b.const(f"{base}/mult", _col(layer.mult))], f"{base}/t")
    if layer.residual is not None:
        r = b.cast(layer.residual, np.int64, f"{base}/res")
        scale = _col(layer.res_mult)
        if layer.res_shift is not None:
            scale = scale * np.left_shift(np.int64(1), _col(layer.res_shift))  # res_mult * 2^res_shift < 2^62
        t = b.op("Add", [t, b.op("Mul", [r, b.const(f"{base}/res_scale", scale)], f"{base}/res_term")],
                 f"{base}/t_res")
    half = np.left_shift(np.int64(1), _col(layer.shift) - 1)
    u = b.op("Add", [t, b.const(f"{base}/half", half)], f"{base}/rounded")
    return _clamp_cast(b, _floor_shift(b, u, _col(layer.shift), base), layer.relu, base, out)


def _pool(b: GraphBuilder, g: IntegerGraph, layer: PoolLayer, out: str) -> str:
    base = layer.name
    if layer.mode == "max":
        xin = g.tensors[layer.input]
        xf = b.cast(layer.input, np.float32, f"{base}/x_float")
        y = b.op("MaxPool", [xf], f"{base}/max", kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2,
                 pads=[layer.pad] * 4)
        return b.cast(y, np.int8 if xin.signed else np.uint8, base, out)
    if layer.mode == "avg":
        x = b.cast(layer.input, np.int64, f"{base}/x_int64")
        s = b.op("ReduceSum", [x, b.const(f"{base}/axes", np.array([2, 3], np.int64))], f"{base}/sum", keepdims=1)
        t = b.op("Mul", [s, b.const(f"{base}/mult", np.array(layer.mult, np.int64))], f"{base}/t")
        u = b.op("Add", [t, b.const(f"{base}/half", np.array(1 << (layer.shift - 1), np.int64))], f"{base}/rounded")
        return _clamp_cast(b, _floor_shift(b, u, np.array(layer.shift), base), True, base, out)
    raise InputError(f"layer {layer.name!r}: pool mode {layer.mode!r} has no ONNX export")


def _dtype(info) -> type:
    return np.int32 if info.bits == 32 else np.int8 if info.signed else np.uint8


def integer_onnx(graph: IntegerGraph) -> onnx.ModelProto:
    """The ONNX model of `graph`: int8 "input" (N, C, H, W) -> "logits" (N, classes), int32 for the final fc of
    fq_hls.lower (the output tensor's own type otherwise). Tensors no layer writes (the residual of a one-layer
    test graph) become further graph inputs under their IR names."""
    b = GraphBuilder()
    for name in graph.tensors:  # IR names stay as they are; generated names never take one
        b.fresh(name)
    if "logits" in graph.tensors and graph.output != "logits":
        raise InputError("tensor 'logits': the name of the ONNX output is taken by an inner tensor")
    tin = graph.tensors[graph.input]
    if tin.bits != 8:
        raise InputError(f"input {graph.input!r}: the export expects an 8-bit network input")
    written = {layer.output for layer in graph.layers}
    inputs = [tensor_info(graph.input, _dtype(tin), [None, *tin.shape])]
    inputs += [tensor_info(n, _dtype(t), [None, *t.shape]) for n, t in graph.tensors.items()
               if n != graph.input and n not in written]
    for layer in graph.layers:
        if isinstance(layer, ConvLayer):
            _conv(b, graph, layer, layer.output)
        elif isinstance(layer, PoolLayer):
            _pool(b, graph, layer, layer.output)
        else:
            raise InputError(f"layer {getattr(layer, 'name', layer)!r}: {type(layer).__name__} has no ONNX export")
    tout = graph.tensors[graph.output]
    out = "logits" if graph.output != "logits" else b.fresh("logits_flat")
    b.op("Flatten", [graph.output], out, out=out, axis=1)
    scale = tout.channel_scale if tout.channel_scale is not None else [tout.scale]
    meta = {
        "fq_hls.kind": "integer",
        "fq_hls.arch": graph.arch,
        "fq_hls.method": graph.method,
        "fq_hls.input": "int8 NCHW = clip(rint(((pixels - mean) / std) / input_scale), -128, 127)",
        "fq_hls.input_scale": repr(float(tin.scale)),
        "fq_hls.mean": ",".join(repr(float(v)) for v in graph.mean),
        "fq_hls.std": ",".join(repr(float(v)) for v in graph.std),
        "fq_hls.logits_scale": ",".join(repr(float(v)) for v in np.ravel(scale)),
    }
    return b.model(
        f"{graph.arch}_{graph.method}_integer",
        inputs,
        [tensor_info(out, _dtype(tout), [None, int(np.prod(tout.shape))])],
        "fq-hls integer network (bit-exact with fq_hls.reference.run_integer)",
        meta,
    )
