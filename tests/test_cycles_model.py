"""Cycle model: the analytic estimate against the C-simulation's counts, and its sensitivity to sparsity."""

from __future__ import annotations

import numpy as np
import pytest
from _csim_helpers import images, kernel, lowered, need_csim

from fq_hls.hw.config import hardware_config
from fq_hls.hw.cycles import estimate_graph, estimate_layer


@pytest.mark.csim
@pytest.mark.parametrize(
    "method,engine,board", [("fq5", "fq", "zcu104"), ("int8", "int8", "pynq-z2"), ("fq5", "fq", "pynq-z2")]
)
def test_estimate_matches_csim_resnet18_cifar(method, engine, board):
    need_csim()
    from fq_hls.hw.program import build_program

    cm, g = lowered("resnet18-cifar", method, 0.85 if method != "int8" else 0.5)
    cfg = hardware_config(board, engine)
    prog = build_program(g, cfg)
    _, cyc = kernel(cfg).run_program(prog, g.quantize_input(images(cm, 1))[0])
    est = estimate_graph(g, cfg)
    for name, c, e in zip(prog.layer_names, cyc, est, strict=True):
        assert abs(e - c) <= 0.05 * c, f"{name}: csim {c} cycles, estimate {e}"


@pytest.mark.csim
def test_estimate_matches_csim_resnet18_224():
    need_csim()
    from fq_hls.csim import run_csim

    cm, g = lowered("resnet18", "fq5", 0.85)
    cfg = hardware_config("zcu104", "fq")
    _, cyc = run_csim(g, cfg, g.quantize_input(images(cm, 1))[0])
    for lyr, c, e in zip(g.layers, cyc, estimate_graph(g, cfg), strict=True):
        assert abs(e - c) <= 0.05 * c, f"{lyr.name}: csim {c} cycles, estimate {e}"


def test_sparsity_only_helps_the_fq_engine():
    from fq_hls.synthetic import random_conv_graph

    shape = dict(in_ch=64, out_ch=64, h=16, w=16)
    dense = random_conv_graph(method="fq5", sparsity=0.3, seed=1, **shape)
    sparse = random_conv_graph(method="fq5", sparsity=0.9, seed=1, **shape)
    fq = hardware_config("zcu104", "fq")
    i8 = hardware_config("zcu104", "int8")
    c = (64, 16, 16)
    assert estimate_layer(sparse.layers[0], fq, c) < 0.5 * estimate_layer(dense.layers[0], fq, c)
    d8 = random_conv_graph(method="int8", sparsity=0.3, seed=1, **shape)
    s8 = random_conv_graph(method="int8", sparsity=0.9, seed=1, **shape)
    assert estimate_layer(d8.layers[0], i8, c) == estimate_layer(s8.layers[0], i8, c)


def test_bandwidth_bound_layer_charges_beats():
    """A 1x1 layer with few weights per channel is limited by the store/load beats, not by compute."""
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=8, out_ch=256, h=8, w=64, kernel=1, pad=0, method="fq5", sparsity=0.5, seed=0)
    narrow = hardware_config("zcu104", "fq", axi_bits=32)
    wide = hardware_config("zcu104", "fq", axi_bits=512)
    c = (8, 8, 64)
    assert estimate_layer(g.layers[0], narrow, c) > 1.5 * estimate_layer(g.layers[0], wide, c)
    assert np.isfinite(estimate_layer(g.layers[0], wide, c))


@pytest.mark.csim
@pytest.mark.parametrize("fill_overlap", [True, False])
@pytest.mark.parametrize("engine,method", [("int8", "int8"), ("fq", "fq5")])
def test_multi_pass_layer_cycles_match_csim_exactly(engine, method, fill_overlap):
    """Several passes through the ping-pong weight buffers: pass p + 1 loads while pass p runs. Without
    escape entries (short gaps) the model's lane lengths are the stream's, so the counts agree exactly."""
    from _csim_helpers import run_graph, small_cfg

    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    need_csim()
    g = random_conv_graph(in_ch=40, out_ch=70, h=5, w=6, method=method, sparsity=0.3, seed=7)
    cfg = small_cfg(engine, max_nnz_per_lane=1024, fill_overlap=fill_overlap)
    assert len(build_program(g, cfg).packed[g.layers[0].name].passes) >= 3
    x = np.random.default_rng(0).integers(0, 256, g.tensors[g.input].shape).astype(np.uint8)
    if g.tensors[g.input].signed:
        x = x.view(np.int8)
    _, _, cyc = run_graph(g, cfg, x, {})
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)


@pytest.mark.csim
@pytest.mark.parametrize("stride", [1, 2])
def test_fill_overlap_matches_csim_and_hides_the_fill(stride):
    """Fill beside compute: the input rows of output row y + 1 are absorbed during row y's entry loops. The
    C-simulation counts agree with the model both ways, and a fill-bound layer (many input channels, short
    lanes) gets faster."""
    from _csim_helpers import run_graph, small_cfg

    from fq_hls.synthetic import random_conv_graph

    need_csim()
    g = random_conv_graph(in_ch=64, out_ch=8, h=9, w=40, stride=stride, method="fq5", sparsity=0.9, seed=3)
    x = np.random.default_rng(1).integers(0, 256, g.tensors[g.input].shape).astype(np.uint8)
    if g.tensors[g.input].signed:
        x = x.view(np.int8)
    got = {}
    for ov in (True, False):
        cfg = small_cfg("fq", fill_overlap=ov)
        _, act, cyc = run_graph(g, cfg, x, {})
        assert [int(c) for c in cyc] == estimate_graph(g, cfg)
        got[ov] = (act.copy(), sum(int(c) for c in cyc))
    assert np.array_equal(got[True][0], got[False][0])
    assert got[True][1] < got[False][1]
