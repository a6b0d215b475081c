"""Per-layer non-zero utilisation of the sized FQ engines and what holds the low layers back (issue 14, items
5 and 8). Evidence label: `model` (fq_hls.hw.cycles, whose schedule equals the C-simulation's FQ_CYCLES, plus
the DDR bound of fq_hls.hw.ddr). Workload: the embedded ResNet-18 224x224 on trained weights at 74.86 %
sparsity (fq_hls/data/resnet18_dns7486_fq5.fqz, bench/make_workload.py).

For every board's sized FQ engine (fq_hls.hw.sized) it prints each conv/fc layer's utilisation (non-zero
MACs per cycle / (P x V)) and its factors (fq_hls.hw.utilisation), the DDR traffic against the board's
sustainable bandwidth, and for ZCU104 a set of what-ifs, each changing one thing of the sized engine:

    plan: dealt   the pass plan before this change (channels dealt over the fewest passes, no head split)
    fill_overlap  line-buffer fill beside compute
    P=32 / P=64   lane counts that divide every ResNet-18 channel count
    V=8, P x 2    the same PE count with a narrower tile (7x7 and 14x14 maps)
    axi 256       256-bit m_axi ports (weights, activations)

    .venv/bin/python bench/efficiency.py [--model M.fqz] [--boards zcu104 ...]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import command_line, machine_info, write_results  # noqa: E402

from fq_hls.hw import cycles as C  # noqa: E402
from fq_hls.hw import streams  # noqa: E402
from fq_hls.hw.ddr import bytes_per_cycle, layer_bytes, sustainable_gbps  # noqa: E402
from fq_hls.hw.utilisation import FACTORS, layer_utilisation  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "fq_hls" / "data" / "resnet18_dns7486_fq5.fqz"


def _dealt(lengths, lanes, capacity, max_j, name="layer"):
    """The pass plan before this change: channels sorted longest first, dealt round-robin over the fewest
    passes whose greedy LPT fits (kept here only to measure the change)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = [int(c) for c in np.argsort(-lengths, kind="stable")]
    n_pass = max(1, -(-int(lengths.sum()) // (lanes * capacity)), -(-len(lengths) // (lanes * max_j)))
    while True:
        passes = [streams._lpt([(c, int(lengths[c])) for c in order[g::n_pass]], lanes, capacity, max_j)
                  for g in range(n_pass)]
        if all(p is not None for p in passes):
            return [passes]
        n_pass += 1


def with_dealt_plan(fn):
    old = C.plan_candidates
    C.plan_candidates = _dealt  # the cycle model (and so the program) picks among these candidates
    try:
        return fn()
    finally:
        C.plan_candidates = old


def roofline_bytes(graph, cfg) -> dict:
    """The old roofline's bytes (cost.throughput.layer_bytes: input once per group of P output channels)
    against the bytes the engine moves (hw.ddr), as GB/s over each layer's modelled time: the largest."""
    from fq_hls.cost.throughput import layer_bytes as old_bytes
    from fq_hls.cost.throughput import shapes_from_graph

    cyc = dict(zip([lyr.name for lyr in graph.layers], C.estimate_graph(graph, cfg), strict=True))
    new = dict(zip([lyr.name for lyr in graph.layers], layer_bytes(graph, cfg), strict=True))
    old_gbps, new_gbps = [], []
    for sh in shapes_from_graph(graph):
        if sh.kind not in ("conv", "fc"):
            continue
        secs = cyc[sh.name] / (cfg.clock_mhz * 1e6)
        old_gbps.append((old_bytes(sh, cfg) / secs / 1e9, sh.name))
        new_gbps.append((new[sh.name].total / secs / 1e9, sh.name))
    o, n = max(old_gbps), max(new_gbps)
    return {"old_max_gbps": round(o[0], 2), "old_layer": o[1], "engine_max_gbps": round(n[0], 2),
            "engine_layer": n[1], "sustained_gbps": sustainable_gbps(cfg), "peak_gbps": cfg.info.ddr_gbps}


def summary(graph, cfg) -> dict:
    cyc = C.estimate_graph(graph, cfg)
    sched = C.schedule_graph(graph, cfg)
    rows = layer_utilisation(graph, cfg, cyc)
    util = [r["utilisation"] for r in rows if r["layer"] != "fc"]  # fc: one output pixel, 1 / V at best
    byts = layer_bytes(graph, cfg)
    ddr_use = [b.total / (c * bytes_per_cycle(cfg)) for b, c in zip(byts, cyc, strict=True) if c]
    return {
        "config": {k: getattr(cfg, k) for k in ("lanes", "pixels", "clock_mhz", "axi_bits", "fill_overlap",
                                                 "in_ports", "lb_uram")},
        "fps": cfg.clock_mhz * 1e6 / sum(cyc),
        "fps_schedule_only": cfg.clock_mhz * 1e6 / sum(sched),
        "conv_cycles": sum(r["cycles"] for r in rows),
        "min_utilisation": min(util),
        "weighted_utilisation": sum(r["nonzero_macs"] for r in rows) / (sum(r["cycles"] for r in rows)
                                                                          * cfg.lanes * cfg.pixels),
        "layers_below_60": [r["layer"] for r in rows if r["utilisation"] < 0.6 and r["layer"] != "fc"],
        "ddr_gbps_sustained": sustainable_gbps(cfg),
        "ddr_max_share": max(ddr_use),
        "ddr_bound_layers": [lyr.name for lyr, c, s in zip(graph.layers, cyc, sched, strict=True) if c > s],
        "layers": rows,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--boards", nargs="+", default=["pynq-z2", "zcu104", "ultra96v2", "kv260"])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()

    from fq_hls.fqz import read_fqz
    from fq_hls.hw.sized import sized_config
    from fq_hls.lower import lower

    graph = lower(read_fqz(args.model))
    res: dict = {"workload": f"{Path(args.model).name} (ResNet-18 224, trained weights, 74.86 % sparse, fq5)",
                 "evidence": "model", "boards": {}, "whatif_zcu104": {}}
    for b in args.boards:
        cfg = sized_config(b, "fq")
        res["boards"][b] = summary(graph, cfg)
        s = res["boards"][b]
        s["roofline_bytes"] = roofline_bytes(graph, cfg)
        s["plan_before"] = with_dealt_plan(lambda cfg=cfg: summary(graph, cfg))
        s["plan_before"].pop("layers")
        print(f"{b}: P={cfg.lanes} V={cfg.pixels}: {s['fps']:.1f} fps, conv utilisation min "
              f"{s['min_utilisation']:.1%} weighted {s['weighted_utilisation']:.1%}, DDR share max "
              f"{s['ddr_max_share']:.1%}", flush=True)
    base = sized_config("zcu104", "fq")
    whatif = {
        "sized": base,
        "fill_overlap": replace(base, fill_overlap=not base.fill_overlap),
        "P=32": replace(base, lanes=32),
        "P=64": replace(base, lanes=64),
        "V=8, P x 2": replace(base, pixels=8, lanes=2 * base.lanes),
        "axi 256": replace(base, axi_bits=256),
    }
    for name, cfg in whatif.items():
        res["whatif_zcu104"][name] = summary(graph, cfg)
    res["whatif_zcu104"]["plan: dealt (before)"] = with_dealt_plan(lambda: summary(graph, base))
    for name, s in res["whatif_zcu104"].items():
        print(f"  zcu104 {name:22s} P={s['config']['lanes']} V={s['config']['pixels']}: {s['fps']:.1f} fps, "
              f"min {s['min_utilisation']:.1%}, weighted {s['weighted_utilisation']:.1%}, below 60 %: "
              f"{len(s['layers_below_60'])}", flush=True)
    res["command"] = command_line()
    res["machine"] = machine_info(torch_too=False)
    write_results(args.out, "efficiency", res, markdown(res))
    return 0


def markdown(res: dict) -> str:
    L = [f"# Non-zero utilisation per layer (model), workload {res['workload']}", ""]
    L.append("utilisation = non-zero MACs / (cycles x P x V); factors multiply to it (fq_hls.hw.utilisation): "
             + ", ".join(FACTORS) + ".")
    for b, s in res["boards"].items():
        c = s["config"]
        L += ["", f"## {b}: sized FQ engine P={c['lanes']} V={c['pixels']} {c['clock_mhz']:.0f} MHz "
              f"(fill_overlap {c['fill_overlap']}, URAM {c['lb_uram']})", "",
              f"{s['fps']:.1f} fps (model, DDR bound included; schedule alone {s['fps_schedule_only']:.1f}); "
              f"sustained DDR {s['ddr_gbps_sustained']:.2f} GB/s, busiest layer uses "
              f"{s['ddr_max_share']:.1%} of it; DDR-bound layers: {s['ddr_bound_layers'] or 'none'}. "
              f"Old roofline bytes over the modelled time: up to {s['roofline_bytes']['old_max_gbps']} GB/s "
              f"({s['roofline_bytes']['old_layer']}); the bytes the engine moves: up to "
              f"{s['roofline_bytes']['engine_max_gbps']} GB/s ({s['roofline_bytes']['engine_layer']}); peak "
              f"{s['roofline_bytes']['peak_gbps']} GB/s. Pass plan before this change: "
              f"{s['plan_before']['fps']:.1f} fps, min conv utilisation {s['plan_before']['min_utilisation']:.1%}.",
              "",
              "| layer | cycles | utilisation | " + " | ".join(FACTORS) + " |",
              "|---|---:|---:|" + "---:|" * len(FACTORS)]
        for r in s["layers"]:
            f = r["factors"]
            L.append(f"| {r['layer']} | {r['cycles']:,} | {r['utilisation']:.1%} | "
                     + " | ".join(f"{f[k]:.2f}" for k in FACTORS) + " |")
    L += ["", "## ZCU104 what-ifs (one change each to the sized engine; model)", "",
          "| variant | P x V | fps | min conv utilisation (fc excluded) | weighted (all) | conv layers < 60 % |",
          "|---|---|---:|---:|---:|---:|"]
    for name, s in res["whatif_zcu104"].items():
        c = s["config"]
        L.append(f"| {name} | {c['lanes']} x {c['pixels']} | {s['fps']:.1f} | {s['min_utilisation']:.1%} | "
                 f"{s['weighted_utilisation']:.1%} | {len(s['layers_below_60'])} |")
    L += ["", "All numbers are the model's (evidence `model`), not timings of the machine below (2-core VM, no GPU)."]
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
