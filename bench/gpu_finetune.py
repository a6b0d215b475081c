"""GPU recipe (issue 16): fine-tune fq5 and fq7 from the shared 90 %-pruned CIFAR ResNet-18 on one CUDA device
and write the BENCHMARKS rows (bench/results/gpu_finetune.{json,md}).

Each method: post-training fit, then `--epochs` epochs of straight-through fine-tuning with the INQ schedule,
distillation from the float pruned model (`--distill`), bf16 autocast, then BN-free export, calibration and
evaluation on all 10,000 test images. The defaults (12 epochs, batch 256) aim at both methods in under 10
minutes on an H100-class GPU; that is an estimate from the shared checkpoint's training log (1.2 s per float
epoch on an H200), not a measurement: no GPU was available when this was written. Lower --epochs if the
JPEG decoding and CPU augmentation make the epochs slower.

    python bench/gpu_finetune.py --models ../shared/models/resnet18_cifar10 --data ../shared/data/cifar10
    # CPU dry run of the recipe (known to work without a GPU; its numbers mean nothing):
    python bench/gpu_finetune.py ... --device cpu --epochs 1 --max-batches 2 --limit 100 --tag gpu_finetune_dryrun
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--methods", default="fq5,fq7")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--max-batches", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="test images (default all 10,000)")
    ap.add_argument("--no-distill", action="store_true")
    ap.add_argument("--tag", default="gpu_finetune")
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args()

    import torch

    from fq_hls.compress.pipeline import CompressConfig, compress

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing measured (use --device cpu for a dry run)", file=sys.stderr)
        return 2
    weights = str(Path(args.models) / "resnet18_cifar10_pruned90_fp16.npz")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gpu_ft_"))
    rows = []
    gpu = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None
    for method in args.methods.split(","):
        cfg = CompressConfig(arch="resnet18-cifar", weights=weights, method=method, data=args.data,
                             epochs=args.epochs, device=args.device, lr=args.lr, batch_size=args.batch_size,
                             max_batches=args.max_batches, eval_limit=args.limit, distill=not args.no_distill,
                             progress=sys.stderr.isatty())
        t0 = time.perf_counter()
        path = tmp / f"{method}.fqz"
        _, rep = compress(cfg, path, force=True)
        rows.append({"method": method, "epochs": args.epochs, "distill": not args.no_distill,
                     "top1": rep["top1"], "top5": rep["top5"], "eval_images": rep["eval_images"],
                     "size_bytes": path.stat().st_size, "compression_ratio": rep["compression_ratio"],
                     "wall_s": time.perf_counter() - t0, "timings": rep["timings"]})
        print(json.dumps(rows[-1]), flush=True)
    cmd = " ".join(shlex.quote(a) for a in sys.argv)
    (out / f"{args.tag}.json").write_text(json.dumps({"command": cmd, "machine": machine_info(device=args.device),
                                                      "gpu": gpu, "rows": rows}, indent=1))
    lines = [f"Command: `{cmd}`  \nDevice: {gpu or args.device}. Shared 90 %-pruned CIFAR ResNet-18.\n",
             "| method | epochs | distill | top-1 | top-5 | test images | size (bytes) | CR | wall (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['epochs']} | {r['distill']} | {r['top1']:.2f} | {r['top5']:.2f} | "
              f"{r['eval_images']} | {r['size_bytes']:,} | {r['compression_ratio']:.2f}x | {r['wall_s']:.0f} |"
              for r in rows]
    (out / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
