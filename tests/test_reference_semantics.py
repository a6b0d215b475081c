"""The IR arithmetic of fq_hls/ir.py, checked on tiny layers against integers computed by hand."""

import numpy as np
import pytest

from fq_hls.errors import InputError
from fq_hls.ir import ConvLayer, IntegerGraph, PoolLayer, TensorInfo
from fq_hls.reference import run_integer, run_layer


def conv(w, bias, mult, shift, *, k=1, stride=1, pad=0, relu=False, out_bits=8, **kw) -> ConvLayer:
    w = np.asarray(w, np.int32).reshape(len(bias), -1, k, k)
    o = w.shape[0]
    return ConvLayer(
        "c", "x", "y", w.shape[1], o, k, stride, pad, weights=w, bias=np.asarray(bias, np.int32),
        mult=np.full(o, mult, np.int32), shift=np.full(o, shift, np.int32), relu=relu, out_bits=out_bits, **kw,
    )  # fmt: skip


def column(values, dtype=np.int8) -> np.ndarray:
    return np.asarray(values, dtype).reshape(1, 1, 1, -1)


X = [-128, -3, -1, 0, 1, 2, 127]


def test_requant_rounding_floor_shift_and_clamp_int8():
    # w=3, bias=1, mult=5, shift=3: out = clamp((5*(3x+1) + 4) >> 3), >> rounds toward -inf
    #  x=-128: 5*-383=-1915, -1911>>3 = -239 -> clamp -128   x=-3: -40 -> -36>>3 = -5 (floor of -4.5)
    #  x=-1: -10 -> -6>>3 = -1     x=0: 5 -> 9>>3 = 1     x=1: 20 -> 24>>3 = 3
    #  x=2: 35 -> 39>>3 = 4        x=127: 1910 -> 1914>>3 = 239 -> clamp 127
    y = run_layer(conv([3], [1], 5, 3), {"x": column(X)})
    assert y.dtype == np.int8
    assert y.ravel().tolist() == [-128, -5, -1, 1, 3, 4, 127]


def test_requant_ties_round_half_up():
    # w=1, mult=4, shift=3: t = 4x, (4x + 4) >> 3: -0.5 -> 0, 0.5 -> 1, -1.5 -> -1, 1.5 -> 2
    y = run_layer(conv([1], [0], 4, 3), {"x": column([-1, 1, -3, 3])})
    assert y.ravel().tolist() == [0, 1, -1, 2]


def test_relu_output_is_uint8_and_clamps_at_0_and_255():
    # same arithmetic as the int8 case, clamp to [0, 255]: 239 now fits
    y = run_layer(conv([3], [1], 5, 3, relu=True), {"x": column(X)})
    assert y.dtype == np.uint8
    assert y.ravel().tolist() == [0, 0, 0, 1, 3, 4, 239]
    y = run_layer(conv([9], [0], 1, 1, relu=True), {"x": column([127])})  # (1143 + 1) >> 1 = 572 -> 255
    assert y.ravel().tolist() == [255]


def test_negative_multiplier():
    # w=1, mult=-3, shift=1: x=5: t=-15, (-15+1)>>1 = -7; x=-5: 15 -> 16>>1 = 8
    y = run_layer(conv([1], [0], -3, 1), {"x": column([5, -5])})
    assert y.ravel().tolist() == [-7, 8]


def test_residual_term_with_res_shift():
    # w=2, mult=3, shift=4, res_mult=5, res_shift=2; x=10, r=-7 (int8):
    # t = 20*3 + ((-7*5) << 2) = 60 - 140 = -80; (-80 + 8) >> 4 = -72 >> 4 = -5 (floor of -4.5)
    lay = conv([2], [0], 3, 4, residual="r", res_mult=np.array([5]), res_shift=np.array([2]))
    y = run_layer(lay, {"x": column([10]), "r": column([-7])})
    assert y.ravel().tolist() == [-5]
    # uint8 residual 200, ReLU, res_shift None (= 0): x=-10: t = -60 + 1000 = 940; 948 >> 4 = 59
    lay = conv([2], [0], 3, 4, relu=True, residual="r", res_mult=np.array([5]))
    y = run_layer(lay, {"x": column([-10]), "r": column([200], np.uint8)})
    assert y.dtype == np.uint8 and y.ravel().tolist() == [59]


def test_zero_padding_of_3x3_conv():
    # all-ones 3x3 map and kernel, pad 1: acc = number of valid taps: corner 4, edge 6, centre 9;
    # mult 1, shift 1: (acc + 1) >> 1 -> 2, 3, 5
    lay = conv(np.ones(9), [0], 1, 1, k=3, pad=1)
    y = run_layer(lay, {"x": np.ones((1, 1, 3, 3), np.int8)})
    assert y[0, 0].tolist() == [[2, 3, 2], [3, 5, 3], [2, 3, 2]]


def test_stride_two_picks_every_other_pixel():
    x = np.arange(16, dtype=np.int8).reshape(1, 1, 4, 4)
    y = run_layer(conv([2], [0], 1, 1, stride=2), {"x": x})  # (2x + 1) >> 1 = x
    assert y[0, 0].tolist() == [[0, 2], [8, 10]]


def test_multi_channel_accumulation_and_bias():
    # two input channels, weights (1, -2), bias 3, mult 1 shift 1: (x0 - 2*x1 + 3 + 1) >> 1
    x = np.array([[[[10]], [[4]]]], np.int8)  # 10 - 8 + 3 = 5 -> 6 >> 1 = 3
    y = run_layer(conv([[1, -2]], [3], 1, 1), {"x": x})
    assert y.ravel().tolist() == [3]


def test_fc_int32_output_has_no_requantisation():
    # w = [[1, -2, 3], [100, 0, -1]], x = [5, -6, 7], bias = [10, -1000]
    # out0 = 5 + 12 + 21 + 10 = 48; out1 = 500 - 7 - 1000 = -507
    lay = conv([[1, -2, 3], [100, 0, -1]], [10, -1000], 1, 1, out_bits=32, kind="fc")
    y = run_layer(lay, {"x": np.array([5, -6, 7], np.int8).reshape(1, 3, 1, 1)})
    assert y.dtype == np.int32 and y.ravel().tolist() == [48, -507]


def test_maxpool_ignores_padding_for_negative_values():
    x = np.array([[-5, -9, -7], [-8, -6, -4], [-3, -2, -10]], np.int8).reshape(1, 1, 3, 3)
    y = run_layer(PoolLayer("p", "x", "y", "max", 3, 2, 1), {"x": x})
    # windows (rows, cols) clipped to the map: {0,1}x{0,1} -> -5, {0,1}x{1,2} -> -4, {1,2}x{0,1} -> -2, ... -> -2
    assert y.dtype == np.int8 and y[0, 0].tolist() == [[-5, -4], [-2, -2]]
    yu = run_layer(
        PoolLayer("p", "x", "y", "max", 2, 2, 0), {"x": np.array([[[[0, 3], [255, 1]]]], np.uint8)}
    )
    assert yu.dtype == np.uint8 and yu.ravel().tolist() == [255]


def test_global_avgpool_rounding_and_clamp():
    # sum 10+20+30+41 = 101; mult 3, shift 2: (303 + 2) >> 2 = 76
    p = PoolLayer("p", "x", "y", "avg", 2, 1, 0, mult=3, shift=2)
    assert run_layer(p, {"x": np.array([[[[10, 20], [30, 41]]]], np.uint8)}).ravel().tolist() == [76]
    # all 255: 1020 * 3 = 3060 + 2 >> 2 = 765 -> 255
    y = run_layer(p, {"x": np.full((1, 1, 2, 2), 255, np.uint8)})
    assert y.dtype == np.uint8 and y.ravel().tolist() == [255]


def test_run_integer_chains_layers_and_checks_input():
    c = ConvLayer("c", "in", "h", 1, 1, 1, 1, 0, np.array([[[[2]]]], np.int32), np.zeros(1, np.int32),
                  np.ones(1, np.int32), np.ones(1, np.int32), relu=True)  # fmt: skip
    p = PoolLayer("p", "h", "out", "max", 2, 2, 0)
    g = IntegerGraph(
        "t", "int8", 1, "in", "out",
        {"in": TensorInfo("in", (1, 2, 2), True, 1.0), "h": TensorInfo("h", (1, 2, 2), False, 1.0),
         "out": TensorInfo("out", (1, 1, 1), False, 1.0)},
        [c, p], (0.0,), (1.0,),
    )  # fmt: skip
    x = np.array([[[[-3, 4], [1, 2]]]], np.int8)  # relu((2x + 1) >> 1) = relu(x) -> max = 4
    assert run_integer(g, x).tolist() == [[4]]
    allt = run_integer(g, x, return_all=True)
    assert allt["h"].tolist() == [[[[0, 4], [1, 2]]]]
    with pytest.raises(InputError, match="int8"):
        run_integer(g, x.astype(np.uint8))
    with pytest.raises(InputError, match="must be"):
        run_integer(g, np.zeros((1, 1, 3, 3), np.int8))
