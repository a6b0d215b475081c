"""Parsers of the Xilinx tools' reports into plain dicts (JSON-ready), each labelled with its evidence.

* Vitis HLS `csynth.xml` (syn/report/csynth.xml): estimated clock, latency, resource estimates, and every
  loop's achieved II, trip count and latency (the top's loops and, 2022.1+, each module's under
  ModuleInformation) -> "hls". `parse_hls_reports` adds the loops of the per-module `<module>_csynth.xml`
  files next to it and the target II from the per-module text reports (`<module>_csynth.rpt`).
* Vivado `report_utilization` text, 7-series ("Slice LUTs", "Slice Registers") and UltraScale+
  ("CLB LUTs", "CLB Registers") layouts, with or without the "Prohibited" column -> "vivado".
* Vivado `report_timing_summary` text: WNS/TNS/WHS/THS and the clock table -> "vivado".

Bad or missing files raise InputError naming the file.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InputError

# csynth.xml resource tags -> our names. DSP48E (older releases) and DSP (2021.1+) are the same column.
_HLS_RESOURCES = {"BRAM_18K": "bram18", "DSP48E": "dsp", "DSP": "dsp", "FF": "ff", "LUT": "lut", "URAM": "uram"}


def _read_text(path: str | Path, what: str) -> tuple[Path, str]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what}")
    try:
        return path, path.read_text(errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read {what}: {e}") from e


def _number(text: str | None) -> float | None:
    """'7.300' -> 7.3; 'undef' / '' / None -> None."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _int_or_none(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None else int(value)


# ---- Vitis HLS ------------------------------------------------------------------------------------------

def parse_csynth_xml(path: str | Path) -> dict:
    """Vitis HLS synthesis report -> {evidence: 'hls', clock, latency, resources, available, ...}."""
    path, text = _read_text(path, "Vitis HLS report (csynth.xml)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise InputError(f"{path}: not a valid csynth.xml ({e})") from e
    perf = root.find("PerformanceEstimates")
    area = root.find("AreaEstimates")
    if perf is None or area is None or area.find("Resources") is None:
        raise InputError(f"{path}: no PerformanceEstimates/AreaEstimates: not a Vitis HLS csynth.xml")

    def resources(node: ET.Element | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for child in list(node) if node is not None else []:
            key = _HLS_RESOURCES.get(child.tag)
            value = _int_or_none(child.text)
            if key is not None and value is not None:
                out[key] = value
        return out

    used = resources(area.find("Resources"))
    if "lut" not in used or "ff" not in used:
        raise InputError(f"{path}: AreaEstimates/Resources has no LUT/FF counts")
    user = root.find("UserAssignments")
    target = _number(user.findtext("TargetClockPeriod")) if user is not None else None
    estimated = _number(perf.findtext("SummaryOfTimingAnalysis/EstimatedClockPeriod"))
    lat = perf.find("SummaryOfOverallLatency")

    def latency(tag: str) -> int | None:
        return _int_or_none(lat.findtext(tag)) if lat is not None else None

    return {
        "evidence": "hls",
        "source": str(path),
        "tool_version": root.findtext("ReportVersion/Version"),
        "top": user.findtext("TopModelName") if user is not None else None,
        "part": user.findtext("Part") if user is not None else None,
        "target_clock_ns": target,
        "estimated_clock_ns": estimated,
        "estimated_fmax_mhz": round(1000.0 / estimated, 3) if estimated else None,
        # undef (None) when loop bounds are data dependent and carry no tripcount
        "latency_cycles": {"best": latency("Best-caseLatency"), "average": latency("Average-caseLatency"),
                           "worst": latency("Worst-caseLatency")},
        "interval_cycles": {"min": latency("Interval-min"), "max": latency("Interval-max")},
        "resources": used,
        "available": resources(area.find("AvailableResources")),
        "loops": _xml_loops(root, user.findtext("TopModelName") if user is not None else None),
    }


# ---- Vitis HLS loops ------------------------------------------------------------------------------------
#
# SummaryOfLoopLatency holds one element per loop, named for the loop (its label, VITIS_LOOP_<line>_<n> when
# unlabelled, the labels joined by '_' when loops were flattened); 2022.1+ repeat the name in <Name>. Inner
# loops of a loop that is not pipelined nest inside it. <TripCount> and <Latency> are a number, 'undef', or
# <range><min/><max/></range>; <PipelineII> is the achieved II (absent or '-' when the loop is not
# pipelined); <PipelineDepth> the iteration latency of a pipelined loop. Pipelined loops of 2022.1+ are
# outlined into modules <function>_Pipeline_<loop>, reported under ModuleInformation/Module and in their
# own <module>_csynth.xml. The target II is only in the text reports (the loop table's "achieved | target").

def _span(node: ET.Element | None) -> dict[str, int | None]:
    """<X>24</X> -> {min: 24, max: 24}; <X><range><min>1</min><max>64</max></range></X> -> {1, 64}."""
    if node is None:
        return {"min": None, "max": None}
    rng = node.find("range")
    if rng is not None:
        return {"min": _int_or_none(rng.findtext("min")), "max": _int_or_none(rng.findtext("max"))}
    return _span_text(node.text or "")


def _span_text(text: str) -> dict[str, int | None]:
    """'24' -> {24, 24}; '1 ~ 64' (a range, as the text reports write it) -> {1, 64}; 'undef', '?', '-' -> None."""
    if "~" in text:
        lo, _, hi = text.partition("~")
        return {"min": _int_or_none(lo), "max": _int_or_none(hi)}
    value = _int_or_none(text)
    return {"min": value, "max": value}


def _is_loop(node: ET.Element) -> bool:
    return any(node.find(tag) is not None for tag in ("TripCount", "Latency", "PipelineII"))


def _loop_list(summary: ET.Element | None, module: str | None, parent: str = "") -> list[dict]:
    out: list[dict] = []
    for node in list(summary) if summary is not None else []:
        if not _is_loop(node):
            continue
        name = (node.findtext("Name") or node.tag).strip()
        ii = _span(node.find("PipelineII"))["max"]
        kind = (node.findtext("PipelineType") or "").strip().lower()
        pipelined = (kind not in ("", "no")) if kind else ii is not None
        iteration = _span(node.find("IterationLatency"))
        path = f"{parent}/{name}" if parent else name
        out.append({
            "module": module,
            "name": name,
            "path": path,
            "pipelined": pipelined,
            "achieved_ii": ii if pipelined else None,
            "target_ii": None,
            "pipeline_depth": _int_or_none(node.findtext("PipelineDepth")),
            "iteration_latency": iteration["max"],
            "trip_count": _span(node.find("TripCount")),
            "latency_cycles": _span(node.find("Latency")),
        })
        out += _loop_list(node, module, path)
    return out


def _xml_loops(root: ET.Element, top: str | None) -> list[dict]:
    """Loops of a csynth.xml: the top's own, then each module's (ModuleInformation), without repeats."""
    loops = _loop_list(root.find("PerformanceEstimates/SummaryOfLoopLatency"), top)
    for mod in root.findall("ModuleInformation/Module"):
        loops += _loop_list(mod.find("PerformanceEstimates/SummaryOfLoopLatency"), mod.findtext("Name"))
    return _unique_loops(loops)


def _unique_loops(loops: list[dict]) -> list[dict]:
    seen: set[tuple] = set()
    out = []
    for lp in loops:
        key = (lp["module"], lp["path"])
        if key not in seen:
            seen.add(key)
            out.append(lp)
    return out


def parse_csynth_rpt_loops(path: str | Path) -> list[dict]:
    """The loop table of a Vitis HLS text report (`<module>_csynth.rpt`): for each loop, its achieved and
    target II, iteration latency, trip count and whether it is pipelined (module from the report's title)."""
    path, text = _read_text(path, "Vitis HLS report (csynth.rpt)")
    m = re.search(r"==\s*Vitis HLS Report for '([^']+)'", text) or re.search(r"Report of '([^']+)'", text)
    module = m.group(1) if m else None
    lines = text.splitlines()
    out: list[dict] = []
    for i, line in enumerate(lines):
        cells = _split_row(line) if line.lstrip().startswith("|") else []
        if "achieved" not in cells or "target" not in cells or not any("Loop Name" in c for c in cells):
            continue
        col = {name: cells.index(name) for name in ("achieved", "target")}
        i_trip = next((k for k, c in enumerate(cells) if c in ("Count", "Trip Count")), None)
        i_pipe = next((k for k, c in enumerate(cells) if c == "Pipelined"), None)
        i_iter = col["achieved"] - 1  # "Iteration Latency" sits just before the II columns
        stack: list[str] = []
        for row in lines[i + 2:]:
            s = row.strip()
            if s.startswith("+"):
                continue
            if not s.startswith("|"):
                break
            r = _split_row(row)
            mm = re.match(r"^(-|\+*)\s*(.+)$", r[0])
            if mm is None or len(r) <= col["target"]:
                continue
            depth = 0 if mm.group(1) == "-" else len(mm.group(1))
            name = mm.group(2).strip()
            stack[depth:] = [name]
            target = _int_or_none(r[col["target"]])
            pipe = r[i_pipe].strip().lower() if i_pipe is not None and len(r) > i_pipe else ""
            out.append({
                "module": module,
                "name": name,
                "path": "/".join(stack),
                "pipelined": pipe in ("yes", "rewind", "flushable", "frp", "stp") or target is not None,
                "achieved_ii": _int_or_none(r[col["achieved"]]),
                "target_ii": target,
                "iteration_latency": _int_or_none(r[i_iter]),
                "trip_count": _span_text(r[i_trip]) if i_trip is not None and len(r) > i_trip else None,
            })
    return out


def parse_hls_reports(csynth_xml: str | Path) -> dict:
    """parse_csynth_xml of the top report, with the loops of every `<module>_csynth.xml` beside it and the
    target II of each loop from the text reports (`*csynth.rpt`) beside it, where present."""
    data = parse_csynth_xml(csynth_xml)
    folder = Path(csynth_xml).parent
    loops = list(data["loops"])
    for other in sorted(folder.glob("*_csynth.xml")):
        if other.resolve() == Path(csynth_xml).resolve():
            continue
        try:
            loops += parse_csynth_xml(other)["loops"]
        except InputError:
            continue  # a module report without area estimates (e.g. a dataflow wrapper): its loops come
            # with the top's ModuleInformation in the releases that write such modules
    loops = _unique_loops(loops)
    targets: dict[tuple, int] = {}
    for rpt in sorted(folder.glob("*csynth.rpt")):
        for lp in parse_csynth_rpt_loops(rpt):
            if lp["target_ii"] is not None:
                targets[(lp["module"], lp["name"])] = lp["target_ii"]
    for lp in loops:
        if lp["target_ii"] is None:
            lp["target_ii"] = targets.get((lp["module"], lp["name"]))
    data["loops"] = loops
    data["reports"] = [str(Path(csynth_xml))] + [str(p) for p in sorted(folder.glob("*_csynth.xml"))
                                                 if p.resolve() != Path(csynth_xml).resolve()]
    return data


# ---- Vivado tables --------------------------------------------------------------------------------------

def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every '+---+' bordered table: (header cells, rows of cells)."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("+-") and i + 2 < len(lines) and lines[i + 1].lstrip().startswith("|"):
            header = _split_row(lines[i + 1])
            rows = []
            j = i + 3  # skip the border under the header
            while j < len(lines) and lines[j].lstrip().startswith(("|", "+")):
                if lines[j].lstrip().startswith("|"):
                    rows.append(_split_row(lines[j]))
                j += 1
            out.append((header, rows))
            i = j
        else:
            i += 1
    return out


def _header_field(text: str, name: str) -> str | None:
    m = re.search(rf"^\|\s*{re.escape(name)}\s*:\s*(.+?)\s*$", text, re.MULTILINE)
    return m.group(1) if m else None


# Site Type (exact, as in the first column) -> our name; both families
_UTIL_ROWS = {
    "Slice LUTs": "lut", "CLB LUTs": "lut",
    "Slice Registers": "ff", "CLB Registers": "ff",
    "Block RAM Tile": "bram36",
    "DSPs": "dsp",
    "URAM": "uram",
}


def parse_vivado_utilization(path: str | Path) -> dict:
    """report_utilization text -> {evidence: 'vivado', resources, available, util_pct, device, ...}.

    Block RAM is counted in 36 Kb tiles (`bram36`, halves possible), as Vivado reports it.
    """
    path, text = _read_text(path, "Vivado utilization report")
    used: dict[str, float] = {}
    available: dict[str, float] = {}
    util: dict[str, float] = {}
    for header, rows in _tables(text):
        if not header or header[0] != "Site Type" or "Used" not in header:
            continue
        i_used = header.index("Used")
        i_avail = header.index("Available") if "Available" in header else None
        i_util = header.index("Util%") if "Util%" in header else None
        for row in rows:
            key = _UTIL_ROWS.get(row[0].rstrip("*").strip())
            if key is None or key in used or len(row) <= i_used:
                continue
            value = _number(row[i_used])
            if value is None:
                continue
            used[key] = int(value) if float(value).is_integer() else value
            if i_avail is not None and (a := _number(row[i_avail])) is not None:
                available[key] = int(a) if float(a).is_integer() else a
            if i_util is not None and (u := _number(row[i_util].lstrip("<"))) is not None:
                util[key] = u
    if "lut" not in used or "ff" not in used:
        raise InputError(f"{path}: no Slice/CLB LUTs and Registers rows: not a Vivado report_utilization file")
    return {
        "evidence": "vivado",
        "source": str(path),
        "tool_version": _header_field(text, "Tool Version"),
        "device": _header_field(text, "Device"),
        "design_state": _header_field(text, "Design State"),
        "resources": used,
        "available": available,
        "util_pct": util,
    }


def _section(text: str, title: str) -> list[str]:
    """Lines after a '| <title>' banner up to the next banner."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^\|\s*{re.escape(title)}\s*$", line):
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("| ") and not nxt.startswith("| -") and body:
                    break
                body.append(nxt)
            return body
    return []


def _column_table(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """A whitespace table with a dashed underline: column names from the dashes' spans."""
    for i in range(1, len(lines)):
        dashes = lines[i]
        if dashes.strip() and set(dashes.strip()) <= {"-", " "} and not dashes.lstrip().startswith("---------------"):
            spans = [m.span() for m in re.finditer(r"-+", dashes)]
            head = lines[i - 1]
            # a column's name spans from the previous column's end to its own dashes' end, which covers
            # both the right-aligned (timing) and the left-aligned (clock) headers
            names = []
            for k, (_start, end) in enumerate(spans):
                names.append(head[spans[k - 1][1] if k else 0:end].strip())
            rows = []
            for row in lines[i + 1:]:
                if not row.strip():
                    if rows:
                        break
                    continue
                if row.startswith(("|", "-")):
                    break
                rows.append(row.split())
            return names, rows
    return [], []


def parse_vivado_timing(path: str | Path) -> dict:
    """report_timing_summary text -> {evidence: 'vivado', wns_ns, tns_ns, whs_ns, ths_ns, timing_met, clocks}."""
    path, text = _read_text(path, "Vivado timing summary")
    names, rows = _column_table(_section(text, "Design Timing Summary"))
    if not rows or "WNS(ns)" not in names:
        raise InputError(f"{path}: no Design Timing Summary table: not a Vivado report_timing_summary file")
    if len(rows[0]) != len(names):
        raise InputError(f"{path}: Design Timing Summary row has {len(rows[0])} values for {len(names)} columns")
    values = dict(zip(names, rows[0], strict=True))

    def num(key: str) -> float | None:
        return _number(values.get(key))

    clocks = []
    cnames, crows = _column_table(_section(text, "Clock Summary"))
    for r in crows:
        # Clock, Waveform(ns) "{0.000 5.000}" (two words), Period(ns), Frequency(MHz)
        if len(r) >= 4:
            period, freq = _number(r[-2]), _number(r[-1])
            if period is not None:
                clocks.append({"name": r[0], "period_ns": period, "frequency_mhz": freq})
    wns, whs = num("WNS(ns)"), num("WHS(ns)")
    failing = sum(int(num(k) or 0) for k in ("TNS Failing Endpoints", "THS Failing Endpoints"))
    met = "All user specified timing constraints are met." in text
    if not met and "Timing constraints are not met." not in text:
        met = failing == 0 and (wns is None or wns >= 0) and (whs is None or whs >= 0)
    out = {
        "evidence": "vivado",
        "source": str(path),
        "tool_version": _header_field(text, "Tool Version"),
        "device": _header_field(text, "Device"),
        "wns_ns": wns,
        "tns_ns": num("TNS(ns)"),
        "whs_ns": whs,
        "ths_ns": num("THS(ns)"),
        "failing_endpoints": failing,
        "timing_met": met,
        "clocks": clocks,
    }
    # the PL clock closes at period - WNS: an estimate of the headroom, not a measured frequency
    if clocks and wns is not None and clocks[0]["period_ns"] - wns > 0:
        out["fmax_estimate_mhz"] = round(1000.0 / (clocks[0]["period_ns"] - wns), 3)
    return out
