"""Benchmark: post-training compression of the shared 90 %-pruned CIFAR ResNet-18 with and without weight
reconstruction (issue 16), every row through the real `compress` pipeline, evaluated on the test images.

Per row: top-1/top-5 of the fake-quantized model (what `compress` reports), the integer network's top-1 on
the first --int-limit test images beside the fake-quantized top-1 on the same images, file size (the written
.fqz), CR, and the wall time of the whole `compress` call with its steps. Rows run one after another in one
process; the machine is shared, so the load average and the process CPU time (all threads) are recorded per
row beside the wall time.

    nice -n 10 python bench/ptq_cifar.py --models ../shared/models/resnet18_cifar10 \
        --data ../shared/data/cifar10 [--methods fq5,fq7,shift5,int8] [--reconstruct layer,none] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info  # noqa: E402


def integer_top1(fqz: Path, data: str, limit: int) -> dict:
    """Top-1 of the integer network (numpy reference, bit-exact with the C-simulation) and of the
    fake-quantized float model on the same first `limit` class-balanced test images."""
    import numpy as np

    from fq_hls.compress.evaluate import evaluate_model
    from fq_hls.compress.graph import to_torch
    from fq_hls.datasets import limit_indices, load_dataset
    from fq_hls.fqz import read_fqz
    from fq_hls.lower import lower
    from fq_hls.reference import run_integer

    cm = read_fqz(fqz)
    test = load_dataset(data, "test", cm.arch)
    idx = limit_indices(test.labels, limit)
    graph = lower(cm)
    hits = 0
    for s in range(0, len(idx), 100):
        x, y = test.arrays(idx[s:s + 100])
        logits = graph.dequantize(graph.output, run_integer(graph, graph.quantize_input(x)))
        hits += int(np.sum(logits.argmax(1) == y))
    fake = evaluate_model(to_torch(cm), test, limit=limit)
    return {"int_top1": 100.0 * hits / len(idx), "fake_top1_same_images": fake["top1"], "int_images": len(idx)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", default="resnet18_cifar10_pruned90_fp16.npz", help="checkpoint in --models")
    ap.add_argument("--sparsity", type=float, default=None, help="one-shot prune to this sparsity first")
    ap.add_argument("--methods", default="fq5,fq7,shift5,int8")
    ap.add_argument("--reconstruct", default="layer,none")
    ap.add_argument("--limit", type=int, default=None, help="test images (default all 10,000)")
    ap.add_argument("--int-limit", type=int, default=0, help="also run the integer network on N test images")
    ap.add_argument("--tag", default="ptq_cifar", help="result file name: bench/results/TAG.{json,md}")
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args()

    import torch

    from fq_hls.compress.pipeline import CompressConfig, compress

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res_json = out / f"{args.tag}.json"
    rows = json.loads(res_json.read_text())["rows"] if res_json.is_file() else []
    done = {(r["method"], r["reconstruct"]) for r in rows}
    weights = str(Path(args.models) / args.weights)
    tmp = Path(tempfile.mkdtemp(prefix="ptq_"))
    for rec in args.reconstruct.split(","):  # all reconstructed rows first
        for method in args.methods.split(","):
            if (method, rec) in done:  # resumable: the 2 shared cores make a full run long
                continue
            cfg = CompressConfig(arch="resnet18-cifar", weights=weights, method=method, data=args.data,
                                 eval_limit=args.limit, reconstruct=rec, progress=False, sparsity=args.sparsity)
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            path = tmp / f"{method}_{rec}.fqz"
            _, rep = compress(cfg, path, force=True)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            row = {"method": method, "reconstruct": rec, "top1": rep["top1"], "top5": rep["top5"],
                   "eval_images": rep["eval_images"], "size_bytes": path.stat().st_size,
                   "compression_ratio": rep["compression_ratio"], "sparsity": rep["sparsity"], "wall_s": wall,
                   "cpu_s": cpu, "threads": torch.get_num_threads(),
                   "timings": rep["timings"], "loadavg_1min_at_start": load0,
                   "bn_recalibration_images": rep["bn_recalibration_images"]}
            if rec != "none":
                row["layers_rel_error"] = {n: [v["rel_error_before"], v["rel_error_after"]]
                                           for n, v in rep["reconstruction"]["layers"].items()}
            if args.int_limit:
                row.update(integer_top1(path, args.data, args.int_limit))
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("method", "reconstruct", "top1", "compression_ratio", "wall_s")}),
                  flush=True)
            res_json.write_text(json.dumps({"command": " ".join(shlex.quote(a) for a in sys.argv),
                                            "machine": machine_info(), "weights": weights, "rows": rows},
                                           indent=1))
    lines = ["| method | reconstruction | top-1 | top-5 | test images | size (bytes) | CR | wall (s) | CPU (s) | "
             "reconstruct (s) | load avg |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['reconstruct']} | {r['top1']:.2f} | {r['top5']:.2f} | {r['eval_images']} | "
                     f"{r['size_bytes']:,} | {r['compression_ratio']:.2f}x | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{r['timings'].get('reconstruct_s', 0):.0f} | {r['loadavg_1min_at_start']:.1f} |")
    ints = [r for r in rows if "int_top1" in r]
    if ints:
        lines += ["", "| method | reconstruction | integer top-1 | fake-quantized top-1 (same images) | images |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['method']} | {r['reconstruct']} | {r['int_top1']:.2f} | {r['fake_top1_same_images']:.2f} | "
                  f"{r['int_images']} |" for r in ints]
    head = (f"Command: `{' '.join(shlex.quote(a) for a in sys.argv)}`  \nMachine: 2-core VM, no GPU, shared with "
            f"other jobs (load average per row in the table). Weights: {weights}.\n\n")
    (out / f"{args.tag}.md").write_text(head + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
