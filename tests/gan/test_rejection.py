"""Discriminator rejection sampling: with the exact optimum as its critic (a Jensen-Shannon
critic's logit, or a least-squares critic's D*), a GAN whose generator is a known Gaussian samples
the data distribution, packed or not, with labels or not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor, nn

from dgm.errors import DgmError
from dgm.gan import losses
from dgm.gan.gan import GAN
from dgm.metrics.evaluate import DIAGNOSTICS
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
    """The exact optimum of a packed Jensen-Shannon critic: Σ over the pack of the log ratios; or,
    `least_squares`, of a least-squares one: D* = σ(that sum), the packs' p_data/(p_data + p_g)."""

    def __init__(self, least_squares: bool = False) -> None:
        super().__init__()
        self.least_squares = least_squares

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        m = x.shape[1]
        shift = _shift(None if c is None else c.reshape(-1, 2), x.numel()).reshape(-1, m)
        d = _log_ratio(x, shift).sum(1, keepdim=True)
        return d.sigmoid() if self.least_squares else d


def _gan(pack: int, labels: bool, least_squares: bool = False) -> GAN:
    gan = GAN((1,), latent=1, pack=pack, context_features=2 if labels else 0).double()
    gan.generator, gan.critic = _Generator(), _Critic(least_squares)
    return gan


def _data_cdf(x: np.ndarray) -> np.ndarray:
    return sum(stats.norm.cdf(x, mu, SPREAD) for mu in (-1.0, 1.0)) / 2


@pytest.mark.parametrize("least_squares", [False, True], ids=["js", "least-squares"])
@pytest.mark.parametrize("pack", [1, 3])
def test_rejection_with_the_exact_critic_samples_the_data(pack: int, least_squares: bool) -> None:
    gan = _gan(pack, labels=False, least_squares=least_squares)
    log_ratio = losses.log_ratio_least_squares if least_squares else losses.log_ratio_js
    with seeded(0, torch.device("cpu")), torch.no_grad():
        plain = gan.sample(20000)[:, 0]
        gan.use_rejection(log_ratio)
        corrected = gan.sample(20000)[:, 0]
    assert corrected.shape == (20000,)
    assert stats.kstest(plain.numpy(), _data_cdf).statistic > 0.1  # the generator alone is far off
    # the 1 % critical value of the KS statistic at n = 20,000 is 1.63/√n ≈ 0.0115
    assert stats.kstest(corrected.numpy(), _data_cdf).statistic < 0.0115


def test_rejection_keeps_each_row_its_label() -> None:
    gan = _gan(2, labels=True)
    gan.use_rejection(losses.log_ratio_js)
    labels = torch.arange(10001) % 2
    c = nn.functional.one_hot(labels, 2).double()
    with seeded(0, torch.device("cpu")):
        x = gan.sample(c.shape[0], c)[:, 0]
    for k in (0, 1):
        shifted = (x[labels == k] - k * SHIFT).numpy()
        assert stats.kstest(shifted, _data_cdf).statistic < 0.023  # 1 % critical value at n = 5,000


class _Refusing(nn.Module):
    """A critic sure that every sample is fake: log ratio −20."""

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return torch.full((x.shape[0], 1), -20.0, dtype=x.dtype)


def test_rejection_reports_its_acceptance_and_gives_up_when_nothing_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gan = _gan(1, labels=False)
    gan.use_rejection(losses.log_ratio_js)
    assert gan.sample(0).shape == (0, 1)
    with torch.no_grad():
        gan.sample(1000)
    seen = gan.diagnostics()
    # M near sup d (≈ d(±1)), and the acceptance E_g exp(d − M) = e^{−M} ∫ p_data = e^{−M}
    assert seen["sampling"] == "discriminator rejection"
    bound = seen["log_ratio_bound"]
    assert 0.95 * float(_log_ratio(torch.tensor(1.0), torch.tensor(0.0))) < bound
    assert seen["acceptance"] == pytest.approx(math.exp(-bound), rel=0.05)
    assert {k for k, v in seen.items() if not isinstance(v, str)} <= DIAGNOSTICS.keys()  # reports define them
    monkeypatch.setattr("dgm.gan.rejection.MAX_PROPOSALS_PER_SAMPLE", 2)
    gan.critic = _Refusing()
    gan.use_rejection(losses.log_ratio_js)  # a fresh bound
    with pytest.raises(DgmError, match="leaves almost nothing accepted"):
        gan.sample(10)


#: what each adversarial objective's critic holds at its optimum (None: no density ratio)
LOG_RATIOS = {
    "gan-ns": losses.log_ratio_js,
    "gan-minimax": losses.log_ratio_js,
    "pacgan": losses.log_ratio_js,
    "flow-gan": losses.log_ratio_js,
    "lsgan": losses.log_ratio_least_squares,
    "hinge": None,
    "wgan": None,
    "wgan-gp": None,
    "wgan-sn": None,
    "r3gan": None,
}


def test_each_objective_gives_the_sampler_its_critics_log_ratio_or_refuses() -> None:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.gan.objectives import Adversarial, check_rejection
    from dgm.registry import OBJECTIVES

    assert set(LOG_RATIOS) == {e.name for e in OBJECTIVES if issubclass(e.obj, Adversarial)}
    for objective, expected in LOG_RATIOS.items():
        config = {"model": "gan", "objective": objective, "train": {"ema": None}}
        if expected is None:
            with pytest.raises(DgmError, match=f"objective is {objective}"):
                check_rejection(GAN((2,)), config)
        else:
            assert check_rejection(GAN((2,)), config) is expected
