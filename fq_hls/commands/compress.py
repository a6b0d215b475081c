"""`fq-hls compress`: prune + focused-quantize (+ fine-tune) + encode a model into OUT.fqz and OUT.json."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="resnet18, resnet18-cifar or smallcnn")
    p.add_argument("--weights", required=True, help="float checkpoint: .pt/.pth state_dict or .npz")
    p.add_argument("--method", required=True, help="fq5, fq7, int8 or shift5")
    p.add_argument("--sparsity", type=float, default=None,
                   help="target sparsity (one-shot magnitude); default: keep the checkpoint's zeros")
    p.add_argument("--epochs", type=int, default=0, help="fine-tuning epochs (0 = post-training)")
    p.add_argument("--data", default=None, help="dataset folder/file (calibration, fine-tuning, evaluation)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-batches", type=int, default=None, metavar="N",
                   help="fine-tuning: at most N batches per epoch (short runs, e.g. on a CPU)")
    p.add_argument("--checkpoint", default=None, help="fine-tuning checkpoint file (written every epoch)")
    p.add_argument("--resume", action="store_true", help="resume fine-tuning from --checkpoint")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N class-balanced test images")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--bn-recalibration", type=int, default=2048, metavar="N",
                   help="post-training: re-estimate BN statistics on N training images (0 = off)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-o", "--output", required=True, help="OUT.fqz (OUT.json is written beside it)")


def run(args: argparse.Namespace) -> int:
    from ..compress.pipeline import CompressConfig, compress

    cfg = CompressConfig(arch=args.arch, weights=args.weights, method=args.method, sparsity=args.sparsity,
                         epochs=args.epochs, data=args.data, device=args.device, lr=args.lr,
                         batch_size=args.batch_size, seed=args.seed, checkpoint=args.checkpoint,
                         resume=args.resume, eval_limit=args.limit, num_classes=args.num_classes,
                         progress=not args.no_progress, bn_recalibration=args.bn_recalibration,
                         max_batches=args.max_batches)
    cm, report = compress(cfg, args.output)
    if cm is None:  # a non-zero torchrun rank: rank 0 writes and reports
        return 0
    summary = {k: report.get(k) for k in ("file", "method", "sparsity", "size_bytes", "dense_bytes",
                                           "compression_ratio", "top1", "top5")}
    print(json.dumps(summary, indent=1))
    return 0
