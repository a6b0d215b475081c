"""Pass planning, the per-layer non-zero utilisation and the DDR bound of the cycle model (no g++ needed;
the C-simulation equality of the schedule is tests/test_cycles_model.py and tests/test_csim_layers.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fq_hls.hw.config import ENGINES, hardware_config
from fq_hls.hw.cycles import conv_passes, estimate_graph, schedule_graph
from fq_hls.hw.ddr import bytes_per_cycle, ddr_cycles, layer_bytes, sustainable_gbps
from fq_hls.hw.program import build_program
from fq_hls.hw.streams import assign_lanes, plan_candidates
from fq_hls.hw.utilisation import FACTORS, layer_utilisation


def _pass_max(passes, lengths) -> list[int]:
    return [max(sum(int(lengths[c]) for c in lane) for lane in p) for p in passes]


def test_layered_plan_avoids_remainder_lanes():
    """256 equal channels, 40 lanes, room for 3 per lane: dealing them over the 3 passes leaves lanes with 3
    channels in every pass (900 entry cycles); passes of 120, 120 and 16 channels cost 300 + 300 + 100."""
    lengths = np.full(256, 100)
    passes = assign_lanes(lengths, 40, 300, 16)
    assert sum(_pass_max(passes, lengths)) == 700
    assert _pass_max(passes, lengths) == sorted(_pass_max(passes, lengths))  # the short pass loads in the head
    assert sorted(c for p in passes for lane in p for c in lane) == list(range(256))


def test_plan_never_worse_than_dealing():
    rng = np.random.default_rng(3)
    for n in (50, 64, 130, 256, 1000):
        lengths = rng.integers(1, 400, n)
        best = assign_lanes(lengths, 24, 2000, 64)
        n_pass = max(1, -(-int(lengths.sum()) // (24 * 2000)))
        order = np.argsort(-lengths, kind="stable")
        while True:  # the old rule: dealt over the fewest passes whose greedy LPT fits every lane
            dealt = [[0] * 24 for _ in range(n_pass)]
            for g in range(n_pass):
                for c in order[g::n_pass]:
                    dealt[g][int(np.argmin(dealt[g]))] += int(lengths[c])
            if max(max(d) for d in dealt) <= 2000:
                break
            n_pass += 1
        assert sum(_pass_max(best, lengths)) <= sum(max(d) for d in dealt)
        for cand in plan_candidates(lengths, 24, 2000, 64):
            assert sorted(c for p in cand for lane in p for c in lane) == list(range(n))
            assert all(sum(int(lengths[c]) for c in lane) <= 2000 for p in cand for lane in p)


@pytest.mark.parametrize("engine", ENGINES)
def test_program_packs_the_plan_the_model_times(engine):
    from fq_hls.synthetic import random_conv_graph

    method = "fq5" if engine == "fq" else "int8"
    g = random_conv_graph(in_ch=32, out_ch=100, h=6, w=6, sparsity=0.6, seed=2, method=method)
    cfg = hardware_config("pynq-z2", engine, lanes=8, pixels=4, max_nnz_per_lane=200 if engine != "int8" else 400)
    prog = build_program(g, cfg)
    lyr = g.layers[0]
    i, o = tuple(g.tensors[lyr.input].shape), tuple(g.tensors[lyr.output].shape)
    assert prog.packed[lyr.name].passes == conv_passes(lyr, cfg, i, o)
    assert len(prog.packed[lyr.name].passes) > 1
    # the DDR model's weight bytes are the packed stream's, to the byte
    assert layer_bytes(g, cfg)[0].weights == prog.packed[lyr.name].data.size


@pytest.mark.parametrize("engine,method", [("fq", "fq5"), ("int8", "int8")])
def test_utilisation_factors_multiply_to_utilisation(engine, method):
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=48, out_ch=40, h=10, w=10, sparsity=0.7, method=method, seed=1, residual=True)
    cfg = hardware_config("zcu104", engine, lanes=16, pixels=8)
    (r,) = layer_utilisation(g, cfg)
    nnz = int(np.count_nonzero(g.layers[0].weights))
    assert r["nonzero_macs"] == nnz * 10 * 10
    assert r["cycles"] == estimate_graph(g, cfg)[0]
    assert r["utilisation"] == pytest.approx(r["nonzero_macs"] / (r["cycles"] * 16 * 8))
    assert set(r["factors"]) == set(FACTORS)
    assert all(0 < v <= 1 for v in r["factors"].values()), r["factors"]
    assert math.prod(r["factors"].values()) == pytest.approx(r["utilisation"])
    if engine == "int8":  # the dense engine streams every zero
        assert r["factors"]["entries"] == pytest.approx(nnz / g.layers[0].weights.size)


def test_ddr_bound_binds_where_the_schedule_outruns_the_board():
    """At a clock far above what the board's DDR feeds, every layer takes its bytes over the sustainable
    bandwidth; the schedule (the C-simulation's count) is unchanged."""
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=64, out_ch=64, h=14, w=14, sparsity=0.9, seed=4, residual=True)
    slow = hardware_config("pynq-z2", "fq")
    fast = hardware_config("pynq-z2", "fq", clock_mhz=5000.0)
    b = layer_bytes(g, slow)[0]
    assert b.act_in >= 64 * 14 * 14 and b.act_out == 64 * 14 * 14 and b.residual == 64 * 14 * 14
    assert schedule_graph(g, fast) == schedule_graph(g, slow)
    assert estimate_graph(g, slow) == schedule_graph(g, slow)  # 100 MHz: compute bound
    assert estimate_graph(g, fast)[0] == ddr_cycles(b.total, fast) > schedule_graph(g, fast)[0]
    assert sustainable_gbps(fast) == pytest.approx(2.1 * 0.75)


@pytest.mark.parametrize("board", ["pynq-z2", "zcu104"])
@pytest.mark.parametrize("shape", [dict(kernel=3, stride=1, pad=1, residual=True), dict(kernel=3, stride=2, pad=1),
                                   dict(kernel=1, stride=1, pad=0)])
def test_no_layer_moves_bytes_faster_than_ddr(board, shape):
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=64, out_ch=96, h=12, w=12, sparsity=0.95, seed=5, **shape)
    for clock in (100.0, 400.0, 1000.0):
        cfg = hardware_config(board, "fq", clock_mhz=clock)
        for c, b in zip(estimate_graph(g, cfg), layer_bytes(g, cfg), strict=True):
            assert b.total <= c * bytes_per_cycle(cfg) + 1e-6


def test_roofline_points_stay_under_both_roofs(tmp_path):
    """The report's roofline (cost.report._roofline) on a small graph with the DDR bound binding: every
    point under the DDR roof and the compute roof; the plots draw it."""
    from fq_hls.cost import plots
    from fq_hls.cost.report import _roofline
    from fq_hls.synthetic import random_conv_graph

    g = random_conv_graph(in_ch=64, out_ch=64, h=12, w=12, sparsity=0.9, seed=3, residual=True)

    class Net:  # the report's workload: one graph per engine
        def graph(self, engine):
            return g

    entry, timed = {}, {}
    for clock in (100.0, 3000.0):
        cfg = hardware_config("pynq-z2", "fq", clock_mhz=clock)
        cyc = estimate_graph(g, cfg)
        entry["fq"] = {"lanes": cfg.lanes, "cycles": {"net": {"layers": [lyr.name for lyr in g.layers], "cycles": cyc}}}
        timed["fq"] = cfg
        rl = _roofline("pynq-z2", entry, {"net": Net()}, "net", timed)
        assert rl["ddr_gbps"] == pytest.approx(2.1 * 0.75, abs=1e-3)
        (pt,) = rl["fq"]["layers"]
        assert pt["gops"] <= rl["ddr_gbps"] * pt["intensity"] * (1 + 1e-3)
        assert pt["gops"] <= rl["fq"]["peak_gops"]
    assert pt["gops"] == pytest.approx(rl["ddr_gbps"] * pt["intensity"], rel=1e-3)  # 3 GHz: on the DDR roof
    entry["fq"]["layer_utilisation"] = {"net": layer_utilisation(g, timed["fq"], cyc)}
    rep = {"boards": {"pynq-z2": {**entry, "roofline": rl}}, "sizing_network": "net", "engines": ["fq"]}
    plt = plots._plt()
    assert plots.roofline_plot(rep, tmp_path, plt).stat().st_size > 0
    assert plots.layer_plot(rep, tmp_path, plt).stat().st_size > 0
