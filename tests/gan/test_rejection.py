"""Discriminator rejection sampling: with the exact log density ratio as its critic, a GAN whose
generator is a known Gaussian samples the data distribution, packed or not, with labels or not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor, nn

from dgm.gan.gan import GAN
from dgm.utils import seeded

#: the data: ½ N(−1, 0.3²) + ½ N(1, 0.3²), shifted by 3 for label 1; the generator: N(shift, 2²)
SCALE, SPREAD, SHIFT = 2.0, 0.3, 3.0


def _shift(c: Tensor | None, n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.float64) if c is None else SHIFT * c[:, 1]


def _log_ratio(x: Tensor, shift: Tensor) -> Tensor:
    """log p_data(x) − log p_g(x), both of shift `shift`."""
    y = x - shift
    data = torch.logsumexp(torch.stack([-((y - mu) ** 2) / (2 * SPREAD**2) for mu in (-1.0, 1.0)]), 0)
    data = data - math.log(2 * SPREAD * math.sqrt(2 * math.pi))
    return data - (-(y**2) / (2 * SCALE**2) - math.log(SCALE * math.sqrt(2 * math.pi)))


class _Generator(nn.Module):
    """g(z; c) = 2z + shift(c): p_g = N(shift, 4)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(SCALE, dtype=torch.float64))

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.scale * z + _shift(c, z.shape[0])[:, None]


class _Critic(nn.Module):
    """The exact optimum of a packed Jensen-Shannon critic: Σ over the pack of the log ratios."""

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        m = x.shape[1]
        shift = _shift(None if c is None else c.reshape(-1, 2), x.numel()).reshape(-1, m)
        return _log_ratio(x, shift).sum(1, keepdim=True)


def _gan(pack: int, labels: bool) -> GAN:
    gan = GAN((1,), latent=1, pack=pack, context_features=2 if labels else 0).double()
    gan.generator, gan.critic = _Generator(), _Critic()
    return gan


def _data_cdf(x: np.ndarray) -> np.ndarray:
    return sum(stats.norm.cdf(x, mu, SPREAD) for mu in (-1.0, 1.0)) / 2


@pytest.mark.parametrize("pack", [1, 3])
def test_rejection_with_the_exact_critic_samples_the_data(pack: int) -> None:
    gan = _gan(pack, labels=False)
    with seeded(0, torch.device("cpu")), torch.no_grad():
        plain = gan.sample(20000)[:, 0]
        gan.use_rejection()
        corrected = gan.sample(20000)[:, 0]
    assert corrected.shape == (20000,)
    assert stats.kstest(plain.numpy(), _data_cdf).statistic > 0.1  # the generator alone is far off
    # the 1 % critical value of the KS statistic at n = 20,000 is 1.63/√n ≈ 0.0115
    assert stats.kstest(corrected.numpy(), _data_cdf).statistic < 0.0115


def test_rejection_keeps_each_row_its_label() -> None:
    gan = _gan(2, labels=True)
    gan.use_rejection()
    labels = torch.arange(10001) % 2
    c = nn.functional.one_hot(labels, 2).double()
    with seeded(0, torch.device("cpu")):
        x = gan.sample(c.shape[0], c)[:, 0]
    for k in (0, 1):
        shifted = (x[labels == k] - k * SHIFT).numpy()
        assert stats.kstest(shifted, _data_cdf).statistic < 0.02
