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


def test_a_batch_normalised_generator_is_also_scored_as_the_seeds_training_loop_drew_it() -> None:
    """With BatchNorm, `seed_energy_batch_stats` scores batches of 64 drawn in training mode: it
    depends on the batches' own statistics, not on the running ones (moved far off here, which
    changes only `seed_energy`), and leaves the model's state as it was. Without BatchNorm in a
    generator there is no such figure."""
    from dgm.data.base import DataSource
    from dgm.gan.gan import GAN
    from dgm.metrics import evaluate
    from dgm.nn import has_batch_norm
    from dgm.vae.vae import VAE

    torch.manual_seed(0)
    shape = (1, 8, 8)
    x = torch.rand(256, *shape, dtype=torch.float64)
    data = DataSource("given", "image", {"train": x, "val": x[:64], "test": x})
    gan = GAN(shape, latent=2, width=4, batch_norm=True).double().eval()
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    out = evaluate(gan, data, "test", ["seed_energy"], n_samples=256)
    assert out["seed_energy_batch_stats_batches"] == out["seed_energy_batches"] == 4
    assert all(torch.equal(v, gan.state_dict()[k]) for k, v in before.items())
    for m in gan.generator.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.add_(5.0)
    off = evaluate(gan, data, "test", ["seed_energy"], n_samples=256)
    assert off["seed_energy_batch_stats"] == out["seed_energy_batch_stats"]
    assert off["seed_energy"] != pytest.approx(out["seed_energy"], rel=1e-3)
    plain = evaluate(GAN(shape, latent=2, width=4).double(), data, "test", ["seed_energy"], n_samples=256)
    assert "seed_energy" in plain and "seed_energy_batch_stats" not in plain
    vae = VAE(shape, latent=2, width=4, network="conv", batch_norm=True).double()  # the seed scored no VAE
    assert has_batch_norm(vae)
    assert "seed_energy_batch_stats" not in evaluate(vae, data, "test", ["seed_energy"])
