"""Report parsers on files in the tools' formats (tests/data/tool_reports): Vitis HLS csynth.xml, Vivado
report_utilization (7-series and UltraScale+ layouts) and report_timing_summary (met and failing)."""

from __future__ import annotations

import json

import pytest
from _build_helpers import DATA

from fq_hls.build.reports import (
    parse_csynth_rpt_loops,
    parse_csynth_xml,
    parse_hls_reports,
    parse_vivado_timing,
    parse_vivado_utilization,
)
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


# ---- loops: synthetic reports in the layout Vitis HLS 2023.2 writes ---------------------------------------
#
# syn/report/csynth.xml: the top's own loops under PerformanceEstimates/SummaryOfLoopLatency (one element per
# loop, named for it), every module's under ModuleInformation/Module (pipelined loops are outlined into
# <function>_Pipeline_<loop> modules, the loop's name repeated in <Name>); <module>_csynth.xml per module;
# <module>_csynth.rpt text reports whose loop table has the "achieved | target" II columns.

# module -> (loop name as reported, trip count min/max, pipeline depth); names as Vitis HLS derives them from
# the engine's labels (load_ch_load_beat: load_ch flattened into its pipelined inner loop)
ENGINE_MODULES = {
    "fq_accel_Pipeline_read_desc": ("read_desc", (32, 32), 3),
    "load_flat_Pipeline_load_flat_beat": ("load_flat_beat", (1, 64), 4),
    "load_rows_Pipeline_load_ch_load_beat": ("load_ch_load_beat", (1, 8192), 5),
    "absorb_rows_Pipeline_absorb_flat_beat": ("absorb_flat_beat", (1, 64), 3),
    "absorb_rows_Pipeline_absorb_beat": ("absorb_beat", (1, 16), 3),
    "compute_tile_FqPolicy_8_Pipeline_comp_entry": ("comp_entry", (1, 4608), 7),
    "compute_rows_FqPolicy_Pipeline_comp_fill_rest": ("comp_fill_rest", (0, 3584), 3),
    "store_rows_FqPolicy_Pipeline_store_pkt": ("store_pkt", (0, 16), 9),
    "run_conv_FqPolicy_Pipeline_load_chtab_j": ("load_chtab_j", (1, 16), 3),
    "decode_weights_FqPolicy_Pipeline_decode_entry": ("decode_entry", (1, 4608), 4),
    "run_conv_FqPolicy_Pipeline_load_params": ("load_params", (1, 1024), 4),
    "run_pool_Pipeline_pool_win": ("pool_win", (1, 9), 4),
    "run_avgpool_Pipeline_avg_sum": ("avg_sum", (1, 49), 3),
}
SEPARATE = "store_rows_FqPolicy_Pipeline_store_pkt"  # only in its own <module>_csynth.xml


def _range(lo, hi) -> str:
    return str(lo) if lo == hi else f"<range><min>{lo}</min><max>{hi}</max></range>"


def _loop_xml(name, trips, depth, ii, named=True) -> str:
    lat = _range(trips[0] * ii + depth - 1, trips[1] * ii + depth - 1)
    return (f"<{name}>{f'<Name>{name}</Name>' if named else ''}<Slack>7.30</Slack>"
            f"<TripCount>{_range(*trips)}</TripCount><Latency>{lat}</Latency>"
            f"<AbsoluteTimeLatency>undef</AbsoluteTimeLatency><PipelineII>{ii}</PipelineII>"
            f"<PipelineDepth>{depth}</PipelineDepth><PipelineType>yes</PipelineType><InstanceList/></{name}>")


def _resources(r) -> str:
    return "".join(f"<{k}>{v}</{k}>" for k, v in r.items())


def _head(top, version="2023.2", part="xc7z020-clg400-1", period="10.00") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<profile><ReportVersion><Version>{version}</Version>'
            f"</ReportVersion><UserAssignments><unit>ns</unit><ProductFamily>zynq</ProductFamily><Part>{part}"
            f"</Part><TopModelName>{top}</TopModelName><TargetClockPeriod>{period}</TargetClockPeriod>"
            "<ClockUncertainty>2.70</ClockUncertainty><FlowTarget>vivado</FlowTarget></UserAssignments>")


AVAILABLE = {"BRAM_18K": 280, "DSP": 220, "FF": 106400, "LUT": 53200, "URAM": 0}


def write_hls_reports(folder, ii=None, target=None, resources=None):
    """A syn/report folder of a Vitis HLS 2023.2 synthesis of fq_accel; ii: {loop name: achieved II} (1 when not
    given), target: {loop name: target II in the text report} (1)."""
    ii, target = ii or {}, target or {}
    resources = resources or {"BRAM_18K": 430, "DSP": 24, "FF": 24310, "LUT": 35120, "URAM": 0}
    folder.mkdir(parents=True, exist_ok=True)
    layers = ("<layers><Slack>7.30</Slack><TripCount>" + _range(1, 32) + "</TripCount><Latency>undef</Latency>"
              "<AbsoluteTimeLatency>undef</AbsoluteTimeLatency><IterationLatency>undef</IterationLatency>"
              "<InstanceList/></layers>")
    modules = []
    for mod, (name, trips, depth) in ENGINE_MODULES.items():
        loop = _loop_xml(name, trips, depth, ii.get(name, 1))
        area = _resources({"FF": 310, "LUT": 420, "BRAM_18K": 0, "DSP": 0, "URAM": 0})
        body = (f"<PerformanceEstimates><SummaryOfTimingAnalysis><TargetClockPeriod>10.00</TargetClockPeriod>"
                f"<EstimatedClockPeriod>6.912</EstimatedClockPeriod></SummaryOfTimingAnalysis>"
                f"<SummaryOfOverallLatency><Best-caseLatency>undef</Best-caseLatency><PipelineType>no</PipelineType>"
                f"</SummaryOfOverallLatency><SummaryOfLoopLatency>{loop}</SummaryOfLoopLatency></PerformanceEstimates>"
                f"<AreaEstimates><Resources>{area}</Resources></AreaEstimates>")
        if mod != SEPARATE:
            modules.append(f"<Module><Name>{mod}</Name><Loops><{name}/></Loops>{body}</Module>")
        # every module also has its own report, as the tool writes them
        (folder / f"{mod}_csynth.xml").write_text(
            _head(mod) + body.replace("<SummaryOfTimingAnalysis><TargetClockPeriod>10.00</TargetClockPeriod>",
                                      "<SummaryOfTimingAnalysis>")
            .replace("<Resources>", "<Resources>").replace(
                "</AreaEstimates>", f"<AvailableResources>{_resources(AVAILABLE)}</AvailableResources></AreaEstimates>")
            + "</profile>\n")
        a, t = ii.get(name, 1), target.get(name, 1)
        (folder / f"{mod}_csynth.rpt").write_text(f"""\
================================================================
== Vitis HLS Report for '{mod}'
================================================================
* Date:           Tue Mar  4 10:12:41 2025

* Version:        2023.2 (Build 4023990 on Oct 11 2023)
* Project:        fq_accel_prj
* Solution:       sol (Vivado IP Flow Target)
* Product family: zynq
* Target device:  xc7z020-clg400-1

    + Detail:
        * Instance:
        N/A

        * Loop:
        +--------------------+---------+---------+----------+-----------+-----------+-----------+----------+
        |                    |  Latency (cycles) | Iteration|  Initiation Interval  |    Trip   |          |
        |      Loop Name     |   min   |   max   |  Latency |  achieved |   target  |   Count   | Pipelined|
        +--------------------+---------+---------+----------+-----------+-----------+-----------+----------+
        |- {name:<17}|        ?|        ?|  {depth:>8}|  {a:>9}|  {t:>9}| {trips[0]} ~ {trips[1]:<5}|       yes|
        +--------------------+---------+---------+----------+-----------+-----------+-----------+----------+

================================================================
== Utilization Estimates
================================================================
""")
    top_module = (f"<Module><Name>fq_accel</Name><PerformanceEstimates><SummaryOfLoopLatency>{layers}"
                  "</SummaryOfLoopLatency></PerformanceEstimates></Module>")
    text = (_head("fq_accel") +
            "<PerformanceEstimates><PipelineType>no</PipelineType><SummaryOfTimingAnalysis><unit>ns</unit>"
            "<EstimatedClockPeriod>7.300</EstimatedClockPeriod></SummaryOfTimingAnalysis><SummaryOfOverallLatency>"
            "<unit>clock cycles</unit><Best-caseLatency>undef</Best-caseLatency><Average-caseLatency>undef"
            "</Average-caseLatency><Worst-caseLatency>undef</Worst-caseLatency><Interval-min>undef</Interval-min>"
            f"<Interval-max>undef</Interval-max></SummaryOfOverallLatency><SummaryOfLoopLatency>{layers}"
            "</SummaryOfLoopLatency></PerformanceEstimates>"
            f"<AreaEstimates><Resources>{_resources(resources)}</Resources>"
            f"<AvailableResources>{_resources(AVAILABLE)}</AvailableResources></AreaEstimates>"
            f"<InterfaceSummary/><ModuleInformation>{top_module}{''.join(modules)}</ModuleInformation></profile>\n")
    (folder / "csynth.xml").write_text(text)
    # the top's summary (2022.1+ "Synthesis Summary Report" layout): no achieved/target table, ignored
    (folder / "csynth.rpt").write_text(
        "================================================================\n"
        "== Synthesis Summary Report of 'fq_accel'\n"
        "================================================================\n"
        "    +------------------------------+------+-------+---------+--------+----------+---------+------+\n"
        "    |       Modules & Loops        | Issue| Slack | Latency | Latency| Iteration| Interval| Trip |\n"
        "    +------------------------------+------+-------+---------+--------+----------+---------+------+\n"
        "    |+ fq_accel                    |     -|   2.70|        -|       -|         -|        -|     -|\n"
        "    +------------------------------+------+-------+---------+--------+----------+---------+------+\n")
    return folder / "csynth.xml"


def test_csynth_loops_of_the_top_and_its_modules(tmp_path):
    xml = write_hls_reports(tmp_path / "report")
    r = parse_csynth_xml(xml)
    loops = {(lp["module"], lp["name"]): lp for lp in r["loops"]}
    layers = loops[("fq_accel", "layers")]  # the top's own, once (ModuleInformation repeats it)
    assert [lp["name"] for lp in r["loops"]].count("layers") == 1
    assert layers["pipelined"] is False and layers["achieved_ii"] is None
    assert layers["trip_count"] == {"min": 1, "max": 32} and layers["latency_cycles"] == {"min": None, "max": None}
    comp = loops[("compute_tile_FqPolicy_8_Pipeline_comp_entry", "comp_entry")]
    assert comp["pipelined"] is True and comp["achieved_ii"] == 1 and comp["pipeline_depth"] == 7
    assert comp["trip_count"] == {"min": 1, "max": 4608} and comp["latency_cycles"] == {"min": 7, "max": 4614}
    assert comp["target_ii"] is None  # only the text reports carry it
    assert ("load_rows_Pipeline_load_ch_load_beat", "load_ch_load_beat") in loops
    assert not any(m == SEPARATE for m, _ in loops)  # not in the top's ModuleInformation
    json.dumps(r)


def test_loops_of_an_older_report_without_names_and_nested(tmp_path):
    # 2020.2 style: no <Name>, inner loops nested in the outer loop's element
    f = tmp_path / "csynth.xml"
    f.write_text(_head("fq_accel", version="2020.2") + "<PerformanceEstimates><SummaryOfLoopLatency>"
                 "<layers><TripCount>undef</TripCount><Latency>undef</Latency>"
                 + _loop_xml("read_desc", (32, 32), 2, 1, named=False) +
                 "</layers></SummaryOfLoopLatency></PerformanceEstimates><AreaEstimates><Resources>"
                 "<LUT>10</LUT><FF>20</FF></Resources></AreaEstimates></profile>")
    loops = parse_csynth_xml(f)["loops"]
    assert [(lp["path"], lp["achieved_ii"]) for lp in loops] == [("layers", None), ("layers/read_desc", 1)]
    assert loops[1]["module"] == "fq_accel"


def test_text_report_loop_table(tmp_path):
    write_hls_reports(tmp_path / "report", ii={"comp_entry": 2})
    (lp,) = parse_csynth_rpt_loops(tmp_path / "report" / "compute_tile_FqPolicy_8_Pipeline_comp_entry_csynth.rpt")
    assert lp["module"] == "compute_tile_FqPolicy_8_Pipeline_comp_entry" and lp["name"] == "comp_entry"
    assert (lp["achieved_ii"], lp["target_ii"], lp["iteration_latency"]) == (2, 1, 7)
    assert lp["trip_count"] == {"min": 1, "max": 4608} and lp["pipelined"] is True
    assert parse_csynth_rpt_loops(tmp_path / "report" / "csynth.rpt") == []  # summary layout: no loop table


def test_text_report_nested_loops(tmp_path):
    f = tmp_path / "run_csynth.rpt"
    f.write_text("""== Vitis HLS Report for 'run'
        * Loop:
        +-------------+-----------+-----------+----------+-----------+-----------+---------+----------+
        |             |    Latency (cycles)   | Iteration|  Initiation Interval  |   Trip  |          |
        |  Loop Name  |    min    |    max    |  Latency |  achieved |   target  |  Count  | Pipelined|
        +-------------+-----------+-----------+----------+-----------+-----------+---------+----------+
        |- pool_row   |  124980000|  124980000|     12498|          -|          -|    10000|        no|
        | + pool_win  |        128|        128|         2|          1|          1|      128|       yes|
        | + avg_sum   |      12365|      12365|        81|          3|          1|     4096|       yes|
        +-------------+-----------+-----------+----------+-----------+-----------+---------+----------+
""")
    loops = parse_csynth_rpt_loops(f)
    assert [(lp["path"], lp["achieved_ii"], lp["target_ii"], lp["pipelined"]) for lp in loops] == [
        ("pool_row", None, None, False), ("pool_row/pool_win", 1, 1, True), ("pool_row/avg_sum", 3, 1, True)]


def test_hls_reports_merge_module_files_and_target_ii(tmp_path):
    xml = write_hls_reports(tmp_path / "report", ii={"store_pkt": 2}, target={"pool_win": 2})
    r = parse_hls_reports(xml)
    loops = {lp["name"]: lp for lp in r["loops"]}
    # one entry per loop: the separate module file's loop added, the others not repeated
    assert sorted(loops) == sorted(["layers"] + [n for n, _, _ in ENGINE_MODULES.values()])
    assert len(r["loops"]) == len(loops)
    assert loops["store_pkt"]["module"] == SEPARATE and loops["store_pkt"]["achieved_ii"] == 2
    assert loops["comp_entry"]["target_ii"] == 1 and loops["pool_win"]["target_ii"] == 2
    assert loops["layers"]["target_ii"] is None
    assert r["resources"]["lut"] == 35120 and r["reports"][0] == str(xml) and len(r["reports"]) == 14


def test_hls_reports_bad_loop_file_names_it(tmp_path):
    bad = tmp_path / "x_csynth.rpt"
    bad.write_bytes(b"")
    assert parse_csynth_rpt_loops(bad) == []
    with pytest.raises(InputError, match="missing_csynth.rpt"):
        parse_csynth_rpt_loops(tmp_path / "missing_csynth.rpt")


def test_top_report_under_its_module_name(tmp_path):
    from fq_hls.build.hls_project import find_csynth_xml

    report = tmp_path / "fq_accel_prj" / "sol" / "syn" / "report"
    xml = write_hls_reports(report)
    assert find_csynth_xml(tmp_path) == xml
    xml.rename(report / "fq_accel_csynth.xml")  # only the top's <top>_csynth.xml
    assert find_csynth_xml(tmp_path) == report / "fq_accel_csynth.xml"
    assert any(lp["name"] == "comp_entry" for lp in parse_hls_reports(report / "fq_accel_csynth.xml")["loops"])
