"""Lowering of random models (all three methods, smallcnn and resnet18-cifar) checked against the float model."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fq_hls.ir import ConvLayer, PoolLayer
from fq_hls.lower import lower, lower_weights
from fq_hls.model import normalise
from fq_hls.reference import run_float, run_integer
from fq_hls.reference.float_model import run_node
from fq_hls.synthetic import random_compressed, random_images

METHODS = ["fq5", "shift5", "int8"]
_CACHE: dict = {}


def lowered(arch, method):
    if (arch, method) not in _CACHE:
        cm = random_compressed(arch, method, seed=1)
        _CACHE[(arch, method)] = (cm, lower(cm))
    return _CACHE[(arch, method)]


CASES = [("smallcnn", m) for m in METHODS] + [("resnet18-cifar", m) for m in METHODS]


@pytest.mark.parametrize("arch,method", CASES)
def test_graph_structure_and_types(arch, method):
    cm, g = lowered(arch, method)
    assert g.input == "input" and g.tensors["input"].signed
    assert g.tensors["input"].scale == pytest.approx(cm.act_max["input"] / 127)
    assert g.output == "fc" and g.tensors["fc"].bits == 32 and g.layers[-1].out_bits == 32
    assert g.layers[-1].kind == "fc" and g.layers[-1].kernel == 1
    kinds = {lay.wformat.kind for lay in g.layers if isinstance(lay, ConvLayer)}
    assert kinds <= {"int8": {"int8"}, "shift5": {"shift"}, "fq5": {"fq", "shift"}}[method]
    for lay in g.layers:
        out = g.tensors[lay.output]
        if isinstance(lay, ConvLayer) and lay.out_bits == 8:
            assert out.signed == (not lay.relu)
            assert out.scale == pytest.approx(cm.act_max[lay.output] / (255 if lay.relu else 127))
    if arch == "resnet18-cifar":
        fused = [lay for lay in g.layers if isinstance(lay, ConvLayer) and lay.residual is not None]
        assert [lay.name for lay in fused] == [f"layer{i}.{b}.conv2" for i in range(1, 5) for b in range(2)]
        assert [lay.output for lay in fused] == [f"layer{i}.{b}" for i in range(1, 5) for b in range(2)]
        assert fused[2].residual == "layer2.0.downsample" and fused[1].residual == "layer1.0"
        assert not any(n.endswith("conv2") for n in g.tensors)  # the fused conv's own output disappears
        assert g.tensors["layer2.0.downsample"].signed and not g.tensors["layer2.0"].signed
        # every layer is emitted after the tensors it reads
        seen = {"input"}
        for lay in g.layers:
            assert lay.input in seen and (getattr(lay, "residual", None) or "input") in seen
            seen.add(lay.output)
    # per-channel int8 weight scales make the logits' scale per class; one per-layer scale otherwise
    assert (g.tensors["fc"].channel_scale is not None) == (method == "int8")
    pools = [lay for lay in g.layers if isinstance(lay, PoolLayer)]
    assert pools[-1].mode == "avg" and not g.tensors[pools[-1].output].signed


@pytest.mark.parametrize("arch,method", CASES)
def test_multipliers_use_the_int16_range(arch, method):
    _, g = lowered(arch, method)
    for lay in g.layers:
        if isinstance(lay, ConvLayer) and lay.out_bits == 8:
            live = np.abs(lay.weights).reshape(lay.out_ch, -1).sum(axis=1) > 0
            m = np.abs(lay.mult[live & (lay.shift < 62)])
            assert ((m >= 1 << 14) & (m < 1 << 15)).all(), lay.name
            if lay.residual is not None:
                rm = np.abs(lay.res_mult)
                assert ((rm >= 1 << 14) | (lay.res_shift == 0)).all() and (rm < 1 << 15).all()


@pytest.mark.parametrize("arch,method", CASES)
def test_integer_weights_times_scale_are_the_model_weights(arch, method):
    cm, g = lowered(arch, method)
    for lay in g.layers:
        if not isinstance(lay, ConvLayer):
            continue
        qw = cm.node(lay.name).weight
        lw = lower_weights(lay.name, qw)
        real = lw.weights * lw.scale[:, None, None, None]
        np.testing.assert_allclose(real, qw.dequantize().reshape(real.shape), rtol=1e-6, atol=0)
        live = np.abs(lay.weights).reshape(lay.out_ch, -1).sum(axis=1) > 0
        np.testing.assert_array_equal(lay.weights[live], lw.weights[live])


@pytest.mark.parametrize("arch,method", CASES)
def test_each_layer_within_one_step_of_its_float_node(arch, method):
    """Feed every layer's float node the dequantized integer inputs: the integer output is the rounded
    float output, off by at most one step (requantisation rounding and the int16 multipliers)."""
    cm, g = lowered(arch, method)
    n = 16 if arch == "smallcnn" else 2
    t = run_integer(g, g.quantize_input(random_images(cm.input_shape, n, seed=7)), return_all=True)

    def deq(name):
        return g.dequantize(name, t[name]).astype(np.float32)

    for lay in g.layers:
        info = g.tensors[lay.output]
        if isinstance(lay, PoolLayer) and lay.mode == "max":
            continue  # exact by construction (checked in the semantics tests)
        node = cm.node(lay.name)
        y = run_node(node, [deq(lay.input)]).astype(np.float64)
        if isinstance(lay, ConvLayer) and lay.residual is not None:
            y = y + deq(lay.residual)
            if cm.node(lay.output).relu:
                y = np.maximum(y, 0)
        if info.bits == 32:
            diff = np.abs(g.dequantize(lay.output, t[lay.output]) - y.reshape(t[lay.output].shape))
            assert diff.max() <= info.scale + 1e-4 * np.abs(y).max(), lay.name
            continue
        lo, hi = (-128, 127) if info.signed else (0, 255)
        want = np.clip(np.rint(y / info.scale), lo, hi)
        assert np.abs(want - t[lay.output]).max() <= 1, lay.name


@pytest.mark.parametrize("arch,method", CASES)
def test_integer_logits_follow_the_float_model(arch, method):
    cm, g = lowered(arch, method)
    n = 64 if arch == "smallcnn" else 16
    imgs = random_images(cm.input_shape, n, seed=11)
    li = g.dequantize(g.output, run_integer(g, g.quantize_input(imgs)))
    lf = run_float(cm, normalise(imgs, cm.mean, cm.std)).astype(np.float64)
    rel = np.sqrt(((li - lf) ** 2).mean() / (lf**2).mean())
    assert rel < 0.2
    assert (li.argmax(1) == lf.argmax(1)).mean() >= 0.75


def test_smallcnn_has_a_constant_channel_and_it_is_exact():
    """90 % sparsity leaves some 3x3x1 filters empty: those channels become constants (bias only)."""
    cm, g = lowered("smallcnn", "int8")
    lay = g.layers[0]
    dead = np.abs(lay.weights).reshape(lay.out_ch, -1).sum(axis=1) == 0
    assert dead.any()
    t = run_integer(g, g.quantize_input(random_images(cm.input_shape, 4, seed=3)), return_all=True)
    out = t[lay.output][:, dead]
    assert (out == out[:1, :, :1, :1]).all()  # constant over images and pixels
    a, c = cm.node("conv1").bn.affine()
    want = np.clip(np.rint(np.maximum(c[dead], 0) / g.tensors[lay.output].scale), 0, 255)
    assert np.abs(out[0, :, 0, 0] - want).max() <= 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sparsity=st.sampled_from([0.0, 0.5, 0.8, 0.95]),
    method=st.sampled_from(["fq5", "fq7", "shift5", "int8"]),
)
def test_smallcnn_property_one_step_per_layer(seed, sparsity, method):
    cm = random_compressed("smallcnn", method, sparsity=sparsity, seed=seed)
    g = lower(cm)
    t = run_integer(g, g.quantize_input(random_images(cm.input_shape, 8, seed=seed)), return_all=True)
    for lay in g.layers[:2]:  # the two convs: float node on the dequantized integer input
        info = g.tensors[lay.output]
        y = run_node(cm.node(lay.name), [g.dequantize(lay.input, t[lay.input]).astype(np.float32)])
        want = np.clip(np.rint(y.astype(np.float64) / info.scale), 0, 255)
        assert np.abs(want - t[lay.output]).max() <= 1


def _const_case(edit):
    cm = random_compressed("smallcnn", "int8", sparsity=0.0, seed=9)
    edit(cm)
    g = lower(cm)
    t = run_integer(g, g.quantize_input(random_images(cm.input_shape, 4, seed=1)), return_all=True)
    return cm, g, t


def test_zero_gamma_channel_is_a_constant():
    def edit(cm):
        cm.node("conv1").bn.gamma[0] = 0.0
        cm.node("conv1").bn.beta[0] = 0.7

    cm, g, t = _const_case(edit)
    assert not g.layers[0].weights[0].any() and g.layers[0].weights[1].any()
    want = round(0.7 / g.tensors["conv1"].scale)
    assert set(np.unique(t["conv1"][:, 0]).tolist()) == {want}
    assert any("constant channel" in n for n in g.meta["notes"])


def test_huge_bias_channels_become_constants():
    def edit(cm):
        cm.node("conv1").bn.gamma[1] = 1e-12  # bias / gain overflows int32, gain negligible
        cm.node("conv1").bn.beta[1] = 0.5
        cm.node("conv2").bias[2] = -1e9  # overflows, and the ReLU output is 0 whatever the input

    cm, g, t = _const_case(edit)
    assert not g.layers[0].weights[1].any() and not g.layers[1].weights[2].any()
    assert set(np.unique(t["conv1"][:, 1]).tolist()) == {round(0.5 / g.tensors["conv1"].scale)}
    assert not t["conv2"][:, 2].any()
