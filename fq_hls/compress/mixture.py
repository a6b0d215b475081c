"""Two-component Gaussian mixture with a tied standard deviation, fitted by EM (focused quantization's model
of a pruned layer's weights: one peak left of the pruned gap, one right of it).

Everything is computed in float64 on the tensor's device; the layer's non-zero weights go in as a 1-D tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class TiedMixture:
    """p(x) = pi[0] N(x; mu[0], sigma^2) + pi[1] N(x; mu[1], sigma^2); component 0 is the negative one."""

    mu: tuple[float, float]
    sigma: float
    pi: tuple[float, float]
    iters: int = 0
    loglik: float = float("nan")  # mean log-likelihood per sample at the final parameters

    def log_joint(self, x: Tensor) -> Tensor:
        """log(pi_c N(x; mu_c, sigma^2)) for c = 0, 1, shape (N, 2), float64."""
        x = x.to(torch.float64).reshape(-1, 1)
        mu = torch.tensor(self.mu, dtype=torch.float64, device=x.device)
        logpi = torch.log(torch.tensor(self.pi, dtype=torch.float64, device=x.device).clamp_min(1e-300))
        return logpi - 0.5 * ((x - mu) / self.sigma) ** 2 - math.log(self.sigma) - 0.5 * _LOG_2PI

    def posterior(self, x: Tensor) -> Tensor:
        """P(component = 1 (positive) | x), float64, same shape as x."""
        lj = self.log_joint(x)
        return torch.sigmoid(lj[:, 1] - lj[:, 0]).reshape(x.shape)

    def w_metric(self, layer_std: float) -> float:
        """Separation metric W = ((mu+ - mu-)^2 + (sigma+ - sigma-)^2) / sigma_layer^2 (the sigma term is 0:
        the deviations are tied)."""
        if layer_std <= 0.0:
            return 0.0
        return (self.mu[1] - self.mu[0]) ** 2 / layer_std**2


def initial_mixture(x: Tensor) -> TiedMixture:
    """EM start: means/stds of the negative and the positive weights, equal mixing weights.

    A one-signed layer (no negative or no positive weights) is split at its median instead, so that both
    components start with data."""
    x = x.to(torch.float64).flatten()
    neg, pos = x[x < 0], x[x > 0]
    if neg.numel() == 0 or pos.numel() == 0:
        med = x.median()
        neg, pos = x[x <= med], x[x > med]
        if pos.numel() == 0:  # all equal
            neg, pos = x, x
    var = _pooled_var(neg, pos)
    sigma = math.sqrt(var) if var > 0 else _floor_sigma(x)
    return TiedMixture((float(neg.mean()), float(pos.mean())), sigma, (0.5, 0.5))


def _pooled_var(a: Tensor, b: Tensor) -> float:
    va = float(a.var(unbiased=False)) if a.numel() > 1 else 0.0
    vb = float(b.var(unbiased=False)) if b.numel() > 1 else 0.0
    return (a.numel() * va + b.numel() * vb) / max(a.numel() + b.numel(), 1)


def _floor_sigma(x: Tensor) -> float:
    # a positive floor keeps the likelihood finite on degenerate data (all weights equal)
    scale = float(x.abs().max()) if x.numel() else 0.0
    return max(scale * 1e-6, 1e-12)


def fit_tied_mixture(x: Tensor, max_iter: int = 300, tol: float = 1e-7, max_samples: int = 1 << 18) -> TiedMixture:
    """Maximum-likelihood tied-sigma 2-component mixture by EM.

    Stops when the largest change of mu and sigma, relative to the data's std, falls below `tol`, or after
    `max_iter` iterations. More than `max_samples` values are thinned by a fixed stride (deterministic, and
    plenty for five parameters). Raises ValueError on fewer than two values."""
    x = x.to(torch.float64).flatten()
    if x.numel() > max_samples:
        x = x[:: -(-x.numel() // max_samples)]
    n = x.numel()
    if n < 2:
        raise ValueError(f"a mixture needs at least 2 values, got {n}")
    floor = _floor_sigma(x)
    ref = max(float(x.std(unbiased=False)), floor)
    mix = initial_mixture(x)
    mu = torch.tensor(mix.mu, dtype=torch.float64, device=x.device)
    pi = torch.tensor(mix.pi, dtype=torch.float64, device=x.device)
    sigma = mix.sigma
    xc = x.reshape(-1, 1)
    it = 0
    while it < max_iter:
        it += 1
        # E-step: responsibilities (softmax over the two log joints)
        lj = torch.log(pi.clamp_min(1e-300)) - 0.5 * ((xc - mu) / sigma) ** 2
        r = torch.softmax(lj, dim=1)
        # M-step: weights, means, the tied variance
        nk = r.sum(0).clamp_min(1e-12)
        new_mu = (r * xc).sum(0) / nk
        new_sigma = max(math.sqrt(float((r * (xc - new_mu) ** 2).sum()) / n), floor)
        new_pi = nk / n
        delta = max(float((new_mu - mu).abs().max()), abs(new_sigma - sigma)) / ref
        mu, sigma, pi = new_mu, new_sigma, new_pi
        if delta < tol:
            break
    out = TiedMixture((float(mu[0]), float(mu[1])), sigma, (float(pi[0]), float(pi[1])), it)
    ll = float(torch.logsumexp(out.log_joint(x), dim=1).mean())
    if out.mu[0] > out.mu[1]:  # keep component 0 the left (negative) one
        out = TiedMixture((out.mu[1], out.mu[0]), out.sigma, (out.pi[1], out.pi[0]), it, ll)
    return TiedMixture(out.mu, out.sigma, out.pi, it, ll)


def sample_components(post: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw each weight's component from its posterior P(c = 1 | w) (not the argmax): uint8, 1 = positive.

    The uniforms are drawn on the CPU so that a given generator gives the same assignment on every device."""
    u = torch.rand(post.shape, generator=generator, dtype=torch.float64)
    return (u.to(post.device) < post.to(torch.float64)).to(torch.uint8)
