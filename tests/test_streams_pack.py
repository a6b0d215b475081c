"""Weight-stream packing: round trip, escapes, signed-digit terms, lane balance, codegen header."""

from __future__ import annotations

import numpy as np
import pytest

from fq_hls.errors import InputError
from fq_hls.hw.config import hardware_config
from fq_hls.hw.streams import (
    IDX_MAX,
    LAST,
    NOP_CODE,
    assign_lanes,
    channel_entries_fq,
    csd_terms,
    kpos_bits,
    naf_digits,
    pack_layer,
    shift_coding,
    step_max,
    unpack_layer,
)
from fq_hls.ir import ConvLayer, WeightFormat


def _cfg(engine="fq", **kw):
    base = dict(lanes=8, pixels=4, axi_bits=64, max_nnz_per_lane=512)
    base.update(kw)
    return hardware_config("pynq-z2", engine, **base)


def _layer_from(w, wf=None, fields=None):
    wf = wf or WeightFormat("int8")
    n_out, n_in, k, _ = w.shape
    z = np.zeros(n_out, np.int32)
    lyr = ConvLayer(
        "L", "x", "y", n_in, n_out, k, 1, k // 2, w.astype(np.int32), z, z + 1, z + 1, relu=True, wformat=wf
    )
    if fields:
        lyr.wcomp, lyr.wsign, lyr.wexp = fields
    return lyr


@pytest.mark.parametrize("method", ["fq5", "shift5", "fq7", "int8"])
@pytest.mark.parametrize("engine", ["fq", "int8"])
def test_round_trip(method, engine):
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=37, out_ch=29, h=3, w=3, method=method, sparsity=0.7, seed=2)
    lyr = g.layers[0]
    cfg = _cfg(engine)
    if engine == "fq" and method == "fq7":  # 4-bit exponents: too wide for a 3-bit shifter
        with pytest.raises(
            InputError, match=r"layer \w+: weight exponent 1\d .*3-bit shifter.*exp_bits >= 4"
        ):
            pack_layer(lyr, _cfg(engine, exp_bits=3))
    if engine == "int8" and np.abs(lyr.weights).max() > 127:
        with pytest.raises(InputError, match="int8 engine"):
            pack_layer(lyr, cfg)
        return
    pk = pack_layer(lyr, cfg)
    assert pk.data.dtype == np.uint8 and pk.data.size % (cfg.axi_bits // 8) == 0
    np.testing.assert_array_equal(unpack_layer(pk, lyr.weights.shape, cfg), lyr.weights)
    got = sorted(c for p in pk.passes for lane in p for c in lane)
    assert got == list(range(lyr.out_ch))


def test_escapes_and_zero_channel():
    w = np.zeros((3, 100, 3, 3), np.int64)
    w[0, 0, 0, 0] = 4
    w[0, 99, 2, 1] = -2  # 99 input channels later
    w[2, 50, 0, 0] = 1
    lyr = _layer_from(w)
    ents = channel_entries_fq(lyr)
    nop = [(e & 0xFF) == NOP_CODE for e in ents[0]]
    assert step_max(3) == 7 and kpos_bits(3) == 2
    assert sum(nop) == (99 - 1) // 7  # escapes of 7 channels until the rest fits the 3-bit step
    # the weight's position field: the remaining step, then kernel row 2 and column 1 outright
    field = (int(ents[0][-1]) >> 8) & IDX_MAX
    assert field == (((99 - 1) % 7 + 1) << 4) | (2 << 2) | 1
    assert ents[1].tolist() == [NOP_CODE | LAST]  # an all-zero channel still ends
    assert all((e & LAST) == 0 for e in ents[0][:-1]) and ents[0][-1] & LAST
    pk = pack_layer(lyr, _cfg())
    np.testing.assert_array_equal(unpack_layer(pk, w.shape, _cfg()), w)


def test_1x1_layers_step_up_to_127_channels():
    """A 1x1 layer has no kernel position: the whole 7-bit field is the channel step."""
    w = np.zeros((1, 900, 1, 1), np.int64)
    w[0, 0, 0, 0] = 4
    w[0, 899, 0, 0] = -2
    ents = channel_entries_fq(_layer_from(w))[0]
    assert step_max(1) == IDX_MAX and sum((e & 0xFF) == NOP_CODE for e in ents) == (899 - 1) // IDX_MAX
    np.testing.assert_array_equal(unpack_layer(pack_layer(_layer_from(w), _cfg()), w.shape, _cfg()), w)


def test_csd_terms():
    vals = np.arange(-300, 301)
    for v in vals:
        terms = csd_terms(int(v))
        assert sum(s * (1 << e) for s, e in terms) == v
        exps = [e for _, e in terms]
        assert all(
            b - a >= 2 for a, b in zip(exps, exps[1:], strict=False)
        )  # non-adjacent form: minimal terms
    d = naf_digits(vals)
    np.testing.assert_array_equal((d * (1 << np.arange(d.shape[-1]))).sum(-1), vals)


def test_fields_disagreeing_with_weights_fall_back_to_csd():
    w = np.array([[[[3]], [[-5]]]])
    fields = (np.zeros_like(w, np.uint8), np.ones_like(w, np.int8), np.zeros_like(w, np.uint8))
    lyr = _layer_from(w, WeightFormat("shift", exp_bits=3), fields)
    assert not shift_coding(lyr).from_fields
    np.testing.assert_array_equal(unpack_layer(pack_layer(lyr, _cfg()), w.shape, _cfg()), w)


def test_lane_balance_lpt():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, 77)
    passes = assign_lanes(lengths, 8, 100000, 64)
    assert len(passes) == 1
    loads = [sum(int(lengths[c]) for c in lane) for lane in passes[0]]
    # LPT bound: the busiest lane is within one channel of the mean
    assert max(loads) <= lengths.sum() / 8 + lengths.max()
    naive = max(int(lengths[i::8].sum()) for i in range(8))  # channel c on lane c % 8
    assert max(loads) <= naive
    assert max(loads) - min(loads) <= lengths.max()


def test_lane_capacity_forces_passes():
    lengths = np.full(64, 100)
    passes = assign_lanes(lengths, 8, 250, 16)  # two channels per lane and pass
    assert len(passes) == 4
    for p in passes:
        assert all(sum(int(lengths[c]) for c in lane) <= 250 for lane in p)
    with pytest.raises(InputError, match="channel 3"):
        assign_lanes([1, 1, 1, 300], 8, 250, 16, "layer X")


def test_channel_table_depth_respected():
    passes = assign_lanes(np.ones(100, int), 4, 10**6, 5)
    assert all(len(lane) <= 5 for p in passes for lane in p)
    assert sorted(c for p in passes for lane in p for c in lane) == list(range(100))


def test_codegen_header(tmp_path):
    from fq_hls.codegen import write_sources
    from fq_hls.hw.descriptors import DESC_FIELDS, DESC_WORDS

    cfg = hardware_config("kv260", "int8")
    paths = write_sources(cfg, tmp_path)
    names = {p.name for p in paths}
    assert {
        "fq_accel.cpp",
        "fq_engine.h",
        "fq_pe.h",
        "fq_types.h",
        "fq_config.h",
        "fq_accel_regs.json",
    } <= names
    hdr = (tmp_path / "fq_config.h").read_text()
    assert "ENGINE_FQ = 0;" in hdr and f"P = {cfg.lanes};" in hdr and f"V = {cfg.pixels};" in hdr
    assert f"DESC_WORDS = {DESC_WORDS};" in hdr and "$" not in hdr
    for i, name in enumerate(DESC_FIELDS):
        assert f"{name} = {i}," in hdr
    import json

    regs = json.loads((tmp_path / "fq_accel_regs.json").read_text())
    assert regs["registers"]["n_layers"] == 0x40 and regs["top"] == "fq_accel"


def test_codegen_ships_every_engine_source():
    """Every file of hls_src/ goes into the HLS project and the C-simulation's cache key (codegen.SOURCES)."""
    from fq_hls.codegen import HLS_SRC, SOURCES

    assert sorted(SOURCES) == sorted(p.name for p in HLS_SRC.iterdir() if p.suffix in (".h", ".cpp"))
