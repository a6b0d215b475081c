"""Real multipliers -> int16 fixed point at a per-channel shift (docs/integer_inference.md).

The output multiplier M (output units per accumulator unit) sets the shift: |mult| = |round(M * 2^shift)|
lands in [2^14, 2^15), the most precision int16 holds. The residual ratio R (output units per residual
unit) is usually 2^10..2^16 times larger than M (an accumulator unit is tiny), so R * 2^shift is written as
res_mult * 2^res_shift with res_mult in [2^14, 2^15) too; res_shift is 0 when R * 2^shift fits int16.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

MULT_BITS = 16  # signed multipliers: |mult| <= 2^15 - 1
SHIFT_MIN, SHIFT_MAX = 1, 62
_TOP = 1 << (MULT_BITS - 1)  # 2^15


class FixedPoint(NamedTuple):
    mult: np.ndarray  # int64 (O,)
    shift: np.ndarray  # int64 (O,), in [SHIFT_MIN, SHIFT_MAX]
    res_mult: np.ndarray | None  # int64 (O,)
    res_shift: np.ndarray | None  # int64 (O,), >= 0
    ok: np.ndarray  # bool (O,): False where |mult| does not fit int16 even at SHIFT_MIN


def _normal_shift(v: np.ndarray) -> np.ndarray:
    """Per element the k with round(|v| * 2^k) in [2^14, 2^15) (15 where v == 0)."""
    a = np.abs(v)
    k = np.full(a.shape, MULT_BITS - 1, np.int64)
    nz = a > 0
    _, e = np.frexp(a[nz])  # a = f * 2^e, f in [0.5, 1)
    k[nz] = (MULT_BITS - 1) - e.astype(np.int64)
    return np.where(np.rint(np.ldexp(a, k)) >= _TOP, k - 1, k)  # rounding up to 2^15: one bit less


def fixed_point(m: np.ndarray, r: np.ndarray | None = None) -> FixedPoint:
    """int16 multipliers for y = m * acc' + r * res, see the module docstring."""
    m = np.asarray(m, np.float64).ravel()
    shift = np.clip(_normal_shift(m), SHIFT_MIN, SHIFT_MAX)
    mf = np.rint(np.ldexp(m, shift))
    ok = np.abs(mf) < _TOP
    mult = np.clip(mf, -(2.0**62), 2.0**62).astype(np.int64)
    if r is None:
        return FixedPoint(mult, shift, None, None, ok)
    rs = np.ldexp(np.asarray(r, np.float64).ravel(), shift)  # R * 2^shift
    res_shift = np.maximum(-_normal_shift(rs), 0)
    res_mult = np.rint(np.ldexp(rs, -res_shift)).astype(np.int64)
    return FixedPoint(mult, shift, res_mult, res_shift, ok)
