"""Focused quantization of one layer: power-of-two rounding, overflow rule, modes, STE, INQ, export."""

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from fq_hls.compress.focused import (
    METHODS,
    QuantizationError,
    attach_quantizers,
    export_quantized,
    make_quantizer,
    remove_quantizers,
    set_quantized_fraction,
)
from fq_hls.compress.quantizers import (
    ceil_log2,
    int8_per_channel,
    nearest_pow2_exponent,
    overflow_fraction,
    overflow_top,
    round_pow2,
)

torch.set_num_threads(1)
HSET = settings(max_examples=40, deadline=None)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def pruned_gauss(shape, seed=0, thr=0.08, scale=0.1):
    """A pruned layer: Gaussian weights, the small ones removed (bimodal survivors)."""
    w = torch.randn(shape, generator=gen(seed)) * scale
    mask = w.abs() > thr
    return w * mask, mask


def bimodal(shape, seed=0, mu=0.5, sd=0.05):
    g = gen(seed)
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    return sign * mu + sd * torch.randn(shape, generator=g)


def comp_levels(q, comp):
    """Values a surviving weight of component `comp` may take (before alpha), float64."""
    ks = torch.arange(q._lo, q._top + 1)
    p = 2.0 ** ks.double()
    if q.mode == "shift":
        return torch.cat([-p, p])
    mu = q._mu_sign[comp] * 2.0 ** q._mu_exp[comp]
    v = torch.cat([torch.tensor([mu], dtype=torch.float64), mu - p, mu + p])
    return v[v != 0]


# ---------------------------------------------------------------- exact helpers
@HSET
@given(st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False))
def test_nearest_power_of_two_in_linear_domain(x):
    k = int(nearest_pow2_exponent(torch.tensor([x], dtype=torch.float64))[0])
    d = abs(x - 2.0**k)
    assert d <= abs(x - 2.0 ** (k + 1)) and d <= abs(x - 2.0 ** (k - 1))
    c = int(ceil_log2(torch.tensor([x], dtype=torch.float64))[0])
    assert 2.0 ** (c - 1) < x <= 2.0**c


def test_nearest_power_of_two_ties_go_up():
    k = nearest_pow2_exponent(torch.tensor([1.5, 3.0, 0.75, 1.4999999]), )
    assert k.tolist() == [1, 2, 0, 0]


@HSET
@given(hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(0, 1e3)), st.sampled_from([5, 7, 4]))
def test_overflow_rule_fraction_and_finest_bias(mag, n):
    t = torch.from_numpy(mag)
    levels = (1 << n) + 1
    top = overflow_top(t, levels)
    assert overflow_fraction(t, top) <= 1.0 / levels
    if (t > 0).sum() > len(t) // levels:  # a finer top (larger bias b) would overflow too many values
        assert overflow_fraction(t, top - 1) > 1.0 / levels


@HSET
@given(hnp.arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 100)), st.integers(-6, 2),
       st.integers(0, 6), st.booleans())
@example(np.array([0.0, 1e-300, 5e-324]), -2, 1, False)  # exact zero and subnormals go up to 2^lo
def test_round_pow2_is_nearest_in_the_set(mag, lo, span, allow_zero):
    hi = lo + span
    t = torch.from_numpy(mag)
    k, z = round_pow2(t, lo, hi, allow_zero)
    levels = [2.0**e for e in range(lo, hi + 1)] + ([0.0] if allow_zero else [])
    got = torch.where(z, torch.zeros_like(t), 2.0 ** k.double())
    best = torch.tensor([min(abs(x - v) for v in levels) for x in mag], dtype=torch.float64)
    assert torch.all((got - t).abs() <= best + 1e-12)


# ---------------------------------------------------------------- layer quantizer
def test_unknown_method_is_a_clear_value_error():
    with pytest.raises(ValueError, match="fq3"):
        make_quantizer("fq3")


@pytest.mark.parametrize("method", ["fq5", "fq7", "shift5"])
@pytest.mark.parametrize("seed,thr,mode", [(0, 0.08, "recentralized"), (1, 0.08, "recentralized"), (2, 0.0, "shift")])
def test_outputs_are_representable_nearest_and_masked(method, seed, thr, mode):
    w, mask = pruned_gauss((12, 6, 3, 3), seed=seed, thr=thr)
    mask[0, 0] = False  # some pruned weights in every case
    w = w + (~mask) * 0.01  # pruned positions hold junk: must still come out exactly zero
    q = make_quantizer(method)
    q.fit(w, mask, gen(seed))
    assert q.mode == ("shift" if method == "shift5" else mode)
    with torch.no_grad():
        q.alpha.fill_(0.75)
    out = q(w, mask).detach()
    assert torch.all(out[~mask] == 0)
    assert torch.all(out[mask] != 0)
    v = out.double() / 0.75
    comp = q.comp.long()
    for c in (0, 1):
        sel = mask & (comp == c)
        if not sel.any():
            continue
        lv = comp_levels(q, c)
        dist = (v[sel].reshape(-1, 1) - lv.reshape(1, -1)).abs()
        assert torch.all(dist.min(1).values < 1e-12), "value outside the layer's level set"
        # nearest: no level is closer to the float weight than the chosen one
        best = (w[sel].double().reshape(-1, 1) - lv.reshape(1, -1)).abs().min(1).values
        assert torch.all((v[sel] - w[sel].double()).abs() <= best + 1e-12)
    lvset = q.level_set()
    assert torch.isin(v[mask], lvset).all()


@pytest.mark.parametrize("method,n", [("shift5", 5), ("fq5", 5), ("fq7", 7)])
def test_fitted_overflow_fraction(method, n):
    w, mask = pruned_gauss((32, 16, 3, 3), seed=3)
    q = make_quantizer(method)
    q.fit(w, mask, gen(0))
    x = w[mask].double()
    if q.mode == "recentralized":
        mu = torch.tensor([s * 2.0**e for s, e in zip(q._mu_sign, q._mu_exp, strict=True)], dtype=torch.float64)
        x, levels = x - mu[q.comp[mask].long()], (1 << (n - 1)) + 1
    else:
        levels = (1 << n) + 1
    assert overflow_fraction(x.abs(), q._top) <= 1.0 / levels
    assert q.params()["b"] == q.n_exp - 1 - q._top + (int(q.sigma_exp) if q.mode == "recentralized" else 0)


def test_w_metric_picks_the_mode():
    unimodal = torch.randn(4000, generator=gen(0)) * 0.1
    q = make_quantizer("fq5")
    q.fit(unimodal, torch.ones_like(unimodal, dtype=torch.bool), gen(0))
    assert q.params()["W"] < 2.0 and q.mode == "shift"
    two_peaks = bimodal((4000,), seed=1)
    q.fit(two_peaks, torch.ones_like(two_peaks, dtype=torch.bool), gen(0))
    assert q.params()["W"] > 2.0 and q.mode == "recentralized"
    assert q.params()["mu_neg"] == -0.5 and q.params()["mu_pos"] == 0.5  # powers of two
    s5 = make_quantizer("shift5")
    s5.fit(two_peaks, torch.ones_like(two_peaks, dtype=torch.bool))
    assert s5.mode == "shift"


def test_component_is_sampled_not_argmax():
    base = bimodal((2000,), seed=2)
    probe = torch.tensor([0.0, 1e-3, -1e-3, 0.6, -0.6])  # three on the boundary, two far inside a peak
    w = torch.cat([base, probe])
    mask = torch.ones_like(w, dtype=torch.bool)
    comps = []
    for s in range(24):
        q = make_quantizer("fq5")
        q.fit(w, mask, gen(s))
        assert q.mode == "recentralized"
        comps.append(q.comp[-5:].clone())
    comps = torch.stack(comps)
    for j in range(3):
        assert 0 < comps[:, j].sum() < len(comps), "boundary weight always got the same component"
    assert torch.all(comps[:, 3] == 1) and torch.all(comps[:, 4] == 0)


def test_no_surviving_weight_becomes_zero_in_recentralized_mode():
    # weights near 0 may be sampled into either component; mu_c + (-mu_c) = 0 must not be chosen
    probe = torch.tensor([0.0, 0.01, -0.01, 0.02, -0.02, 0.04, -0.04, 0.3, -0.3])
    w = torch.cat([bimodal((1000,), seed=3, sd=0.2), probe])  # wide peaks: the inner range reaches |mu|
    mask = torch.ones_like(w, dtype=torch.bool)
    hit = 0
    for s in range(16):
        q = make_quantizer("fq5")
        q.fit(w, mask, gen(s))
        assert q.mode == "recentralized" and q._top >= max(q._mu_exp)  # -mu_c is in the inner range
        out = q(w, mask).detach().double()
        assert torch.all(out != 0)
        for j in range(len(w) - len(probe), len(w)):
            c = int(q.comp[j])
            lv = comp_levels(q, c)
            assert abs(out[j] - w[j]) <= (lv - w[j].double()).abs().min() + 1e-12
            hit += int(q._mu_sign[c] * w[j] < 0 or w[j] == 0)
    assert hit > 0  # some probes really were on the far side of their component's mean


def test_same_generator_same_assignment():
    w, mask = pruned_gauss((8, 8, 3, 3), seed=4)
    a, b = make_quantizer("fq5"), make_quantizer("fq5")
    a.fit(w, mask, gen(7))
    b.fit(w, mask, gen(7))
    assert torch.equal(a.comp, b.comp) and torch.equal(a(w, mask), b(w, mask))


@pytest.mark.parametrize("method", METHODS)
def test_straight_through_gradient_and_alpha_gradient(method):
    w0, mask = pruned_gauss((6, 4, 3, 3), seed=5)
    q = make_quantizer(method)
    q.fit(w0, mask, gen(0))
    w = w0.clone().requires_grad_(True)
    up = torch.randn(w.shape, generator=gen(9))
    q(w, mask).backward(up)
    assert torch.equal(w.grad, up * mask)
    if method == "int8":
        assert q.alpha is None
    else:
        expect = (up * q.quantized_value(w0, mask)).sum()
        assert q.alpha.grad is not None and abs(float(q.alpha.grad) - float(expect)) < 1e-4 * (1 + abs(float(expect)))
        assert float(q.alpha.grad) != 0.0


@pytest.mark.parametrize("method", METHODS)
def test_export_equals_forward(method):
    w, mask = pruned_gauss((10, 5, 3, 3), seed=6)
    q = make_quantizer(method)
    q.fit(w, mask, gen(1))
    if q.alpha is not None:
        with torch.no_grad():
            q.alpha.fill_(1.2345)
    qw = q.export(w, mask)
    fwd = q(w, mask).detach().numpy()
    deq = qw.dequantize()
    assert np.array_equal(deq, fwd)  # bit-exact (the contract allows 1e-6 relative)
    assert qw.codebook[0] == 0 and qw.codebook.dtype == np.int64
    assert np.all(qw.codes[~mask.numpy()] == 0)
    assert np.abs(qw.codebook).max() <= (1 << 24)
    assert qw.scale.shape == (10,) and qw.scale.dtype == np.float32
    assert qw.bits == {"fq5": 5, "fq7": 7, "shift5": 5, "int8": 8}[method]
    if method == "int8":
        assert qw.fields is None and qw.mode == "int8"
    else:
        assert np.all(qw.codes[mask.numpy()] != 0)
        assert np.array_equal(qw.fields.levels(), qw.codebook)
        assert set(np.unique(qw.fields.sign[1:])) <= {-1, 0, 1}
        assert qw.fields.q_shift >= 0 and min(qw.fields.mu_shift) >= 0
        assert np.abs(qw.codebook).min(initial=1 << 30) >= 0
        assert np.allclose(qw.scale, np.float32(1.2345) * 2.0 ** -qw.params["F"])
        assert qw.mode == q.mode
        for key in ("mode", "b", "mu_neg", "mu_pos", "sigma", "alpha", "W"):
            assert key in qw.params


def test_export_smallest_level_is_one_and_fq7_levels_stay_below_2_24():
    # log-uniform magnitudes over 2^-40 .. 1: a 7-bit shift quantizer would span 2^63 without the window
    g = gen(11)
    mag = 2.0 ** (-40 * torch.rand(3000, generator=g))
    w = (mag * torch.where(torch.rand(3000, generator=g) < 0.5, -1.0, 1.0)).reshape(30, 100)
    mask = torch.ones_like(w, dtype=torch.bool)
    q = make_quantizer("fq7")
    q.fit(w, mask, gen(0))
    assert q.mode == "shift"
    assert q._top - q._lo == 23
    qw = q.export(w, mask)
    lv = np.abs(qw.codebook[1:])
    assert lv.max() <= (1 << 24) and lv.min() == 1
    assert np.array_equal(qw.dequantize(), q(w, mask).detach().numpy())


def test_int8_symmetric_per_output_channel():
    w, mask = pruned_gauss((5, 3, 3, 3), seed=8)
    w[2] *= 10  # channels with different ranges get different scales
    lv, scale = int8_per_channel(w, mask)
    amax = (w * mask).abs().reshape(5, -1).amax(1)
    assert torch.allclose(scale, amax / 127)
    assert lv.abs().max() <= 127 and torch.all(lv.reshape(5, -1).abs().amax(1) == 127)
    q = make_quantizer("int8")
    q.fit(w, mask)
    qw = q.export(w, mask)
    assert np.array_equal(qw.integer(), lv.numpy())
    assert np.array_equal(qw.scale, scale.numpy())


def test_state_dict_roundtrip_restores_the_fit():
    w, mask = pruned_gauss((8, 4, 3, 3), seed=9)
    a = make_quantizer("fq5")
    a.fit(w, mask, gen(3))
    a.set_mask(mask)
    with torch.no_grad():
        a.alpha.fill_(0.9)
    b = make_quantizer("fq5")
    b.load_state_dict(a.state_dict())
    assert b.mode == a.mode and torch.equal(b(w, mask), a(w, mask)) and torch.equal(b.mask, a.mask)


def test_quantizer_needs_a_fit():
    with pytest.raises(QuantizationError):
        make_quantizer("fq5")(torch.ones(2, 2), torch.ones(2, 2))


# ---------------------------------------------------------------- model level
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def tiny_with_masks(seed=0):
    torch.manual_seed(seed)
    m = Tiny()
    masks = {n: getattr(m, n).weight.detach().abs() > 0.5 * getattr(m, n).weight.detach().abs().mean()
             for n in ("conv", "fc")}
    return m, masks


def test_attach_zeros_stay_zero_after_optimizer_steps():
    m, masks = tiny_with_masks()
    ql = attach_quantizers(m, {"conv": "fq5", "fc": "shift5"}, masks)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    x = torch.randn(4, 3, 4, 4, generator=gen(0))
    for _ in range(3):
        opt.zero_grad()
        m(x).square().sum().backward()
        opt.step()
    for n in ("conv", "fc"):
        mod = getattr(m, n)
        assert torch.all(mod.weight[~masks[n]] == 0)
        assert torch.all(mod.parametrizations.weight.original[~masks[n]] == 0)
    assert ql["conv"].alpha.grad is not None and ql["conv"].alpha in set(m.parameters())
    qws = export_quantized(m, ql)
    for n in ("conv", "fc"):
        assert np.array_equal(qws[n].dequantize(), getattr(m, n).weight.detach().numpy())
    remove_quantizers(m, ql)
    assert isinstance(m.conv.weight, nn.Parameter)
    assert np.array_equal(m.conv.weight.detach().numpy(), qws["conv"].dequantize())


def test_inq_fraction_quantizes_the_largest_weights_first():
    m, masks = tiny_with_masks(1)
    ql = attach_quantizers(m, {"conv": "fq5"}, masks)
    q = ql["conv"]
    orig = m.conv.parametrizations.weight.original.detach()
    full = q.quantized_value(orig, masks["conv"]) * q.alpha.detach()
    nnz = int(masks["conv"].sum())
    prev = None
    for f in (0.25, 0.5, 0.875):
        set_quantized_fraction(ql, f)
        w = m.conv.weight.detach()
        sel = q.qsel.bool() & masks["conv"]
        assert int(sel.sum()) == math.ceil(f * nnz)
        assert torch.equal(w[sel], full[sel]) and torch.equal(w[masks["conv"] & ~sel], orig[masks["conv"] & ~sel])
        assert orig[sel].abs().min() >= orig[masks["conv"] & ~sel].abs().max()
        if prev is not None:
            assert torch.all(sel[prev])  # quantized weights stay quantized
        prev = sel
        with pytest.raises(QuantizationError, match="set_fraction"):
            export_quantized(m, ql)
    set_quantized_fraction(ql, 1.0)
    assert torch.equal(m.conv.weight.detach(), full)


def test_inq_frozen_option_blocks_gradients_of_quantized_weights():
    m, masks = tiny_with_masks(2)
    ql = attach_quantizers(m, {"conv": "fq5"}, masks)
    q = ql["conv"]
    q.train_quantized = False
    set_quantized_fraction(ql, 0.5)
    m(torch.randn(2, 3, 4, 4, generator=gen(1))).sum().backward()
    g = m.conv.parametrizations.weight.original.grad
    sel = q.qsel.bool()
    assert torch.all(g[sel] == 0) and torch.any(g[masks["conv"] & ~sel] != 0)


def test_attach_rejects_unknown_layers():
    m, masks = tiny_with_masks()
    with pytest.raises(Exception, match="nope"):
        attach_quantizers(m, {"nope": "fq5"}, masks)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(METHODS), st.integers(1, 6), st.integers(1, 12), st.data())
def test_any_layer_exports_exactly_and_keeps_its_sparsity(method, o, i, data):
    vals = data.draw(hnp.arrays(np.float32, (o, i), elements=st.floats(-4, 4, width=32)))
    keep = data.draw(hnp.arrays(np.bool_, (o, i)))
    w, mask = torch.from_numpy(vals), torch.from_numpy(keep)
    q = make_quantizer(method)
    q.fit(w, mask, gen(0))
    out = q(w, mask).detach()
    qw = q.export(w, mask)
    assert np.array_equal(qw.dequantize(), out.numpy())
    assert torch.all(out[~mask] == 0) and np.all(qw.codes[~keep] == 0)
    assert np.abs(qw.codebook).max() <= (1 << 24)
    if method != "int8":
        assert torch.all(out[mask] != 0) and np.all(qw.codes[keep] != 0)
        assert np.array_equal(qw.fields.levels(), qw.codebook)
        assert torch.isin(out[mask].double(), q.level_set()).all()
