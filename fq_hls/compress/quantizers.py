"""The small exact parts of focused quantization: power-of-two rounding, the overflow rule, int8.

Exponents are integers in "weight units": exponent k stands for the magnitude 2^k. All functions are pure
and exact (frexp based, no log2 of floats), so that the same input always gives the same exponent.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Integer levels stay within 2^24 (a float32 integer is exact up to 2^24; the 32-bit accumulator of the
# hardware adds 8-bit activations times levels): the exponents of one layer span at most MAX_SPAN.
MAX_SPAN = 23


def ceil_log2(x: Tensor) -> Tensor:
    """Smallest integer k with 2^k >= x, for x > 0 (int64)."""
    m, e = torch.frexp(x)  # x = m * 2^e, m in [0.5, 1)
    e = e.to(torch.int64)
    return torch.where(m == 0.5, e - 1, e)


def nearest_pow2_exponent(x: Tensor) -> Tensor:
    """Exponent k of the power of two nearest to x > 0 in the linear domain (int64).

    x in [2^j, 2^(j+1)) goes up iff x >= 1.5 * 2^j (ties go to the larger magnitude). x == 0 gives a very
    small exponent (callers clamp)."""
    m, e = torch.frexp(x)  # x = m * 2^e, x in [2^(e-1), 2^e)
    e = e.to(torch.int64)
    k = torch.where(m >= 0.75, e, e - 1)
    return torch.where(x > 0, k, torch.full_like(k, -(1 << 20)))


def overflow_top(mag: Tensor, levels: int) -> int:
    """The overflow rule: the smallest integer t such that at most a fraction 1/levels of `mag` exceeds 2^t.

    `levels` is 2^n + 1 for an n-bit shift quantizer. The smallest such t gives the finest resolution at the
    small end (the largest bias b = e_max - t). With no positive magnitude the answer is 0."""
    mag = mag.detach().flatten().abs()
    n = mag.numel()
    if n == 0 or not bool((mag > 0).any()):
        return 0
    k = n // levels  # allowed number of overflowing values
    a = torch.topk(mag, k + 1).values[k]  # the (k+1)-th largest must not overflow
    if a <= 0:  # at most k positive values: none needs to overflow
        a = mag.max()
    return int(ceil_log2(a.reshape(1).to(torch.float64))[0])


def overflow_fraction(mag: Tensor, top: int) -> float:
    """Fraction of `mag` strictly above 2^top (the values that clip)."""
    mag = mag.detach().flatten().abs().to(torch.float64)
    if mag.numel() == 0:
        return 0.0
    return float((mag > 2.0**top).to(torch.float64).mean())


def round_pow2(mag: Tensor, lo: int, hi: int, allow_zero: bool) -> tuple[Tensor, Tensor]:
    """Round magnitudes to the nearest of {2^lo, ..., 2^hi} (and 0 when `allow_zero`), linear domain.

    Returns (k, is_zero): int32 exponents (meaningless where is_zero) and a bool tensor. Values above 2^hi
    clip to 2^hi; without a zero, values below 2^lo go up to 2^lo; with a zero, values below 2^(lo-1) go
    to 0 (2^(lo-1) itself is a tie and goes up). Few elementwise passes: this runs on every forward."""
    m, e = torch.frexp(mag)  # mag = m * 2^e, m in [0.5, 1); 0 -> (0, 0)
    k = torch.where(m >= 0.75, e, e - 1).clamp_(lo, hi)
    if allow_zero:
        is_zero = mag < 2.0 ** (lo - 1)
    else:
        is_zero = torch.zeros_like(mag, dtype=torch.bool)
        k = torch.where(mag > 0, k, lo)  # frexp(0) has exponent 0; an exact zero's nearest is 2^lo
    return k, is_zero


def int8_per_channel(w: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel int8: scale[o] = max|w[o]| / 127 over surviving weights, levels
    round(w / scale) in [-127, 127] (half to even), zero where pruned. An all-zero channel gets scale 1.

    Returns (levels int64, scale float32 of shape (O,))."""
    wm = w.detach() * mask
    flat = wm.reshape(wm.shape[0], -1)
    amax = flat.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax)).to(torch.float32)
    s = scale.reshape((-1,) + (1,) * (w.dim() - 1))
    lv = torch.round(wm.to(torch.float32) / s).clamp(-127, 127).to(torch.int64)
    return lv * (mask != 0), scale
