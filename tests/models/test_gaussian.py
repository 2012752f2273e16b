"""The Gaussian baselines: closed-form MLE, a proper density, gradients, and the model contract."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.build import build_model
from dgm.errors import NoDensityError
from dgm.models import GenerativeModel
from dgm.models.gaussian import DiagonalGaussian, Gaussian


def _data(n: int = 4000) -> torch.Tensor:
    a = torch.tensor([[1.0, 0.0], [0.8, 0.4]], dtype=torch.float64)
    return torch.randn(n, 2, dtype=torch.float64) @ a.T + torch.tensor([1.0, -2.0], dtype=torch.float64)


def test_full_gaussian_log_prob_matches_torch_distributions() -> None:
    x = _data()
    g = Gaussian((2,)).double().fit(x)
    ref = torch.distributions.MultivariateNormal(x.mean(0), torch.cov(x.T, correction=0))
    assert torch.allclose(g.log_prob(x), ref.log_prob(x), atol=1e-6)


def test_fit_is_the_maximum_of_the_likelihood() -> None:
    """Gradient of the mean log-likelihood vanishes at the closed-form fit."""
    x = _data()
    for cls in (Gaussian, DiagonalGaussian):
        g = cls((2,), ridge=0.0).double().fit(x)
        g.log_prob(x).mean().backward()
        for p in g.parameters():
            assert p.grad.abs().max() < 1e-8, cls.__name__


def test_diagonal_gaussian_ignores_correlation() -> None:
    x = _data()
    g = DiagonalGaussian((2,)).double().fit(x)
    ref = torch.distributions.Normal(x.mean(0), x.std(0, correction=0)).log_prob(x).sum(1)
    assert torch.allclose(g.log_prob(x), ref, atol=1e-6)


def test_preprocessing_jacobian_enters_log_prob() -> None:
    """log p(x) for data scaled by s differs by exactly −D log s: likelihoods stay in data units."""
    x = _data()
    a = build_model("gaussian", (2,), "standardize").double()
    b = build_model("gaussian", (2,), "standardize").double()
    for m, data in ((a, x), (b, 10 * x)):
        m.transform.fit(data)
        m.initialize(data)
    assert torch.allclose(b.log_prob(10 * x), a.log_prob(x) - 2 * math.log(10), atol=1e-8)


def test_model_without_density_raises_clear_error() -> None:
    with pytest.raises(NoDensityError, match="no tractable density"):
        GenerativeModel((2,)).log_prob(torch.zeros(1, 2))
