"""Tied-sigma two-component Gaussian mixture (EM), posterior sampling, W metric."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fq_hls.compress.mixture import (
    TiedMixture,
    fit_tied_mixture,
    initial_mixture,
    sample_components,
)

torch.set_num_threads(1)


def draw(n, mu, sigma, pi_pos, seed):
    g = torch.Generator().manual_seed(seed)
    comp = torch.rand(n, generator=g) < pi_pos
    x = torch.where(comp, torch.tensor(mu[1]), torch.tensor(mu[0])) + sigma * torch.randn(n, generator=g)
    return x.double(), comp


@settings(max_examples=8, deadline=None)
@given(st.floats(0.3, 3.0), st.floats(0.2, 0.8), st.floats(0.05, 0.3), st.integers(0, 2**16))
def test_em_recovers_a_known_tied_mixture(sep, pi_pos, sigma, seed):
    mu = (-0.4 * sep, 0.6 * sep)
    if (mu[1] - mu[0]) / sigma < 4:  # well separated, so the MLE is near the truth
        sigma = (mu[1] - mu[0]) / 4
    x, _ = draw(20000, mu, sigma, pi_pos, seed)
    m = fit_tied_mixture(x)
    tol = 0.05 * (mu[1] - mu[0])
    assert abs(m.mu[0] - mu[0]) < tol and abs(m.mu[1] - mu[1]) < tol
    assert abs(m.sigma - sigma) < 0.05 * sigma
    assert abs(m.pi[1] - pi_pos) < 0.03 and abs(sum(m.pi) - 1) < 1e-9


def test_em_matches_sklearn_tied_gmm():
    sk = pytest.importorskip("sklearn.mixture")
    x, _ = draw(5000, (-0.3, 0.5), 0.25, 0.4, 3)  # overlapping components: EM itself matters
    m = fit_tied_mixture(x, max_iter=2000, tol=1e-10)
    ref = sk.GaussianMixture(2, covariance_type="tied", tol=1e-10, max_iter=2000,
                             means_init=[[m.mu[0]], [m.mu[1]]], random_state=0).fit(x.numpy().reshape(-1, 1))
    order = np.argsort(ref.means_.ravel())
    assert np.allclose(np.array(m.mu), ref.means_.ravel()[order], atol=1e-4)
    assert math.isclose(m.sigma, math.sqrt(float(ref.covariances_.ravel()[0])), rel_tol=1e-4)
    assert np.allclose(np.array(m.pi), ref.weights_[order], atol=1e-4)
    assert math.isclose(m.loglik, float(ref.score(x.numpy().reshape(-1, 1))), rel_tol=1e-6)


def test_initialisation_from_negative_and_positive_weights():
    x = torch.tensor([-3.0, -1.0, 2.0, 4.0, 6.0], dtype=torch.float64)
    m = initial_mixture(x)
    assert m.mu == (-2.0, 4.0) and m.pi == (0.5, 0.5)
    pooled = (2 * 1.0 + 3 * (8 / 3)) / 5  # population variances of each side, pooled
    assert math.isclose(m.sigma, math.sqrt(pooled))
    one_sided = initial_mixture(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    assert one_sided.mu[0] < one_sided.mu[1]


def test_posterior_and_w_metric():
    m = TiedMixture((-1.0, 1.0), 0.5, (0.5, 0.5))
    p = m.posterior(torch.tensor([-5.0, 0.0, 5.0]))
    assert p[0] < 1e-6 and abs(p[1] - 0.5) < 1e-12 and p[2] > 1 - 1e-6
    assert math.isclose(m.w_metric(2.0), 4.0 / 4.0)
    lj = m.log_joint(torch.tensor([0.3]))
    dens = [0.5 * math.exp(-0.5 * ((0.3 - mu) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi)) for mu in (-1.0, 1.0)]
    assert torch.allclose(lj.exp().squeeze(), torch.tensor(dens, dtype=torch.float64))


def test_sampling_follows_the_posterior():
    post = torch.full((20000,), 0.3, dtype=torch.float64)
    c = sample_components(post, torch.Generator().manual_seed(0))
    assert c.dtype == torch.uint8 and abs(float(c.double().mean()) - 0.3) < 0.02
    assert torch.all(sample_components(torch.ones(100, dtype=torch.float64)) == 1)
    assert torch.all(sample_components(torch.zeros(100, dtype=torch.float64)) == 0)


def test_large_inputs_are_thinned_deterministically():
    x, _ = draw(300000, (-1.0, 1.0), 0.2, 0.5, 1)
    a = fit_tied_mixture(x, max_samples=50000)
    b = fit_tied_mixture(x, max_samples=50000)
    assert a == b and abs(a.mu[1] - 1.0) < 0.02


def test_too_few_values():
    with pytest.raises(ValueError):
        fit_tied_mixture(torch.tensor([1.0]))
