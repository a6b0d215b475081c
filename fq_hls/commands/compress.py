"""`fq-hls compress`: prune + focused-quantize (+ fine-tune) + encode a model into OUT.fqz and OUT.json."""

from __future__ import annotations

import argparse
import json

from ..archs import ARCHS
from ..compress.methods import METHODS
from . import argtypes
from .progress import add_progress_argument, progress_enabled


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, type=argtypes.arch_or_module,
                   metavar="{" + ",".join(ARCHS) + ",FILE.py:builder}",
                   help="a built-in architecture (torchvision state_dict keys; the class count comes from the "
                        "checkpoint's fc), or FILE.py:builder: your own nn.Module, traced with torch.fx. "
                        "Naming a .py file imports it and so runs its code; checkpoints never run code")
    p.add_argument("--weights", required=True, help="float checkpoint: .pt/.pth state_dict or .npz")
    p.add_argument("--method", required=True, choices=METHODS,
                   help="quantization of every conv/fc layer (--layers may set it per layer)")
    p.add_argument("--layers", default=None, metavar="FILE",
                   help="per-layer method, bits and sparsity (.json or .yaml): {\"layers\": {NAME_OR_GLOB: "
                        "{\"method\": ..., \"bits\": ..., \"sparsity\": ...}}}; later entries override earlier "
                        "ones; a name that matches no layer is an error")
    p.add_argument("--input-shape", type=argtypes.input_shape, default=None, metavar="C,H,W",
                   help="input of a FILE.py:builder module without an input_shape attribute")
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
    p.add_argument("--num-classes", type=argtypes.num_classes, default=None,
                   help="classes of the model (default: the checkpoint's fc rows; a different count is refused)")
    p.add_argument("--bn-recalibration", type=argtypes.count, default=None, metavar="N",
                   help="post-training: re-estimate BN statistics on N training images (0 = off; default 2048 "
                        "with --reconstruct none, off after reconstruction, which fits the float BN statistics)")
    p.add_argument("--reconstruct", choices=("layer", "none"), default="layer",
                   help="post-training with --data: fit each layer's quantized weights (level choice, component, "
                        "scale) to the float model's outputs (default layer; none = nearest levels)")
    p.add_argument("--reconstruct-images", type=argtypes.positive_int, default=1024, metavar="N",
                   help="training images used by the reconstruction (default 1024)")
    p.add_argument("--distill", action="store_true",
                   help="fine-tuning: distil from the float model given by --weights (teacher)")
    add_progress_argument(p)
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
    if args.distill and args.epochs == 0:
        raise InputError("--distill is a fine-tuning option: it needs --epochs > 0")
    cfg = CompressConfig(arch=args.arch, weights=args.weights, method=args.method, sparsity=args.sparsity,
                         epochs=args.epochs, data=args.data, device=args.device, lr=args.lr,
                         batch_size=args.batch_size, seed=args.seed, checkpoint=args.checkpoint,
                         resume=args.resume, eval_limit=args.limit, num_classes=args.num_classes,
                         progress=progress_enabled(args), bn_recalibration=args.bn_recalibration,
                         reconstruct=args.reconstruct, reconstruct_images=args.reconstruct_images,
                         distill=args.distill,
                         max_batches=args.max_batches, layers=args.layers, input_shape=args.input_shape)
    cm, report = compress(cfg, args.output, force=args.force)
    if cm is None:  # a non-zero torchrun rank: rank 0 writes and reports
        return 0
    summary = {k: report.get(k) for k in ("file", "method", "sparsity", "size_bytes", "dense_bytes",
                                           "compression_ratio", "top1", "top5")}
    print(json.dumps(summary, indent=1))
    return 0
