"""Range and consistency checks of an IntegerGraph against the arithmetic in fq_hls/ir.py."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir import ACC_BITS, INT16, ConvLayer, IntegerGraph, PoolLayer
from ..node_geometry import out_size
from .requant import SHIFT_MAX, SHIFT_MIN
from .weights import levels_from_fields

INT32 = (-(1 << 31), (1 << 31) - 1)
T_BITS = 62  # each term of the requantization sum t stays below 2^62 (t is int64 in the reference)


def _fail(layer, field: str, msg: str) -> None:
    raise InputError(f"layer {layer.name!r}: {field}: {msg}")


def _int_range(layer, field: str, v, lo: int, hi: int, shape: tuple | None = None) -> np.ndarray:
    if v is None:
        _fail(layer, field, "missing")
    a = np.asarray(v)
    if shape is not None and a.shape != shape:
        _fail(layer, field, f"shape {a.shape}, expected {shape}")
    if a.dtype.kind not in "iu":
        _fail(layer, field, f"must be integers, got dtype {a.dtype}")
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        bad = int(np.argmax((a < lo) | (a > hi)))
        _fail(layer, field, f"value {a.ravel()[bad]} at index {bad} outside [{lo}, {hi}]")
    return a.astype(np.int64)


def _check_conv(graph: IntegerGraph, layer: ConvLayer) -> None:
    t = graph.tensors
    x, y = t[layer.input], t[layer.output]
    o, i, k = layer.out_ch, layer.in_ch, layer.kernel
    if layer.kind not in ("conv", "fc"):
        _fail(layer, "kind", f"{layer.kind!r} is not 'conv' or 'fc'")
    if k < 1 or layer.stride < 1 or layer.pad < 0:
        _fail(layer, "kernel/stride/pad", f"invalid geometry k={k} s={layer.stride} p={layer.pad}")
    w = _int_range(layer, "weights", layer.weights, INT32[0], INT32[1], (o, i, k, k))
    if x.shape[0] != i:
        _fail(layer, "in_ch", f"{i} != channels of input {layer.input!r} {x.shape}")
    if x.bits != 8:
        _fail(layer, "input", f"input tensor {layer.input!r} must be 8-bit")
    oshape = (
        o,
        out_size(x.shape[1], k, layer.stride, layer.pad),
        out_size(x.shape[2], k, layer.stride, layer.pad),
    )
    if y.shape != oshape:
        _fail(layer, "output", f"tensor {layer.output!r} shape {y.shape}, computed {oshape}")
    bias = _int_range(layer, "bias", layer.bias, INT32[0], INT32[1], (o,))
    if layer.out_bits not in (8, 32):
        _fail(layer, "out_bits", f"{layer.out_bits} is not 8 or 32")
    if y.bits != layer.out_bits:
        _fail(layer, "out_bits", f"{layer.out_bits} but tensor {layer.output!r} has {y.bits} bits")
    acc = np.abs(w).reshape(o, -1).sum(axis=1) * 255 + np.abs(bias)
    if (acc >= 1 << (ACC_BITS - 1)).any():
        ch = int(np.argmax(acc))
        _fail(layer, "weights/bias", f"channel {ch}: sum|w|*255 + |bias| = {acc[ch]} >= 2^{ACC_BITS - 1}")
    if layer.out_bits == 8:
        mult = _int_range(layer, "mult", layer.mult, INT16[0], INT16[1], (o,))
        _int_range(layer, "shift", layer.shift, SHIFT_MIN, SHIFT_MAX, (o,))
        if y.signed == layer.relu:
            _fail(layer, "relu", f"relu={layer.relu} but tensor {layer.output!r} signed={y.signed}")
        if layer.residual is not None:
            if layer.residual not in t:
                _fail(layer, "residual", f"unknown tensor {layer.residual!r}")
            r = t[layer.residual]
            if r.shape != y.shape or r.bits != 8:
                _fail(
                    layer, "residual", f"tensor {layer.residual!r} {r.shape}/{r.bits}-bit != output {y.shape}"
                )
            rm = _int_range(layer, "res_mult", layer.res_mult, INT16[0], INT16[1], (o,))
            rs = np.zeros(o, np.int64)
            if layer.res_shift is not None:
                rs = _int_range(layer, "res_shift", layer.res_shift, 0, SHIFT_MAX, (o,))
            term = 255 * np.abs(rm) * (np.int64(1) << rs)  # < 2^(8+15+62) cannot overflow: check in float
            if (255.0 * np.abs(rm) * np.exp2(rs) >= 2.0**T_BITS).any():
                ch = int(np.argmax(term))
                _fail(
                    layer, "res_shift", f"channel {ch}: residual term 255*|res_mult|<<res_shift >= 2^{T_BITS}"
                )
        if (acc.astype(np.float64) * np.abs(mult) >= 2.0**T_BITS).any():
            _fail(layer, "mult", f"(sum|w|*255 + |bias|) * |mult| >= 2^{T_BITS}")
    elif layer.residual is not None or layer.relu:
        _fail(layer, "out_bits", "an int32 output layer has no residual and no ReLU")
    kind = layer.wformat.kind
    if kind not in ("fq", "shift", "int8"):
        _fail(layer, "wformat.kind", f"{kind!r} is not 'fq', 'shift' or 'int8'")
    if kind == "int8":
        _int_range(layer, "weights", w, -128, 127)
        return
    for name in ("wcomp", "wsign", "wexp"):
        a = getattr(layer, name)
        if a is None or np.asarray(a).shape != w.shape:
            _fail(layer, name, f"needed for {kind!r} weights with the weights' shape {w.shape}")
    f = layer.wformat
    if f.q_shift < 0 or min(f.mu_shift) < 0:
        _fail(layer, "wformat", "negative q_shift/mu_shift")
    nz = w != 0
    lv = levels_from_fields(f, layer.wcomp, layer.wsign, layer.wexp)
    if not np.array_equal(lv[nz], w[nz]):
        ch = int(np.argwhere(nz & (lv != w))[0][0])
        _fail(layer, "wcomp/wsign/wexp", f"fields do not reproduce the weights (output channel {ch})")
    if nz.any() and int(np.asarray(layer.wexp)[nz].max()) >= 1 << f.exp_bits:
        _fail(layer, "wexp", f"exponent does not fit wformat.exp_bits={f.exp_bits}")


def _check_pool(graph: IntegerGraph, layer: PoolLayer) -> None:
    x, y = graph.tensors[layer.input], graph.tensors[layer.output]
    if layer.mode == "max":
        k, s, p = layer.kernel, layer.stride, layer.pad
        if k < 1 or s < 1 or not 0 <= p <= k // 2:
            _fail(layer, "kernel/stride/pad", f"invalid max pool k={k} s={s} p={p} (pad <= kernel // 2)")
        oshape = (x.shape[0], out_size(x.shape[1], k, s, p), out_size(x.shape[2], k, s, p))
        if y.shape != oshape or y.signed != x.signed or y.bits != x.bits:
            _fail(layer, "output", f"tensor {layer.output!r} must be {oshape} with the input's type")
    elif layer.mode == "avg":
        if x.signed or y.signed or x.bits != 8 or y.bits != 8:
            _fail(layer, "input", "global avg pool maps uint8 to uint8")
        if layer.kernel != x.shape[1] or x.shape[1] != x.shape[2]:
            _fail(layer, "kernel", f"{layer.kernel} must equal the square input map {x.shape[1:]}")
        if y.shape != (x.shape[0], 1, 1):
            _fail(layer, "output", f"tensor {layer.output!r} must be ({x.shape[0]}, 1, 1)")
        _int_range(layer, "mult", np.array([layer.mult]), INT16[0], INT16[1])
        _int_range(layer, "shift", np.array([layer.shift]), SHIFT_MIN, SHIFT_MAX)
    else:
        _fail(layer, "mode", f"{layer.mode!r} is not 'max' or 'avg'")


def validate(graph: IntegerGraph) -> None:
    """Raise InputError naming the layer and field of the first range or consistency violation."""
    if graph.input not in graph.tensors or graph.tensors[graph.input].bits != 8:
        raise InputError(f"graph input {graph.input!r} must be an 8-bit tensor")
    produced = {graph.input}
    produced |= {n for n in graph.tensors if not any(n == lay.output for lay in graph.layers)}  # external
    for layer in graph.layers:
        for name in [layer.input] + ([layer.residual] if getattr(layer, "residual", None) else []):
            if name not in graph.tensors:
                _fail(layer, "input", f"unknown tensor {name!r}")
            if name not in produced:
                _fail(layer, "input", f"tensor {name!r} is used before it is computed")
        if layer.output not in graph.tensors:
            _fail(layer, "output", f"unknown tensor {layer.output!r}")
        if layer.output in produced:
            _fail(layer, "output", f"tensor {layer.output!r} is written twice")
        if isinstance(layer, ConvLayer):
            _check_conv(graph, layer)
        elif isinstance(layer, PoolLayer):
            _check_pool(graph, layer)
        else:
            raise InputError(
                f"layer {getattr(layer, 'name', layer)!r}: unknown layer type {type(layer).__name__}"
            )
        produced.add(layer.output)
    if graph.output not in graph.tensors:
        raise InputError(f"graph output {graph.output!r} is not a tensor")
