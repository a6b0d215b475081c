"""`fq-hls compress`: prune + focused-quantize (+ fine-tune) + encode a model into OUT.fqz and OUT.json."""

from __future__ import annotations

import argparse
import json

from . import argtypes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="resnet18, resnet18-cifar or smallcnn")
    p.add_argument("--weights", required=True, help="float checkpoint: .pt/.pth state_dict or .npz")
    p.add_argument("--method", required=True, help="fq5, fq7, int8 or shift5")
    p.add_argument("--sparsity", type=argtypes.fraction, default=None,
                   help="target sparsity in [0, 1) (one-shot magnitude); default: keep the checkpoint's zeros")
    p.add_argument("--epochs", type=argtypes.count, default=0, help="fine-tuning epochs (0 = post-training)")
    p.add_argument("--data", default=None, help="dataset folder/file (calibration, fine-tuning, evaluation)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--lr", type=argtypes.positive_float, default=0.01)
    p.add_argument("--batch-size", type=argtypes.positive_int, default=128)
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--max-batches", type=argtypes.positive_int, default=None, metavar="N",
                   help="fine-tuning: at most N batches per epoch (short runs, e.g. on a CPU)")
    p.add_argument("--checkpoint", default=None, help="fine-tuning checkpoint file (written every epoch)")
    p.add_argument("--resume", action="store_true", help="resume fine-tuning from --checkpoint")
    p.add_argument("--limit", type=argtypes.positive_int, default=None,
                   help="evaluate on the first N class-balanced test images")
    p.add_argument("--num-classes", type=argtypes.num_classes, default=None)
    p.add_argument("--bn-recalibration", type=argtypes.count, default=2048, metavar="N",
                   help="post-training: re-estimate BN statistics on N training images (0 = off)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-o", "--output", required=True, help="OUT.fqz (OUT.json is written beside it)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing OUT.fqz/OUT.json (and --checkpoint without --resume)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..compress.pipeline import CompressConfig, compress
    from ..errors import InputError
    from ..safeio import check_output_file

    if args.checkpoint is not None:
        if args.epochs == 0:
            raise InputError("--checkpoint is written during fine-tuning: it needs --epochs > 0")
        cp = Path(args.checkpoint)
        out = Path(args.output)
        if cp.resolve() in (out.resolve(), out.with_suffix(".json").resolve()):
            raise InputError(f"--checkpoint {cp}: the same file as an output of -o {out}")
        # with --resume the checkpoint is this run's own to update; otherwise an existing file is the user's
        if not (args.resume and cp.is_file()):
            check_output_file(cp, force=args.force, inputs=[args.weights], what="checkpoint")
    elif args.resume:
        raise InputError("--resume needs --checkpoint FILE (the checkpoint to continue from)")
    cfg = CompressConfig(arch=args.arch, weights=args.weights, method=args.method, sparsity=args.sparsity,
                         epochs=args.epochs, data=args.data, device=args.device, lr=args.lr,
                         batch_size=args.batch_size, seed=args.seed, checkpoint=args.checkpoint,
                         resume=args.resume, eval_limit=args.limit, num_classes=args.num_classes,
                         progress=not args.no_progress, bn_recalibration=args.bn_recalibration,
                         max_batches=args.max_batches)
    cm, report = compress(cfg, args.output, force=args.force)
    if cm is None:  # a non-zero torchrun rank: rank 0 writes and reports
        return 0
    summary = {k: report.get(k) for k in ("file", "method", "sparsity", "size_bytes", "dense_bytes",
                                           "compression_ratio", "top1", "top5")}
    print(json.dumps(summary, indent=1))
    return 0
