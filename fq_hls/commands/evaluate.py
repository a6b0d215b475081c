"""`fq-hls evaluate MODEL --data DIR`: top-1/top-5 of a .fqz (its fake-quantized float model) or of a float
checkpoint (.pt/.pth/.npz state_dict, needs --arch)."""

from __future__ import annotations

import argparse
import json
import os

from ..archs import ARCHS
from ..errors import InputError
from . import argtypes
from .progress import add_progress_argument, progress_enabled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="MODEL", help="a .fqz file, or a float checkpoint (.pt/.pth/.npz) with --arch"
    )
    parser.add_argument(
        "--data",
        required=True,
        help="dataset: cifar10-jpeg.npz (or its folder), cifar-10-batches-py, image folder, or 'digits'",
    )
    parser.add_argument(
        "--split", default="test", choices=("train", "test"), help="dataset split (default test)"
    )
    parser.add_argument("--limit", type=argtypes.images, default=None, help="first N images of a class-balanced order")
    parser.add_argument(
        "--arch", default=None, choices=list(ARCHS), help="architecture of a float checkpoint"
    )
    parser.add_argument("--batch-size", type=argtypes.int_range(1, 65536), default=256)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    add_progress_argument(parser)


def load_for_eval(path: str, arch: str | None):
    """(torch module, arch, method, input shape (C, H, W)) for a .fqz or a float checkpoint."""
    from ..archs import arch_info
    from ..compress.graph import to_torch
    from ..compress.models import load_model
    from ..fqz import MAGIC, read_fqz
    from ..fqz.layout import MAX_FILE_BYTES
    from ..safeio import open_regular

    if not os.path.isfile(path):
        raise InputError(f"{path}: no such model file")
    with open_regular(path, MAX_FILE_BYTES, "model file") as f:  # never blocks on a FIFO
        head = f.read(len(MAGIC))
    if path.endswith(".fqz") or head == MAGIC:
        cm = read_fqz(path)
        if arch is not None and arch != cm.arch:
            raise InputError(f"{path}: holds a {cm.arch!r} model, --arch says {arch!r}")
        return to_torch(cm), cm.arch, cm.method, tuple(cm.input_shape)
    if arch is None:
        raise InputError(f"{path}: a float checkpoint needs --arch (resnet18, resnet18-cifar or smallcnn)")
    shape = arch_info(arch)["input_shape"]
    return load_model(arch, path), arch, "float", tuple(shape)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..compress.evaluate import evaluate_model
    from ..datasets import load_dataset

    try:
        torch.device(args.device)
    except (RuntimeError, ValueError) as e:
        raise InputError(f"--device {args.device!r}: not a torch device ({e})") from None
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available")
    module, arch, method, input_shape = load_for_eval(args.model, args.arch)
    dataset = load_dataset(args.data, args.split, arch, input_shape)
    n_out = getattr(module, "num_classes", None) or module.fc.out_features
    from ..datafiles import check_labels

    check_labels(dataset.labels, n_out, args.data)
    res = evaluate_model(
        module, dataset, limit=args.limit, batch_size=args.batch_size, device=args.device, arch=arch,
        progress=progress_enabled(args),
    )
    if args.json:
        print(
            json.dumps(
                {
                    "top1": res["top1"],
                    "top5": res["top5"],
                    "images": res["images"],
                    "model": args.model,
                    "method": method,
                }
            )
        )
    else:
        print(
            f"{args.model} ({arch}, {method}): top-1 {res['top1']:.2f} %  top-5 {res['top5']:.2f} %  on {res['images']} images of {args.data}"
        )
    return 0
