"""Top-1 / top-5 accuracy of a torch classifier (float model or `to_torch` of a CompressedModel)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..archs import arch_info
from ..datasets import Dataset, limit_indices
from ..errors import InputError
from .data import normalize


@torch.no_grad()
def evaluate_model(
    module: nn.Module,
    dataset: Dataset,
    limit: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    arch: str | None = None,
    progress: bool = False,
) -> dict:
    """{"top1", "top5" (percent), "images"} on the first `limit` images of class_balanced_order.

    Normalisation uses `module.mean/std` when the module has them (a `to_torch` graph), else those of
    `arch` (default `module.arch`, which `build_model` sets)."""
    mean, std = getattr(module, "mean", None), getattr(module, "std", None)
    if mean is None or std is None or isinstance(mean, torch.Tensor):
        name = arch or getattr(module, "arch", None)
        if name is None:
            raise InputError("evaluate_model needs arch= for a module without .arch")
        info = arch_info(name)
        mean, std = info["mean"], info["std"]
    idx = limit_indices(dataset.labels, limit)
    was_training = module.training
    module.eval().to(device)
    correct1 = correct5 = 0
    batches = range(0, len(idx), batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="evaluate", unit="batch")
    try:
        for i in batches:
            sel = idx[i : i + batch_size]
            x, y = dataset.arrays(sel)
            logits = module(normalize(np.ascontiguousarray(x), mean, std).to(device))
            y_t = torch.from_numpy(y).to(logits.device)
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            hit = top == y_t[:, None]
            correct1 += int(hit[:, 0].sum())
            correct5 += int(hit.any(dim=1).sum())
    finally:
        module.train(was_training)
    n = len(idx)
    return {"top1": 100.0 * correct1 / max(n, 1), "top5": 100.0 * correct5 / max(n, 1), "images": n}
