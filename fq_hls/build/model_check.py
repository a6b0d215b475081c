"""The engine the tools built against the engine this project models: loop IIs and resource totals.

    pipelined_labels(sources)         {label: II} of the engine's labelled loops with a PIPELINE pragma
    model_resources(cfg)              the resource model's totals for cfg (fq_hls.cost.resources.estimate)
    check_design(cfg, hls, vivado...) DesignCheck: failures (fatal) and discrepancies (human-readable)

The cycle model (fq_hls.hw.cycles) counts one iteration per cycle in every pipelined loop, so a labelled
loop whose achieved II exceeds its target is an engine slower than the one modelled: a failure. A negative
WNS after implementation is one too (the bitstream would not run at the configured clock). Resource totals
that differ from the model by more than RESOURCE_TOLERANCE, labelled loops missing from the report and target
IIs that differ from the source's pragma are discrepancies: reported, not fatal (the model is an estimate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FQError, InputError
from ..hw.config import HardwareConfig

# The engine's pipelined loops (hls_src, `#pragma HLS PIPELINE II = 1` under each label): used when no source
# is at hand to read them from (pipelined_labels finds them in the copied sources otherwise).
ENGINE_LOOPS = {name: 1 for name in (
    "read_desc", "load_flat_beat", "load_beat", "absorb_flat_beat", "absorb_beat", "comp_entry", "comp_fill_rest",
    "store_pkt", "load_chtab_j", "decode_entry", "load_params", "pool_win", "avg_sum",
)}

# A report total is within tolerance of the model when |report - model| <= max(rel * model, abs).
# LUT/FF: the model's control, decode and AXI figures are constants and HLS estimates LUTs pessimistically,
# hence 30 %; DSP, BRAM and URAM follow from the geometry rules the model shares with the HLS source, 15 %.
RESOURCE_TOLERANCE: dict[str, tuple[float, float]] = {
    "lut": (0.30, 1000), "ff": (0.30, 1000), "dsp": (0.15, 4), "bram18": (0.15, 4), "bram36": (0.15, 2),
    "uram": (0.15, 2),
}
_NAMES = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram18": "BRAM_18K", "bram36": "BRAM36", "uram": "URAM"}
_CXX_LABELS = {"public", "private", "protected", "default"}
_LABEL = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*(//.*)?$")
_LOOP_HEAD = re.compile(r"^\s*(for|while|do)\b")
_PIPELINE = re.compile(r"^\s*#\s*pragma\s+HLS\s+PIPELINE\b(.*)$", re.IGNORECASE)
_II = re.compile(r"\bII\s*=\s*(\d+)", re.IGNORECASE)


class DesignCheckError(FQError):
    """The built engine is not the modelled one: a labelled loop misses its II, or timing is not met."""


def pipelined_labels(sources: Iterable[str | Path]) -> dict[str, int]:
    """{label: target II} of every labelled loop whose body starts with `#pragma HLS PIPELINE` (II = 1 when
    the pragma gives none; `PIPELINE off` is skipped) in the C/C++ files `sources` (files or folders)."""
    files: list[Path] = []
    for s in sources:
        p = Path(s)
        files += sorted(q for q in p.rglob("*") if q.suffix in (".h", ".hpp", ".cpp", ".cc")) if p.is_dir() else [p]
    out: dict[str, int] = {}
    for f in files:
        try:
            lines = f.read_text(errors="replace").splitlines()
        except OSError as e:
            raise InputError(f"{f}: cannot read HLS source: {e}") from e
        for i, line in enumerate(lines):
            m = _LABEL.match(line)
            if m is None or m.group(1) in _CXX_LABELS:
                continue
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].strip().startswith("//")):
                j += 1
            if j >= len(lines) or not _LOOP_HEAD.match(lines[j]):
                continue
            while j < len(lines) and "{" not in lines[j]:  # a loop header over several lines
                j += 1
            j += 1
            while j < len(lines) and (lines[j].lstrip().startswith("#") or lines[j].strip().startswith("//")):
                pm = _PIPELINE.match(lines[j])
                if pm and "off" not in pm.group(1).lower():
                    ii = _II.search(pm.group(1))
                    out[m.group(1)] = int(ii.group(1)) if ii else 1
                j += 1
    return out


def model_resources(cfg: HardwareConfig) -> dict[str, float]:
    """The resource model's totals for `cfg` ({lut, ff, dsp, bram18, bram36, uram}, evidence "model"). Needs
    Yosys (or its cache): ToolMissingError otherwise."""
    from ..cost import resources

    est = resources.estimate(cfg, resources.UnitCosts(cfg.info.family))
    t = est.total
    return {"lut": round(t.lut), "ff": round(t.ff), "dsp": t.dsp, "bram18": t.bram18, "bram36": t.bram36,
            "uram": t.uram, "evidence": "model"}


def _matches(name: str, label: str) -> bool:
    """A reported loop name is the label, or holds it as a whole '_'-separated part (flattened loops join
    their labels: load_ch_load_beat; repeated instances get a suffix: comp_entry_1)."""
    return name == label or name.startswith(label + "_") or name.endswith("_" + label) or f"_{label}_" in name


@dataclass
class DesignCheck:
    failures: list[str] = field(default_factory=list)  # fatal: II misses, negative WNS
    discrepancies: list[str] = field(default_factory=list)  # every finding, failures included
    loops: list[dict] = field(default_factory=list)  # the labelled loops found and their II
    resources: dict[str, dict] = field(default_factory=dict)  # report -> field -> {report, model, ...}
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {"ok": self.ok, "failures": list(self.failures), "discrepancies": list(self.discrepancies),
                "loops": list(self.loops), "resources": dict(self.resources), "notes": list(self.notes),
                "tolerance": {k: {"relative": r, "absolute": a} for k, (r, a) in RESOURCE_TOLERANCE.items()}}

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.discrepancies.append(text)


def _check_loops(out: DesignCheck, hls: dict, expected: dict[str, int]) -> None:
    loops = hls.get("loops")
    if loops is None:
        raise InputError(f"{hls.get('source', 'HLS report')}: no loop data (parse it with parse_hls_reports)")
    for label, src_ii in expected.items():
        found = [lp for lp in loops if _matches(str(lp.get("name", "")), label)]
        if not found:
            out.discrepancies.append(f"loop {label} (PIPELINE II={src_ii} in the source) is not in the csynth "
                                     "report: inlined into a parent, flattened away or removed")
            continue
        for lp in found:
            where = f"loop {lp['name']}" + (f" in {lp['module']}" if lp.get("module") else "")
            target = lp.get("target_ii") or src_ii
            achieved = lp.get("achieved_ii")
            out.loops.append({"label": label, "module": lp.get("module"), "name": lp["name"],
                              "achieved_ii": achieved, "target_ii": target, "pipelined": lp.get("pipelined")})
            if lp.get("target_ii") is not None and lp["target_ii"] != src_ii:
                out.discrepancies.append(f"{where}: target II {lp['target_ii']} in the report, the source asks "
                                         f"II={src_ii}")
            if not lp.get("pipelined"):
                out.fail(f"{where}: not pipelined (the source asks PIPELINE II={src_ii}; the cycle model counts "
                         f"{src_ii} cycle(s) per iteration)")
            elif achieved is None:
                out.discrepancies.append(f"{where}: pipelined, but the report gives no achieved II to check")
            elif achieved > target:
                trips = lp.get("trip_count") or {}
                tc = f", trip count {trips.get('min')}..{trips.get('max')}" if trips.get("max") is not None else ""
                out.fail(f"{where}: II {achieved} achieved, target {target}{tc}: {achieved}x the cycles the "
                         "cycle model counts for it")


def _compare(out: DesignCheck, label: str, report: dict, model: dict, keys: Iterable[str]) -> None:
    table = {}
    for key in keys:
        got, want = report.get(key), model.get(key)
        if got is None or want is None:
            continue
        rel, floor = RESOURCE_TOLERANCE[key]
        allowed = max(rel * want, floor)
        delta = got - want
        within = abs(delta) <= allowed
        pct = (100.0 * delta / want) if want else (math.inf if delta else 0.0)
        table[key] = {"report": got, "model": want, "delta": delta,
                      "delta_pct": round(pct, 1) if math.isfinite(pct) else None, "allowed": allowed,
                      "within": within}
        if not within:
            sign = "+" if delta > 0 else ""
            rel_txt = f"{sign}{pct:.1f} %" if math.isfinite(pct) else "model 0"
            out.discrepancies.append(
                f"{label} {_NAMES[key]} {got:g} vs model {want:g} ({rel_txt}; tolerance +-{rel:.0%} or "
                f"{floor:g})")
    out.resources[label] = table


def check_design(cfg: HardwareConfig, hls: dict | None = None, vivado: dict | None = None, *,
                 model: dict | None = None, loops: dict[str, int] | None = None) -> DesignCheck:
    """Check the parsed reports of a build of `cfg` against the model.

    hls: parse_hls_reports(...) (loops and HLS resource estimates). vivado: {"utilization":
    parse_vivado_utilization(...), "timing": parse_vivado_timing(...)} (either may be missing). model:
    model_resources(cfg), or None to skip the resource comparison. loops: {label: target II} of the engine
    (pipelined_labels of its sources; default ENGINE_LOOPS).
    """
    out = DesignCheck()
    expected = dict(loops) if loops else dict(ENGINE_LOOPS)
    if hls is not None:
        _check_loops(out, hls, expected)
    if model is None:
        out.notes.append("resource model not available: resource totals not compared")
    else:
        if hls is not None:
            _compare(out, "HLS estimate", hls.get("resources") or {}, model, ("lut", "ff", "dsp", "bram18", "uram"))
        util = (vivado or {}).get("utilization")
        if util:
            _compare(out, "Vivado", util.get("resources") or {}, model, ("lut", "ff", "dsp", "bram36", "uram"))
    timing = (vivado or {}).get("timing")
    if timing and timing.get("wns_ns") is not None and timing["wns_ns"] < 0:
        out.fail(f"timing not met after implementation: WNS {timing['wns_ns']:g} ns at {cfg.clock_mhz:g} MHz "
                 f"({timing.get('failing_endpoints', 0)} failing endpoints): lower --clock-mhz")
    return out
