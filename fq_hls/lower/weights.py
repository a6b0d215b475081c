"""QuantWeight -> IR integer weights, WeightFormat and per-weight hardware fields (comp, sign, exp).

Power-of-two normalisation: when every non-zero level of a layer is a multiple of 2^g (all the used
exponents, inner `exp + q_shift` and component `mu_shift`, are >= g), the integer levels are divided by
2^g and the weight scale multiplied by 2^g. This is exact, and it keeps the accumulator (sum |w| * 255) and
the shifter widths as small as the levels the layer really uses (a 5-bit shift codebook spans 2^0..2^15
although a pruned layer uses only its top few exponents).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..ir import WeightFormat
from ..model import QuantWeight

KINDS = {"recentralized": "fq", "shift": "shift", "int8": "int8"}


@dataclass
class LoweredWeights:
    weights: np.ndarray  # int64 (O, I, k, k)
    scale: np.ndarray  # float64 (O,): real weight = scale[o] * weights
    wformat: WeightFormat
    wcomp: np.ndarray | None
    wsign: np.ndarray | None
    wexp: np.ndarray | None
    norm_shift: int  # g of the power-of-two normalisation


def lower_weights(name: str, qw: QuantWeight) -> LoweredWeights:
    """Integer weights + hardware format of node `name`; InputError names the node and field."""
    if qw.mode not in KINDS:
        raise InputError(f"node {name!r}: weight mode {qw.mode!r} cannot be lowered (quantize it first)")
    codes = np.asarray(qw.codes)
    codebook = np.asarray(qw.codebook)
    if codebook.size == 0 or codebook[0] != 0:
        raise InputError(f"node {name!r}: codebook[0] must be 0 (the pruned symbol)")
    if not np.array_equal(codebook, np.rint(codebook)):
        raise InputError(f"node {name!r}: codebook holds non-integer levels")
    codebook = codebook.astype(np.int64)
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= codebook.size):
        raise InputError(f"node {name!r}: codes outside the codebook (size {codebook.size})")
    scale = np.asarray(qw.scale, np.float64).ravel()
    out_ch = codes.shape[0]
    if scale.size == 1:
        scale = np.repeat(scale, out_ch)
    if scale.shape != (out_ch,) or not np.all(np.isfinite(scale)):
        raise InputError(f"node {name!r}: scale must be {out_ch} finite values, got shape {scale.shape}")
    w = codebook[codes.astype(np.int64)]
    if w.ndim == 2:
        w = w[:, :, None, None]
        codes = codes[:, :, None, None]
    kind = KINDS[qw.mode]
    if kind == "int8":
        if w.size and (w.min() < -128 or w.max() > 127):
            raise InputError(f"node {name!r}: int8 levels outside [-128, 127]")
        return LoweredWeights(w, scale, WeightFormat("int8"), None, None, None, 0)

    f = qw.fields
    if f is None:
        raise InputError(f"node {name!r}: fields: {qw.mode} weights need SymbolFields")
    n = codebook.size
    if not (len(f.comp) == len(f.sign) == len(f.exp) == n):
        raise InputError(f"node {name!r}: fields: arrays must have one entry per symbol ({n})")
    if not np.array_equal(f.levels(), codebook):
        raise InputError(f"node {name!r}: fields: levels() does not reproduce the codebook")
    if kind == "shift" and tuple(f.mu_sign) != (0, 0):
        raise InputError(f"node {name!r}: fields: plain shift weights must have mu_sign (0, 0)")
    comp = np.asarray(f.comp, np.int64)
    sign = np.asarray(f.sign, np.int64)
    exp = np.asarray(f.exp, np.int64)
    used = np.zeros(n, bool)
    used[np.unique(codes[w != 0])] = True  # symbols with a non-zero level that occur
    inner = used & (sign != 0)
    cands = [int(e) for e in (exp[inner] + f.q_shift)]
    comps_used = sorted({int(c) for c in comp[used]})
    if kind == "fq":
        cands += [int(f.mu_shift[c]) for c in comps_used if f.mu_sign[c] != 0]
    g = max(0, min(cands)) if cands else 0
    q_new = max(f.q_shift - g, 0)
    exp_new = np.clip(exp + (f.q_shift - g) - q_new, 0, None)
    mu_shift = tuple(max(int(s) - g, 0) for s in f.mu_shift)
    if g:
        w = w >> g  # exact: every non-zero level is a multiple of 2^g
        scale = scale * float(2**g)
    nzw = w != 0
    wcomp = np.where(nzw, comp[codes], 0).astype(np.uint8)
    wsign = np.where(nzw, sign[codes], 0).astype(np.int8)
    wexp = np.where(nzw, exp_new[codes], 0).astype(np.uint8)
    top = int(exp_new[inner].max()) if inner.any() else 0
    fmt = WeightFormat(
        kind,
        exp_bits=max(1, top.bit_length()),
        q_shift=int(q_new),
        mu_shift=mu_shift if kind == "fq" else (0, 0),
        mu_sign=tuple(int(s) for s in f.mu_sign) if kind == "fq" else (0, 0),
    )
    return LoweredWeights(w, scale, fmt, wcomp, wsign, wexp, g)


def levels_from_fields(fmt: WeightFormat, wcomp, wsign, wexp) -> np.ndarray:
    """Integer level of every weight recomputed from its hardware fields (int64)."""
    sign = np.asarray(wsign, np.int64)
    inner = sign * np.left_shift(np.int64(1), np.asarray(wexp, np.int64) + fmt.q_shift)
    if fmt.kind != "fq":
        return inner
    mu = np.array([fmt.mu_sign[c] * (1 << fmt.mu_shift[c]) for c in range(2)], np.int64)
    return inner + mu[np.asarray(wcomp, np.int64)]
