"""ResNet-50 through the engine (issue 17, item 3): the bottleneck layout, the engine limits it needs (2048
channels, the line buffer of its stride-2 1x1 shortcuts; fq_hls.hw.fit), bit-exact C-simulation of
bottleneck networks (the residual add fused into a 1x1 conv, the stride in the 3x3 conv), and, marked slow, the
whole flow at 224x224."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _csim_helpers import need_csim, run_graph, small_cfg

from fq_hls.errors import InputError
from fq_hls.hw.config import hardware_config
from fq_hls.hw.cycles import schedule_graph
from fq_hls.hw.fit import fit_config, fit_note, network_needs
from fq_hls.hw.geometry import lb_depth
from fq_hls.hw.program import build_program
from fq_hls.lower import lower
from fq_hls.reference import run_integer
from fq_hls.synthetic import random_conv_graph, random_images, random_resnet
from fq_hls.synthetic.resnets import resnet_nodes

RESNET50_CONV_FC_WEIGHTS = 25_502_912  # torchvision resnet50: 25,557,032 parameters less 53,120 BN and 1,000 fc bias


def test_resnet50_layout_is_torchvision_v15():
    spec = resnet_nodes("bottleneck", (3, 4, 6, 3), "imagenet", 1000)
    shapes = {n.name: s for n, s in spec if s is not None}
    assert len(shapes) == 54
    assert sum(o * i * (k * k if k else 1) for o, i, k in shapes.values()) == RESNET50_CONV_FC_WEIGHTS
    nodes = {n.name: n for n, _ in spec}
    # v1.5: the stride sits in the 3x3 conv; conv3 (1x1, x4, no ReLU) feeds the residual add
    assert nodes["layer2.0.conv2"].attrs["stride"] == 2 and nodes["layer2.0.conv1"].attrs["stride"] == 1
    assert shapes["layer4.2.conv3"] == (2048, 512, 1) and not nodes["layer4.2.conv3"].relu
    assert nodes["layer4.2"].inputs == ["layer4.2.conv3", "layer4.1"] and shapes["fc"] == (1000, 2048, 0)
    torch_models = pytest.importorskip("fq_hls.compress.models", reason="torch not installed")
    layers = torch_models.prunable_layers(torch_models.build_model("resnet50", 1000))
    got = {name.removesuffix(".0") if name.endswith("downsample.0") else name: tuple(m.weight.shape)
           for name, m in layers.items()}
    assert got.keys() == shapes.keys()
    for name, s in shapes.items():
        assert got[name][:2] == s[:2], name


def test_wide_layers_need_a_fitted_engine():
    """A 1x1 stride-2 conv on 1024 channels (ResNet-50's layer4 shortcut): refused by the ResNet-18-sized
    default, with the limit named; fit_config raises max_in_ch and, at a small V, the line buffer."""
    g = random_conv_graph(1024, 16, 14, 14, kernel=1, stride=2, pad=0, relu=False, seed=1)
    cfg = hardware_config("pynq-z2", "fq")
    with pytest.raises(InputError, match="layer conv: 1024 input channels > max_in_ch 512"):
        build_program(g, cfg)
    need = network_needs(g, cfg)
    assert need.in_ch == 1024 and need.lb_entries == 1024 * 3 * 14 > lb_depth(cfg)
    fitted = fit_config(cfg, g)
    assert fitted.max_in_ch == 1024 and lb_depth(fitted) >= need.lb_entries
    assert "max_in_ch 512 -> 1024" in fit_note(cfg, fitted) and fit_config(fitted, g) == fitted
    build_program(g, fitted)


@pytest.mark.csim
@pytest.mark.parametrize("engine,hls_path", [("fq", False), ("fq", True), ("int8", False)])
def test_more_than_1024_input_channels_bit_exact(engine, hls_path):
    """2048 input channels with a residual (ResNet-50's layer4 conv3 shape, few outputs): the channel index of
    the synthesized path (cidx_t) must hold 2047."""
    need_csim()
    method = "int8" if engine == "int8" else "fq5"
    g = random_conv_graph(2048, 8, 7, 7, kernel=1, stride=1, pad=0, relu=False, residual=True, res_signed=True,
                          in_signed=False, sparsity=0.8, method=method, seed=2)
    cfg = fit_config(small_cfg(engine), g)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (2048, 7, 7)).astype(np.uint8)
    r = rng.integers(-128, 128, (8, 7, 7)).astype(np.int8)
    prog, act, cyc = run_graph(g, cfg, x, {"residual": r}, hls_path=hls_path)
    ref = run_integer(g, x[None], inputs={"residual": r[None]})[0]
    assert np.array_equal(prog.read_tensor(act, "conv").ravel(), ref)  # run_integer flattens its output
    assert cyc == schedule_graph(g, cfg)


@pytest.fixture(scope="module")
def narrow_bottleneck():
    cm = random_resnet("bottleneck", (1, 2, 1, 1), (8, 16, 32, 64), (3, 32, 32), 10, "fq5", 0.7, seed=1)
    return cm, lower(cm)


def test_bottleneck_lowering_fuses_the_add_into_conv3(narrow_bottleneck):
    _, g = narrow_bottleneck
    conv3 = {lyr.name: lyr for lyr in g.layers}["layer2.1.conv3"]
    assert conv3.kernel == 1 and conv3.output == "layer2.1" and conv3.residual == "layer2.0" and conv3.relu
    assert {lyr.name for lyr in g.layers if getattr(lyr, "residual", None)} == \
        {f"layer{s}.conv3" for s in ("1.0", "2.0", "2.1", "3.0", "4.0")}


@pytest.mark.csim
@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_bottleneck_network_bit_exact_in_csim(narrow_bottleneck, engine):
    need_csim()
    from fq_hls.csim import load_kernel

    cm, g = narrow_bottleneck
    if engine == "int8":
        cm = random_resnet("bottleneck", (1, 2, 1, 1), (8, 16, 32, 64), (3, 32, 32), 10, "int8", 0.7, seed=1)
        g = lower(cm)
    cfg = fit_config(small_cfg(engine), g)
    prog = build_program(g, cfg)
    k = load_kernel(cfg)
    x = g.quantize_input(random_images(cm.input_shape, 2, seed=4))
    ref = run_integer(g, x)
    for i in range(2):
        logits, cyc = k.run_program(prog, x[i])
        assert np.array_equal(logits, ref[i])
    assert cyc == schedule_graph(g, cfg)


def test_bottleneck_network_round_trips_through_onnx(narrow_bottleneck):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'fq-hls[export]')")
    from fq_hls.export import check_integer, integer_onnx

    cm, g = narrow_bottleneck
    r = check_integer(integer_onnx(g), g, random_images(cm.input_shape, 2, seed=8))
    assert r.ok, r.line()


@pytest.mark.slow
@pytest.mark.csim
def test_resnet50_224_whole_flow(tmp_path):
    """Random ResNet-50 (80 % sparse, fq5) at 224: .fqz round trip, lowering, C-simulation on the zcu104 engine
    bit-exact within 10 s per image with the cycle model equal to the C-simulation, the emulated board, ONNX."""
    need_csim()
    from fq_hls.csim import load_kernel
    from fq_hls.fqz import read_fqz, write_fqz
    from fq_hls.runtime.runner import Accelerator
    from fq_hls.synthetic import random_compressed

    path = tmp_path / "resnet50.fqz"
    write_fqz(random_compressed("resnet50", "fq5", 0.8, seed=0), path)
    cm = read_fqz(path)
    g = lower(cm)
    assert cm.arch == "resnet50" and abs(cm.sparsity() - 0.8) < 0.01 and len(g.layers) == 56
    cfg = fit_config(hardware_config("zcu104", "fq"), g)
    assert (cfg.max_in_ch, cfg.max_out_ch) == (2048, 2048)
    prog = build_program(g, cfg)
    k = load_kernel(cfg)
    x = g.quantize_input(random_images(cm.input_shape, 1, seed=1))
    ref = run_integer(g, x)
    t = time.perf_counter()
    logits, cyc = k.run_program(prog, x[0])
    assert time.perf_counter() - t <= 10.0
    assert np.array_equal(logits, ref[0]) and cyc == schedule_graph(g, cfg)
    with Accelerator.open(str(path), board="zcu104", emulate=True) as acc:
        assert np.array_equal(acc.run(x), ref) and acc.stats().evidence == "csim"
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed")
    from fq_hls.export import check_integer, integer_onnx

    assert check_integer(integer_onnx(g), g, x_int=x).ok
