"""The vectorised executor against a direct, loop-by-loop reading of the IR formula (Python ints)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fq_hls.reference.executor as ex
from fq_hls.errors import InputError
from fq_hls.reference import run_integer, run_layer
from fq_hls.synthetic import random_conv_graph


def slow_conv(layer, x, res=None):
    """The formula of fq_hls/ir.py with Python integers, one output at a time."""
    n, c, h, w = x.shape
    k, s, p = layer.kernel, layer.stride, layer.pad
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, layer.out_ch, oh, ow), np.int64)
    W = layer.weights.astype(np.int64)
    for b in range(n):
        for o in range(layer.out_ch):
            for y in range(oh):
                for xx in range(ow):
                    acc = 0
                    for i in range(c):
                        for ky in range(k):
                            for kx in range(k):
                                iy, ix = y * s + ky - p, xx * s + kx - p
                                if 0 <= iy < h and 0 <= ix < w:
                                    acc += int(W[o, i, ky, kx]) * int(x[b, i, iy, ix])
                    acc += int(layer.bias[o])
                    if layer.out_bits == 32:
                        out[b, o, y, xx] = acc
                        continue
                    t = acc * int(layer.mult[o])
                    if layer.residual is not None:
                        rs = 0 if layer.res_shift is None else int(layer.res_shift[o])
                        t += (int(res[b, o, y, xx]) * int(layer.res_mult[o])) << rs
                    sh = int(layer.shift[o])
                    q = (t + (1 << (sh - 1))) >> sh
                    out[b, o, y, xx] = min(max(q, 0 if layer.relu else -128), 255 if layer.relu else 127)
    return out


def _inputs(g, seed, n=2):
    rng = np.random.default_rng(seed)
    info = g.tensors["input"]
    lo, hi, dt = (-128, 128, np.int8) if info.signed else (0, 256, np.uint8)
    x = rng.integers(lo, hi, (n,) + info.shape).astype(dt)
    extra = {}
    if "residual" in g.tensors:
        r = g.tensors["residual"]
        lo, hi, dt = (-128, 128, np.int8) if r.signed else (0, 256, np.uint8)
        extra["residual"] = rng.integers(lo, hi, (n,) + r.shape).astype(dt)
    return x, extra


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    in_ch=st.integers(1, 5),
    out_ch=st.integers(1, 5),
    hw=st.integers(1, 7),
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 3),
    method=st.sampled_from(["fq5", "shift5", "int8", "fq7"]),
    relu=st.booleans(),
    residual=st.booleans(),
    signs=st.tuples(st.booleans(), st.booleans()),
    seed=st.integers(0, 10_000),
)
def test_conv_matches_loop_reference(in_ch, out_ch, hw, kernel, stride, method, relu, residual, signs, seed):
    pad = kernel // 2
    try:
        g = random_conv_graph(in_ch, out_ch, hw, hw + 1, kernel, stride, pad, 0.5, method, seed,
                              relu=relu, residual=residual, in_signed=signs[0], res_signed=signs[1])  # fmt: skip
    except InputError:  # a layer lowering refuses (fq7: sum |w| * 255 beyond the 32-bit accumulator): no graph
        assume(False)
    x, extra = _inputs(g, seed)
    layer = g.layers[0]
    got = run_integer(g, x, return_all=True, inputs=extra)["conv"]
    assert got.dtype == (np.uint8 if relu else np.int8)
    np.testing.assert_array_equal(got.astype(np.int64), slow_conv(layer, x, extra.get("residual")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_every_matmul_path_gives_the_same_integers(monkeypatch, dtype):
    g = random_conv_graph(6, 4, 5, 5, 3, 1, 1, 0.3, "fq5", 3, relu=False, residual=True, res_signed=True)
    x, extra = _inputs(g, 1)
    want = slow_conv(g.layers[0], x, extra["residual"])
    monkeypatch.setattr(ex, "_matmul_dtype", lambda bound: dtype)
    np.testing.assert_array_equal(run_layer(g.layers[0], {"input": x, **extra}).astype(np.int64), want)


def test_matmul_dtype_is_exact_only_below_the_mantissa():
    assert ex._matmul_dtype((1 << 24) - 1) is np.float32
    assert ex._matmul_dtype(1 << 24) is np.float64
    assert ex._matmul_dtype((1 << 53) - 1) is np.float64
    assert ex._matmul_dtype(1 << 53) is np.int64
