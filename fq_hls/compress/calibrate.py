"""Activation-range calibration: the magnitude each node's output (and the input) must represent.

Method: run the fake-quantized model (`to_torch`) over the calibration images and, per tensor, build one
histogram of log2|x| over *all* its elements in the whole set (every image, channel and position; exact
zeros, e.g. after ReLU, counted apart). `act_max[name]` is the `percentile`-th percentile of |x|, read off
that histogram as the upper edge of the bin holding it (bins are 1/64 octave wide, so the value is
at most 1.1 % above the exact percentile and never below it). `percentile >= 100` gives the exact max.
A percentile slightly under 100 keeps a few outliers from stretching the 8-bit activation scale; the
clipped outliers saturate. The result is written to `cm.act_max` and returned.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..model import CompressedModel
from .data import normalize
from .graph import to_torch

BINS_PER_OCTAVE = 64
LOG2_MIN, LOG2_MAX = -32, 32  # |x| outside [2^-32, 2^32] lands in the edge bins
NBINS = (LOG2_MAX - LOG2_MIN) * BINS_PER_OCTAVE


class _LogHistogram:
    def __init__(self) -> None:
        self.hist = torch.zeros(NBINS, dtype=torch.float64)
        self.zeros = 0
        self.total = 0
        self.max = 0.0

    def add(self, x: torch.Tensor) -> None:
        a = x.detach().abs().flatten().float()
        self.total += a.numel()
        nz = a[a > 0]
        self.zeros += a.numel() - nz.numel()
        if nz.numel() == 0:
            return
        self.max = max(self.max, float(nz.max()))
        idx = ((torch.log2(nz) - LOG2_MIN) * BINS_PER_OCTAVE).floor().clamp_(0, NBINS - 1).long()
        self.hist += torch.bincount(idx, minlength=NBINS).to(torch.float64).cpu()

    def percentile(self, q: float) -> float:
        if self.total == 0 or self.max == 0.0:
            return 0.0
        if q >= 100.0:
            return self.max
        rank = math.ceil(q / 100.0 * self.total)  # the rank-th smallest element (1-based)
        if rank <= self.zeros:
            return 0.0
        cum = torch.cumsum(self.hist, 0)
        b = int(torch.searchsorted(cum, torch.tensor(float(rank - self.zeros), dtype=torch.float64)))
        upper = 2.0 ** (LOG2_MIN + (b + 1) / BINS_PER_OCTAVE)
        return min(upper, self.max)


@torch.no_grad()
def calibrate(
    cm: CompressedModel,
    images_u8_nhwc: np.ndarray,
    percentile: float = 99.99,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, float]:
    """Set `cm.act_max` for "input" and every node from uint8 NHWC calibration images (see module doc)."""
    x = np.asarray(images_u8_nhwc)
    c, h, w = cm.input_shape
    if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != (h, w, c):
        raise InputError(f"calibration images must be uint8 (N, {h}, {w}, {c}), got {x.dtype} {x.shape}")
    if len(x) == 0:
        raise InputError("calibration needs at least one image")
    if not 0.0 < percentile <= 100.0:
        raise InputError(f"calibration percentile must be in (0, 100], got {percentile}")
    module = to_torch(cm).to(device)
    hists: dict[str, _LogHistogram] = {}
    from tqdm.auto import tqdm

    for i in tqdm(range(0, len(x), batch_size), desc="calibrate", unit="batch", leave=False, disable=not progress):
        inp = normalize(x[i : i + batch_size], cm.mean, cm.std).to(device)
        module(inp, observe=lambda name, t: hists.setdefault(name, _LogHistogram()).add(t))
    act_max = {name: float(hg.percentile(percentile)) for name, hg in hists.items()}
    cm.act_max = act_max
    return act_max
