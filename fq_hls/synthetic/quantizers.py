"""Small self-contained numpy quantizers for synthetic models (fq_hls.synthetic.models).

They follow the paper's shapes (power-of-two levels, recentralized two-component levels, 8-bit per-channel)
but are deliberately simple (no EM, no posterior sampling): they exist to produce valid `QuantWeight`s, not
to compress well. Real models come from fq_hls.compress.
"""

from __future__ import annotations

import numpy as np

from ..model import QuantWeight, SymbolFields


def prune(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the `sparsity` fraction of smallest-magnitude weights (exact count)."""
    flat = np.abs(w).ravel()
    k = int(round(sparsity * flat.size))
    if k <= 0:
        return w.copy()
    out = w.copy().ravel()
    out[np.argpartition(flat, k - 1)[:k]] = 0
    return out.reshape(w.shape)


def _pow2_round(a: np.ndarray) -> np.ndarray:
    """Exponent of the nearest power of two in the linear domain (a > 0)."""
    lo = np.floor(np.log2(a))
    return lo + (a > 1.5 * np.exp2(lo))


def _top_exponent(a: np.ndarray, bits: int) -> int:
    """Largest exponent such that at most a fraction 1/(2^bits + 1) of `a` overflows (clips)."""
    q = float(np.quantile(a, 1.0 - 1.0 / (2**bits + 1)))
    return int(np.ceil(np.log2(q / 1.5)))


def _inner_exponents(a: np.ndarray, top: int, emax: int) -> tuple[np.ndarray, np.ndarray]:
    """(exponent offset e in [0, emax] from 2^(top-emax), zero mask) of magnitudes a >= 0."""
    low = top - emax
    with np.errstate(divide="ignore"):
        e = np.clip(_pow2_round(np.maximum(a, 1e-300)), low, top) - low
    return e.astype(np.int64), a < np.exp2(low) / 2


def quantize_shift(w: np.ndarray, bits: int) -> QuantWeight:
    """Power-of-two weights sign * 2^e * 2^low, e in [0, 2^(bits-1) - 1] (bits = sign + exponent).

    The exponent range is capped at 2^24 (7 bits would span 2^0..2^63, beyond int64 levels); the top
    exponents are the ones a pruned layer uses.
    """
    emax = min(2 ** (bits - 1) - 1, 24)
    sign_tab = np.array([0] + [-1] * (emax + 1) + [1] * (emax + 1), np.int8)
    exp_tab = np.array([0] + list(range(emax + 1)) * 2, np.uint8)
    fields = SymbolFields(np.zeros(sign_tab.size, np.uint8), sign_tab, exp_tab, 0)
    a = np.abs(w)
    nz = a > 0
    top = _top_exponent(a[nz], bits) if nz.any() else 0
    e, zero = _inner_exponents(a, top, emax)
    codes = np.where(nz & ~zero, 1 + (w > 0) * (emax + 1) + e, 0).astype(np.uint16)
    scale = np.full(w.shape[0], 2.0 ** (top - emax), np.float32)
    return QuantWeight("shift", bits, codes, fields.levels(), scale, fields, {"b": top - emax})


def quantize_recentralized(w: np.ndarray, bits: int) -> QuantWeight:
    """Two components with power-of-two means mu_-, mu_+; (w - mu_c) on a (bits-1)-bit shift quantizer.

    Component by the weight's sign (the paper samples the mixture posterior; this is a test quantizer).
    """
    nzw = w[w != 0]
    neg, pos = nzw[nzw < 0], nzw[nzw > 0]
    if neg.size == 0 or pos.size == 0:
        return quantize_shift(w, bits)
    m = (int(np.rint(np.log2(-neg.mean()))), int(np.rint(np.log2(pos.mean()))))
    mu = np.array([-(2.0 ** m[0]), 2.0 ** m[1]])
    emax = 2 ** (bits - 2) - 1
    comp = (w > 0).astype(np.int64)
    r = w - mu[comp]
    nz = w != 0
    top = _top_exponent(np.abs(r[nz]), bits - 1)
    e, zero = _inner_exponents(np.abs(r), top, emax)
    unit = min(top - emax, m[0], m[1])
    per = 1 + 2 * (emax + 1)  # symbols per component: inner zero, then -, + times emax + 1 exponents
    comp_tab, sign_tab, exp_tab = [0], [0], [0]
    for c in range(2):
        comp_tab += [c] * per
        sign_tab += [0] + [-1] * (emax + 1) + [1] * (emax + 1)
        exp_tab += [0] + list(range(emax + 1)) * 2
    fields = SymbolFields(
        np.array(comp_tab, np.uint8),
        np.array(sign_tab, np.int8),
        np.array(exp_tab, np.uint8),
        q_shift=top - emax - unit,
        mu_shift=(m[0] - unit, m[1] - unit),
        mu_sign=(-1, 1),
    )
    codebook = fields.levels()
    sym = 1 + comp * per + np.where(zero, 0, 1 + (r > 0) * (emax + 1) + e)
    codes = np.where(nz, sym, 0)
    codes = np.where(codebook[codes] == 0, 0, codes).astype(np.uint16)  # a level that cancels is a zero
    sig = nzw.std()
    wmetric = ((pos.mean() - neg.mean()) ** 2 + (pos.std() - neg.std()) ** 2) / max(sig**2, 1e-30)
    scale = np.full(w.shape[0], 2.0**unit, np.float32)
    params = {"mu": (float(mu[0]), float(mu[1])), "sigma": float(sig), "W": float(wmetric), "b": top - emax}
    return QuantWeight("recentralized", bits, codes, codebook, scale, fields, params)


def quantize_int8(w: np.ndarray) -> QuantWeight:
    """Per-output-channel symmetric 8-bit levels -127..127; symbol 0 = 0, then -127..-1, then 1..127."""
    amax = np.abs(w).reshape(w.shape[0], -1).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    lv = np.clip(np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int64)
    codes = np.where(lv < 0, lv + 128, np.where(lv > 0, lv + 127, 0)).astype(np.uint16)
    codebook = np.array([0] + list(range(-127, 0)) + list(range(1, 128)), np.int64)
    return QuantWeight("int8", 8, codes, codebook, scale, None, {})


def quantize(w: np.ndarray, method: str) -> QuantWeight:
    """`fqN`: recentralized where the paper's W >= 2, else N-bit shift; `shiftN`; `int8`."""
    if method == "int8":
        return quantize_int8(w)
    if method.startswith("shift"):
        return quantize_shift(w, int(method[5:]))
    if method.startswith("fq"):
        bits = int(method[2:])
        qw = quantize_recentralized(w, bits)
        if qw.mode == "recentralized" and qw.params["W"] < 2.0:
            return quantize_shift(w, bits)
        return qw
    raise ValueError(f"unknown method {method!r} (fq5, fq7, shift5, shift7, int8)")
