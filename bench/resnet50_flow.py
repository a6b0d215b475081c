"""Benchmark: the whole fq-hls flow on ResNet-50 at 224x224 (issue 17, item 3), as a user runs it.

A torchvision-layout ResNet-50 with random He weights (fq_hls.compress.models.build_model, saved as a
state_dict) goes through the command line: `compress` (fq5 and int8, one-shot magnitude pruning to 80 %),
`inspect`, `lower`, `csim` on each board/engine pair given (bit-exact against the reference, cycles = csim
evidence), `run --emulate` (the PYNQ driver on the emulated board) and `export --onnx --check` (onnxruntime
against the reference). Each step is timed as one process (wall seconds, including Python start-up and, for
csim/run, the g++ build of the C-simulation on a cold cache: FQ_HLS_CACHE points at a fresh folder).

Targets: compress <= 120 s, C-simulation <= 10 s per image (seconds_per_image of `fq-hls csim --json`), every
logit bit-exact. Writes bench/results/resnet50_flow.{json,md}.

    python bench/resnet50_flow.py [--pairs zcu104:fq,pynq-z2:fq,zcu104:int8,zcu104:int8_sparse] [--images 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, fmt, machine_info, markdown_table, publish, verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FQ_HLS = [sys.executable, "-m", "fq_hls"]


CPU_S: dict[str, float] = {}  # CPU seconds (user + system) of each step's process, by its argv


def step(argv: list[str], env: dict, want_json: bool = False) -> tuple[float, dict | str]:
    """Run `fq-hls argv`; (wall seconds, parsed JSON or stdout). The shared machine is loaded by other jobs,
    so the process's CPU seconds are kept too (CPU_S): wall >= CPU / cores used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(FQ_HLS + argv, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_S[" ".join(argv)] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode not in (0, 1):
        raise SystemExit(f"fq-hls {' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    if want_json:
        return wall, json.loads(r.stdout)
    return wall, r.stdout.strip()


def last_cpu() -> float:
    return list(CPU_S.values())[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default="zcu104:fq,pynq-z2:fq,zcu104:int8,zcu104:int8_sparse")
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    import torch

    from fq_hls.compress.models import build_model

    tmp = Path(tempfile.mkdtemp(prefix="fq17_resnet50_"))
    env = dict(os.environ, FQ_HLS_CACHE=str(tmp / "cache"), PYTHONPATH=str(ROOT))
    torch.manual_seed(0)
    weights = tmp / "resnet50_random.pt"
    torch.save(build_model("resnet50", 1000).state_dict(), weights)

    steps: list[dict] = []
    models = {}
    for method in ("fq5", "int8"):
        out = tmp / f"resnet50_{method}.fqz"
        wall, text = step(["compress", "--arch", "resnet50", "--weights", str(weights), "--method", method,
                           "--sparsity", str(args.sparsity), "--no-progress", "-o", str(out)], env)
        models[method] = out
        steps.append({"step": f"compress {method}", "wall_s": wall, "cpu_s": last_cpu(), "target": "<= 120 s",
                      "verdict": verdict(wall, 120.0), "note": ""})
    wall, ins = step(["inspect", str(models["fq5"]), "--json"], env, True)
    steps.append({"step": "inspect fq5", "wall_s": wall, "cpu_s": last_cpu(), "note": f"sparsity {ins.get('sparsity')}, "
                  f"compression ratio {ins.get('compression_ratio')}"})
    wall, low = step(["lower", str(models["fq5"]), "--limit", str(args.images), "--json"], env, True)
    steps.append({"step": "lower fq5", "wall_s": wall, "cpu_s": last_cpu(),
                  "note": f"top-1 agreement integer/float {low.get('comparison', low).get('top1_agreement')}"})

    csim_rows = []
    for pair in args.pairs.split(","):
        board, engine = pair.split(":")
        model = models["int8" if engine.startswith("int8") else "fq5"]
        wall, rep = step(["csim", str(model), "--board", board, "--engine", engine, "--images", str(args.images),
                          "--json"], env, True)
        est_equal = all(r["cycles"] == r["estimate"] for r in rep["layers"])
        csim_rows.append({"board": board, "engine": engine, "lanes": rep["lanes"], "pixels": rep["pixels"],
                          "clock_mhz": rep["clock_mhz"], "origin": rep.get("engine_origin"),
                          "bit_exact": rep["bit_exact"], "images": rep["images"],
                          "s_per_image": rep["seconds_per_image"], "library_s": rep["library_seconds"],
                          "cycles": rep["cycles"][-1], "latency_ms": rep["latency_ms"][-1],
                          "model_equals_csim": est_equal, "process_wall_s": wall, "process_cpu_s": last_cpu()})
    wall, run = step(["run", str(models["fq5"]), "--emulate", "--board", "zcu104", "--images", str(args.images),
                      "--check", "--json"], env, True)
    steps.append({"step": "run --emulate (zcu104 fq)", "wall_s": wall, "cpu_s": last_cpu(),
                  "note": f"bit_exact {run.get('bit_exact')}, {run.get('fps'):.1f} fps (csim)"})
    wall, text = step(["export", str(models["fq5"]), "--onnx", str(tmp / "resnet50.onnx"), "--check", "--images",
                       str(args.images)], env)
    steps.append({"step": "export --onnx --check (integer)", "wall_s": wall, "cpu_s": last_cpu(), "note": text.splitlines()[-1]})
    wall, text = step(["export", str(models["fq5"]), "--onnx", str(tmp / "resnet50_float.onnx"), "--float",
                       "--check", "--images", str(args.images)], env)
    steps.append({"step": "export --onnx --float --check", "wall_s": wall, "cpu_s": last_cpu(), "note": text.splitlines()[-1]})

    payload = {"command": command_line(), "machine": machine_info(torch_too=True), "steps": steps,
               "csim": csim_rows, "sparsity": args.sparsity, "weights": "random He (torch default init), seed 0"}
    md = ["# ResNet-50 at 224x224 through the whole flow (random weights, "
          f"{args.sparsity:.0%} one-shot magnitude sparsity)", "",
          markdown_table(["step", "wall s", "CPU s", "target", "result"],
                         [[s["step"], fmt(s["wall_s"], 1), fmt(s["cpu_s"], 1), s.get("target", ""),
                           " ".join(x for x in (s.get("verdict", ""), s.get("note", "")) if x)] for s in steps]),
          "", "C-simulation (`fq-hls csim --json`; cycles: csim evidence; latency at the engine's clock):", "",
          markdown_table(["board", "engine", "P x V", "MHz", "bit-exact", "s/image", "target <= 10 s", "cycles",
                          "latency ms (csim)", "model = csim", "engine"],
                         [[r["board"], r["engine"], f"{r['lanes']} x {r['pixels']}", fmt(r["clock_mhz"], 0),
                           r["bit_exact"], fmt(r["s_per_image"], 2), verdict(r["s_per_image"], 10.0),
                           f"{r['cycles']:,}", fmt(r["latency_ms"], 2), r["model_equals_csim"], r["origin"]]
                          for r in csim_rows])]
    return publish(args.out, "resnet50_flow", payload, "\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
