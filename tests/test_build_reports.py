"""Report parsers on files in the tools' formats (tests/data/tool_reports): Vitis HLS csynth.xml, Vivado
report_utilization (7-series and UltraScale+ layouts) and report_timing_summary (met and failing)."""

from __future__ import annotations

import json

import pytest
from _build_helpers import DATA

from fq_hls.build.reports import parse_csynth_xml, parse_vivado_timing, parse_vivado_utilization
from fq_hls.errors import InputError


def test_csynth_zynq7_latency_clock_resources():
    r = parse_csynth_xml(DATA / "csynth_zynq7.xml")
    assert r["evidence"] == "hls"
    assert r["top"] == "fq_accel" and r["part"] == "xc7z020-clg400-1" and r["tool_version"] == "2023.2"
    assert r["target_clock_ns"] == 10.0 and r["estimated_clock_ns"] == pytest.approx(7.284)
    assert r["estimated_fmax_mhz"] == pytest.approx(1000 / 7.284, rel=1e-4)
    assert r["latency_cycles"] == {"best": 1043, "average": 1876542, "worst": 38711220}
    assert r["interval_cycles"] == {"min": 1044, "max": 38711221}
    assert r["resources"] == {"bram18": 118, "dsp": 21, "ff": 24310, "lut": 31877, "uram": 0}
    assert r["available"]["lut"] == 53200 and r["available"]["dsp"] == 220
    json.dumps(r)  # JSON-ready


def test_csynth_older_dsp48e_tag_and_undef_latency():
    r = parse_csynth_xml(DATA / "csynth_zynqmp_undef.xml")
    assert r["resources"]["dsp"] == 0 and r["available"]["dsp"] == 1728  # DSP48E read as dsp
    assert r["resources"]["uram"] == 16 and r["resources"]["bram18"] == 402
    assert r["latency_cycles"] == {"best": None, "average": None, "worst": None}
    assert r["target_clock_ns"] == 5.0


def test_utilization_7series_with_prohibited_column():
    r = parse_vivado_utilization(DATA / "utilization_zynq7.rpt")
    assert r["evidence"] == "vivado"
    assert r["device"] == "xc7z020clg400-1" and r["design_state"] == "Routed"
    assert r["resources"] == {"lut": 29514, "ff": 35207, "bram36": 74.5, "dsp": 19}
    assert r["available"] == {"lut": 53200, "ff": 106400, "bram36": 140, "dsp": 220}
    assert r["util_pct"]["lut"] == pytest.approx(55.48)
    assert "uram" not in r["resources"]  # 7-series has none


def test_utilization_ultrascale_clb_blockram_arithmetic():
    r = parse_vivado_utilization(DATA / "utilization_zynqmp.rpt")
    assert r["resources"] == {"lut": 151230, "ff": 121604, "bram36": 201.5, "uram": 16, "dsp": 3}
    assert r["available"]["uram"] == 96 and r["available"]["dsp"] == 1728
    assert r["tool_version"].startswith("Vivado v.2021.1")


def test_timing_met():
    t = parse_vivado_timing(DATA / "timing_zynq7.rpt")
    assert t["evidence"] == "vivado"
    assert t["timing_met"] is True and t["failing_endpoints"] == 0
    assert t["wns_ns"] == pytest.approx(1.327) and t["tns_ns"] == 0.0 and t["whs_ns"] == pytest.approx(0.018)
    assert t["clocks"] == [{"name": "clk_fpga_0", "period_ns": 10.0, "frequency_mhz": 100.0}]
    assert t["fmax_estimate_mhz"] == pytest.approx(1000 / (10.0 - 1.327), rel=1e-4)


def test_timing_failing():
    t = parse_vivado_timing(DATA / "timing_zynqmp_failing.rpt")
    assert t["timing_met"] is False
    assert t["wns_ns"] == pytest.approx(-0.412) and t["tns_ns"] == pytest.approx(-37.905)
    assert t["failing_endpoints"] == 211
    assert t["clocks"][0]["name"] == "clk_pl_0" and t["clocks"][0]["frequency_mhz"] == 200.0
    assert t["fmax_estimate_mhz"] < 200.0


@pytest.mark.parametrize("parser", [parse_csynth_xml, parse_vivado_utilization, parse_vivado_timing])
def test_missing_file_names_it(tmp_path, parser):
    path = tmp_path / "nope.rpt"
    with pytest.raises(InputError, match="nope.rpt"):
        parser(path)


def test_bad_xml_names_file(tmp_path):
    bad = tmp_path / "csynth.xml"
    bad.write_text((DATA / "csynth_zynq7.xml").read_text()[:700])  # truncated
    with pytest.raises(InputError, match=r"csynth\.xml.*not a valid"):
        parse_csynth_xml(bad)
    other = tmp_path / "other.xml"
    other.write_text("<profile><UserAssignments/></profile>")
    with pytest.raises(InputError, match="other.xml"):
        parse_csynth_xml(other)


def test_reports_swapped_are_refused(tmp_path):
    with pytest.raises(InputError, match="timing_zynq7.rpt.*report_utilization"):
        parse_vivado_utilization(DATA / "timing_zynq7.rpt")
    with pytest.raises(InputError, match="utilization_zynq7.rpt.*report_timing_summary"):
        parse_vivado_timing(DATA / "utilization_zynq7.rpt")
    empty = tmp_path / "empty.rpt"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.rpt"):
        parse_vivado_timing(empty)
