"""The d-dimensional Gaussian mixtures: the density is the mixture's, the stored entropy agrees
with a fresh Monte Carlo estimate, splits are fixed."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.data import load_data
from dgm.data.mixture import COMPONENTS, DIMENSIONS, ENTROPIES, STD, monte_carlo_entropy


@pytest.mark.parametrize("d", DIMENSIONS)
def test_log_prob_is_the_mixture_density(d: int) -> None:
    data = load_data(f"gmm{d}")
    assert data.event_shape == (d,) and data.has_true_density
    x = torch.randn(5, d, dtype=torch.float64)
    want = torch.stack(
        [
            torch.distributions.MultivariateNormal(m, STD**2 * torch.eye(d, dtype=torch.float64)).log_prob(x)
            for m in data.means
        ]
    ).logsumexp(0) - math.log(COMPONENTS)
    assert torch.allclose(data.log_prob(x), want, atol=1e-10)


@pytest.mark.parametrize("d", DIMENSIONS)
def test_stored_entropy_agrees_with_a_fresh_estimate(d: int) -> None:
    h, se = ENTROPIES[d]
    fresh, fresh_se = monte_carlo_entropy(d, 200_000, seed=7)  # independent of the stored draws
    assert abs(fresh - h) < 4 * math.hypot(se, fresh_se)
    test = load_data(f"gmm{d}")
    nll = -test.log_prob(test.split("test").double())
    assert abs(nll.mean().item() - h) < 4 * math.hypot(se, nll.std().item() / math.sqrt(len(nll)))


def test_splits_are_fixed() -> None:
    assert torch.equal(load_data("gmm8").split("val"), load_data("gmm8").split("val"))
