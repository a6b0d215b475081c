"""`fq-hls prune`: float pruning (Dynamic Network Surgery or gradual magnitude) -> a sparse checkpoint."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="resnet18, resnet18-cifar or smallcnn")
    p.add_argument("--weights", required=True, help="dense float checkpoint (.pt/.pth/.npz)")
    p.add_argument("--method", choices=("dns", "gradual"), default="dns")
    p.add_argument("--sparsity", type=float, required=True, help="target sparsity (DNS: initial threshold)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--data", required=True, help="training data folder/file")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument("-o", "--output", required=True, help="pruned checkpoint (.pt state_dict); a .json report beside it")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..compress import data as datasets
    from ..compress.models import build_model, load_weights
    from ..compress.prune_train import PruneConfig, prune_model
    from ..errors import InputError

    out = Path(args.output)
    if out.resolve() == Path(args.weights).resolve():
        raise InputError(f"refusing to overwrite the input checkpoint {args.weights}")
    if out.suffix not in (".pt", ".pth"):
        raise InputError(f"output must end in .pt or .pth, got {out}")
    model = build_model(args.arch)
    load_weights(model, args.weights)
    train = datasets.load_dataset(args.data, "train", args.arch)
    loader = datasets.make_loader(train, args.arch, batch_size=args.batch_size, train=True, seed=args.seed)
    cfg = PruneConfig(method=args.method, sparsity=args.sparsity, epochs=args.epochs, lr=args.lr,
                      device=args.device, seed=args.seed, progress=args.progress)
    rep = prune_model(model, loader, cfg)
    model.to("cpu")
    tmp = out.with_suffix(out.suffix + ".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(out)
    total = rep["layers"][-1]
    out.with_suffix(".json").write_text(json.dumps(rep, indent=1, default=str))
    print(json.dumps({"file": str(out), "method": args.method, "sparsity": total.get("sparsity")}, indent=1))
    return 0
