"""The seed paper's energy statistic, against a plain double loop over its definition."""

from __future__ import annotations

import math

import pytest
import torch

from dgm.metrics.samples import seed_energy_statistic


def _by_loops(x: torch.Tensor, y: torch.Tensor, eps: float = 0.1) -> float:
    def c(a: torch.Tensor, b: torch.Tensor) -> float:
        return sum(math.sqrt(float(((ai - bj) ** 2).sum()) + eps) for ai in a for bj in b)

    n, m = len(x), len(y)
    return n * m / (n + m) * (2 / (n * m) * c(x, y) - c(x, x) / n**2 - c(y, y) / m**2) / (n + m)


def test_the_statistic_follows_its_definition() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 1, 2, 2, generator=g, dtype=torch.float64)
    y = torch.randn(5, 1, 2, 2, generator=g, dtype=torch.float64) + 0.5
    expected = _by_loops(x.flatten(1), y.flatten(1))
    assert seed_energy_statistic(x, y).item() == pytest.approx(expected, rel=1e-10)


def test_it_vanishes_for_the_same_sample_and_grows_with_a_shift() -> None:
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    assert seed_energy_statistic(x, x).item() == pytest.approx(0, abs=1e-12)
    shifts = [seed_energy_statistic(x, x + s).item() for s in (0.1, 0.5, 2.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
