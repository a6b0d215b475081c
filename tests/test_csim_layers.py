"""The C-simulated HLS engine against the numpy reference, bit for bit, on single layers and whole networks."""

from __future__ import annotations

import numpy as np
import pytest
from _csim_helpers import images, kernel, lowered, need_csim, run_graph, small_cfg

from fq_hls.errors import DeviceError
from fq_hls.hw.config import hardware_config
from fq_hls.ir import ConvLayer, IntegerGraph, PoolLayer, TensorInfo, WeightFormat
from fq_hls.reference import run_integer

pytestmark = pytest.mark.csim


@pytest.fixture(autouse=True)
def _tools():
    need_csim()


def _input(graph, rng):
    info = graph.tensors[graph.input]
    if info.signed:
        return rng.integers(-128, 128, info.shape).astype(np.int8)
    return rng.integers(0, 256, info.shape).astype(np.uint8)


def _check_conv_graph(g, engine, seed=0, hls_path=False, **cfg_overrides):
    rng = np.random.default_rng(seed)
    x = _input(g, rng)
    extra = {}
    if "residual" in g.tensors:
        r = g.tensors["residual"]
        extra["residual"] = (
            rng.integers(-128, 128, r.shape).astype(np.int8)
            if r.signed
            else rng.integers(0, 256, r.shape).astype(np.uint8)
        )
    ref = run_integer(g, x[None], return_all=True, inputs={k: v[None] for k, v in extra.items()})
    prog, act, cyc = run_graph(g, small_cfg(engine, **cfg_overrides), x, extra, hls_path)
    for lyr in g.layers:
        if lyr.output in prog.unwritten:  # a conv output that its fused max pool consumed on chip
            continue
        got = prog.read_tensor(act, lyr.output)
        np.testing.assert_array_equal(got, ref[lyr.output][0], err_msg=f"{engine} engine, layer {lyr.name}")
    # every layer costs cycles, except a max pool its conv layer ran (its input was never stored)
    assert all(c > 0 for c, lyr in zip(cyc, g.layers, strict=True) if lyr.input not in prog.unwritten)
    return cyc


CASES = {
    # name: random_conv_graph keyword arguments
    "3x3_s1_odd_sizes": dict(in_ch=5, out_ch=11, h=9, w=10, kernel=3, stride=1, pad=1),
    "3x3_stride2": dict(in_ch=6, out_ch=9, h=13, w=11, kernel=3, stride=2, pad=1, in_signed=True),
    "1x1_downsample": dict(in_ch=16, out_ch=20, h=8, w=7, kernel=1, stride=2, pad=0),
    "residual_relu": dict(in_ch=8, out_ch=12, h=6, w=9, residual=True, res_signed=True),
    "residual_signed_out": dict(in_ch=8, out_ch=10, h=5, w=6, residual=True, relu=False),
    "7x7_stem": dict(in_ch=3, out_ch=10, h=19, w=21, kernel=7, stride=2, pad=3, in_signed=True),
    "dense_wide": dict(in_ch=40, out_ch=8, h=4, w=5, sparsity=0.0),
}


@pytest.mark.parametrize("method", ["fq5", "shift5", "fq7", "int8"])
@pytest.mark.parametrize("case", list(CASES))
def test_conv_fq_engine(case, method):
    from fq_hls.synthetic import random_conv_graph

    kw = dict(sparsity=0.6, seed=3)
    kw.update(CASES[case])
    g = random_conv_graph(method=method, **kw)
    # fq7 and shift5 codes may use 4-bit exponents: the default 3-bit shifter refuses them (test_streams_pack)
    _check_conv_graph(g, "fq", seed=1, **({"exp_bits": 4} if method in ("fq7", "shift5") else {}))


def _with_mean_shifts(g, mu_shift):
    """The fq5 layer of `g` with other component mean shifts (weights recomputed from the fields)."""
    from dataclasses import replace

    from fq_hls.lower.weights import levels_from_fields

    lyr = g.layers[0]
    fmt = replace(lyr.wformat, mu_shift=mu_shift)
    w = np.where(lyr.weights != 0, levels_from_fields(fmt, lyr.wcomp, lyr.wsign, lyr.wexp), 0)
    g.layers[0] = replace(lyr, weights=w.astype(np.int32), wformat=fmt)
    return g


@pytest.mark.parametrize("mu_shift,delta_bits", [((3, 4), 1), ((5, 3), 2), ((4, 3), 0)])
def test_fq_engine_mean_shifts(mu_shift, delta_bits):
    """Unequal component means: the one mean accumulator shifts one component's input (d = difference); a
    difference beyond the PE's mu_delta_bits falls back to signed-digit terms. Bit-exact either way."""
    from fq_hls.hw.streams import shift_coding
    from fq_hls.synthetic import random_conv_graph

    g = _with_mean_shifts(
        random_conv_graph(in_ch=6, out_ch=9, h=5, w=7, method="fq5", sparsity=0.6, seed=5), mu_shift
    )
    cfg_kw = dict(mu_delta_bits=delta_bits, exp_bits=4)
    fits = abs(mu_shift[0] - mu_shift[1]) < (1 << delta_bits)
    assert shift_coding(g.layers[0], small_cfg("fq", **cfg_kw)).from_fields == fits
    _check_conv_graph(g, "fq", seed=2, **cfg_kw)


@pytest.mark.parametrize("engine", ["int8", "int8_sparse"])
@pytest.mark.parametrize("case", list(CASES))
def test_conv_int8_engine(case, engine):
    from fq_hls.synthetic import random_conv_graph

    kw = dict(sparsity=0.6, seed=4)
    kw.update(CASES[case])
    g = random_conv_graph(method="int8", **kw)
    _check_conv_graph(g, engine, seed=2)


def test_fq_layers_use_their_shift_fields():
    """fq5 layers stream their own (comp, sign, exp) codes with the recentralized means, not CSD terms."""
    from fq_hls.hw.streams import shift_coding
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=16, out_ch=16, h=4, w=4, method="fq5", sparsity=0.5, seed=0)
    c = shift_coding(g.layers[0])
    assert c.from_fields
    g2 = random_conv_graph(in_ch=16, out_ch=16, h=4, w=4, method="int8", sparsity=0.5, seed=0)
    assert not shift_coding(g2.layers[0]).from_fields


def _graph(layers, tensors, inp, out):
    return IntegerGraph("hand", "int8", 1, inp, out, tensors, layers, (0.0,), (1.0,))


def _conv(name, i, o, w, relu=True, out_bits=8, k=None, s=1, p=None, seed=0):
    rng = np.random.default_rng(seed)
    n_out, n_in = w.shape[:2]
    k = k or w.shape[2]
    p = k // 2 if p is None else p
    return ConvLayer(
        name,
        i,
        o,
        n_in,
        n_out,
        k,
        s,
        p,
        w.astype(np.int32),
        rng.integers(-300, 300, n_out).astype(np.int32),
        rng.integers(200, 4000, n_out).astype(np.int32),
        rng.integers(9, 14, n_out).astype(np.int32),
        relu=relu,
        out_bits=out_bits,
        wformat=WeightFormat("int8"),
    )


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
def test_zero_channel_and_single_weight(engine):
    """An all-zero output channel gives requant(bias); a layer with one non-zero weight in total."""
    rng = np.random.default_rng(7)
    w = rng.integers(-60, 61, (13, 6, 3, 3))
    w[rng.random(w.shape) < 0.5] = 0
    w[4] = 0
    w1 = np.zeros((9, 13, 3, 3), np.int64)
    w1[5, 12, 2, 0] = -77
    T = {
        "x": TensorInfo("x", (6, 7, 9), True, 1.0),
        "a": TensorInfo("a", (13, 7, 9), False, 1.0),
        "b": TensorInfo("b", (9, 7, 9), True, 1.0),
    }
    g = _graph([_conv("c0", "x", "a", w), _conv("c1", "a", "b", w1, relu=False, seed=1)], T, "x", "b")
    _check_conv_graph(g, engine)


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
def test_long_gaps_need_escapes(engine):
    """Non-zeros more than 127 positions apart (escape entries) and an int8 layer streamed as CSD terms."""
    w = np.zeros((10, 64, 3, 3), np.int64)
    w[:, 0, 0, 0] = 3
    w[:, 40, 1, 1] = -101  # 40 * 9 + 4 positions later: two escapes
    w[3, 63, 2, 2] = 127
    T = {"x": TensorInfo("x", (64, 5, 6), False, 1.0), "y": TensorInfo("y", (10, 5, 6), False, 1.0)}
    g = _graph([_conv("c", "x", "y", w)], T, "x", "y")
    _check_conv_graph(g, engine)


def _conv_pool_graph(seed: int, w: int = 15, signed: bool = False) -> IntegerGraph:
    """A 3x3 conv (4 -> 11 channels, 11 x w map) and a 3x3 stride-2 pad-1 max pool on its output."""
    rng = np.random.default_rng(seed)
    wq = rng.integers(-30, 31, (11, 4, 3, 3))
    T = {
        "x": TensorInfo("x", (4, 11, w), True, 1.0),
        "c": TensorInfo("c", (11, 11, w), signed, 1.0),
        "m": TensorInfo("m", (11, 6, (w + 1) // 2), signed, 1.0),
    }
    return _graph([_conv("c", "x", "c", wq, relu=not signed), PoolLayer("mp", "c", "m", "max", 3, 2, 1)], T, "x", "m")


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("fuse", [False, True])
def test_maxpool(signed, engine, fuse):
    """11 channels on P = 8 lanes: the FQ engine pools 8 channels at once (two groups), the int8 engine one.
    Fused (HardwareConfig.fuse_pool): the conv's store stage pools its requantized rows (15 columns: tiles
    of V = 4 pixels, pooled columns across tile edges; 11 rows: the last pooled row has no row below).
    Bit-exact, and the C-simulated cycles of both layers equal the model's."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.descriptors import FLAG_POOL, OP_FUSED
    from fq_hls.hw.program import build_program

    g = _conv_pool_graph(3, signed=signed)
    cfg = small_cfg(engine, fuse_pool=fuse)
    d = build_program(g, cfg).descriptors
    assert bool(d[0][1] & FLAG_POOL) == fuse and (d[1][0] == OP_FUSED) == fuse
    cyc = _check_conv_graph(g, engine, fuse_pool=fuse)
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)
    assert (cyc[1] == 0) == fuse


@pytest.mark.parametrize(("engine", "fill_overlap", "lb_uram"), [
    ("fq", True, False), ("fq", False, False), ("int8", True, False), ("int8", False, False),
    ("fq", True, True), ("fq", False, True), ("int8", True, True), ("int8_sparse", True, False),
    ("int8_sparse", False, True),
])
def test_hls_code_path_bit_exact(engine, fill_overlap, lb_uram):
    """The code Vitis HLS synthesizes (ap_int PE arithmetic, the fill absorbed inside the pipelined entry loop,
    hls_src FQ_HLS_PATH; with lb_uram the line buffer as banked 72-bit URAM words), built by g++: bit-exact
    and cycle-exact on stride 1 and 2, a residual, the 7x7 stem, a flat small map and a fused max pool, like
    the fast C-simulation kernels."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.synthetic import random_conv_graph

    method = "fq5" if engine == "fq" else "int8"  # int8_sparse: an int8 model on the sparse stream
    for case in ("3x3_stride2", "residual_relu", "7x7_stem", "1x1_downsample"):
        g = random_conv_graph(method=method, sparsity=0.6, seed=2, **CASES[case])
        cyc = _check_conv_graph(g, engine, seed=1, hls_path=True, fill_overlap=fill_overlap, lb_uram=lb_uram)
        assert [int(c) for c in cyc] == estimate_graph(g, small_cfg(engine, fill_overlap=fill_overlap,
                                                                    lb_uram=lb_uram)), case
    g = random_conv_graph(method=method, sparsity=0.6, seed=6, **FLAT_CASES["7x7_3x3_residual"])
    _check_conv_graph(g, engine, seed=3, hls_path=True, pixels=16, fill_overlap=fill_overlap, lb_uram=lb_uram)
    g = _conv_pool_graph(3)
    cyc = _check_conv_graph(g, engine, hls_path=True, fill_overlap=fill_overlap, lb_uram=lb_uram)
    assert [int(c) for c in cyc] == estimate_graph(g, small_cfg(engine, fill_overlap=fill_overlap, lb_uram=lb_uram))


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_uram_line_buffer_geometry_fast_csim(engine):
    """With lb_uram the row pitches are whole fill beats (16 entries here): the fast C-simulation kernels run
    the same rounded geometry bit-exact and cycle-exact against the model."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.geometry import geometry
    from fq_hls.synthetic import random_conv_graph

    cfg = small_cfg(engine, lb_uram=True)
    assert geometry(13, 7, 7, 3, 2, 1, cfg).half == 16 and geometry(10, 10, 10, 3, 1, 1, cfg).pitch == 16
    method = "fq5" if engine == "fq" else "int8"  # int8_sparse: an int8 model on the sparse stream
    for case in ("3x3_s1_odd_sizes", "3x3_stride2", "7x7_stem", "1x1_downsample"):
        g = random_conv_graph(method=method, sparsity=0.6, seed=4, **CASES[case])
        cyc = _check_conv_graph(g, engine, seed=2, lb_uram=True)
        assert [int(c) for c in cyc] == estimate_graph(g, cfg), case


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
@pytest.mark.parametrize("hls_path", [False, True])
def test_uram_line_buffer_runs_small_maps_flat(engine, hls_path):
    """Flat mode keeps the unrounded pitch with a URAM line buffer (a 7x7 map: q = 9, not the 16 of a
    rounded row, so 4 tiles of 16 instead of 7); the fill streams each channel's map as one run of whole
    words. Bit-exact and cycle-exact in the fast kernels and the synthesized code path."""
    from fq_hls.hw.cycles import conv_flat, estimate_graph
    from fq_hls.hw.descriptors import FLAG_FLAT
    from fq_hls.hw.geometry import geometry
    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    kw = dict(pixels=16, lb_uram=True)
    cfg = small_cfg(engine, **kw)
    g = random_conv_graph(method="fq5" if engine == "fq" else "int8", sparsity=0.6, seed=6,
                          **FLAT_CASES["7x7_3x3_residual"])
    geo = geometry(7, 7, 7, 3, 1, 1, cfg, flat=True)
    assert (geo.pitch, geo.tiles, geo.cstride % 16, geo.beats_per_row(16)) == (9, 4, 0, 6)
    lyr = g.layers[0]
    assert conv_flat(lyr, cfg, g.tensors[lyr.input].shape, g.tensors[lyr.output].shape)
    assert build_program(g, cfg).descriptors.reshape(-1, 32)[0][1] & FLAG_FLAT
    cyc = _check_conv_graph(g, engine, seed=3, hls_path=hls_path, **kw)
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_maxpool_channel_groups(engine):
    """A max pool whose channels do not all fit the line buffer runs in channel groups (3 + 3 + 3 + 2 here:
    80 entries per channel of the phase-split stride-2 rows, 240 entries of line buffer); bit-exact, and
    cycle-exact against the model."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.geometry import geometry, pool_channels

    cfg = small_cfg(engine, lb_words=240, fuse_pool=False)
    g5 = geometry(13, 6, 7, 3, 2, 1, cfg)
    assert (g5.half, g5.pitch, g5.ring) == (8, 16, 5) and pool_channels(11, g5, cfg) == 3
    g = _conv_pool_graph(4, w=13)
    cyc = _check_conv_graph(g, engine, lb_words=240, fuse_pool=False)
    assert cyc[1] == estimate_graph(g, cfg)[1]


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_layer_chain_pass_overlap(engine):
    """conv -> max pool -> conv (several passes) -> 1x1 conv: each layer loads its head (parameters + pass 0)
    at its start, and pass p + 1's weights load beside pass p's rows (the pass loop's DATAFLOW region);
    bit-exact, and the C-simulated cycles of every layer equal the model's."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.program import build_program

    rng = np.random.default_rng(8)
    T = {
        "x": TensorInfo("x", (4, 11, 13), True, 1.0),
        "c": TensorInfo("c", (11, 11, 13), False, 1.0),
        "m": TensorInfo("m", (11, 6, 7), False, 1.0),
        "d": TensorInfo("d", (40, 6, 7), False, 1.0),
        "e": TensorInfo("e", (9, 6, 7), True, 1.0),
    }
    layers = [
        _conv("c", "x", "c", rng.integers(-30, 31, (11, 4, 3, 3))),
        PoolLayer("mp", "c", "m", "max", 3, 2, 1),
        _conv("d", "m", "d", rng.integers(-9, 10, (40, 11, 3, 3)), seed=1),
        _conv("e", "d", "e", rng.integers(-20, 21, (9, 40, 1, 1)), relu=False, seed=2),
    ]
    g = _graph(layers, T, "x", "e")
    cfg = small_cfg(engine, max_nnz_per_lane=256)
    assert len(build_program(g, cfg).packed["d"].passes) >= 2
    cyc = _check_conv_graph(g, engine, max_nnz_per_lane=256)
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_avgpool_fc_int32(engine):
    rng = np.random.default_rng(11)
    w = rng.integers(-40, 41, (12, 5, 3, 3))
    wf = rng.integers(-90, 91, (7, 12, 1, 1))
    T = {
        "x": TensorInfo("x", (5, 6, 7), True, 1.0),
        "c": TensorInfo("c", (12, 6, 7), False, 1.0),
        "g": TensorInfo("g", (12, 1, 1), False, 1.0),
        "y": TensorInfo("y", (7, 1, 1), True, 1.0, bits=32),
    }
    fc = _conv("fc", "g", "y", wf, relu=False, out_bits=32, k=1, p=0, seed=2)
    fc.kind = "fc"
    g = _graph(
        [_conv("c", "x", "c", w), PoolLayer("gap", "c", "g", "avg", 6, 1, 0, mult=91, shift=11), fc],
        T,
        "x",
        "y",
    )
    _check_conv_graph(g, engine)


def test_bad_descriptor_names_layer():
    from fq_hls.hw.descriptors import D
    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=4, out_ch=4, h=5, w=5, method="fq5", seed=0)
    cfg = small_cfg("fq")
    prog = build_program(g, cfg)
    prog.descriptors[0, D["KERNEL"]] = 99
    k = kernel(cfg)
    act = prog.new_act()
    k.layer_names = prog.layer_names
    with pytest.raises(DeviceError, match="conv"):
        k.run(prog.weights, act, prog.descriptors, 1)
    prog.descriptors[0, D["KERNEL"]] = 3
    prog.descriptors[0, D["OUT_OFF"]] = (
        act.size - 10
    )  # outside the activation buffer: refused before the call
    with pytest.raises(DeviceError, match="layer conv: output window"):
        k.run(prog.weights, act, prog.descriptors, 1)
    with pytest.raises(DeviceError, match="weights window"):
        k.run(prog.weights[:64], prog.new_act(), build_program(g, cfg).descriptors, 1)


@pytest.mark.parametrize(
    "method,engine,sparsity",
    [("fq5", "fq", 0.85), ("int8", "int8", 0.5), ("int8", "fq", 0.75), ("shift5", "fq", 0.8)],
)
def test_resnet18_cifar_bit_exact(method, engine, sparsity):
    """int8 weights on the fq engine run as signed-digit shift terms (sparse enough to fit the lane buffers)."""
    cm, g = lowered("resnet18-cifar", method, sparsity)
    cfg = hardware_config("zcu104", engine)
    x = g.quantize_input(images(cm, 2))
    ref = run_integer(g, x)
    k = kernel(cfg)
    from fq_hls.hw.program import build_program

    prog = build_program(g, cfg)
    for i in range(x.shape[0]):
        logits, cyc = k.run_program(prog, x[i])
        np.testing.assert_array_equal(logits, ref[i])
        assert len(cyc) == len(g.layers)


def test_resnet18_224_one_image():
    cm, g = lowered("resnet18", "fq5", 0.85)
    cfg = hardware_config("zcu104", "fq")
    x = g.quantize_input(images(cm, 1))
    ref = run_integer(g, x)
    from fq_hls.csim import run_csim

    logits, cyc = run_csim(g, cfg, x[0])
    np.testing.assert_array_equal(logits, ref[0])
    assert sum(cyc) > 0


def test_missing_compiler_is_tool_missing(monkeypatch, tmp_path):
    from fq_hls.csim.kernel import build_library
    from fq_hls.errors import ToolMissingError

    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    monkeypatch.setenv("FQ_HLS_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ToolMissingError, match="g\\+\\+"):
        build_library(small_cfg("fq"))


def test_library_cache_reuses_build():
    from fq_hls.csim.kernel import build_library, library_path

    cfg = small_cfg("int8")
    a = build_library(cfg)
    mtime = a.stat().st_mtime_ns
    assert a == library_path(cfg) and build_library(cfg) == a and a.stat().st_mtime_ns == mtime
    assert library_path(hardware_config("pynq-z2", "int8", lanes=8, pixels=8, axi_bits=64)) != a
    assert library_path(small_cfg("fq")) != a


FLAT_CASES = {
    "7x7_3x3_residual": dict(in_ch=24, out_ch=20, h=7, w=7, residual=True, res_signed=True),
    "5x5_stride2": dict(in_ch=16, out_ch=12, h=5, w=5, stride=2, in_signed=True),
    "1x1_stride2": dict(in_ch=16, out_ch=20, h=14, w=14, kernel=1, stride=2, pad=0),
    "4x4_signed_out": dict(in_ch=8, out_ch=10, h=4, w=4, relu=False),
    # padded width 22 > the 16 entries of a fill beat: a beat's lanes step across rows by whole rows and columns
    "20x20_wider_than_a_beat": dict(in_ch=6, out_ch=8, h=20, w=20),
}


@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
@pytest.mark.parametrize("case", list(FLAT_CASES))
def test_flat_small_maps(case, engine):
    """Stride-1 maps narrower than V run as one virtual row (FLAG_FLAT, fq_hls.hw.geometry) where the model
    says it is faster: bit-exact, and the cycle counts equal the model's (stride-2 ones, in row mode, too)."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.descriptors import FLAG_FLAT
    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(method="fq5" if engine == "fq" else "int8", sparsity=0.6, seed=6, **FLAT_CASES[case])
    cfg = small_cfg(engine, pixels=16)
    prog = build_program(g, cfg)
    flags = prog.descriptors.reshape(-1, 32)[0][1]
    cyc = _check_conv_graph(g, engine, seed=3, pixels=16)
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)
    # flat mode is stride 1 only (stride-2 rows are stored phase-split); the stride-2 cases run in row mode
    assert bool(flags & FLAG_FLAT) == (FLAT_CASES[case].get("stride", 1) == 1)


@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_flat_map_stays_for_later_passes(engine):
    """Flat mode over several passes: the map streams into the line buffer once (pass 0); later passes reuse
    it. Bit-exact and cycle-exact."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.hw.descriptors import FLAG_FLAT
    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=32, out_ch=40, h=7, w=7, method="fq5" if engine == "fq" else "int8",
                          sparsity=0.5, seed=8)
    kw = dict(pixels=16, max_nnz_per_lane=512)
    cfg = small_cfg(engine, **kw)
    prog = build_program(g, cfg)
    assert len(prog.packed["conv"].passes) >= 2
    assert prog.descriptors.reshape(-1, 32)[0][1] & FLAG_FLAT
    cyc = _check_conv_graph(g, engine, seed=4, **kw)
    assert [int(c) for c in cyc] == estimate_graph(g, cfg)


@pytest.mark.parametrize("hls_path", [False, True], ids=["fast", "hls"])
def test_fq_dsp_lanes_bit_exact(hls_path):
    """FQ lanes on DSPs (dsp_lanes: the whole weight sign 2^(e + v_eq) + mu 2^(d + v_em) on a multiplier, one
    accumulator, the sum shifted by v_b in the store) beside the shift-PE lanes: bit-exact and cycle-exact on
    fq5 (recentralized), shift5 and int8 (signed-digit terms) layers, stride 2, a residual and a fused pool."""
    from fq_hls.hw.cycles import estimate_graph
    from fq_hls.synthetic import random_conv_graph

    for method, case in (("fq5", "3x3_stride2"), ("fq5", "residual_relu"), ("shift5", "1x1_downsample"),
                         ("int8", "3x3_stride2")):
        g = random_conv_graph(method=method, sparsity=0.6, seed=5, **CASES[case])
        cyc = _check_conv_graph(g, "fq", seed=1, hls_path=hls_path, dsp_lanes=3)
        assert [int(c) for c in cyc] == estimate_graph(g, small_cfg("fq", dsp_lanes=3)), (method, case)
    _check_conv_graph(_conv_pool_graph(4), "fq", hls_path=hls_path, dsp_lanes=8)


def test_fq_dsp_lanes_refuse_weights_beyond_the_operand():
    """A layer whose weights need more than the DSP lanes' 18-bit operand is refused by name (with dsp_lanes),
    and packs without them."""
    import dataclasses

    from fq_hls.errors import InputError
    from fq_hls.hw.streams import pack_layer
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(method="shift5", sparsity=0.5, seed=1, **CASES["3x3_stride2"])
    layer = g.layers[0]
    wf = dataclasses.replace(layer.wformat, q_shift=3, mu_shift=(0, 1), mu_sign=(-1, 1), kind="fq")
    big = dataclasses.replace(layer, wformat=wf, wexp=np.where(layer.weights != 0, 14, 0).astype(np.uint8),
                              wsign=np.where(layer.weights != 0, 1, 0).astype(np.int8),
                              wcomp=np.zeros_like(np.asarray(layer.weights), dtype=np.uint8),
                              weights=np.where(np.asarray(layer.weights) != 0, (1 << 17) - 1, 0).astype(np.int32))
    pack_layer(big, small_cfg("fq", exp_bits=4))
    with pytest.raises(InputError, match=f"layer {layer.name}: a weight needs 2\\^17"):
        pack_layer(big, small_cfg("fq", dsp_lanes=2))


@pytest.mark.parametrize("hls_path", [False, True], ids=["fast", "hls"])
def test_fq_all_lanes_on_dsps(hls_path):
    """Every FQ lane on DSPs: the packets carry one sum per pixel (no mean sums), still bit-exact."""
    from fq_hls.hw.memories import packet_bits
    from fq_hls.synthetic import random_conv_graph

    cfg = small_cfg("fq", dsp_lanes=8)
    assert packet_bits(cfg) == cfg.pixels * cfg.accq_bits + cfg.accm_bits < packet_bits(small_cfg("fq"))
    for method, case in (("fq5", "residual_relu"), ("int8", "3x3_stride2")):
        g = random_conv_graph(method=method, sparsity=0.6, seed=7, **CASES[case])
        _check_conv_graph(g, "fq", seed=1, hls_path=hls_path, dsp_lanes=8)
