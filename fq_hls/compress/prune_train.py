"""Float pruning stage: fine-tune a dense model while DNS or the gradual magnitude schedule sets its masks.

The paper prunes first (Dynamic Network Surgery), then focused-quantizes the sparse model; this stage writes
the pruned float checkpoint that `fq-hls compress` then takes (its zeros are kept as the masks).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from . import pruning


@dataclass
class PruneConfig:
    method: str  # "dns" or "gradual"
    sparsity: float  # target (gradual) / initial DNS threshold calibration
    epochs: int
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    device: str = "cpu"
    seed: int = 0
    skip_first: bool = True  # the first conv stays dense, like the reference pruned checkpoint
    dns_interval: int = 1  # steps between DNS mask updates
    progress: bool = False


def prune_model(model: torch.nn.Module, loader, cfg: PruneConfig) -> dict:
    """Prune `model` in place over `cfg.epochs` epochs of `loader`; returns per-layer report and history."""
    if cfg.method not in ("dns", "gradual"):
        raise InputError(f"unknown pruning method {cfg.method!r}; choose 'dns' or 'gradual'")
    if not 0.0 <= cfg.sparsity < 1.0:
        raise InputError(f"--sparsity must be in [0, 1), got {cfg.sparsity}")
    if cfg.epochs < 1:
        raise InputError(f"pruning needs at least one epoch, got {cfg.epochs}")
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model.to(device)
    from .models import prunable_layers

    names = list(prunable_layers(model))
    exclude = names[:1] if cfg.skip_first else []
    steps = cfg.epochs * len(loader)
    if cfg.method == "dns":
        # alpha per layer chosen so that the initial threshold prunes the target fraction; DNS then lets
        # weights come back (above 1.1 t) or go (below 0.9 t) as training moves them
        mods = prunable_layers(model)
        alpha = {n: pruning.dns_alpha_for_sparsity(pruning.weight_param(mods[n]), cfg.sparsity)
                 for n in names if n not in exclude}
        pruner = pruning.DNSPruner(model, alpha=alpha, interval=cfg.dns_interval, exclude=exclude)
    else:
        # reach the target at 3/4 of the run, then train at a fixed mask
        pruner = pruning.GradualPruner(model, cfg.sparsity, end_step=max(1, (3 * steps) // 4),
                                       interval=max(1, len(loader) // 4), exclude=exclude)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    history = []
    from tqdm.auto import tqdm

    for epoch in range(cfg.epochs):
        if hasattr(loader, "dataset") and hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        model.train()
        t0, total, n = time.perf_counter(), 0.0, 0
        for x, y in tqdm(loader, desc=f"prune epoch {epoch + 1}/{cfg.epochs}", leave=False, file=sys.stderr,
                         disable=not cfg.progress):
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            pruner.step(opt)
            sched.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        history.append({"epoch": epoch + 1, "loss": total / max(n, 1), "sparsity": pruner.sparsity(),
                        "seconds": time.perf_counter() - t0})
        if cfg.progress:
            print(f"prune epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]['loss']:.4f} "
                  f"sparsity {history[-1]['sparsity']:.4f}, {history[-1]['seconds']:.1f} s", file=sys.stderr,
                  flush=True)
    masks = pruner.finalize() if hasattr(pruner, "finalize") else pruner.masks
    pruning.apply_masks(model, masks)
    model.eval()
    return {"history": history, "layers": pruning.sparsity_report(model)}
