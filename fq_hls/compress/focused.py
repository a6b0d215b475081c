"""Focused quantization of one layer's weights (torch side): fit, fake-quantize with a straight-through
gradient, export the integer codebook. See docs/focused_quantization.md for every definition and choice.

Methods: `fq5`/`fq7` (per fit: n-bit shift if the fitted mixture's W < 2, else n-bit recentralized),
`shift5` (always 5-bit shift), `int8` (symmetric per output channel).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..errors import FQError, InputError
from ..model import QuantWeight, SymbolFields
from .methods import BITS as _BITS
from .methods import METHODS
from .mixture import fit_tied_mixture, sample_components
from .quantizers import MAX_SPAN, int8_per_channel, nearest_pow2_exponent, overflow_top, round_pow2

W_THRESHOLD = 2.0  # W below this: plain shift, else recentralized
_MODES = ("shift", "recentralized", "int8")
# buffers whose shape follows the layer (resized when a checkpoint is loaded into a fresh quantizer)
_SHAPED = ("mask", "comp", "qsel")
# float64 fit statistics kept for reports: index -> name
_STATS = ("mu_fit_neg", "mu_fit_pos", "sigma_fit", "pi_neg", "pi_pos", "W", "layer_std", "em_iters")


class QuantizationError(FQError):
    """A layer cannot be quantized or exported as asked (not fitted, partially quantized, out of range)."""


class UnknownMethodError(InputError, ValueError):
    """A quantization method name that is not one of METHODS."""


def _pow2(k: Tensor) -> Tensor:
    """Exact 2^k in float64 for integer k in [-1022, 1023] (built from the exponent bits)."""
    return ((k.to(torch.int64).clamp(-1022, 1023) + 1023) << 52).view(torch.float64)


def _clamp_exp(k: int) -> int:
    """Keep exponents in float32's normal range, so every level is an exact normal float32 (the forward
    builds 2^k from the exponent bits). Only weights below 2^-126 or above 2^127 are affected."""
    return min(max(int(k), -126), 127)


def _shape_mask(mask: Tensor, w: Tensor) -> Tensor:
    if tuple(mask.shape) != tuple(w.shape):
        raise QuantizationError(f"mask shape {tuple(mask.shape)} does not match weight shape {tuple(w.shape)}")
    return (mask != 0).to(device=w.device)


class LayerQuantizer(nn.Module):
    """Quantizer of one conv/linear weight. Also a `torch.nn.utils.parametrize` parametrization: called with
    the weight alone it uses its own `mask` buffer (set by `set_mask` / `attach_quantizers`).

    State (all in the state_dict, so checkpoints restore it exactly): alpha (learnable, fq/shift only), the
    fitted mode, the exponent window [lo, top], the power-of-two means, the sampled components, the INQ
    selection and fraction, and fit statistics."""

    def __init__(self, method: str) -> None:
        super().__init__()
        if method not in METHODS:
            raise UnknownMethodError(f"unknown quantization method {method!r}; choose one of {', '.join(METHODS)}")
        self.method = method
        self.bits = _BITS[method]
        if method == "int8":
            self.register_parameter("alpha", None)
        else:
            self.alpha = nn.Parameter(torch.ones(1))
        # INQ: when False, weights already quantized get no gradient (frozen, as in the original INQ)
        self.train_quantized = True
        for name in _SHAPED:
            self.register_buffer(name, torch.zeros(0, dtype=torch.float32 if name == "mask" else torch.uint8))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.uint8))
        self.register_buffer("mode_id", torch.zeros((), dtype=torch.int64))
        self.register_buffer("window", torch.zeros(2, dtype=torch.int64))  # [lo, top] exponents
        self.register_buffer("mu_exp", torch.zeros(2, dtype=torch.int64))
        self.register_buffer("mu_sign", torch.zeros(2, dtype=torch.int64))
        self.register_buffer("sigma_exp", torch.zeros((), dtype=torch.int64))
        self.register_buffer("fraction", torch.ones((), dtype=torch.float64))
        self.register_buffer("stats", torch.full((len(_STATS),), float("nan"), dtype=torch.float64))
        self.sync_state()

    # ------------------------------------------------------------------ state helpers
    def sync_state(self) -> None:
        """Refresh the Python copies of the scalar buffers (call after changing buffers in place)."""
        self._fitted = bool(self.fitted)
        self._mode = _MODES[int(self.mode_id)] if self._fitted else None
        self._lo, self._top = (int(v) for v in self.window)
        self._mu_exp = tuple(int(v) for v in self.mu_exp)
        self._mu_sign = tuple(int(v) for v in self.mu_sign)
        self._frac = float(self.fraction)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        for name in _SHAPED:  # a fresh quantizer has empty layer-shaped buffers: take the checkpoint's shape
            key = prefix + name
            if key in state_dict and state_dict[key].shape != self._buffers[name].shape:
                self._buffers[name] = torch.empty_like(state_dict[key], device=self._buffers[name].device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)
        self.sync_state()

    @property
    def mode(self) -> str | None:
        """'shift', 'recentralized' or 'int8' after a fit; None before."""
        return self._mode

    @property
    def n_exp(self) -> int:
        """Number of nominal exponents of the (inner) shift quantizer in the current mode."""
        inner_bits = self.bits - 1 if self._mode == "shift" else self.bits - 2
        return 1 << inner_bits

    def bind(self, param: Tensor) -> None:
        """Remember the float weight this quantizer belongs to (used by set_fraction); not a submodule."""
        object.__setattr__(self, "_param", param)

    def set_mask(self, mask: Tensor) -> None:
        """Replace the pruning mask used when called as a parametrization (1 = surviving weight)."""
        self.mask = (mask != 0).to(torch.float32).to(self.fitted.device)

    # ------------------------------------------------------------------ fit
    def fit(self, w: Tensor, mask: Tensor, generator: torch.Generator | None = None) -> None:
        """(Re)fit to the surviving weights: mixture + W + mode (fq), overflow-rule window, sampled components.

        `generator` (a CPU torch.Generator) drives the posterior sampling; None uses torch's global RNG."""
        w = w.detach()
        m = _shape_mask(mask, w)
        dev = self.fitted.device
        comp = torch.zeros(w.shape, dtype=torch.uint8, device=w.device)
        if self.method == "int8":
            self._store(2, (0, 0), (0, 0), (0, 0), 0, comp, [float("nan")] * len(_STATS), dev)
            return
        x = w[m].to(torch.float64)
        n = self.bits
        stats = [float("nan")] * len(_STATS)
        layer_std = float(x.std(unbiased=False)) if x.numel() > 0 else 0.0
        stats[_STATS.index("layer_std")] = layer_std
        mix = None
        if self.method.startswith("fq") and x.numel() >= 2 and layer_std > 0:
            mix = fit_tied_mixture(x)
            w_metric = mix.w_metric(layer_std)
            stats[0:5] = [mix.mu[0], mix.mu[1], mix.sigma, mix.pi[0], mix.pi[1]]
            stats[_STATS.index("W")] = w_metric
            stats[_STATS.index("em_iters")] = mix.iters
        recentralize = mix is not None and stats[_STATS.index("W")] >= W_THRESHOLD
        if not recentralize:
            top = _clamp_exp(overflow_top(x.abs(), (1 << n) + 1))
            e_max = (1 << (n - 1)) - 1
            lo = _clamp_exp(top - min(e_max, MAX_SPAN))
            self._store(0, (lo, top), (0, 0), (0, 0), 0, comp, stats, dev)
            return
        # recentralized: sample components, round mu and sigma to powers of two, overflow rule on w - mu_c
        post = mix.posterior(w.to(torch.float64))
        comp = sample_components(post, generator) * m.to(torch.uint8)
        mu_sign, mu_exp = [], []
        for c in range(2):
            mu = mix.mu[c]
            mu_sign.append((1 if mu > 0 else -1) if mu != 0 else (2 * c - 1))
            mu_exp.append(_clamp_exp(int(nearest_pow2_exponent(torch.tensor([abs(mu)], dtype=torch.float64))[0])))
        sigma_exp = int(nearest_pow2_exponent(torch.tensor([mix.sigma], dtype=torch.float64))[0])
        mu_val = torch.tensor([s * 2.0**e for s, e in zip(mu_sign, mu_exp, strict=True)], dtype=torch.float64, device=w.device)
        d = x - mu_val[comp[m].long()]
        top = _clamp_exp(overflow_top(d.abs(), (1 << (n - 1)) + 1))
        e_max_in = (1 << (n - 2)) - 1
        # one window of MAX_SPAN + 1 exponents holds every power of two of the layer (levels <= 2^24)
        k_lo = max(top, *mu_exp) - MAX_SPAN
        mu_exp = [max(e, k_lo) for e in mu_exp]
        lo = _clamp_exp(max(top - e_max_in, k_lo))
        self._store(1, (lo, top), tuple(mu_exp), tuple(mu_sign), sigma_exp, comp, stats, dev)

    def _store(self, mode_id, window, mu_exp, mu_sign, sigma_exp, comp, stats, dev) -> None:
        self.mode_id = torch.tensor(mode_id, dtype=torch.int64, device=dev)
        self.window = torch.tensor(window, dtype=torch.int64, device=dev)
        self.mu_exp = torch.tensor(mu_exp, dtype=torch.int64, device=dev)
        self.mu_sign = torch.tensor(mu_sign, dtype=torch.int64, device=dev)
        self.sigma_exp = torch.tensor(sigma_exp, dtype=torch.int64, device=dev)
        self.comp = comp.to(dev)
        self.stats = torch.tensor(stats, dtype=torch.float64, device=dev)
        self.fitted = torch.ones((), dtype=torch.uint8, device=dev)
        if self.qsel.shape != comp.shape:
            self.qsel = torch.ones(comp.shape, dtype=torch.uint8, device=dev)
        self.sync_state()

    # ------------------------------------------------------------------ encode / forward
    def _check_fitted(self) -> None:
        if not self._fitted:
            raise QuantizationError(f"{self.method} quantizer used before fit(); call fit(w, mask) first")

    def _codes(self, w: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(pos_comp, negative, k, inner_zero) per weight, in float32/int32 (few elementwise passes: this runs
        on every forward). The value before alpha is mu_c + (-1)^negative * 2^k, or mu_c where inner_zero;
        pruned weights are masked by the caller."""
        w = w.detach().to(torch.float32)
        lo, top = self._lo, self._top
        if self._mode == "shift":
            cpos = torch.zeros_like(m)
            d = w
        else:
            if self.comp.shape != w.shape:
                raise QuantizationError(f"fitted for shape {tuple(self.comp.shape)}, got weight {tuple(w.shape)}")
            cpos = self.comp.to(w.device) != 0
            mu = self._mu_values(w.device, torch.float32)
            d = w - torch.where(cpos, mu[1], mu[0])
        a = d.abs()
        k, zero = round_pow2(a, lo, top, allow_zero=self._mode != "shift")  # nearest, clipped to the window
        neg = d < 0
        if self._mode == "shift":
            return cpos, neg, k, zero
        if lo > top:  # no power of two of the inner quantizer fits the window: only the means remain
            zero = torch.ones_like(m)
        # mu_c + s*2^k == 0 would zero a weight that survived pruning: move it to the next nearest level
        v = self._assemble(cpos, neg, k, zero, mu)
        bad = (v == 0) & m
        if w.device.type == "cpu" and not bool(bad.any()):  # cheap on the CPU; on a GPU it would sync per layer
            return cpos, neg, k, zero
        kb, mag = k.to(torch.int64), a.to(torch.float64)
        down_zero = kb - 1 < lo
        dist_down = torch.where(down_zero, mag, (mag - torch.exp2((kb - 1).double())).abs())
        dist_up = torch.where(kb + 1 <= top, (torch.exp2((kb + 1).double()) - mag).abs(),
                              torch.full_like(mag, math.inf))
        go_up = dist_up < dist_down
        k_new = torch.where(go_up, kb + 1, torch.where(down_zero, kb, kb - 1)).to(k.dtype)
        k = torch.where(bad, k_new, k)
        zero = torch.where(bad, ~go_up & down_zero, zero)
        return cpos, neg, k, zero

    def _mu_values(self, device, dtype) -> Tensor:
        # cached per (device, dtype, means): building it from a Python list on every forward would copy
        # host -> device once per layer and step
        key = (str(device), dtype, tuple(self._mu_sign), tuple(self._mu_exp))
        cache = self.__dict__.setdefault("_mu_cache", {})
        if key not in cache:
            cache.clear()
            cache[key] = torch.tensor([s * 2.0**e for s, e in zip(self._mu_sign, self._mu_exp, strict=True)],
                                      dtype=dtype, device=device)
        return cache[key]

    def _assemble(self, cpos, neg, k, zero, mu=None) -> Tensor:
        """Float32 values from codes: +-2^k (exact, built from the exponent bits) plus the component mean."""
        p = ((k.to(torch.int32) + 127) << 23).view(torch.float32)
        inner = torch.where(neg, -p, p)
        if self._mode == "shift":
            return inner
        inner = torch.where(zero, torch.zeros_like(inner), inner)
        mu = self._mu_values(k.device, torch.float32) if mu is None else mu
        return inner + torch.where(cpos, mu[1], mu[0])  # exact: both terms lie within a 2^23 window

    def encode(self, w: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-weight code (comp uint8, sign int64 in {-1, 0, 1}, exponent k int64) of a fitted fq/shift
        quantizer. Value (before alpha) = sign * 2^k + mu_c (mu_c = 0 in shift mode); pruned weights get
        sign 0, comp 0 (their value is 0: the mask removes the mean too)."""
        self._check_fitted()
        if self._mode == "int8":
            raise QuantizationError("encode() is for shift/recentralized layers; int8 has no symbol fields")
        m = _shape_mask(mask, w)
        cpos, neg, k, zero = self._codes(w, m)
        sign = torch.where(neg, -1, 1).to(torch.int64)
        sign = torch.where(zero | ~m, torch.zeros_like(sign), sign)
        k = torch.where(sign == 0, torch.full_like(k, self._lo), k).to(torch.int64)
        comp = (cpos & m).to(torch.uint8)
        return comp, sign, k

    def quantized_value(self, w: Tensor, mask: Tensor) -> Tensor:
        """The fully quantized weight without alpha (fq/shift) or with the int8 scale, float32, no grad."""
        self._check_fitted()
        with torch.no_grad():
            m = _shape_mask(mask, w)
            if self._mode == "int8":
                lv, scale = int8_per_channel(w, m)
                return lv.to(torch.float32) * scale.to(w.device).reshape((-1,) + (1,) * (w.dim() - 1))
            cpos, neg, k, zero = self._codes(w, m)
            return self._assemble(cpos, neg, k, zero) * m

    def forward(self, w: Tensor, mask: Tensor | None = None) -> Tensor:
        """Fake-quantized weight: alpha * Q(w) on the INQ-selected surviving weights, the float weight on the
        rest, exact zeros where mask == 0. Straight-through: d out / d w = mask (identity on survivors)."""
        if mask is None:
            mask = self.mask
        m = _shape_mask(mask, w)
        mf = m.to(w.dtype)
        q = self.quantized_value(w, m).to(w.dtype)
        qv = q if self.alpha is None else self.alpha.to(w.dtype) * q
        gmask = mf
        if self._frac < 1.0 and self.qsel.shape == w.shape:
            sel = self.qsel.to(w.device) != 0
            qv = torch.where(sel, qv, w.detach())
            if not self.train_quantized:
                gmask = mf * (~sel).to(w.dtype)
        elif not self.train_quantized:
            gmask = torch.zeros_like(mf)
        return qv * mf + (w - w.detach()) * gmask

    # ------------------------------------------------------------------ INQ fraction
    def set_fraction(self, f: float, w: Tensor | None = None, mask: Tensor | None = None) -> None:
        """Quantize the largest-|w| fraction `f` of the surviving weights (INQ); the rest stays float.

        The selection only grows while f grows (weights once quantized stay quantized); a smaller f starts a
        new selection. f >= 1 quantizes everything."""
        if not 0.0 <= f <= 1.0:
            raise QuantizationError(f"quantized fraction must be in [0, 1], got {f}")
        if w is None:
            w = getattr(self, "_param", None)
            if w is None:
                raise QuantizationError("set_fraction needs the weight: pass w or bind() the quantizer first")
        w = w.detach()
        m = _shape_mask(self.mask if mask is None else mask, w)
        dev = self.fitted.device
        if f >= 1.0:
            self.qsel = torch.ones(w.shape, dtype=torch.uint8, device=dev)
        else:
            keep = self.qsel.shape == w.shape and f >= self._frac
            sel = (self.qsel.to(w.device) != 0) & m if keep else torch.zeros_like(m)
            target = math.ceil(f * int(m.sum()))
            need = target - int(sel.sum())
            if need > 0:
                score = torch.where(m & ~sel, w.abs().to(torch.float64), torch.full_like(w, -1.0, dtype=torch.float64))
                order = torch.sort(score.flatten(), descending=True, stable=True).indices[:need]
                flat = sel.flatten().clone()
                flat[order] = True
                sel = flat.reshape(w.shape)
            self.qsel = sel.to(torch.uint8).to(dev)
        self.fraction = torch.tensor(float(f), dtype=torch.float64, device=dev)
        self.sync_state()

    # ------------------------------------------------------------------ level set / export
    def level_set(self) -> Tensor:
        """Every value a surviving weight can take (before alpha), sorted, float64 (fq/shift only)."""
        self._check_fitted()
        if self._mode == "int8":
            raise QuantizationError("int8 levels are per channel; see export()")
        ks = torch.arange(self._lo, max(self._lo, self._top + 1), dtype=torch.int64)  # empty if lo > top
        p = _pow2(ks)
        if self._mode == "shift":
            vals = torch.cat([-p, p])
        else:
            parts = []
            for s, e in zip(self._mu_sign, self._mu_exp, strict=True):
                mu = s * 2.0**e
                parts += [torch.tensor([mu], dtype=torch.float64), mu - p, mu + p]
            vals = torch.cat(parts)
            vals = vals[vals != 0]
        return torch.unique(vals)

    def b(self) -> int:
        """The nominal per-layer bias b of the (inner) shift quantizer: 2^(e - b) with e in [0, 2^k - 1]
        (inner: (w - mu)/sigma, sigma = 2^sigma_exp)."""
        self._check_fitted()
        e_max = self.n_exp - 1
        if self._mode == "shift":
            return e_max - self._top
        return e_max - (self._top - int(self.sigma_exp))

    def params(self) -> dict:
        """JSON-friendly description of the fit (for reports and QuantWeight.params)."""
        self._check_fitted()
        st = {k: float(v) for k, v in zip(_STATS, self.stats.tolist(), strict=True)}
        st = {k: (None if math.isnan(v) else v) for k, v in st.items()}
        out = {"method": self.method, "mode": self._mode, "bits": self.bits, "W": st["W"],
               "alpha": None if self.alpha is None else float(self.alpha.detach()),
               "fraction": self._frac, "layer_std": st["layer_std"]}
        if self._mode != "int8":
            out.update({"b": self.b(), "exp_lo": self._lo, "exp_hi": self._top, "mu_neg": None, "mu_pos": None,
                        "sigma": None})
        if self._mode == "recentralized":
            mus = [s * 2.0**e for s, e in zip(self._mu_sign, self._mu_exp, strict=True)]
            out.update({"mu_neg": mus[0], "mu_pos": mus[1], "sigma": 2.0 ** int(self.sigma_exp)})
        if st["mu_fit_neg"] is not None:
            out["mixture"] = {"mu": [st["mu_fit_neg"], st["mu_fit_pos"]], "sigma": st["sigma_fit"],
                              "pi": [st["pi_neg"], st["pi_pos"]], "iters": int(st["em_iters"])}
        return out

    def export(self, w: Tensor, mask: Tensor) -> QuantWeight:
        """Integer codebook + codes (+ SymbolFields) + scale with QuantWeight.dequantize() == forward(w, mask)."""
        self._check_fitted()
        w = w.detach()
        m = _shape_mask(mask, w)
        if self._frac < 1.0 and self.qsel.shape == w.shape and bool(((self.qsel.to(w.device) == 0) & m).any()):
            raise QuantizationError(f"layer is only {self._frac:.3g} quantized; set_fraction(1.0) before export")
        params = self.params()
        if self._mode == "int8":
            lv, scale = int8_per_channel(w, m)
            lv = lv.cpu().numpy()
            codebook = np.concatenate([[0], np.arange(-127, 0), np.arange(1, 128)]).astype(np.int64)
            codes = np.where(lv < 0, lv + 128, np.where(lv > 0, lv + 127, 0)).astype(np.uint16)
            return QuantWeight("int8", 8, codes, codebook, scale.cpu().numpy().astype(np.float32), None, params)
        comp, sign, k = (t.cpu().numpy() for t in self.encode(w, m))
        nz = m.cpu().numpy()
        # one int64 key per weight, ordered like (comp, sign, k): 1-D unique is much faster than rows
        lo = self._lo
        keys = ((comp[nz].astype(np.int64) * 3 + sign[nz] + 1) << 8) + (k[nz] - lo)
        ukeys, inv = np.unique(keys, return_inverse=True)
        uniq = np.stack([(ukeys >> 8) // 3, (ukeys >> 8) % 3 - 1, (ukeys & 255) + lo], axis=1).reshape(-1, 3)
        inner_used = uniq[uniq[:, 1] != 0, 2]
        rec = self._mode == "recentralized"
        cands = list(inner_used) + (list(self._mu_exp) if rec else [])
        f_shift = -int(min(cands)) if cands else 0  # F: levels are integers with the smallest exponent at 2^0
        k_min = int(inner_used.min()) if len(inner_used) else 0
        q_shift = k_min + f_shift
        n_sym = len(uniq) + 1
        f_comp = np.zeros(n_sym, np.uint8)
        f_sign = np.zeros(n_sym, np.int8)
        f_exp = np.zeros(n_sym, np.uint8)
        f_comp[1:] = uniq[:, 0]
        f_sign[1:] = uniq[:, 1]
        f_exp[1:] = np.where(uniq[:, 1] != 0, uniq[:, 2] - k_min, 0)
        mu_shift = tuple(e + f_shift for e in self._mu_exp) if rec else (0, 0)
        mu_sign = tuple(self._mu_sign) if rec else (0, 0)
        fields = SymbolFields(f_comp, f_sign, f_exp, int(q_shift), mu_shift, mu_sign)
        codebook = fields.levels()
        if np.abs(codebook).max(initial=0) > (1 << 24):
            raise QuantizationError(f"integer level {int(np.abs(codebook).max())} exceeds 2^24")
        codes = np.zeros(w.shape, np.uint16)
        codes[nz] = (inv.reshape(-1) + 1).astype(np.uint16)
        alpha = np.float32(self.alpha.detach().cpu().reshape(()).item())
        s = np.ldexp(alpha, -f_shift).astype(np.float32)
        if alpha != 0 and (not np.isfinite(s) or abs(s) < np.finfo(np.float32).tiny):
            raise QuantizationError(f"scale alpha * 2^-{f_shift} is not a normal float32")
        params.update({"F": f_shift, "q_shift": int(q_shift)})
        scale = np.full(w.shape[0], s, np.float32)
        return QuantWeight(self._mode, self.bits, codes, codebook, scale, fields, params)


# ---------------------------------------------------------------------- model-level helpers
def make_quantizer(method: str) -> LayerQuantizer:
    """A fresh quantizer for one of METHODS (raises UnknownMethodError, a ValueError, otherwise)."""
    return LayerQuantizer(method)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def attach_quantizers(model: nn.Module, layers: dict[str, str], masks: dict[str, Tensor],
                      seed: int = 0) -> dict[str, LayerQuantizer]:
    """Fit a quantizer per named conv/linear layer and register it as the parametrization of its `weight`.

    Pruned float weights are set to exactly zero; a layer without a mask keeps its non-zeros. The module
    then computes with the fake-quantized weight; the float weight lives on in
    `module.parametrizations.weight.original` (the parameter the optimizer updates)."""
    model = _unwrap(model)
    modules = dict(model.named_modules())
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, LayerQuantizer] = {}
    for name, method in layers.items():
        mod = modules.get(name)
        if mod is None:
            raise InputError(f"layer {name!r}: no such module in the model")
        if parametrize.is_parametrized(mod, "weight"):
            raise InputError(f"layer {name!r}: weight already has a parametrization")
        wp = getattr(mod, "weight", None)
        if not isinstance(wp, nn.Parameter) or wp.dim() not in (2, 4):
            raise InputError(f"layer {name!r}: expected a conv2d/linear weight, got {type(mod).__name__}")
        mask = masks.get(name)
        mask = (wp.detach() != 0) if mask is None else mask
        if tuple(mask.shape) != tuple(wp.shape):
            raise InputError(f"layer {name!r}: mask shape {tuple(mask.shape)} != weight {tuple(wp.shape)}")
        q = make_quantizer(method).to(wp.device)
        q.set_mask(mask.to(wp.device))
        with torch.no_grad():
            wp.mul_(q.mask.to(wp.dtype))
        q.fit(wp.detach(), q.mask, generator=gen)
        parametrize.register_parametrization(mod, "weight", q)
        q.bind(mod.parametrizations.weight.original)
        out[name] = q
    return out


def set_quantized_fraction(qlayers: dict[str, LayerQuantizer], f: float) -> None:
    """INQ step: every layer quantizes the largest-|w| fraction f of its surviving weights (1.0 = all)."""
    for q in qlayers.values():
        q.set_fraction(f)


def refit(qlayers: dict[str, LayerQuantizer], generator: torch.Generator | None = None) -> None:
    """Refit every layer's quantizer to its current float weights (mixture, mode, window, components)."""
    for q in qlayers.values():
        q.fit(q._param.detach(), q.mask, generator=generator)


def export_quantized(model: nn.Module, qlayers: dict[str, LayerQuantizer]) -> dict[str, QuantWeight]:
    """QuantWeight of every quantized layer (the layers must be fully quantized)."""
    modules = dict(_unwrap(model).named_modules())
    out = {}
    for name, q in qlayers.items():
        mod = modules.get(name)
        if mod is None or not parametrize.is_parametrized(mod, "weight"):
            raise InputError(f"layer {name!r}: not a quantized layer of this model")
        try:
            out[name] = q.export(mod.parametrizations.weight.original.detach(), q.mask)
        except QuantizationError as e:
            raise QuantizationError(f"layer {name!r}: {e}") from e
    return out


def remove_quantizers(model: nn.Module, qlayers: dict[str, LayerQuantizer], bake: bool = True) -> None:
    """Remove the parametrizations; with `bake` the plain `weight` keeps the fake-quantized value (alpha
    included), else the float weight."""
    modules = dict(_unwrap(model).named_modules())
    for name in qlayers:
        parametrize.remove_parametrizations(modules[name], "weight", leave_parametrized=bake)
