"""Fixed-point multipliers and the weight-format extraction used by lowering."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.errors import InputError
from fq_hls.lower import fixed_point, lower_weights
from fq_hls.lower.weights import levels_from_fields
from fq_hls.synthetic import prune, quantize

reals = st.floats(min_value=1e-12, max_value=1e3, allow_nan=False) | st.floats(
    max_value=-1e-12, min_value=-1e3
)


@settings(max_examples=200, deadline=None)
@given(m=reals)
def test_mult_uses_15_bits_and_is_accurate(m):
    fp = fixed_point(np.array([m]))
    mult, shift = int(fp.mult[0]), int(fp.shift[0])
    if 1 <= shift <= 62 and fp.ok[0] and shift not in (1, 62):
        assert 2**14 <= abs(mult) < 2**15
        assert abs(mult / 2.0**shift - m) <= 2.0 ** -(shift + 1) * 1.0000001
    assert np.sign(mult) == np.sign(m) or mult == 0


@settings(max_examples=200, deadline=None)
@given(m=st.floats(1e-9, 1e-1), ratio=st.floats(1e-2, 1e7))
def test_residual_gets_its_own_left_shift(m, ratio):
    r = m * ratio
    fp = fixed_point(np.array([m]), np.array([r]))
    rm, rs, sh = int(fp.res_mult[0]), int(fp.res_shift[0]), int(fp.shift[0])
    assert abs(rm) < 2**15 and rs >= 0
    if rs > 0:
        assert abs(rm) >= 2**14
    assert abs(rm * 2.0**rs / 2.0**sh - r) <= 2.0 ** (rs - sh - 1) * 1.0000001


def test_zero_and_overflowing_gains():
    fp = fixed_point(np.array([0.0, 2.0**20]))
    assert fp.mult[0] == 0 and fp.ok[0]
    assert not fp.ok[1] and fp.shift[1] == 1


@pytest.mark.parametrize("method", ["fq5", "fq7", "shift5", "shift7", "int8"])
def test_lowered_weights_are_exact_and_fields_reproduce_them(method):
    rng = np.random.default_rng(0)
    qw = quantize(prune(rng.normal(0, 0.05, (8, 6, 3, 3)), 0.7), method)
    lw = lower_weights("c", qw)
    np.testing.assert_allclose(lw.weights * lw.scale[:, None, None, None], qw.dequantize(), rtol=1e-7, atol=0)
    if method == "int8":
        assert lw.wformat.kind == "int8" and lw.wsign is None
        return
    nz = lw.weights != 0
    np.testing.assert_array_equal(
        levels_from_fields(lw.wformat, lw.wcomp, lw.wsign, lw.wexp)[nz], lw.weights[nz]
    )
    assert int(lw.wexp.max()) < 2**lw.wformat.exp_bits
    assert (lw.wsign[~nz] == 0).all()
    # normalised: some used level is odd, i.e. no common power of two is left
    assert lw.norm_shift >= 0
    if lw.wformat.kind == "shift":
        assert int(lw.wexp[nz].min()) + lw.wformat.q_shift == 0


def test_power_of_two_normalisation_shrinks_the_levels():
    rng = np.random.default_rng(1)
    qw = quantize(prune(rng.normal(0, 0.05, (4, 4, 3, 3)), 0.9), "shift5")
    assert np.abs(qw.integer()).max() >= 2**8  # the codebook spans 2^0..2^15
    lw = lower_weights("c", qw)
    assert lw.norm_shift > 0 and np.abs(lw.weights).max() == np.abs(qw.integer()).max() >> lw.norm_shift


def test_bad_codebooks_name_the_node():
    rng = np.random.default_rng(2)
    qw = quantize(rng.normal(0, 0.05, (2, 2, 1, 1)), "shift5")
    qw.codebook = qw.codebook.copy()
    qw.codebook[0] = 1
    with pytest.raises(InputError, match="node 'n': codebook"):
        lower_weights("n", qw)
    qw = quantize(rng.normal(0, 0.05, (2, 2, 1, 1)), "int8")
    qw.codes = qw.codes.astype(np.int64) + 1000
    with pytest.raises(InputError, match="node 'n': codes"):
        lower_weights("n", qw)
