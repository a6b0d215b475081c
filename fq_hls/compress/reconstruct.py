"""Post-training reconstruction of quantized weights (no fine-tuning): every weight keeps a value of its layer's
allowed level set, chosen so that the layer reproduces the float model's output.

Per layer, in network order (so every layer sees its quantized predecessors' error and can compensate it):

* statistics on calibration images: H = E[x_q x_q^T] of the layer's quantized-network input (im2col columns
  at sampled output positions) and M = E[y_f x_q^T], y_f the float model's output at the same positions;
* the objective ||Q x_q - y_f||^2 = tr(Q H Q^T) - 2 tr(Q M^T) + const, quadratic in the weights Q;
* per weight a choice between its two neighbouring levels (AdaRound's up/down decision; for recentralized
  layers the levels of both components, so the choice covers the component too), made by exact coordinate
  descent over the input columns: each step takes the candidate that lowers the objective most, given all
  other weights, so the objective never rises;
* per layer the scale alpha (fq/shift) in closed form (least squares), alternating with the rounding sweeps.

The chosen values are written back as the float weights (and components): a quantizer rounds an exact level
to itself, so export, the .fqz and everything downstream are unchanged in kind. Pruned weights stay zero.
Deterministic: the sampled positions come from `seed`, the descent has no randomness.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .focused import LayerQuantizer, QuantizationError

RECONSTRUCT_MODES = ("layer", "none")


@dataclass
class ReconstructConfig:
    sweeps: int = 2  # coordinate-descent sweeps per layer, each followed by a scale fit
    max_positions: int = 131072  # output positions per layer whose im2col columns enter H and M
    free_components: bool = True  # recentralized: the choice may switch a weight's component
    seed: int = 0
    progress: bool = False


class _Stop(Exception):
    """Raised by a capture hook: the rest of the forward pass is not needed."""


def _level_table(q: LayerQuantizer, dedupe: bool = True) -> tuple[Tensor, Tensor]:
    """Sorted allowed values (before alpha, float64) and the component each one is encoded with; without
    `dedupe` a value both components reach appears once per component."""
    if q.mode == "shift":
        vals = q.level_set()
        return vals, torch.zeros(len(vals), dtype=torch.uint8)
    ks = torch.arange(q._lo, max(q._lo, q._top + 1), dtype=torch.float64)
    p = torch.exp2(ks)
    vals, comps = [], []
    for c, (s, e) in enumerate(zip(q._mu_sign, q._mu_exp, strict=True)):
        mu = s * 2.0**e
        v = torch.cat([torch.tensor([mu], dtype=torch.float64), mu - p, mu + p])
        vals.append(v)
        comps.append(torch.full((len(v),), c, dtype=torch.uint8))
    v, c = torch.cat(vals), torch.cat(comps)
    keep = v != 0  # a surviving weight is never exactly zero
    v, c = v[keep], c[keep]
    order = torch.argsort(v, stable=True)
    v, c = v[order], c[order]
    first = torch.ones(len(v), dtype=torch.bool)
    if dedupe:
        first[1:] = v[1:] != v[:-1]  # one code per value (the first component that has it)
    return v[first], c[first]


class _LayerProblem:
    """One layer's weights as indices into a value table: value = row_scale * table[idx]."""

    def __init__(self, q: LayerQuantizer, w: Tensor, mask: Tensor, free_components: bool = True):
        self.q = q
        self.comp = None  # per-weight component when the components stay as the fit sampled them
        self.cout = w.shape[0]
        self.w = w.detach().reshape(self.cout, -1).to(torch.float64)
        self.m = (mask.reshape(self.cout, -1) != 0)
        if q.mode == "int8":
            amax = (self.w * self.m).abs().amax(dim=1)
            scale = torch.where(amax > 0, amax.float() / 127.0, torch.ones_like(amax).float()).double()
            self.table = torch.arange(-127, 128, dtype=torch.float64)
            self.comp_table = None
            self.alpha = None
            self.row_scale = scale[:, None]
        else:
            self.table, self.comp_table = _level_table(q, dedupe=free_components)
            if not free_components and q.mode == "recentralized":
                self.comp = q.comp.reshape(self.cout, -1).to(torch.uint8)
            self.alpha = float(q.alpha.detach()) if q.alpha is not None else 1.0
            self.row_scale = None
        self.idx = self.nearest()

    def scale(self) -> Tensor | float:
        return self.row_scale if self.row_scale is not None else self.alpha

    def neighbours(self) -> tuple[Tensor, Tensor]:
        """Indices of the levels just below and just above each weight (equal at the ends of the table)."""
        x = (self.w / self.scale()).contiguous()
        if self.comp is not None:  # within the weight's own component's levels
            lo, hi = torch.zeros_like(x, dtype=torch.int64), torch.zeros_like(x, dtype=torch.int64)
            for c in (0, 1):
                sub = torch.nonzero(self.comp_table == c).flatten()
                if len(sub) == 0:
                    continue
                t = self.table[sub]
                h_c = sub[torch.searchsorted(t, x).clamp(0, len(t) - 1)]
                l_c = sub[(torch.searchsorted(t, x, right=True) - 1).clamp(0, len(t) - 1)]
                here = self.comp == c
                lo, hi = torch.where(here, l_c, lo), torch.where(here, h_c, hi)
            return lo, hi
        hi = torch.searchsorted(self.table, x).clamp(0, len(self.table) - 1)
        lo = (torch.searchsorted(self.table, x, right=True) - 1).clamp(0, len(self.table) - 1)
        if self.row_scale is not None:  # int8: the largest weight of a row sets the row's scale, keep it
            am = (self.w * self.m).abs().argmax(dim=1, keepdim=True)
            near = self._nearest_of(lo, hi).gather(1, am)
            lo = lo.scatter(1, am, near)
            hi = hi.scatter(1, am, near)
        return lo, hi

    def _nearest_of(self, lo: Tensor, hi: Tensor) -> Tensor:
        x = self.w / self.scale()
        return torch.where((self.table[hi] - x).abs() < (x - self.table[lo]).abs(), hi, lo)

    def nearest(self) -> Tensor:
        lo, hi = self.neighbours()
        return self._nearest_of(lo, hi)

    def values(self, idx: Tensor | None = None) -> Tensor:
        """Weights (Cout, K) float64 with the scale applied; zero where pruned."""
        idx = self.idx if idx is None else idx
        return self.table[idx] * self.scale() * self.m

    def write_back(self, module: nn.Module) -> None:
        """Put the chosen levels into the float weight (and the components), alpha into the quantizer."""
        q = self.q
        orig = module.parametrizations.weight.original
        shape = orig.shape
        lv = self.table[self.idx] * self.m
        if self.row_scale is not None:
            lv = lv * self.row_scale
        with torch.no_grad():
            orig.copy_(lv.reshape(shape).to(orig.dtype))
            if self.comp_table is not None and q.mode == "recentralized":
                q.comp = (self.comp_table[self.idx] * self.m).to(torch.uint8).reshape(shape).to(q.comp.device)
            if q.alpha is not None:
                q.alpha.fill_(self.alpha)
        # the quantizer must round every chosen level to itself, else export would differ from the fit
        got = q.quantized_value(orig.detach(), q.mask).to(torch.float64).reshape(self.cout, -1)
        if self.row_scale is None and not torch.equal(got, lv):
            raise QuantizationError("reconstruction chose a value outside the layer's level set")
        if self.row_scale is not None and not torch.allclose(got, lv, rtol=1e-6, atol=0):
            raise QuantizationError("reconstruction chose a value outside the layer's int8 grid")


def _sweep(p: _LayerProblem, qv: Tensor, g: Tensor, h: Tensor, lo: Tensor, hi: Tensor) -> None:
    """One pass over the input columns; updates p.idx, qv and g = qv h - M in place."""
    diag = torch.diagonal(h)
    s = p.scale()
    for i in range(qv.shape[1]):
        mi = p.m[:, i]
        if not bool(mi.any()):
            continue
        si = s[:, 0] if isinstance(s, Tensor) else s
        cur = qv[:, i]
        d_lo = p.table[lo[:, i]] * si - cur
        d_hi = p.table[hi[:, i]] * si - cur
        gi, hii = g[:, i], diag[i]
        e_lo = d_lo * (2.0 * gi + d_lo * hii)  # exact change of the objective
        e_hi = d_hi * (2.0 * gi + d_hi * hii)
        take_lo = (e_lo < 0) & (e_lo <= e_hi) & mi
        take_hi = (e_hi < 0) & (e_hi < e_lo) & mi
        rows = torch.nonzero(take_lo | take_hi).flatten()
        if len(rows) == 0:
            continue
        delta = torch.where(take_lo, d_lo, torch.where(take_hi, d_hi, torch.zeros_like(d_lo)))
        p.idx[:, i] = torch.where(take_lo, lo[:, i], torch.where(take_hi, hi[:, i], p.idx[:, i]))
        qv[:, i] = cur + delta
        g.index_add_(0, rows, delta[rows, None] * h[i][None, :])  # only the rows that moved


def coordinate_descent(p: _LayerProblem, h: Tensor, mt: Tensor, sweeps: int) -> dict:
    """Minimise tr(Q H Q^T) - 2 tr(Q M^T) over the neighbouring levels (and alpha); returns the objective
    before (nearest levels) and after. The constant E||y_f||^2 is left out: only differences mean something."""
    def objective(qv: Tensor) -> float:
        return float((qv @ h * qv).sum() - 2.0 * (qv * mt).sum())

    before = objective(p.values())
    for _ in range(sweeps):
        lo, hi = p.neighbours()
        qv = p.values()
        g = qv @ h - mt  # half the gradient
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # thousands of small ops: a second thread only adds sync (30x on a busy CPU)
        try:
            _sweep(p, qv, g, h, lo, hi)
        finally:
            torch.set_num_threads(threads)
        if p.alpha is not None:  # least-squares scale for the chosen levels
            lv = p.table[p.idx] * p.m
            den = float((lv @ h * lv).sum())
            if den > 0:
                a = float((lv * mt).sum()) / den
                if np.isfinite(a) and 0.25 <= a <= 4.0:
                    p.alpha = float(np.float32(a))
    return {"objective_before": before, "objective_after": objective(p.values())}


def _columns(module: nn.Module, x: Tensor, pos: Tensor | None) -> Tensor:
    """im2col rows (n * p, K) of a conv input at the sampled output positions; a linear input as is."""
    if isinstance(module, nn.Linear):
        return x.reshape(x.shape[0], -1)
    u = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    if pos is not None:
        u = u[:, :, pos]
    return u.permute(0, 2, 1).reshape(-1, u.shape[1])


def _outputs(module: nn.Module, y: Tensor, pos: Tensor | None) -> Tensor:
    if module.bias is not None:  # the float bias is shared by both models: compare the weight term only
        y = y - module.bias.detach().reshape((1, -1) + (1,) * (y.dim() - 2))
    if isinstance(module, nn.Linear):
        return y.reshape(y.shape[0], -1)
    y = y.flatten(2)
    if pos is not None:
        y = y[:, :, pos]
    return y.permute(0, 2, 1).reshape(-1, y.shape[1])


def supported(module: nn.Module) -> bool:
    """Layers whose output is a plain linear map of im2col columns."""
    if isinstance(module, nn.Linear):
        return True
    return isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros" \
        and not isinstance(module.padding, str)


@torch.no_grad()
def reconstruct(model: nn.Module, float_model: nn.Module, qlayers: dict[str, LayerQuantizer],
                batches: list[Tensor], cfg: ReconstructConfig) -> dict:
    """Reconstruct every supported quantized layer of `model` (quantizers attached) against `float_model`
    (same architecture, float weights) on normalised calibration `batches`. Returns a per-layer report."""
    t0 = time.perf_counter()
    model.eval()
    float_model.eval()
    qmods = dict(model.named_modules())
    fmods = dict(float_model.named_modules())
    names = [n for n in qlayers if supported(fmods[n])]
    per_img = {}
    gen = torch.Generator().manual_seed(cfg.seed)
    n_images = sum(len(b) for b in batches)
    targets: dict[str, list[Tensor]] = {n: [] for n in names}
    positions: dict[tuple[str, int], Tensor | None] = {}
    state = {"batch": 0}

    def float_hook(name):
        def hook(mod, inp, out):
            b = state["batch"]
            pos = None
            if isinstance(mod, nn.Conv2d):
                hw = out.shape[2] * out.shape[3]
                k = per_img.setdefault(name, max(1, min(hw, cfg.max_positions // max(n_images, 1))))
                if k < hw:
                    pos = torch.sort(torch.randperm(hw, generator=gen)[:k]).values
            positions[(name, b)] = pos
            targets[name].append(_outputs(mod, out, pos).to(torch.float32))
        return hook

    handles = [fmods[n].register_forward_hook(float_hook(n)) for n in names]
    try:
        for b, x in enumerate(batches):
            state["batch"] = b
            float_model(x)
    finally:
        for h in handles:
            h.remove()
    t_float = time.perf_counter() - t0
    names = [n for n in names if len(targets[n]) == len(batches)]  # a layer the forward never runs is left as is

    from tqdm.auto import tqdm

    report = {"layers": {}, "images": n_images, "positions_per_image": per_img, "float_pass_s": t_float}
    it = tqdm(names, desc="reconstruct", unit="layer", disable=not cfg.progress, leave=False)
    for name in it:
        mod = qmods[name]
        q = qlayers[name]
        k_dim = mod.weight.shape[1] * (mod.weight[0, 0].numel() if mod.weight.dim() == 4 else 1)
        h = torch.zeros(k_dim, k_dim, dtype=torch.float64)
        mt = torch.zeros(mod.weight.shape[0], k_dim, dtype=torch.float64)
        count = 0
        captured: list[Tensor] = []

        def pre_hook(module, inp, captured=captured):
            captured.append(inp[0])
            raise _Stop

        t1 = time.perf_counter()
        handle = mod.register_forward_pre_hook(pre_hook)
        try:
            with parametrize.cached():
                for b, x in enumerate(batches):
                    captured.clear()
                    try:
                        model(x)
                    except _Stop:
                        pass
                    u = _columns(mod, captured[0], positions[(name, b)]).to(torch.float32)
                    y = targets[name][b]
                    h += (u.T @ u).double()
                    mt += (y.T @ u).double()
                    count += u.shape[0]
        finally:
            handle.remove()
        h /= max(count, 1)
        mt /= max(count, 1)
        energy = sum(float((y.double() ** 2).sum()) for y in targets[name]) / max(count, 1)
        t2 = time.perf_counter()
        orig = mod.parametrizations.weight.original
        prob = _LayerProblem(q, orig.detach(), q.mask, cfg.free_components)
        res = coordinate_descent(prob, h, mt, cfg.sweeps)
        prob.write_back(mod)
        # relative output error E||Q x_q - y_f||^2 / E||y_f||^2, before (nearest levels) and after
        rel = {k.replace("objective", "rel_error"): (v + energy) / max(energy, 1e-30) for k, v in res.items()}
        rel.update({"rows": int(count), "stats_s": round(t2 - t1, 3), "descent_s": round(time.perf_counter() - t2, 3),
                    "alpha": prob.alpha, "mode": q.mode})
        res = rel
        report["layers"][name] = res
        targets[name] = []  # free the memory of a finished layer
        if cfg.progress:
            it.set_postfix(layer=name)
    report["seconds"] = time.perf_counter() - t0
    report["skipped"] = [n for n in qlayers if n not in names]
    return report
