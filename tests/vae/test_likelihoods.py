"""Every decoder likelihood is a normalised distribution over its support."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from dgm.vae.likelihoods import Bernoulli, ContinuousBernoulli, DiscretizedLogistic, Gaussian


def test_bernoulli_sums_to_one_over_binary_vectors() -> None:
    h = torch.randn(1, 3, dtype=torch.float64) * 2
    support = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    total = Bernoulli().log_prob(support, h.expand(8, -1)).exp().sum()
    assert total.item() == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("levels", [2, 4, 256])
def test_discretized_logistic_sums_to_one_over_the_levels(levels: int) -> None:
    # One element, so that the sum over the support is a sum over L levels; scales from sharp to wide.
    lik = DiscretizedLogistic(levels)
    k = torch.arange(levels, dtype=torch.float64)[:, None] / (levels - 1)
    for loc, log_scale in [(0.3, -4.0), (0.5, 0.0), (-0.2, -1.0), (1.3, -6.0)]:
        h = torch.tensor([[loc, log_scale]], dtype=torch.float64).expand(levels, -1)
        # log_prob is on the continuous scale, log P(k) + log L: undo the shift to get P(k).
        total = (lik.log_prob(k, h) - math.log(levels)).exp().sum()
        assert total.item() == pytest.approx(1, abs=1e-9)


@pytest.mark.parametrize("levels", [2, 16, 256])
def test_discretized_logistic_mean_is_the_expectation_over_the_levels(levels: int) -> None:
    lik = DiscretizedLogistic(levels)
    k = torch.arange(levels, dtype=torch.float64)[:, None] / (levels - 1)
    for loc, log_scale in [(0.3, -4.0), (0.5, 0.0), (-0.2, -1.0), (1.3, -6.0), (0.71, -7.0)]:
        h = torch.tensor([[loc, log_scale]], dtype=torch.float64)
        p = (lik.log_prob(k, h.expand(levels, -1)) - math.log(levels)).exp()
        assert lik.mean(h).item() == pytest.approx((p * k[:, 0]).sum().item(), abs=1e-12)


def test_discretized_logistic_is_sharp_and_stable_in_float32() -> None:
    lik = DiscretizedLogistic(256)
    x = torch.tensor([[0.5], [0.9]])
    h = torch.tensor([[0.5, -20.0], [0.1, -20.0]])  # the scale is clamped at e^−8
    near, far = lik.log_prob(x, h)
    assert math.log(256) - 0.01 < near.item() <= math.log(256)  # almost all mass in x's own cell
    assert torch.isfinite(far) and far.item() < -100  # far in the tail, yet no −inf or NaN


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_gaussian_integrates_to_one(sigma: float) -> None:
    lik = Gaussian(sigma)
    x = torch.linspace(-12, 12, 40001, dtype=torch.float64)[:, None]
    h = torch.tensor([[0.7, -0.5]][0][: lik.params], dtype=torch.float64).expand(len(x), -1)
    mass = torch.trapezoid(lik.log_prob(x, h).exp(), x[:, 0])
    assert mass.item() == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("logit", [-4.0, -0.3, 0.0, 1e-4, 2.5])
def test_continuous_bernoulli_integrates_to_one_on_the_unit_interval(logit: float) -> None:
    x = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    h = torch.full_like(x, logit)
    mass = torch.trapezoid(ContinuousBernoulli().log_prob(x, h).exp(), x[:, 0])
    assert mass.item() == pytest.approx(1, abs=1e-6)


def test_the_binary_cross_entropy_of_grey_values_is_no_density() -> None:
    """The seed's VAE scored grey values with the Bernoulli formula: its integral is not one."""
    x = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    mass = torch.trapezoid(Bernoulli().log_prob(x, torch.zeros_like(x)).exp(), x[:, 0])
    assert mass.item() == pytest.approx(0.5, abs=1e-6)  # (½)^x (½)^(1−x) = ½ for λ = ½


@pytest.mark.parametrize(
    "lik", [Gaussian(), Gaussian(0.1), Bernoulli(), ContinuousBernoulli(), DiscretizedLogistic(16)]
)
def test_samples_and_means_have_the_data_shape(lik) -> None:  # noqa: ANN001
    h = torch.randn(5, lik.params * 2, 4, 4)
    for x in (lik.sample(h), lik.mean(h)):
        assert x.shape == (5, 2, 4, 4) and torch.isfinite(x).all()
