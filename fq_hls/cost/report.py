"""The resources-and-throughput report: FQ engine against the 8-bit engine on every board.

`build_report()` returns a JSON-ready dict; `markdown()` renders it; `write_report()` writes report.md,
report.json and the PNG plots. Every number carries its evidence label (docs/DEVELOPING.md): "yosys" for
synthesized datapaths, "model" for this project's analytic model (resources built on yosys numbers; cycles
from fq_hls.hw.cycles), "vivado"/"hls" where a build folder's parsed reports replace the model, "published"
for the vendor figures of DESIGN.md's reference anchors, "paper" for the FQ paper's own figures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from ..errors import FQError, InputError, ToolMissingError
from ..hw.config import BOARDS, HardwareConfig, hardware_config
from . import resources as R
from . import rtl, table4, throughput
from .yosys import FLOWS, find_yosys, synthesize, yosys_version

DEFAULT_SPARSITY = 0.9
NETWORKS = {"resnet18": "ResNet-18, 224x224 ImageNet", "resnet18-cifar": "ResNet-18, 32x32 CIFAR"}
TOP_CANDIDATES = 6  # fitting (P, V) with the largest P * V (per line-buffer variant) whose fps the cycle model evaluates

# DESIGN.md "Reference anchors" (label "published"): 8-bit Vitis AI DPU and hls4ml figures.
PUBLISHED = {
    "zcu104": {"design": "Vitis AI DPU 2 x B4096 @ 300 MHz (8-bit)", "fps_resnet18": 409.7,
               "fps_resnet18_single_thread": 189.7, "clock_mhz": 300.0,
               "per_core": {"lut": 40865, "ff": 92630, "bram36": 249.5, "dsp": 642}, "cores": 2},
    "ultra96v2": {"design": "Vitis AI DPU 1 x B1600 @ 287 MHz (8-bit)", "fps_resnet18": 77.8,
                  "fps_resnet18_single_thread": 74.2, "clock_mhz": 287.0,
                  "per_core": {"lut": 30877, "ff": 56267, "bram36": 123, "dsp": 282}, "cores": 1},
    "pynq-z2": {"design": "hls4ml RN07 CIFAR ResNet, 8-bit weights (MLPerf Tiny v0.7)",
                "fps_small_cifar_resnet": 130.8},
}
PUBLISHED_SOURCE = "Xilinx Vitis AI model zoo / PG338 (DPU), MLPerf Tiny v0.7 (hls4ml)"


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
    """Integer graphs per network and engine: {net: {"fq": graph, "int8": graph}}, and their provenance.

    The FQ graph of a network is the --model's when its arch matches, else a random fq5 model at `sparsity`;
    the 8-bit engine runs a random dense int8 model of the same network (its cycles do not depend on values).
    """
    from ..archs import ARCHS
    from ..lower import lower
    from ..synthetic import random_compressed

    graphs: dict[str, dict] = {}
    source: dict[str, str] = {}
    user = None
    nets = list(networks)
    if model_path:
        from ..fqz import read_fqz

        path = Path(model_path)
        if not path.is_file():
            raise InputError(f"{path}: no such model file")
        cm = read_fqz(path)
        user = (cm.arch, lower(cm), cm)
        if cm.arch not in nets:
            nets.append(cm.arch)
    for net in nets:
        if net not in ARCHS:
            raise InputError(f"network {net!r}: unknown; known: {', '.join(ARCHS)}")
        if user is not None and user[0] == net:
            fq_graph = user[1]
            source[net] = f"{model_path} ({user[2].method}, sparsity {user[2].sparsity():.1%})"
        else:
            log(f"  building a random FQ {net} at {sparsity:.0%} sparsity (no --model for it)")
            fq_graph = lower(random_compressed(net, "fq5", sparsity, seed=seed))
            source[net] = (f"random fq5 {net} at {sparsity:.0%} sparsity (fq_hls.synthetic.random_compressed, "
                           f"seed {seed}); no --model given for it")
        graphs[net] = {"fq": fq_graph, "int8": lower(random_compressed(net, "int8", 0.0, seed=seed))}
    return graphs, source


def _fps(cfg: HardwareConfig, graph) -> throughput.Throughput:
    return throughput.network_throughput(cfg, throughput.shapes_from_graph(graph), graph)


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
            cfg = HardwareConfig(**json.loads(manifest.read_text())["hardware"])
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


def _engine_entry(est: R.EngineEstimate, fps: dict[str, throughput.Throughput], info) -> dict:
    d = est.to_dict()
    d.pop("carry", None)
    for net, t in fps.items():
        key = "fps_" + net.replace("-", "_")
        d[key] = round(t.fps, 2)
        d["evidence"][key] = t.evidence
        d.setdefault("cycles", {})[net] = {"layers": t.layer_names, "cycles": t.cycles}
        d.setdefault("gops", {})[net] = round(t.gops, 2)
    d["evidence"].update({"clock_mhz": "model", "lanes": "model", "pixels": "model"})
    u = est.utilisation(info)
    d["utilisation"] = {k: (round(v, 4) if math.isfinite(v) else None) for k, v in u.items()}
    return d


def _unsized_entry(cfg: HardwareConfig, nets: dict, note: str, which: str = "default config") -> dict:
    """An entry without the resource model (no Yosys, not even cached unit costs): fps at `cfg` only."""
    e = {"lanes": cfg.lanes, "pixels": cfg.pixels, "clock_mhz": cfg.clock_mhz, "note": note,
         "evidence": {"lanes": f"model ({which})", "pixels": f"model ({which})"}}
    for n, g in nets.items():
        t = _fps(cfg, g)
        e["fps_" + n.replace("-", "_")] = round(t.fps, 2)
        e["evidence"]["fps_" + n.replace("-", "_")] = t.evidence
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
    return _engine_entry(est, {n: _fps(cfg, g) for n, g in nets.items()}, info)


def publishes_sizing(model_path: str | None, hw_reports: list[str] | None, sparsity: float, seed: int,
                     networks: list[str] | None) -> bool:
    """Whether a report with these inputs runs the default sizing, the one fq_hls.hw.sized keeps."""
    return (model_path is None and not hw_reports and sparsity == DEFAULT_SPARSITY and seed == 0
            and networks is None)


def build_report(boards: list[str] | None = None, model_path: str | None = None,
                 hw_reports: list[str] | None = None, sparsity: float = DEFAULT_SPARSITY, seed: int = 0,
                 networks: list[str] | None = None, log: Callable[[str], None] = print) -> dict:
    """The whole report. `networks` defaults to both ResNet-18s; the --model's network is always added.
    Engines are sized on the first network (ResNet-18 224 by default)."""
    return sized_report(boards, model_path, hw_reports, sparsity, seed, networks, log)[0]


def sized_report(boards: list[str] | None = None, model_path: str | None = None,
                 hw_reports: list[str] | None = None, sparsity: float = DEFAULT_SPARSITY, seed: int = 0,
                 networks: list[str] | None = None, log: Callable[[str], None] = print,
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
        "labels": {"yosys": "netlist of the datapath from Yosys synthesis",
                   "model": "this project's analytic model (docs/cost_model.md)",
                   "vivado": "post-implementation Vivado report", "hls": "Vitis HLS synthesis estimate",
                   "published": "vendor-published figure", "paper": "the FQ paper's published figure"},
    }
    log("synthesizing the datapaths with Yosys (cached by content hash)")
    pe, reason = pe_table(log)
    rep["pe"] = pe
    rep["synthesis"] = "ok" if pe is not None else f"skipped: {reason}"
    try:
        rep["table4"] = [dict(r.__dict__) for r in table4.table4()]
        rep["table4_method"] = table4.__doc__.split("\n\n")[1].replace("\n", " ")
    except ToolMissingError as e:
        rep["table4"] = None
        rep["table4_method"] = f"skipped: {e}"

    log("building the integer networks")
    graphs, sources = network_graphs(model_path, sparsity, seed, networks, log)
    primary = next(iter(graphs))
    rep["sizing_network"] = primary
    rep["networks"] = {n: {"description": NETWORKS.get(n, "the --model network"), "source": s}
                       for n, s in sources.items()}
    rep["default_sparsity_note"] = (None if model_path else
                                    f"no --model: FQ networks are random fq5 models at the default "
                                    f"{sparsity:.0%} sparsity")
    band = max(R.band_bytes(throughput.shapes_from_graph(g["fq"])) for g in graphs.values())
    rep["line_buffer_band_bytes"] = band
    overrides = read_build_reports(hw_reports or [])

    rep["boards"] = {}
    sized: dict[tuple[str, str], HardwareConfig] = {}
    for b in boards:
        info = BOARDS[b]
        entry: dict = {"part": info.part, "available": {"lut": info.luts, "ff": info.ffs, "dsp": info.dsps,
                                                         "bram36": info.bram36, "uram": info.uram}}
        units = R.UnitCosts(info.family)
        timed: dict[str, HardwareConfig] = {}  # the configuration each engine's numbers are at
        for engine in ("fq", "int8"):
            nets = {n: g[engine] for n, g in graphs.items() if g[engine] is not None}
            try:
                cands = R.candidates(b, engine, units)
            except ToolMissingError as err:
                # Yosys-free path: no synthesized unit costs (not even cached) -> no resource model
                cfg = hardware_config(b, engine)
                e = _unsized_entry(cfg, nets, f"resource model skipped: {err}; fps at the default configuration")
                timed[engine] = _apply_override(e, overrides.get((b, engine)), nets) or cfg
                entry[engine] = e
                log(f"  {b} {engine}: resource model skipped ({err})")
                continue
            if not cands:
                entry[engine] = {"note": "no configuration fits the board"}
                continue
            best = None
            # the largest fitting sizes of each line-buffer variant (resources.variant: fill beside compute or
            # not, input ports, URAM or BRAM, default or deeper)
            top = [e for var in dict.fromkeys(R.variant(c) for c in cands)
                   for e in [c for c in cands if R.variant(c) == var][:TOP_CANDIDATES]]
            for est in top:
                t = _fps(R.config_of(est), graphs[primary][engine])
                if best is None or t.fps > best[1].fps:
                    best = (est, t)
            est = best[0]
            cfg = R.config_of(est)
            fps = {n: (best[1] if n == primary else _fps(cfg, g)) for n, g in nets.items()}
            e = _engine_entry(est, fps, info)
            built = _apply_override(e, overrides.get((b, engine)), nets)
            if built is None:
                sized[(b, engine)] = cfg
            timed[engine] = built or cfg
            entry[engine] = e
            log(f"  {b} {engine}: P={e['lanes']} V={e['pixels']} {e.get('lut')} LUT {e.get('dsp')} DSP "
                f"{e.get('bram36')} BRAM36 -> {e.get('fps_resnet18')} fps ResNet-18 ({e['evidence'].get('fps_resnet18')})")
        if b in PUBLISHED:
            entry["published"] = {**PUBLISHED[b], "evidence": "published", "source": PUBLISHED_SOURCE}
        entry["roofline"] = _roofline(b, entry, graphs, primary, timed)
        rep["boards"][b] = entry
    rep["targets"] = _targets(rep)
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
        key = "fps_" + n.replace("-", "_")
        e[key] = round(t.fps, 2)
        e["evidence"][key] = f"{t.evidence} at the built configuration"
        e.setdefault("cycles", {})[n] = {"layers": t.layer_names, "cycles": t.cycles}
    return run_cfg


def _roofline(board: str, entry: dict, graphs: dict, net: str, timed: dict[str, HardwareConfig]) -> dict:
    """Per engine: DDR ceiling, compute peak (executed ops) and each layer's point on network `net`."""
    info = BOARDS[board]
    out = {"ddr_gbps": info.ddr_gbps, "evidence": "model", "network": net}
    for engine in ("fq", "int8"):
        e = entry.get(engine)
        if not e or "lanes" not in e or "cycles" not in e:
            continue
        cfg = timed[engine]
        shapes = throughput.shapes_from_graph(graphs[net][engine])
        cyc = dict(zip(e["cycles"][net]["layers"], e["cycles"][net]["cycles"], strict=False))
        pts = []
        for s in shapes:
            if s.kind not in ("conv", "fc") or s.name not in cyc:
                continue
            macs = int(s.nnz.sum()) * s.out_h * s.out_w if (engine == "fq" and s.nnz is not None) else s.macs
            ops, nbytes = 2.0 * macs, throughput.layer_bytes(s, cfg)
            secs = cyc[s.name] / (cfg.clock_mhz * 1e6)
            pts.append({"layer": s.name, "intensity": ops / nbytes, "gops": ops / secs / 1e9})
        out[engine] = {"peak_gops": 2.0 * cfg.lanes * cfg.pixels * cfg.clock_mhz / 1e3, "layers": pts,
                       "ops": "executed (non-zero) ops" if engine == "fq" else "dense ops"}
    return out


def _targets(rep: dict) -> list[dict]:
    t = []
    pe = rep.get("pe")
    if pe:
        r = pe["fq_pe"]["lut"] / pe["int8_mac_lut"]["lut"]
        t.append({"target": "FQ PE <= 0.5 x LUTs of the LUT-only int8 MAC (7-series)", "value": round(r, 3),
                  "met": r <= 0.5, "evidence": "yosys"})
        g = pe["fq_pe"]["gates"] / pe["shift_pe"]["gates"] - 1
        t.append({"target": "FQ PE gate count within 5 % of the pure shift PE", "value": f"{g:+.1%}",
                  "met": abs(g) <= 0.05, "evidence": "yosys"})
    boards = rep["boards"]
    ratios = {}
    for b, e in boards.items():
        f, i = e.get("fq", {}).get("fps_resnet18"), e.get("int8", {}).get("fps_resnet18")
        if f and i:
            ratios[b] = round(f / i, 2)
    if ratios:
        t.append({"target": "FQ ResNet-18 (224) fps >= 3 x the 8-bit engine on every board", "value": ratios,
                  "met": all(v >= 3 for v in ratios.values()), "evidence": "model"})
    z = boards.get("zcu104", {}).get("fq")
    if z and "fps_resnet18" in z:
        ok = z["fps_resnet18"] >= 409.7 and (z.get("dsp") is None or z["dsp"] < 642)
        t.append({"target": "ZCU104 FQ fps >= 409.7 (published DPU) with < 642 DSPs",
                  "value": {"fps": z["fps_resnet18"], "dsp": z.get("dsp")}, "met": ok,
                  "evidence": z["evidence"].get("fps_resnet18", "model")})
    return t


# ------------------------------------------------------------------------------------------- rendering


def _v(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.1f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def markdown(rep: dict) -> str:
    L = ["# FQ engine against the 8-bit engine: resources and throughput", ""]
    L.append("Evidence labels: " + "; ".join(f"`{k}` = {v}" for k, v in rep["labels"].items()) + ".")
    L.append("")
    L.append(f"Yosys: {rep['yosys'] or 'not found'}; synthesis {rep['synthesis']}.")
    if rep.get("default_sparsity_note"):
        L.append("")
        L.append(f"**Note:** {rep['default_sparsity_note']}.")
    L += ["", "## Networks", ""]
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
        fq = rep["pe"].get("fq_pe", {}).get("params", {})
        L.append("gates: 2-input cells of `abc -g` (XOR/XNOR = 1, MUX = 3, NOT = 0), flip-flops excluded. "
                 f"Widths (the engine's, `HardwareConfig` defaults): {fq.get('act_bits')}-bit signed activation, "
                 f"{fq.get('exp_bits')}-bit exponent, q-accumulator {fq.get('acc_bits')} bits (shift PE the "
                 f"same), one mean accumulator {fq.get('cacc_bits')} bits with a {fq.get('delta_bits')}-bit "
                 "per-layer input shift; int8 MACs as wide as 128 * 255 * max_nnz_per_lane needs.")
    else:
        L.append(f"PE numbers absent: {rep['synthesis']}.")
    L += ["", "## Table 4 replica", ""]
    if rep["table4"]:
        L.append(table4.format_table([table4.Table4Row(**r) for r in rep["table4"]]))
    else:
        L.append(rep["table4_method"])
    L += ["", "## Engines per board", ""]
    L.append("Resources: `model` (yosys datapath numbers + BRAM geometry + control/AXI constants) unless the "
             "label says `vivado`/`hls`. fps: cycles of `fq_hls.hw.cycles` at the configured clock (`model`).")
    L.append("")
    L.append("| board | engine | P x V | MHz | LUT | FF | DSP | BRAM36 | URAM | fps ResNet-18 | fps CIFAR ResNet-18 | labels |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for b, e in rep["boards"].items():
        for engine in ("fq", "int8"):
            d = e.get(engine) or {}
            labels = sorted(set((d.get("evidence") or {}).values()))
            L.append(f"| {b} | {engine} | {d.get('lanes')} x {d.get('pixels')} | {_v(d.get('clock_mhz'))} | "
                     f"{_v(d.get('lut'))} | {_v(d.get('ff'))} | {_v(d.get('dsp'))} | {_v(d.get('bram36'))} | "
                     f"{_v(d.get('uram'))} | {_v(d.get('fps_resnet18'))} | {_v(d.get('fps_resnet18_cifar'))} | "
                     f"{', '.join(labels)} |")
        p = e.get("published")
        if p:
            pc = p.get("per_core", {})
            n = p.get("cores", 1)
            L.append(f"| {b} | {p['design']} | - | {_v(p.get('clock_mhz'))} | "
                     f"{_v(pc.get('lut', 0) * n or None)} | {_v(pc.get('ff', 0) * n or None)} | "
                     f"{_v(pc.get('dsp', 0) * n or None)} | {_v(pc.get('bram36', 0) * n or None)} | - | "
                     f"{_v(p.get('fps_resnet18'))} | "
                     f"{_v(p.get('fps_small_cifar_resnet')) + ' (RN07)' if 'fps_small_cifar_resnet' in p else '-'} | "
                     "published |")
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
