"""The resources-and-throughput report: the FQ engine against the 8-bit engines on every board.

`build_report()` returns a JSON-ready dict; `markdown()` renders it; `write_report()` writes report.md,
report.json and the PNG plots. Every number carries its evidence label (docs/DEVELOPING.md): "yosys" for
synthesized datapaths, "model" for this project's analytic model (resources built on yosys numbers; cycles
from fq_hls.hw.cycles), "vivado"/"hls" where a build folder's parsed reports replace the model, "published"
for vendor figures (fq_hls.cost.anchors: document, version, table), "paper" for the FQ paper's own figures.

Engines (fq_hls.hw.config.ENGINES): `fq` (shift PEs, sparse stream), `int8` (dense int8 MACs, two per DSP
where packed), `int8_sparse` (int8 MACs on the FQ engine's sparse stream). Workloads (fq_hls.cost.workloads):
the embedded trained-weight models by default; random uniform masks only in the labelled sensitivity rows and
the sparsity sweep. Each engine is sized on the first network (ResNet-18 224 by default).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from ..errors import FQError, InputError, ToolMissingError
from ..hw import config as hw_config
from ..hw.config import BOARDS, HardwareConfig, hardware_config
from . import anchors, rtl, table4, throughput, workloads
from . import resources as R
from .yosys import FLOWS, find_yosys, synthesize, yosys_version

ENGINES: tuple[str, ...] = tuple(getattr(hw_config, "ENGINES", ("fq", "int8")))
ENGINE_LABELS = {"fq": "FQ (shift PEs, sparse)", "int8": "8-bit dense (int8 MACs)",
                 "int8_sparse": "8-bit sparse (int8 MACs, sparse stream)"}
DEFAULT_SPARSITY = workloads.SENSITIVITY_SPARSITY  # the random-mask sensitivity row
NETWORKS = {"resnet18": "ResNet-18, 224x224 ImageNet", "resnet18-cifar": "ResNet-18, 32x32 CIFAR"}
TOP_CANDIDATES = 6  # fitting (P, V) with the largest P * V (per line-buffer variant) whose fps the cycle model evaluates
# ... in the TOP_VARIANTS variants whose largest fitting engine is fastest (each variant's largest is timed first):
# the full search timed 6 x 12 configurations per board and engine, minutes each on a loaded 2-core machine
TOP_VARIANTS = 3
# kept for callers of the old name: the published figures now live in fq_hls.cost.anchors
PUBLISHED = anchors.ANCHORS


# ----------------------------------------------------------------------------------------------- PE table


def pe_table(log: Callable[[str], None] = print) -> tuple[dict | None, str | None]:
    """Synthesize the report's datapaths (rtl.engine_datapaths) on every flow; (table, reason if skipped)."""
    table: dict[str, dict] = {}
    try:
        for dp in rtl.engine_datapaths():
            row: dict = {"description": dp.description, "params": dp.params}
            for flow in FLOWS:
                r = synthesize(dp.verilog, dp.top, flow, dsp=dp.dsp)
                if flow == "gates":
                    row["gates"] = r.gates
                    row["gate_ff"] = r.ff
                    row["gate_cells"] = r.cells
                else:
                    key = "" if flow == "xc7" else "_xcup"
                    for f in ("lut", "ff", "carry", "dsp", "muxf"):
                        row[f + key] = getattr(r, f)
                row["yosys_version"] = r.yosys_version
            row["evidence"] = "yosys"
            table[dp.name] = row
            log(f"  synthesized {dp.name}: {row['lut']} LUT (xc7), {row['gates']} gates")
    except ToolMissingError as e:
        return None, str(e)
    return table, None


# ------------------------------------------------------------------------------------------ networks


def network_graphs(model_path: str | None, sparsity: float, seed: int, networks: list[str],
                   log: Callable[[str], None]) -> tuple[dict, dict]:
    """{net: {engine: IntegerGraph or None}} and {net: source} of the report's workloads (fq_hls.cost.workloads;
    `sparsity` and `seed` are unused and kept for callers of the old signature)."""
    wl = workloads.report_workloads(model_path, networks, log)
    return ({n: {e: w.graph(e) for e in ENGINES} for n, w in wl.items()}, {n: w.source for n, w in wl.items()})


def _fps(cfg: HardwareConfig, graph) -> throughput.Throughput:
    return throughput.network_throughput(cfg, throughput.shapes_from_graph(graph), graph)


def _key(net: str) -> str:
    return "fps_" + net.replace("-", "_")


# ------------------------------------------------------------------------------------ hardware reports


def read_build_reports(paths: list[str]) -> dict[tuple[str, str], dict]:
    """Parsed Vivado (preferred) or Vitis HLS reports of fq-hls build folders: {(board, engine): entry}."""
    out: dict[tuple[str, str], dict] = {}
    for p in paths:
        root = Path(p)
        manifest = root / "hw_config.json"
        if not manifest.is_file():
            raise InputError(f"{root}: no hw_config.json: not an fq-hls build folder (fq-hls build -o DIR)")
        try:
            hw = json.loads(manifest.read_text())["hardware"]
            fields = set(HardwareConfig.__dataclass_fields__)
            cfg = HardwareConfig(**{k: v for k, v in hw.items() if k in fields})
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{manifest}: not an fq-hls build manifest ({e})") from None
        for label in ("vivado", "hls"):
            f = root / "reports" / f"{label}.json"
            if not f.is_file():
                continue
            data = json.loads(f.read_text())
            res = (data.get("utilization") or {}).get("resources") if label == "vivado" else data.get("resources")
            if not res:
                continue
            bram36 = res.get("bram36")
            if bram36 is None and "bram18" in res:
                bram36 = res["bram18"] / 2
            clock = cfg.clock_mhz
            if label == "hls" and data.get("estimated_fmax_mhz"):
                clock = min(clock, float(data["estimated_fmax_mhz"]))
            out[(cfg.board, cfg.engine)] = {
                "cfg": cfg, "label": label, "source": str(f), "clock_mhz": clock,
                "resources": {"lut": res.get("lut"), "ff": res.get("ff"), "dsp": res.get("dsp"),
                              "bram36": bram36, "uram": res.get("uram", 0)},
            }
            break
    return out


# ------------------------------------------------------------------------------------------- the report


def _engine_entry(est: R.EngineEstimate, cfg: HardwareConfig, fps: dict[str, throughput.Throughput],
                  info) -> dict:
    d = est.to_dict()
    d.pop("carry", None)
    for net, t in fps.items():
        d[_key(net)] = round(t.fps, 2)
        d["evidence"][_key(net)] = t.evidence
        d.setdefault("cycles", {})[net] = {"layers": t.layer_names, "cycles": t.cycles}
        d.setdefault("gops", {})[net] = round(t.gops, 2)
    d["macs_per_dsp"] = cfg.macs_per_dsp
    d["evidence"].update({"clock_mhz": "model", "lanes": "model", "pixels": "model", "macs_per_dsp": "model"})
    u = est.utilisation(info)
    d["utilisation"] = {k: (round(v, 4) if math.isfinite(v) else None) for k, v in u.items()}
    return d


def _unsized_entry(cfg: HardwareConfig, nets: dict, note: str, which: str = "default config") -> dict:
    """An entry without the resource model (no Yosys, not even cached unit costs): fps at `cfg` only."""
    e = {"lanes": cfg.lanes, "pixels": cfg.pixels, "clock_mhz": cfg.clock_mhz, "note": note,
         "macs_per_dsp": cfg.macs_per_dsp,
         "evidence": {"lanes": f"model ({which})", "pixels": f"model ({which})", "macs_per_dsp": "model"}}
    for n, g in nets.items():
        t = _fps(cfg, g)
        e[_key(n)] = round(t.fps, 2)
        e["evidence"][_key(n)] = t.evidence
        e.setdefault("cycles", {})[n] = {"layers": t.layer_names, "cycles": t.cycles}
    return e


def entry_at(cfg: HardwareConfig, nets: dict) -> dict:
    """The report's entry of one engine at a given configuration (the sized one, fq_hls.hw.sized): its
    resources (the model, on Yosys unit costs) and its fps on each network {name: IntegerGraph}."""
    info = BOARDS[cfg.board]
    try:
        est = R.estimate(cfg, R.UnitCosts(info.family))
    except ToolMissingError as err:
        return _unsized_entry(cfg, nets, f"resource model skipped: {err}; fps at the sized configuration",
                              "sized config")
    return _engine_entry(est, cfg, {n: _fps(cfg, g) for n, g in nets.items()}, info)


def publishes_sizing(model_path: str | None, hw_reports: list[str] | None, sparsity: float, seed: int,
                     networks: list[str] | None) -> bool:
    """Whether a report with these inputs runs the default sizing (the embedded workloads), the one
    fq_hls.hw.sized keeps. The sensitivity row's sparsity does not change the sizing."""
    return model_path is None and not hw_reports and seed == 0 and networks is None


def build_report(boards: list[str] | None = None, model_path: str | None = None,
                 hw_reports: list[str] | None = None, sparsity: float = DEFAULT_SPARSITY, seed: int = 0,
                 networks: list[str] | None = None, log: Callable[[str], None] = print,
                 sweep: tuple[float, ...] | None = workloads.SWEEP_SPARSITIES) -> dict:
    """The whole report. `networks` defaults to both ResNet-18s; the --model's network is always added.
    Engines are sized on the first network (ResNet-18 224 by default)."""
    return sized_report(boards, model_path, hw_reports, sparsity, seed, networks, log, sweep)[0]


def _size_engine(b: str, engine: str, units, graph, log) -> tuple[R.EngineEstimate, HardwareConfig, object] | None:
    """The sizing search: per line-buffer variant (resources.variant) its largest fitting engine is timed on
    `graph`; in the TOP_VARIANTS fastest variants the next largest up to TOP_CANDIDATES are timed too; the
    fastest configuration wins. Channel limits are raised to what `graph` needs (ResNet-50: 2048) and line
    buffers too small for it are skipped (fq_hls.hw.fit), so the resources are those of an engine that runs it."""
    from ..hw.fit import fit_overrides

    limits = {k: v for k, v in fit_overrides(hardware_config(b, engine), graph).items() if k != "lb_words"}
    cands = [c for c in R.candidates(b, engine, units, **limits)
             if not fit_overrides(R.config_of(c, **limits), graph)]
    if not cands:
        return None
    by_var: dict = {}
    for c in cands:
        by_var.setdefault(R.variant(c), []).append(c)
    timed: list = []
    for group in by_var.values():
        cfg = R.config_of(group[0], **limits)
        timed.append((group[0], cfg, _fps(cfg, graph), group))
    timed.sort(key=lambda x: -x[2].fps)
    best = timed[0][:3]
    for _, _, _, group in timed[:TOP_VARIANTS]:
        for est in group[1:TOP_CANDIDATES]:
            cfg = R.config_of(est, **limits)
            t = _fps(cfg, graph)
            if t.fps > best[2].fps:
                best = (est, cfg, t)
    return best


def sized_report(boards: list[str] | None = None, model_path: str | None = None,
                 hw_reports: list[str] | None = None, sparsity: float = DEFAULT_SPARSITY, seed: int = 0,
                 networks: list[str] | None = None, log: Callable[[str], None] = print,
                 sweep: tuple[float, ...] | None = workloads.SWEEP_SPARSITIES,
                 ) -> tuple[dict, dict[tuple[str, str], HardwareConfig]]:
    """build_report, and the configuration the sizing search chose for each (board, engine) it sized (what
    fq_hls.hw.sized keeps when publishes_sizing says so)."""
    boards = boards or list(BOARDS)
    networks = list(NETWORKS) if networks is None else list(networks)
    for b in boards:
        if b not in BOARDS:
            raise InputError(f"--board {b!r}: unknown board; choose one of {', '.join(BOARDS)} or all")
    cmd = find_yosys()
    rep: dict = {
        "tool": "fq-hls report",
        "yosys": yosys_version(cmd) if cmd else None,
        "engines": {e: ENGINE_LABELS.get(e, e) for e in ENGINES},
        "labels": {"yosys": "netlist of the datapath from Yosys synthesis",
                   "model": "this project's analytic model (docs/cost_model.md)",
                   "vivado": "post-implementation Vivado report", "hls": "Vitis HLS synthesis estimate",
                   "published": "vendor-published figure (document, version, table named)",
                   "paper": "the FQ paper's published figure"},
    }
    log("synthesizing the datapaths with Yosys (cached by content hash)")
    pe, reason = pe_table(log)
    rep["pe"] = pe
    rep["synthesis"] = "ok" if pe is not None else f"skipped: {reason}"
    try:
        rep["table4"] = [dict(r.__dict__) for r in table4.table4()]
        rep["table4_method"] = table4.__doc__.split("\n\n")[1].replace("\n", " ")
        rep["table4_result"] = table4.__doc__.split("\n\n")[2].replace("\n", " ")
        s = table4.split()
        rep["table4_split"] = {"shift_gates": s.shift_gates, "q_path_gates": s.q_path_gates,
                               "mean_term_gates": s.mean_term_gates, "fq_gates": s.fq_gates, "evidence": "yosys"}
    except ToolMissingError as e:
        rep["table4"] = rep["table4_split"] = None
        rep["table4_method"] = f"skipped: {e}"

    log("building the workloads")
    wl = workloads.report_workloads(model_path, networks, log)
    primary = next(iter(wl))
    rep["sizing_network"] = primary
    rep["networks"] = {n: {"description": NETWORKS.get(n, "the --model network"), "source": w.source,
                           "fq_sparsity": w.fq_sparsity, "int8_sparsity": w.int8_sparsity}
                       for n, w in wl.items()}
    overrides = read_build_reports(hw_reports or [])

    rep["boards"] = {}
    sized: dict[tuple[str, str], HardwareConfig] = {}
    timed_all: dict[str, dict[str, HardwareConfig]] = {}
    for b in boards:
        info = BOARDS[b]
        entry: dict = {"part": info.part, "available": {"lut": info.luts, "ff": info.ffs, "dsp": info.dsps,
                                                         "bram36": info.bram36, "uram": info.uram}}
        units = R.UnitCosts(info.family)
        timed: dict[str, HardwareConfig] = {}  # the configuration each engine's numbers are at
        for engine in ENGINES:
            nets = {n: w.graph(engine) for n, w in wl.items() if w.graph(engine) is not None}
            if primary not in nets:
                entry[engine] = {"note": f"no {engine} model for {primary}"}
                continue
            try:
                best = _size_engine(b, engine, units, nets[primary], log)
            except ToolMissingError as err:
                # Yosys-free path: no synthesized unit costs (not even cached) -> no resource model
                cfg = hardware_config(b, engine)
                e = _unsized_entry(cfg, nets, f"resource model skipped: {err}; fps at the default configuration")
                timed[engine] = _apply_override(e, overrides.get((b, engine)), nets) or cfg
                entry[engine] = e
                log(f"  {b} {engine}: resource model skipped ({err})")
                continue
            if best is None:
                entry[engine] = {"note": "no configuration fits the board"}
                continue
            est, cfg, t = best
            fps = {n: (t if n == primary else _fps(cfg, g)) for n, g in nets.items()}
            e = _engine_entry(est, cfg, fps, info)
            built = _apply_override(e, overrides.get((b, engine)), nets)
            if built is None:
                sized[(b, engine)] = cfg
            timed[engine] = built or cfg
            entry[engine] = e
            log(f"  {b} {engine}: P={e['lanes']} V={e['pixels']} {e.get('lut')} LUT {e.get('dsp')} DSP "
                f"{e.get('bram36')} BRAM36 -> {e.get(_key(primary))} fps {primary} ({e['evidence'].get(_key(primary))})")
        entry["published"] = anchors.board_anchors(b)
        entry["roofline"] = _roofline(b, entry, wl, primary, timed)
        rep["boards"][b] = entry
        timed_all[b] = timed
    rep["sensitivity"] = _sensitivity(primary, sparsity, seed, timed_all, log)
    if sweep:
        rep["sweep"] = _sweep(primary, sweep, seed, timed_all, log)
    rep["ratios"] = _ratios(rep, primary)
    rep["targets"] = _targets(rep, primary, wl.get(primary), timed_all)
    return rep, sized


def _apply_override(e: dict, ov: dict | None, nets: dict) -> HardwareConfig | None:
    """Replace model numbers by a build folder's Vivado/HLS report (labels name the file); the built
    configuration the numbers are then at (None: no build folder for this engine)."""
    if ov is None:
        return None
    ocfg = ov["cfg"]
    run_cfg = HardwareConfig(**{**ocfg.to_dict(), "clock_mhz": ov["clock_mhz"]})
    e["model_estimate"] = {k: e.get(k) for k in ("lut", "ff", "dsp", "bram36", "uram", "lanes", "pixels")}
    for k, v in ov["resources"].items():
        if v is not None:
            e[k] = v
            e["evidence"][k] = f"{ov['label']} ({ov['source']})"
    e.update(lanes=ocfg.lanes, pixels=ocfg.pixels, clock_mhz=ov["clock_mhz"])
    e["evidence"].update(lanes=ov["label"], pixels=ov["label"], clock_mhz=ov["label"])
    e.pop("note", None)
    for n, g in nets.items():
        t = _fps(run_cfg, g)
        e[_key(n)] = round(t.fps, 2)
        e["evidence"][_key(n)] = f"{t.evidence} at the built configuration"
        e.setdefault("cycles", {})[n] = {"layers": t.layer_names, "cycles": t.cycles}
    return run_cfg


def _roofline(board: str, entry: dict, graphs: dict, net: str, timed: dict[str, HardwareConfig]) -> dict:
    """Per engine: DDR roof (sustainable bandwidth), compute roof and each conv/fc layer's point on network
    `net`. x = ops / DDR bytes the engine moves for the layer (fq_hls.hw.ddr.layer_bytes: weights as packed,
    input once per pass that streams it, output, residual); y = ops / the layer's modelled seconds, which are
    never less than its bytes over that bandwidth, so no point lies above a roof."""
    import numpy as np

    from ..hw.ddr import DDR_EFFICIENCY, layer_bytes, sustainable_gbps
    from ..hw.utilisation import nonzero_macs

    info = BOARDS[board]
    out = {"ddr_peak_gbps": info.ddr_gbps, "ddr_efficiency": DDR_EFFICIENCY, "evidence": "model", "network": net}
    for engine in ENGINES:
        e = entry.get(engine)
        if not e or "lanes" not in e or "cycles" not in e or engine not in timed:
            continue
        cfg = timed[engine]
        out["ddr_gbps"] = round(sustainable_gbps(cfg), 3)
        g = graphs[net].graph(engine)  # a cost.workloads.Workload
        cyc = dict(zip(e["cycles"][net]["layers"], e["cycles"][net]["cycles"], strict=False))
        pts = []
        for lyr, b in zip(g.layers, layer_bytes(g, cfg), strict=True):
            if getattr(lyr, "weights", None) is None or lyr.name not in cyc:
                continue
            o = tuple(g.tensors[lyr.output].shape)
            dense = lyr.out_ch * math.prod(np.shape(lyr.weights)[1:]) * o[1] * o[2]
            macs = nonzero_macs(lyr, o) if cfg.sparse else dense
            ops, secs = 2.0 * macs, cyc[lyr.name] / (cfg.clock_mhz * 1e6)
            pts.append({"layer": lyr.name, "intensity": ops / b.total, "gops": ops / secs / 1e9, "ddr_bytes": b.total})
        out[engine] = {"peak_gops": 2.0 * cfg.lanes * cfg.pixels * cfg.clock_mhz / 1e3, "layers": pts,
                       "ops": "non-zero-weight ops (2 x MACs)" if cfg.sparse else "dense ops (2 x MACs)"}
    return out


def _sensitivity(net: str, sparsity: float, seed: int, timed: dict, log) -> dict:
    """fps of every sized engine on random uniform masks at `sparsity` (not a workload: a sensitivity row)."""
    log(f"  sensitivity: random uniform masks at {sparsity:.0%} ({net})")
    w = workloads.random_uniform(net, sparsity, seed)
    rows = {b: {e: round(_fps(cfg, w.graph(e)).fps, 2) for e, cfg in t.items()} for b, t in timed.items()}
    return {"network": net, "sparsity": sparsity, "source": w.source, "fps": rows, "evidence": "model"}


def _sweep(net: str, sparsities: tuple[float, ...], seed: int, timed: dict, log) -> dict:
    """fps of every sized engine against sparsity on random uniform masks (50-95 %), with the published DPU."""
    log(f"  sparsity sweep {', '.join(f'{s:.0%}' for s in sparsities)} (random uniform masks, {net})")
    fps: dict[str, dict[str, list[float]]] = {b: {e: [] for e in t} for b, t in timed.items()}
    for s in sparsities:
        w = workloads.random_uniform(net, s, seed)
        for b, t in timed.items():
            for e, cfg in t.items():
                fps[b][e].append(round(_fps(cfg, w.graph(e)).fps, 2))
    dpu = {b: (a["fps"], a["design"]) for b in timed if (a := anchors.headline(b))}
    return {"network": net, "sparsities": list(sparsities), "fps": fps, "evidence": "model",
            "masks": "random uniform masks in every layer (fq_hls.synthetic.random_compressed, seed "
                     f"{seed}), each engine at its sized configuration",
            "published": {b: {"fps": f, "design": d, "evidence": "published"} for b, (f, d) in dpu.items()}}


def _ratios(rep: dict, net: str) -> dict:
    """Per board: FQ fps over each 8-bit engine's (model / model) and over the published DPU (model /
    published), on network `net`."""
    out = {}
    k = _key(net)
    for b, e in rep["boards"].items():
        fq = (e.get("fq") or {}).get(k)
        r: dict = {}
        for eng in ENGINES:
            v = (e.get(eng) or {}).get(k)
            if eng != "fq" and fq and v:
                r[f"fq/{eng}"] = {"value": round(fq / v, 2), "evidence": "model / model"}
        sp, dn = (e.get("int8_sparse") or {}).get(k), (e.get("int8") or {}).get(k)
        if sp and dn:  # what sparsity alone buys (same int8 MACs); fq/int8_sparse is what shift arithmetic buys
            r["int8_sparse/int8"] = {"value": round(sp / dn, 2), "evidence": "model / model"}
        a = anchors.headline(b) if net == "resnet18" else None
        if fq and a:
            r["fq/published"] = {"value": round(fq / a["fps"], 2), "evidence": "model / published",
                                 "against": a["design"]}
        out[b] = r
    return out


def _nz_utilisation(graph, cfg: HardwareConfig, cycles: list[int]) -> dict[str, float]:
    """Per conv layer (not fc): non-zero MACs done per cycle / (P x V) (fq_hls.hw.utilisation, label model)."""
    from ..hw.utilisation import layer_utilisation

    convs = {lyr.name for lyr in graph.layers if getattr(lyr, "kind", None) == "conv"}
    return {u["layer"]: u["utilisation"] for u in layer_utilisation(graph, cfg, cycles) if u["layer"] in convs}


def _targets(rep: dict, net: str, wl, timed: dict) -> list[dict]:
    """Issue 14's targets on the headline workload (every one labelled; a missed one says by how much)."""
    t = []
    pe = rep.get("pe")
    if pe and "fq_pe" in pe and "int8_mac_lut" in pe:
        r = pe["fq_pe"]["lut"] / pe["int8_mac_lut"]["lut"]
        t.append({"target": "FQ PE <= 0.5 x LUTs of the LUT-only int8 MAC (7-series)", "value": round(r, 3),
                  "met": r <= 0.5, "evidence": "yosys"})
    k = _key(net)
    dense = {b: v["fq/int8"]["value"] for b, v in rep["ratios"].items() if "fq/int8" in v}
    if dense:
        t.append({"target": f"FQ fps >= 2 x the packed 8-bit engine on every board ({net}; aim 3x)",
                  "value": dense, "met": all(v >= 2 for v in dense.values()), "evidence": "model"})
    z = rep["boards"].get("zcu104", {}).get("fq")
    if z and k in z and net == "resnet18":
        ok = z[k] >= 409.7 and (z.get("dsp") is None or z["dsp"] < 642)
        t.append({"target": "ZCU104 FQ fps >= 409.7 (published DPU, 2 x B4096) with < 642 DSPs",
                  "value": {"fps": z[k], "dsp": z.get("dsp"), "fps / published": round(z[k] / 409.7, 2)},
                  "met": ok, "evidence": f"{z['evidence'].get(k, 'model')} / published"})
    cfg = timed.get("zcu104", {}).get("fq")
    if z and cfg is not None and wl is not None and wl.fq is not None and "cycles" in z:
        u = _nz_utilisation(wl.fq, cfg, z["cycles"][net]["cycles"])
        if u:
            low = min(u, key=u.get)
            t.append({"target": f"every conv layer of {net} >= 60 % non-zero utilisation on ZCU104 (aim 80 %)",
                      "value": {"lowest": low, "utilisation": round(u[low], 3),
                                "layers_below_60": sorted(n for n, v in u.items() if v < 0.6)},
                      "met": u[low] >= 0.6, "evidence": "model"})
    return t


# ------------------------------------------------------------------------------------------- rendering


def _v(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        return f"{x:,.1f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _uram(d: dict, avail: int) -> str:
    return "n/a" if not avail else _v(d.get("uram"))


def markdown(rep: dict) -> str:
    net = rep.get("sizing_network", "resnet18")
    k = _key(net)
    L = ["# FQ engine against the 8-bit engines: resources and throughput", ""]
    L.append("Evidence labels: " + "; ".join(f"`{a}` = {b}" for a, b in rep["labels"].items()) + ".")
    L.append("")
    L.append(f"Yosys: {rep['yosys'] or 'not found'}; synthesis {rep['synthesis']}.")
    L += ["", "## Workloads", ""]
    L.append("Every fps in this report names its workload: the rows below unless a line says otherwise.")
    L.append("")
    for n, d in rep["networks"].items():
        L.append(f"* `{n}` ({d['description']}): {d['source']}")
    L += ["", "## Datapaths (one PE lane), label `yosys`", ""]
    if rep["pe"]:
        L.append("| datapath | LUT xc7 | FF xc7 | CARRY4 | DSP48E1 | LUT xcup | FF xcup | CARRY8 | DSP48E2 | gates |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in rep["pe"].items():
            L.append(f"| {name} | {r['lut']} | {r['ff']} | {r['carry']} | {r['dsp']} | {r['lut_xcup']} | "
                     f"{r['ff_xcup']} | {r['carry_xcup']} | {r['dsp_xcup']} | {r['gates']} |")
        L.append("")
        L.append("gates: 2-input cells of `abc -g` (XOR/XNOR = 1, MUX = 3, NOT = 0), flip-flops excluded.")
    else:
        L.append(f"PE numbers absent: {rep['synthesis']}.")
    L += ["", "## Table 4 replica", ""]
    if rep["table4"]:
        L.append(table4.format_table([table4.Table4Row(**r) for r in rep["table4"]]))
        if rep.get("table4_split"):
            L += ["", table4.format_split(table4.Split(**{x: rep["table4_split"][x] for x in
                                                           ("shift_gates", "q_path_gates", "fq_gates")}))]
    else:
        L.append(rep["table4_method"])
    L += ["", f"## Engines per board (sized on `{net}`)", ""]
    L.append("Resources: `model` (yosys datapath numbers + the memories the source declares + control/AXI "
             "constants) unless the label says `vivado`/`hls`. fps: cycles of `fq_hls.hw.cycles` at the "
             "configured clock (`model`), on the workloads above. MACs/DSP: multiply-accumulates per DSP slice "
             "per cycle in the PEs. URAM: n/a where the board has none.")
    L.append("")
    nets = list(rep["networks"])
    L.append("| board | engine | P x V | MHz | MACs/DSP | LUT | FF | DSP | BRAM36 | URAM | "
             + " | ".join(f"fps {n}" for n in nets) + " | labels |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(nets) + "---|")
    for b, e in rep["boards"].items():
        avail = e["available"]["uram"]
        for engine in ENGINES:
            d = e.get(engine) or {}
            labels = sorted(set((d.get("evidence") or {}).values()))
            L.append(f"| {b} | {engine} | {d.get('lanes')} x {d.get('pixels')} | {_v(d.get('clock_mhz'))} | "
                     f"{_v(d.get('macs_per_dsp'))} | {_v(d.get('lut'))} | {_v(d.get('ff'))} | {_v(d.get('dsp'))} | "
                     f"{_v(d.get('bram36'))} | {_uram(d, avail)} | "
                     + " | ".join(_v(d.get(_key(n))) for n in nets) + f" | {', '.join(labels)} |")
    L += ["", "## Published anchors (label `published`)", ""]
    L.append("Vendor figures measured on boards with dense 8-bit models; every ratio to a modelled fps above says "
             "`model / published`.")
    L.append("")
    L.append("| board | design | fps (multi / single thread) | MHz | LUT | FF | DSP | BRAM36 | FQ fps / published | source |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    for b, e in rep["boards"].items():
        for a in e.get("published") or []:
            r = a.get("resources") or {}
            fq = (e.get("fq") or {}).get(k)
            ratio = (f"{fq / a['fps']:.2f} (model / published)" if fq and a.get("fps") and a.get("network") == net
                     else "-")
            fps = _v(a.get("fps")) + (f" / {_v(a['fps_single_thread'])}" if a.get("fps_single_thread") else "")
            L.append(f"| {b} | {a['design']} | {fps} | {_v(a.get('clock_mhz'))} | {_v(r.get('lut'))} | "
                     f"{_v(r.get('ff'))} | {_v(r.get('dsp'))} | {_v(r.get('bram36'))} | {ratio} | {a['source']} |")
    L += ["", f"## FQ against the 8-bit engines on `{net}`", ""]
    L.append("fq/int8: FQ against the packed dense 8-bit engine; int8_sparse/int8: what sparsity alone buys (same "
             "int8 MACs); fq/int8_sparse: what shift arithmetic buys on the same sparse stream.")
    L.append("")
    for b, r in rep.get("ratios", {}).items():
        parts = [f"{name} {v['value']:.2f}x ({v['evidence']})" for name, v in r.items()]
        L.append(f"* {b}: " + ("; ".join(parts) if parts else "-"))
    sens = rep.get("sensitivity")
    if sens:
        L += ["", f"## Sensitivity: random uniform masks at {sens['sparsity']:.0%} (not a workload)", ""]
        L.append(f"{sens['source']}; each engine at its sized configuration, fps {sens['network']} (model).")
        L.append("")
        L.append("| board | " + " | ".join(ENGINES) + " |")
        L.append("|---|" + "---:|" * len(ENGINES))
        for b, row in sens["fps"].items():
            L.append(f"| {b} | " + " | ".join(_v(row.get(e)) for e in ENGINES) + " |")
    sw = rep.get("sweep")
    if sw:
        L += ["", f"## Sparsity sweep ({sw['network']}, {sw['masks']}; fps, model)", ""]
        L.append("| board | engine | " + " | ".join(f"{s:.0%}" for s in sw["sparsities"]) + " |")
        L.append("|---|---|" + "---:|" * len(sw["sparsities"]))
        for b, rows in sw["fps"].items():
            for e, vals in rows.items():
                L.append(f"| {b} | {e} | " + " | ".join(_v(v) for v in vals) + " |")
            p = sw["published"].get(b)
            if p:
                L.append(f"| {b} | {p['design']} (published, dense) | "
                         + " | ".join(_v(p["fps"]) for _ in sw["sparsities"]) + " |")
    L += ["", "## Targets", ""]
    for t in rep["targets"]:
        L.append(f"* {t['target']}: {t['value']} -> **{'met' if t['met'] else 'not met'}** ({t['evidence']})")
    L.append("")
    return "\n".join(L)


def write_report(rep: dict, outdir: str | Path, plots: bool = True) -> list[Path]:
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FQError(f"{out}: cannot create the report folder ({e})") from e
    files = [out / "report.json", out / "report.md"]
    files[0].write_text(json.dumps(rep, indent=1, default=_json_default))
    files[1].write_text(markdown(rep))
    if plots:
        from .plots import write_plots

        files += write_plots(rep, out)
    return files


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
