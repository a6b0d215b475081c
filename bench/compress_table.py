"""Benchmark: the paper's Table 1 on the CIFAR-10 copy, from the shared ResNet-18 checkpoints.

Rows: float (dense), pruned (float, 90 %), then fq5, fq7, int8, shift5 compressed from the pruned checkpoint
with `--epochs E` of fine-tuning (0 = post-training). Columns: top-1, top-5, sparsity, size, CR, and the
time to quantize + encode. Writes bench/results/compress_table.{json,md}.

    python bench/compress_table.py --models ../shared/models/resnet18_cifar10 --data ../shared/data/cifar10 \
        [--epochs 0] [--limit N] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from fq_hls.compress.evaluate import evaluate_model
from fq_hls.compress.models import build_model, load_weights
from fq_hls.compress.pipeline import CompressConfig, compress
from fq_hls.datasets import load_dataset
from fq_hls.model import dense_fp32_bytes  # noqa: F401  (documented: CR denominator)

METHODS = ("fq5", "fq7", "int8", "shift5")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args()
    models = Path(args.models)
    dense_ckpt = models / "resnet18_cifar10_fp16.pt"
    pruned_ckpt = models / "resnet18_cifar10_pruned90_fp16.npz"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = load_dataset(args.data, "test", "resnet18-cifar")

    rows = []
    for label, ckpt in (("float", dense_ckpt), ("pruned", pruned_ckpt)):
        m = build_model("resnet18-cifar", 10)
        load_weights(m, str(ckpt))
        w = [p for n, p in m.named_parameters() if p.dim() > 1]
        nz = sum(int((p != 0).sum()) for p in w)
        total = sum(p.numel() for p in w)
        # fp32 bytes of every parameter and of the BN running mean/var: the CR denominator (dense_fp32_bytes)
        dense = 4 * sum(p.numel() for p in m.parameters()) + 4 * sum(
            b.numel() for n, b in m.named_buffers() if "running" in n)
        acc = evaluate_model(m, test, limit=args.limit, device=args.device)
        rows.append({"model": label, "top1": acc["top1"], "top5": acc["top5"], "images": acc["images"],
                     "sparsity": 1 - nz / total, "size_bytes": dense, "compression_ratio": 1.0,
                     "quantize_encode_s": None, "epochs": None})
        print(rows[-1], flush=True)

    for method in args.methods.split(","):
        cfg = CompressConfig(arch="resnet18-cifar", weights=str(pruned_ckpt), method=method, epochs=args.epochs,
                             data=args.data, device=args.device, eval_limit=args.limit, progress=False)
        t0 = time.perf_counter()
        _, rep = compress(cfg, out / f"resnet18_cifar10_{method}.fqz", force=True)  # its own outputs
        rows.append({"model": method, "top1": rep["top1"], "top5": rep["top5"], "images": rep["eval_images"],
                     "sparsity": rep["sparsity"], "size_bytes": rep["size_bytes"],
                     "compression_ratio": rep["compression_ratio"],
                     "quantize_encode_s": rep["timings"]["quantize_encode_s"],
                     "total_s": time.perf_counter() - t0, "epochs": args.epochs})
        print(rows[-1], flush=True)

    machine = {"python": sys.version.split()[0], "torch": torch.__version__, "platform": platform.platform(),
               "cpu_threads": torch.get_num_threads(), "device": args.device}
    (out / "compress_table.json").write_text(json.dumps({"rows": rows, "machine": machine,
                                                           "command": " ".join(sys.argv)}, indent=1))
    lines = ["| model | top-1 | top-5 | sparsity | size (bytes) | CR | quantize+encode (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = "" if r["quantize_encode_s"] is None else f"{r['quantize_encode_s']:.2f}"
        lines.append(f"| {r['model']} | {r['top1']:.2f} | {r['top5']:.2f} | {100 * r['sparsity']:.2f} % "
                     f"| {r['size_bytes']:,} | {r['compression_ratio']:.2f}x | {t} |")
    (out / "compress_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
