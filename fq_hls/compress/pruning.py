"""Fine-grained pruning: Dynamic Network Surgery (the paper's choice) and a gradual magnitude schedule.

Masks are `dict[layer name -> bool Tensor]` (True = kept), keyed by module names of `prunable_layers`.
A weight that is already exactly zero in the input model starts pruned (`initial_masks`).

Both pruners are driven by the training loop through one call that replaces `optimizer.step()`:

    pruner = DNSPruner(model, alpha=1.0, interval=100)     # or GradualPruner(model, 0.9, end_step=...)
    for x, y in loader:
        loss = criterion(model(x), y); optimizer.zero_grad(); loss.backward()
        pruner.step(optimizer)
    masks = pruner.masks                                   # the model's weights are masked

Between steps the model's parameters always hold the *masked* weights (so forward, evaluation, export see
the pruned network). DNS keeps a dense copy of every pruned layer: `step` swaps the dense weights in, lets
the optimizer update them with the gradient taken at the masked point (DNS's straight-through update, so
pruned weights keep training and may be revived), then re-masks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..errors import InputError
from .models import prunable_layers

Masks = dict[str, torch.Tensor]


def weight_param(module: nn.Module) -> torch.Tensor:
    """The stored weight parameter: under a torch parametrization (a fake-quantizer) that is the
    original float weight, not the computed one."""
    p = getattr(module, "parametrizations", None)
    if p is not None and "weight" in p:
        return p.weight.original
    return module.weight


def select_layers(
    model: nn.Module, layers: Iterable[str] | None = None, exclude: Iterable[str] = ()
) -> dict[str, nn.Module]:
    """Prunable layers restricted to `layers` (all when None) minus `exclude`; unknown names raise."""
    all_layers = prunable_layers(model)
    names = list(all_layers) if layers is None else list(layers)
    for n in list(names) + list(exclude):
        if n not in all_layers:
            raise InputError(f"no conv/fc layer named {n!r} (known: {', '.join(all_layers)})")
    ex = set(exclude)
    return {n: all_layers[n] for n in names if n not in ex}


def initial_masks(
    model: nn.Module, layers: Iterable[str] | None = None, exclude: Iterable[str] = ()
) -> Masks:
    """mask = weight != 0: an already-pruned model keeps its zeros."""
    return {n: weight_param(m).detach() != 0 for n, m in select_layers(model, layers, exclude).items()}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the pruned weights in place (weight *= mask)."""
    layers = prunable_layers(model)
    for name, mask in masks.items():
        if name not in layers:
            raise InputError(f"mask for unknown layer {name!r}")
        w = weight_param(layers[name])
        if tuple(mask.shape) != tuple(w.shape):
            raise InputError(f"mask for {name!r} has shape {tuple(mask.shape)}, weight is {tuple(w.shape)}")
        w.mul_(mask.to(device=w.device, dtype=w.dtype))


def sparsity_report(model_or_masks: nn.Module | Mapping[str, torch.Tensor]) -> list[dict]:
    """Per layer: name, shape, size, nnz, sparsity (fraction of zeros); a last row named "total"."""
    if isinstance(model_or_masks, nn.Module):
        tensors = {n: m.weight.detach() for n, m in prunable_layers(model_or_masks).items()}
    else:
        tensors = dict(model_or_masks)
    rows, size_all, nnz_all = [], 0, 0
    for name, t in tensors.items():
        size, nnz = int(t.numel()), int(torch.count_nonzero(t))
        rows.append(
            {
                "name": name,
                "shape": tuple(t.shape),
                "size": size,
                "nnz": nnz,
                "sparsity": 1.0 - nnz / max(size, 1),
            }
        )
        size_all += size
        nnz_all += nnz
    rows.append(
        {
            "name": "total",
            "shape": (),
            "size": size_all,
            "nnz": nnz_all,
            "sparsity": 1.0 - nnz_all / max(size_all, 1),
        }
    )
    return rows


def dns_threshold(w: torch.Tensor, alpha: float) -> float:
    """t = mean|W| + alpha * std|W| over the non-zero weights (all of them if none is zero)."""
    a = w.detach().abs().flatten().double()
    nz = a[a != 0]
    a = nz if nz.numel() > 1 else a
    return float(a.mean() + alpha * a.std(unbiased=False))


def dns_alpha_for_sparsity(w: torch.Tensor, sparsity: float) -> float:
    """The alpha whose threshold t prunes about `sparsity` of the layer at the start (t = that quantile
    of |W| over all weights, so zeros already in the layer count towards it)."""
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"target sparsity must be in [0, 1), got {sparsity}")
    a = w.detach().abs().flatten().double()
    nz = a[a != 0]
    ref = nz if nz.numel() > 1 else a
    mean, std = float(ref.mean()), float(ref.std(unbiased=False))
    t = (
        float(torch.quantile(a.float(), sparsity))
        if a.numel() <= 1 << 24
        else float(a.sort().values[int(sparsity * (a.numel() - 1))])
    )
    return (t - mean) / std if std > 0 else 0.0


def dns_update(
    w: torch.Tensor, mask: torch.Tensor, t: float, low: float = 0.9, high: float = 1.1
) -> torch.Tensor:
    """DNS mask rule: prune |w| < low*t, revive |w| > high*t, keep the previous state in between."""
    a = w.detach().abs()
    return torch.where(
        a < low * t, torch.zeros_like(mask), torch.where(a > high * t, torch.ones_like(mask), mask)
    )


class Pruner:
    """Common driver: `step(optimizer)` replaces optimizer.step(); `masks` name -> bool tensor."""

    def __init__(self, model: nn.Module, layers: Iterable[str] | None, exclude: Iterable[str]):
        self.model = model
        self.layers = select_layers(model, layers, exclude)
        self.masks: Masks = initial_masks(model, list(self.layers))
        self.frozen: Masks = {n: ~m for n, m in self.masks.items()}  # zeros of the input never revive
        self.steps = 0

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        raise NotImplementedError

    def apply(self) -> None:
        apply_masks(self.model, self.masks)

    def sparsity(self) -> float:
        return sparsity_report(self.masks)[-1]["sparsity"]


class DNSPruner(Pruner):
    """Dynamic Network Surgery (Guo et al. 2016) as used by the FQ paper.

    Per layer the threshold t = mean|W| + alpha*std|W| is fixed from the starting weights; every
    `interval` steps (and at construction) masks follow `dns_update`. `alpha` is one float or a dict per
    layer (a larger alpha prunes more). `keep_zeros`: weights that were exactly zero in the input model
    stay pruned (an already-pruned model keeps its zeros).
    """

    def __init__(
        self,
        model: nn.Module,
        alpha: float | Mapping[str, float] = 1.0,
        interval: int = 1,
        layers: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        low: float = 0.9,
        high: float = 1.1,
        keep_zeros: bool = True,
    ):
        super().__init__(model, layers, exclude)
        if interval < 1:
            raise InputError(f"DNS mask update interval must be >= 1, got {interval}")
        self.interval, self.low, self.high, self.keep_zeros = interval, low, high, keep_zeros
        self.alpha = {n: float(alpha[n] if isinstance(alpha, Mapping) else alpha) for n in self.layers}
        self.thresholds = {n: dns_threshold(weight_param(m), self.alpha[n]) for n, m in self.layers.items()}
        self.dense = {n: weight_param(m).detach().clone() for n, m in self.layers.items()}
        self.update_masks()

    @torch.no_grad()
    def update_masks(self) -> None:
        """Recompute masks from the dense weights and write the masked weights into the model."""
        for n, m in self.layers.items():
            new = dns_update(self.dense[n], self.masks[n], self.thresholds[n], self.low, self.high)
            if self.keep_zeros:
                new &= ~self.frozen[n]
            self.masks[n] = new
            weight_param(m).copy_(self.dense[n] * new)

    @torch.no_grad()
    def step(self, optimizer: torch.optim.Optimizer) -> None:
        # gradients were taken at the masked weights; apply them to the dense weights
        for n, m in self.layers.items():
            weight_param(m).copy_(self.dense[n])
        optimizer.step()
        for n, m in self.layers.items():
            self.dense[n].copy_(weight_param(m))
        self.steps += 1
        if self.steps % self.interval == 0:
            self.update_masks()
        else:
            self.apply()

    @torch.no_grad()
    def finalize(self) -> Masks:
        """Write the masked weights, drop the dense copies; returns the masks."""
        self.apply()
        self.dense = {n: weight_param(m).detach() for n, m in self.layers.items()}
        return self.masks


def cubic_sparsity(step: int, target: float, begin: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta's schedule: s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0))^3, clamped to [t0, t1]."""
    if end <= begin:
        return target if step >= begin else initial
    p = min(max((step - begin) / (end - begin), 0.0), 1.0)
    return target + (initial - target) * (1.0 - p) ** 3


def magnitude_mask(w: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Bool mask keeping the largest |w| of one tensor, exactly round(sparsity * size) zeros."""
    return magnitude_masks({"w": w}, sparsity, "layer")["w"]


def magnitude_masks(weights: Mapping[str, torch.Tensor], sparsity: float, scope: str = "layer") -> Masks:
    """Keep the largest |w|: a fraction `sparsity` of zeros per layer ("layer") or over all ("global").
    Ties at the threshold are broken by position, so the count is exact."""
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"target sparsity must be in [0, 1), got {sparsity}")
    if scope not in ("layer", "global"):
        raise InputError(f"pruning scope must be 'layer' or 'global', not {scope!r}")

    def keep_top(flat: torch.Tensor, k_zero: int) -> torch.Tensor:
        keep = torch.ones_like(flat, dtype=torch.bool)
        if k_zero > 0:
            keep[torch.argsort(flat, stable=True)[:k_zero]] = False
        return keep

    if scope == "layer":
        return {
            n: keep_top(w.detach().abs().flatten(), int(round(sparsity * w.numel()))).view_as(w)
            for n, w in weights.items()
        }
    flat = torch.cat([w.detach().abs().flatten().float().cpu() for w in weights.values()])
    keep = keep_top(flat, int(round(sparsity * flat.numel())))
    out, i = {}, 0
    for n, w in weights.items():
        out[n] = keep[i : i + w.numel()].view(w.shape).to(w.device)
        i += w.numel()
    return out


class GradualPruner(Pruner):
    """Gradual magnitude pruning to `target` sparsity on a cubic schedule.

    Masks are recomputed every `interval` steps between `begin` and `end` (inclusive) from the current
    (masked) weights, so pruned weights never revive. The starting sparsity is that of the input (its
    zeros stay zero), `scope` is "layer" (each layer hits the target) or "global" (one threshold).
    """

    def __init__(
        self,
        model: nn.Module,
        target: float,
        end_step: int,
        begin_step: int = 0,
        interval: int = 100,
        scope: str = "layer",
        layers: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
    ):
        super().__init__(model, layers, exclude)
        if interval < 1:
            raise InputError(f"pruning interval must be >= 1, got {interval}")
        if not 0.0 <= target < 1.0:
            raise InputError(f"target sparsity must be in [0, 1), got {target}")
        if scope not in ("layer", "global"):
            raise InputError(f"pruning scope must be 'layer' or 'global', not {scope!r}")
        self.target, self.begin, self.end, self.interval, self.scope = (
            target,
            begin_step,
            end_step,
            interval,
            scope,
        )
        self.initial = min(self.sparsity(), target)
        self.current = self.initial
        if self.begin <= 0:
            self.update_masks()

    @torch.no_grad()
    def update_masks(self) -> None:
        s = cubic_sparsity(self.steps, self.target, self.begin, self.end, self.initial)
        weights = {n: weight_param(m).detach() * self.masks[n] for n, m in self.layers.items()}
        new = magnitude_masks(weights, s, self.scope)
        self.masks = {n: new[n] & self.masks[n] for n in self.layers}
        self.current = s
        self.apply()

    @torch.no_grad()
    def step(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer.step()
        self.steps += 1
        t = self.steps
        due = self.begin <= t <= self.end and ((t - self.begin) % self.interval == 0 or t == self.end)
        if due:
            self.update_masks()
        else:
            self.apply()
