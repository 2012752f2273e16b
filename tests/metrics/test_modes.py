"""Mode coverage against samples whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.data import load_data
from dgm.metrics.modes import mode_statistics


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_the_truth_covers_every_mode_evenly(name: str) -> None:
    data = load_data(name)
    centres, std = data.modes
    stats = mode_statistics(data.sample(40_000, torch.Generator().manual_seed(0)), centres, std)
    assert stats["modes_covered"] == stats["modes_total"] == len(centres)
    # In 2-D, P(‖ε‖ ≤ 3σ) = 1 − exp(−9/2) = 0.9889: the best a model can score.
    assert stats["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert 0 <= stats["mode_reverse_kl"] < 0.005


def test_a_collapsed_sample_scores_one_mode_and_log_k() -> None:
    data = load_data("ring8")
    centres, std = data.modes
    collapsed = centres[3] + std * torch.randn(1000, 2, dtype=torch.float64)
    stats = mode_statistics(collapsed, centres, std)
    assert stats["modes_covered"] == 1
    assert stats["mode_reverse_kl"] == pytest.approx(math.log(8))
    far = mode_statistics(torch.zeros(10, 2), centres, std)  # the ring's centre: no mode near
    assert far["high_quality"] == 0 and far["modes_covered"] == 0
