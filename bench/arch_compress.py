"""Benchmark: `fq-hls compress` wall time per architecture (random weights, one-shot sparsity, no data).

Each architecture gets a random torchvision-layout state_dict (seeded), saved to a temporary .pt, then the
real command line runs in a subprocess, `fq-hls compress --arch A --weights W.pt --method M --sparsity S`,
timed from the outside (wall) with the pipeline's own step timings from OUT.json. Calibration uses the
pipeline's synthetic noise images (no --data). Target (issue 17): ResNet-50 at 224, 80 % sparsity,
<= 120 s on a 2-core machine.

    python bench/arch_compress.py [--archs resnet18,resnet34,resnet50] [--method fq5] [--sparsity 0.8]
        [--repeats 1] [--name arch_compress]

Writes bench/results/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine_info, markdown_table, median, publish  # noqa: E402

TARGET_S = {"resnet50": 120.0}


def run_one(arch: str, method: str, sparsity: float, seed: int, tmp: Path) -> dict:
    import torch

    from fq_hls.compress.models import build_model

    torch.manual_seed(seed)
    weights = tmp / f"{arch}.pt"
    if not weights.exists():
        torch.save(build_model(arch).state_dict(), weights)
    out = tmp / f"{arch}_{method}_{seed}.fqz"
    cmd = [sys.executable, "-m", "fq_hls", "compress", "--arch", arch, "--weights", str(weights),
           "--method", method, "--sparsity", str(sparsity), "--no-progress", "--seed", str(seed),
           "-o", str(out), "--force"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode != 0:
        raise SystemExit(f"{arch}: compress failed: {r.stderr.strip()}")
    report = json.loads(out.with_suffix(".json").read_text())
    return {"arch": arch, "wall_s": wall, "cpu_s": cpu, "timings": report["timings"], "sparsity": report["sparsity"],
            "size_bytes": report["size_bytes"], "compression_ratio": report["compression_ratio"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet18,resnet34,resnet50")
    ap.add_argument("--method", default="fq5")
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--name", default="arch_compress")
    args = ap.parse_args()
    machine = machine_info()
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for rep in range(args.repeats):
            for arch in args.archs.split(","):
                runs.append(run_one(arch, args.method, args.sparsity, rep, Path(d)))
                print(f"{arch}: {runs[-1]['wall_s']:.1f} s", flush=True)
    rows = []
    for arch in args.archs.split(","):
        rs = [r for r in runs if r["arch"] == arch]
        wall = median([r["wall_s"] for r in rs])
        step = {k: median([r["timings"][k] for r in rs]) for k in rs[0]["timings"]}
        target = TARGET_S.get(arch)
        verdict = "-" if target is None else ("met" if wall <= target else "missed")
        rows.append([arch, f"{wall:.1f}", f"{median([r['cpu_s'] for r in rs]):.1f}", f"{step['load_prune_fit_s']:.1f}", f"{step['export_s']:.1f}",
                     f"{step['calibrate_s']:.1f}", f"{step['encode_write_s']:.1f}",
                     f"{rs[0]['sparsity']:.3f}", f"{rs[0]['compression_ratio']:.1f}x",
                     f"{target:.0f} s: {verdict}" if target else "-"])
    md = (f"`fq-hls compress` of random-weight torchvision-layout models at 224x224, {args.method}, one-shot "
          f"sparsity {args.sparsity}, synthetic calibration (no data); median of {args.repeats} run(s), wall "
          "time of the whole command (process start included) and its CPU time (user + system, both torch threads; "
          "less sensitive than wall time to other processes on a shared machine). Step columns: the pipeline's "
          "own wall timings.\n\n"
          + markdown_table(["arch", "wall s", "CPU s", "load+prune+fit s", "export s", "calibrate s", "encode s",
                            "sparsity", "ratio", "target"], rows))
    payload = {"command": command_line(), "machine": machine, "method": args.method, "sparsity": args.sparsity,
               "runs": runs}
    return publish(Path(__file__).resolve().parent / "results", args.name, payload, md)


if __name__ == "__main__":
    raise SystemExit(main())
