"""`fq-hls prune`: float pruning (Dynamic Network Surgery or gradual magnitude) -> a sparse checkpoint."""

from __future__ import annotations

import argparse
import json

from . import argtypes
from .progress import add_progress_argument, progress_enabled


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..archs import ARCHS

    p.add_argument("--arch", required=True, choices=list(ARCHS), help="architecture of the dense checkpoint")
    p.add_argument("--weights", required=True, help="dense float checkpoint (.pt/.pth/.npz)")
    p.add_argument("--method", choices=("dns", "gradual"), default="dns")
    p.add_argument("--sparsity", type=argtypes.fraction, required=True,
                   help="target sparsity in [0, 1) (DNS: initial threshold)")
    p.add_argument("--epochs", type=argtypes.positive_int, required=True)
    p.add_argument("--data", required=True, help="training data folder/file")
    p.add_argument("--lr", type=argtypes.positive_float, default=0.01)
    p.add_argument("--batch-size", type=argtypes.positive_int, default=128)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=argtypes.seed, default=0)
    add_progress_argument(p)
    p.add_argument("-o", "--output", required=True, help="pruned checkpoint (.pt state_dict); a .json report beside it")
    p.add_argument("--force", action="store_true", help="replace an existing output checkpoint and report")


def run(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    import torch

    from ..compress.data import make_loader
    from ..compress.models import load_model
    from ..compress.prune_train import PruneConfig, prune_model
    from ..datasets import load_dataset
    from ..errors import InputError
    from ..safeio import check_output_file, write_files

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: CUDA is not available on this machine")
    out = Path(args.output)
    if out.suffix not in (".pt", ".pth"):
        raise InputError(f"output must end in .pt or .pth, got {out}")
    report_path = out.with_suffix(".json")
    for path, what in ((out, "checkpoint"), (report_path, "report file")):
        check_output_file(path, force=args.force, inputs=[args.weights], what=what)
    model = load_model(args.arch, args.weights)  # the class count comes from the checkpoint's fc
    train = load_dataset(args.data, "train", args.arch)
    n_out = model.fc.out_features
    if len(train) and int(train.labels.max()) >= n_out:
        raise InputError(f"{args.data}: label {int(train.labels.max())} is outside the model's {n_out} classes")
    loader = make_loader(train, args.arch, batch_size=args.batch_size, train=True, seed=args.seed)
    cfg = PruneConfig(method=args.method, sparsity=args.sparsity, epochs=args.epochs, lr=args.lr,
                      device=args.device, seed=args.seed, progress=progress_enabled(args))
    rep = prune_model(model, loader, cfg)
    model.to("cpu")
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    write_files([(out, buf.getvalue()), (report_path, json.dumps(rep, indent=1, default=str))])
    total = rep["layers"][-1]
    print(json.dumps({"file": str(out), "method": args.method, "sparsity": total.get("sparsity")}, indent=1))
    return 0
