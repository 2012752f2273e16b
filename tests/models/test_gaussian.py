"""The Gaussian baselines: closed-form MLE, a proper density, gradients, and the model contract."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.errors import NoDensityError
from dgm.models import GenerativeModel, build_model
from dgm.models.gaussian import DiagonalGaussian, Gaussian
from dgm.registry import MODELS, load_all

load_all()
DENSITY_MODELS = [e.name for e in MODELS if e.obj.has_density]


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


@pytest.mark.parametrize("name", DENSITY_MODELS)
def test_density_integrates_to_one_on_a_grid(name: str) -> None:
    model = build_model(name, (2,), "standardize").double()
    x = _data(500)
    model.transform.fit(x)
    model.initialize(x)
    xs = torch.linspace(-6, 8, 400, dtype=torch.float64)
    ys = torch.linspace(-8, 4, 400, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, ys)
    mass = model.log_prob(grid).exp().sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(mass.item() - 1) < 5e-3


@pytest.mark.parametrize("name", [e.name for e in MODELS])
def test_every_model_honours_the_contract(name: str) -> None:
    model = build_model(name, (3,), "standardize").double()
    x = torch.randn(64, 3, dtype=torch.float64)
    model.transform.fit(x)
    model.initialize(x)
    assert isinstance(model, GenerativeModel)
    assert model.sample(7).shape == (7, 3)
    if model.has_density:
        lp = model.log_prob(x)
        assert lp.shape == (64,) and torch.isfinite(lp).all()
        (-lp.mean()).backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    else:
        with pytest.raises(NoDensityError):
            model.log_prob(x)


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
