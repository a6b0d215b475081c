"""AXI beats per pipelined iteration of the synthesized path, per loop and m_axi bundle (label `csim`: the
port-budget check build, fq_hls.csim build_library(port_check=True)).

The cycle model charges one fill beat per cycle in the load stage and one packet per cycle in the store stage;
each needs at most one AXI beat per bundle and cycle for that. The engine's load and store read and write
bytes (docs/engine.md "Known limits"), so this measures how often one iteration touches more beats than
that, on each board's sized engine (fq_hls.hw.sized) over four small layers: a 3x3 conv with a max
pool, a 3x3 stride-2 conv, a residual conv and a 1x1 stride-2 conv (random weights, 60 % sparse).

    python bench/axi_beats.py -o bench/results
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYERS = {  # name: random_conv_graph keyword arguments
    "3x3 conv": dict(in_ch=4, out_ch=11, h=11, w=29, kernel=3, stride=1, pad=1),
    "3x3 stride 2": dict(in_ch=6, out_ch=9, h=13, w=11, kernel=3, stride=2, pad=1, in_signed=True),
    "residual 3x3": dict(in_ch=8, out_ch=12, h=6, w=9, residual=True, res_signed=True),
    "1x1 stride 2": dict(in_ch=16, out_ch=20, h=8, w=7, kernel=1, stride=2, pad=0),
}


def run_layers(cfg) -> dict:
    """Beats per iteration of every (loop, bundle), summed over LAYERS."""
    from fq_hls.csim.kernel import load_kernel
    from fq_hls.hw.program import build_program
    from fq_hls.synthetic import random_conv_graph

    k = load_kernel(cfg, port_check=True)
    k.port_report(reset=True)
    rng = np.random.default_rng(0)
    method = "fq5" if cfg.engine == "fq" else "int8"
    for kw in LAYERS.values():
        g = random_conv_graph(method=method, sparsity=0.6, seed=2, **kw)
        prog = build_program(g, cfg)
        act = prog.new_act()
        info = g.tensors[g.input]
        lo, hi = (-128, 128) if info.signed else (0, 256)
        prog.write_input(act, rng.integers(lo, hi, info.shape).astype(np.int8 if info.signed else np.uint8))
        if "residual" in g.tensors:
            r = g.tensors["residual"]
            lo, hi = (-128, 128) if r.signed else (0, 256)
            prog.write_tensor(act, "residual", rng.integers(lo, hi, r.shape).astype(np.int8 if r.signed else np.uint8))
        k.layer_names = prog.layer_names
        k.run(prog.weights, act, prog.descriptors, prog.n_layers)
    return k.port_report(reset=True).axi


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", default=str(ROOT / "bench" / "results" / "report.json"))
    ap.add_argument("-o", "--output", default=None, help="folder for axi_beats.md and axi_beats.json")
    args = ap.parse_args()
    from fq_hls.hw.sized import sized_config

    boards = json.loads(Path(args.report).read_text())["boards"]
    rows, data = [], {}
    for board in boards:
        for engine in ("fq", "int8"):
            cfg = replace(sized_config(board, engine), fuse_pool=False)
            axi = run_layers(cfg)
            data[f"{board}/{engine}"] = {k: {"read": list(v[0]), "write": list(v[1])} for k, v in axi.items()}
            for key, (rd, wr) in sorted(axi.items()):
                for what, h in (("read", rd), ("write", wr)):
                    n = sum(h)
                    if n:
                        rows.append(f"| {board} | {engine} | {cfg.lanes} x {cfg.pixels} | {key} | {what} | {n:,} | "
                                    f"{100 * h[0] / n:.0f} % | {100 * h[1] / n:.0f} % | {100 * h[2] / n:.0f} % |")
    text = "\n".join([
        "**AXI beats per pipelined iteration** (label `csim`: the port-budget check build; each board's sized "
        "engine, four small layers, max pool unfused)",
        "",
        "| board | engine | P x V | loop: bundle | | iterations | 1 beat | 2 beats | 3+ beats |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Command: `python bench/axi_beats.py -o bench/results`. Machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}.",
    ])
    print(text)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "axi_beats.md").write_text(text + "\n")
        (out / "axi_beats.json").write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
