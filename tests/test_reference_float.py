"""The numpy float executor (the float side of every integer check) and calibration."""

import numpy as np
import pytest

from fq_hls.errors import InputError
from fq_hls.model import BatchNorm, CompressedModel, Node, QuantWeight
from fq_hls.reference import calibrate_numpy, run_float
from fq_hls.reference.float_model import run_node
from fq_hls.synthetic import quantize_int8


def _conv_node(w, k, s, p, **kw):
    qw = quantize_int8(w)
    return Node(
        "c", "conv", ["input"], {"kernel": k, "stride": s, "padding": p}, weight=qw, **kw
    ), qw.dequantize()


def loop_conv(x, w, s, p):
    n, c, h, ww = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (ww + 2 * p - k) // s + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * s : i * s + k, j * s : j * s + k]
            y[:, :, i, j] = np.einsum("ncab,ocab->no", patch, w)
    return y


@pytest.mark.parametrize("k,s,p", [(1, 1, 0), (3, 1, 1), (3, 2, 1), (7, 2, 3), (1, 2, 0)])
def test_conv_matches_loops(k, s, p):
    rng = np.random.default_rng(k * 10 + s)
    x = rng.normal(size=(2, 3, 9, 8)).astype(np.float32)
    node, wd = _conv_node(rng.normal(size=(4, 3, k, k)), k, s, p)
    np.testing.assert_allclose(run_node(node, [x]), loop_conv(x, wd, s, p), rtol=1e-4, atol=1e-4)


def test_bias_bn_relu_order():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 4, 4)).astype(np.float32)
    bn = BatchNorm(
        np.array([2.0, -1.0]), np.array([0.5, 0.1]), np.array([0.3, -0.2]), np.array([4.0, 0.25]), 0.0
    )
    node, wd = _conv_node(
        rng.normal(size=(2, 2, 3, 3)), 3, 1, 1, bias=np.array([1.0, -1.0], np.float32), bn=bn
    )
    node.relu = True
    pre = loop_conv(x, wd, 1, 1) + np.array([1.0, -1.0])[None, :, None, None]
    want = np.maximum((pre - bn.mean[None, :, None, None]) / np.sqrt(bn.var)[None, :, None, None]
                      * bn.gamma[None, :, None, None] + bn.beta[None, :, None, None], 0)  # fmt: skip
    np.testing.assert_allclose(run_node(node, [x]), want, rtol=1e-4, atol=1e-4)


def test_maxpool_pads_with_minus_infinity_and_avgpool_is_global():
    x = -np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)  # all negative
    y = run_node(Node("m", "maxpool", ["input"], {"kernel": 3, "stride": 2, "padding": 1}), [x])
    assert y[0, 0].tolist() == [[-1, -2], [-4, -5]]  # windows clipped to {0,1} or {1,2} per axis
    a = run_node(Node("a", "avgpool", ["input"]), [x])
    assert a.shape == (1, 1, 1, 1) and a.item() == pytest.approx(-5.0)


def _tiny_model():
    rng = np.random.default_rng(1)
    conv, _ = _conv_node(rng.normal(size=(3, 1, 3, 3)), 3, 1, 1, relu=True)
    conv.name = "conv"
    fcw = quantize_int8(rng.normal(size=(2, 3)))
    nodes = [conv, Node("pool", "avgpool", ["conv"]), Node("fc", "fc", ["pool"], weight=fcw)]
    return CompressedModel("tiny", 2, (1, 4, 4), (0.0,), (1.0,), "int8", nodes)


def test_run_float_logits_shape_and_return_all():
    cm = _tiny_model()
    x = np.random.default_rng(2).normal(size=(5, 1, 4, 4)).astype(np.float32)
    out = run_float(cm, x)
    assert out.shape == (5, 2)
    allt = run_float(cm, x, return_all=True)
    assert set(allt) == {"input", "conv", "pool", "fc"}
    np.testing.assert_allclose(allt["fc"].reshape(5, 2), out)
    with pytest.raises(InputError, match="input must be"):
        run_float(cm, np.zeros((1, 2, 4, 4), np.float32))


def test_calibrate_sets_percentile_of_every_tensor():
    cm = _tiny_model()
    x = np.random.default_rng(3).normal(size=(64, 1, 4, 4)).astype(np.float32)
    am = calibrate_numpy(cm, x, percentile=100.0)
    assert set(am) == {"input", "conv", "pool", "fc"}
    assert am["input"] == pytest.approx(float(np.abs(x).max()))
    allt = run_float(cm, x, return_all=True)
    assert am["conv"] == pytest.approx(float(allt["conv"].max()), rel=1e-6)
    am99 = calibrate_numpy(cm, x, percentile=90.0)["input"]
    assert am99 < float(np.abs(x).max())


def test_calibrate_gives_dead_tensors_a_usable_scale():
    cm = _tiny_model()
    cm.nodes[0].weight = QuantWeight(
        "int8", 8, np.zeros((3, 1, 3, 3), np.uint16), np.array([0]), np.ones(3, np.float32)
    )
    am = calibrate_numpy(cm, np.ones((2, 1, 4, 4), np.float32))
    assert am["conv"] == 1.0 and am["pool"] == 1.0
