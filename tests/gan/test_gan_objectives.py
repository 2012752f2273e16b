"""The adversarial objectives against what their critics should learn: D* = p_data/(p_data + p_g)
for the Jensen-Shannon game, the exact W1 of optimal transport (POT) for a Wasserstein critic,
gradient norms of 1 under the gradient penalty, and clipped weights after every step."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import ot
import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_objective
from dgm.errors import DgmError
from dgm.gan.gan import GAN
from dgm.gan.losses import gradient_norms
from dgm.objectives.base import StepContext
from dgm.utils import seeded


def _train_critic(
    gan: GAN, objective: str, real: torch.Tensor, fake: torch.Tensor, steps: int, lr: float
) -> None:
    """Train only the critic against a fixed generator whose samples are `fake`."""
    obj = build_objective(objective, {})
    opt = torch.optim.Adam(gan.critic.parameters(), lr=lr, betas=(0.5, 0.9))
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        i = torch.randint(len(real), (256,), generator=gen)
        j = torch.randint(len(fake), (256,), generator=gen)
        x, g = real[i], fake[j]
        real_d, fake_d = gan.score(x), gan.score(g)
        penalties = obj.penalty(gan.score, x, g, StepContext(step))
        loss = obj.critic_loss(real_d, fake_d) + sum(penalties.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step("critic", gan)


def _normal_log_pdf(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))


@pytest.mark.parametrize("objective", ["gan-ns", "lsgan"])
def test_the_trained_discriminator_approaches_the_optimal_one(objective: str) -> None:
    """p_data = N(0, 1), p_g = N(1, 0.5²) in 1-D: D*(x) = p_data / (p_data + p_g) (for LSGAN's
    targets 0 and 1 the optimal d(x) itself is that ratio)."""
    torch.manual_seed(0)
    gan = GAN((1,), hidden=(64, 64)).double()
    real = torch.randn(20_000, 1, dtype=torch.float64)
    fake = 1 + 0.5 * torch.randn(20_000, 1, dtype=torch.float64)
    _train_critic(gan, objective, real, fake, steps=800, lr=3e-3)
    x = torch.linspace(-1.0, 1.5, 51, dtype=torch.float64)[:, None]  # where both have mass
    p, q = _normal_log_pdf(x, 0, 1).exp(), _normal_log_pdf(x, 1, 0.5).exp()
    with torch.no_grad():
        d = gan.score(x)
        learned = d.sigmoid() if objective == "gan-ns" else d
    assert (learned - (p / (p + q))[:, 0]).abs().max() < 0.06


def _ring_and_blob(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points of 8 Gaussians on a circle of radius 2, and n of one Gaussian of std 0.5."""
    angle = torch.randint(8, (n,)).double() * math.pi / 4
    ring = 2 * torch.stack([angle.cos(), angle.sin()], 1) + 0.1 * torch.randn(n, 2, dtype=torch.float64)
    return ring, 0.5 * torch.randn(n, 2, dtype=torch.float64)


def test_the_wgan_gp_critic_estimates_the_exact_w1_and_has_unit_gradients() -> None:
    """Data: 8 Gaussians on a circle; generator: one wide Gaussian. The penalty holds the gradient
    norm near 1 on the interpolates, and on fresh samples the critic's gap E d(x) − E d(g), per
    unit of slope, approaches W1 between them, computed exactly by POT."""
    torch.manual_seed(1)
    gan = GAN((2,), hidden=(64, 64), activation="relu").double()
    _train_critic(gan, "wgan-gp", *_ring_and_blob(4000), steps=1000, lr=2e-3)
    real, fake = _ring_and_blob(2000)
    uniform = torch.full((2000,), 1 / 2000, dtype=torch.float64)
    w1 = ot.emd2(uniform, uniform, torch.cdist(real, fake)).item()
    with torch.no_grad():
        gap = (gan.score(real).mean() - gan.score(fake).mean()).item()
    eps = torch.rand(2000, 1, dtype=torch.float64)
    norms = gradient_norms(gan.score, eps * real + (1 - eps) * fake).detach()
    assert (norms - 1).abs().mean() < 0.1
    # The penalty is soft: the critic's slope settles near 1 + δ with δ ≈ W1/2λ (maximising
    # (1 + δ) W1 − λδ²), and its gap near (1 + δ) W1; rescaled by the slope it is W1.
    assert gap / norms.mean().item() == pytest.approx(w1, rel=0.05)


def test_weight_clipping_holds_after_every_critic_step() -> None:
    torch.manual_seed(2)
    gan = GAN((2,), hidden=(32, 32)).double()
    assert max(p.abs().max() for p in gan.critic.parameters()) > 0.01  # the initial weights exceed it
    real = torch.randn(1000, 2, dtype=torch.float64) + 3
    fake = torch.randn(1000, 2, dtype=torch.float64)
    obj = build_objective("wgan", {})
    opt = torch.optim.RMSprop(gan.critic.parameters(), lr=5e-3)
    for step in range(20):
        loss, terms = obj.loss("critic", gan, (real[step * 50 : (step + 1) * 50],), StepContext(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step("critic", gan)
        assert all(p.abs().max() <= 0.01 for p in gan.critic.parameters())
        assert "w1_estimate" in terms
    del fake


def test_clip_first_clamps_before_each_critic_step_as_the_seed_did() -> None:
    """With clip_first every critic loss sees clamped weights, and the step then leaves some
    weight outside the bound by at most about one RMSprop step (lr/sqrt(1 - α) at the first)."""
    torch.manual_seed(2)
    gan = GAN((2,), hidden=(32, 32)).double()
    real = torch.randn(1000, 2, dtype=torch.float64) + 3
    obj = build_objective("wgan", {"clip_first": True})
    lr = 5e-3
    opt = torch.optim.RMSprop(gan.critic.parameters(), lr=lr)
    outside = []
    for step in range(20):
        loss, _ = obj.loss("critic", gan, (real[step * 50 : (step + 1) * 50],), StepContext(step))
        assert all(p.abs().max() <= 0.01 for p in gan.critic.parameters())
        opt.zero_grad()
        loss.backward()
        opt.step()
        obj.after_step("critic", gan)
        largest = max(p.abs().max().item() for p in gan.critic.parameters())
        assert largest <= 0.01 + 11 * lr  # RMSprop's first step is lr/sqrt(0.01) at most
        outside.append(largest > 0.01)
    assert any(outside)


def test_a_spectrally_normalised_critic_is_1_lipschitz() -> None:
    """Every dense layer's weight has spectral norm 1 (the critic's weights are first scaled up, so
    that without the normalisation its gradients would exceed 1 by far), and so the critic's
    gradient norm is at most 1."""
    torch.manual_seed(3)
    gan = GAN((2,), hidden=(64, 64), spectral_norm=True).double()
    with torch.no_grad():
        for name, p in gan.critic.named_parameters():
            if "original" in name:  # the weights before normalisation
                p.mul_(10)
    x = 3 * torch.randn(500, 2, dtype=torch.float64)
    for _ in range(30):  # power iterations run in training mode, one per forward pass
        gan.score(x)
    gan.eval()
    layers = [m for m in gan.critic.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        assert torch.linalg.matrix_norm(layer.weight, 2).item() == pytest.approx(1.0, abs=1e-3)
        raw = layer.parametrizations.weight.original
        assert torch.linalg.matrix_norm(raw, 2).item() > 2
    assert gradient_norms(gan.score, x).max() <= 1.0 + 1e-3


def test_the_wgan_sn_critic_bounds_w1_from_below() -> None:
    """A spectrally normalised MLP critic with leaky ReLUs is 1-Lipschitz, so its trained gap
    E d(x) − E d(g) on fresh samples lies below the exact W1 (POT), yet takes a good part of it;
    without the normalisation the same training grows the gap past W1."""
    real, fake = _ring_and_blob(2000)
    uniform = torch.full((2000,), 1 / 2000, dtype=torch.float64)
    w1 = ot.emd2(uniform, uniform, torch.cdist(real, fake)).item()
    gaps = {}
    for normalised in (True, False):
        torch.manual_seed(4)
        gan = GAN((2,), hidden=(32, 32), spectral_norm=normalised).double()
        _train_critic(gan, "wgan-sn", *_ring_and_blob(4000), steps=150, lr=2e-3)
        gan.eval()
        with torch.no_grad():
            gaps[normalised] = (gan.score(real).mean() - gan.score(fake).mean()).item()
        if normalised:
            assert gradient_norms(gan.score, torch.cat([real, fake])).max() <= 1.0 + 1e-3
    assert 0.3 * w1 < gaps[True] <= w1  # about half of it: layer-wise normalisation is conservative
    assert gaps[False] > 2 * w1


def test_wgan_sn_refuses_a_critic_that_is_not_1_lipschitz() -> None:
    """Without spectral normalisation, or with BatchNorm (whose scale it leaves alone)."""
    objective = build_objective("wgan-sn", {})
    with pytest.raises(DgmError, match="spectrally normalised"):
        objective.setup(GAN((2,), spectral_norm=False), lambda run: None)
    with pytest.raises(DgmError, match="BatchNorm's scale"):
        objective.setup(GAN((1, 8, 8), spectral_norm=True, batch_norm=True), lambda run: None)
    objective.setup(GAN((1, 8, 8), spectral_norm=True), lambda run: None)


def _small(shape: tuple[int, ...]) -> dict[str, Any]:
    """Small networks: convolutions of width 4 for images, an MLP of 8 units for vectors."""
    return {"width": 4} if len(shape) == 3 else {"hidden": (8,)}


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_a_conditional_gan_feeds_the_label_to_both_players(shape: tuple[int, ...]) -> None:
    torch.manual_seed(4)
    gan = GAN(shape, latent=2, **_small(shape), context_features=3).double()
    z = torch.randn(6, 2, dtype=torch.float64)
    c = torch.eye(3, dtype=torch.float64).repeat(2, 1)
    other = c.roll(1, dims=1)
    assert not torch.allclose(gan.generate(z, c), gan.generate(z, other))
    x = gan.sample(6, c).detach()
    assert x.shape == (6, *shape) and not torch.allclose(gan.score(x, c), gan.score(x, other))
    # The label's effect on the score depends on x: the critic judges whether x fits its label (a
    # label that only shifted the score by a constant per class would leave the generator free to
    # ignore it; the image critic once did: `ProjectionCritic`).
    y = torch.rand(6, *shape, dtype=torch.float64)
    effect = gan.score(x, c) - gan.score(x, other)
    assert not torch.allclose(effect, gan.score(y, c) - gan.score(y, other))
    for objective in ("wgan-gp", "r3gan"):  # penalties differentiate through the labelled critic
        obj = build_objective(objective, {})
        for player in ("critic", "generator"):
            gan.zero_grad()
            loss, _ = obj.loss(player, gan, (x, c), StepContext(0))
            loss.backward()
            assert all(p.grad is not None for p in obj.parameters(player, gan))


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_the_hybrid_flow_gan_adds_lambda_times_the_exact_nll_to_the_generator(shape: tuple[int, ...]) -> None:
    """On vectors (RealNVP, MLP critic) and images (Glow, convolutional critic), in the data's units."""
    from dgm.build import build_model

    torch.manual_seed(5)
    if len(shape) == 1:
        model = build_model("flow-gan", shape, "standardize").double()
        x = torch.randn(64, *shape, dtype=torch.float64) * 3 + 1
        model.transform.fit(x)
    else:
        model = build_model("flow-gan", shape, "logit").double()
        x = torch.rand(64, *shape, dtype=torch.float64) * 0.9 + 0.05
        model.initialize(x)
    losses = {}
    for weight in (0.0, 2.5):
        torch.manual_seed(6)
        losses[weight], terms = build_objective("flow-gan", {"weight": weight}).loss(
            "generator", model, (x,), StepContext(0)
        )
    nll = -model.log_prob(x).mean()  # in the data's units: the standardisation's Jacobian included
    assert (losses[2.5] - losses[0.0]).item() == pytest.approx(2.5 * nll.item(), rel=1e-10)
    assert terms["nll"].item() == pytest.approx(nll.item(), rel=1e-10)


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_a_packing_critic_scores_groups_of_consecutive_samples(shape: tuple[int, ...]) -> None:
    torch.manual_seed(7)
    gan = GAN(shape, latent=2, **_small(shape), pack=4).double()
    x = torch.rand(8, *shape, dtype=torch.float64)
    scores = gan.score(x)
    assert scores.shape == (2,)
    swapped = x.clone()
    swapped[[0, 4]] = x[[4, 0]]  # a sample moves to the other group: both groups' scores change
    assert not torch.allclose(gan.score(swapped), scores)
    assert gradient_norms(gan.score, x).shape == (2,)  # one norm per packed input
    loss, _ = build_objective("wgan-gp", {}).loss("critic", gan, (x,), StepContext(0))
    assert torch.isfinite(loss)
    with pytest.raises(DgmError, match="divisible by 4"):
        gan.score(x[:6])
    # In training, a batch of 7 is one pack of 4: the same loss as the first 4 samples alone.
    objective = build_objective("gan-ns", {})
    with seeded(3, torch.device("cpu")):
        seven = objective.loss("critic", gan, (x[:7],), StepContext(0))[0]
    with seeded(3, torch.device("cpu")):
        four = objective.loss("critic", gan, (x[:4],), StepContext(0))[0]
    assert seven.item() == four.item()
    for batch, world_size in ((3, 1), (7, 2)):  # less than a pack; a pack split between processes
        with pytest.raises(DgmError, match="multiple of 4"):
            objective.loss("critic", gan, (x[:batch],), StepContext(0, 0, world_size))


def test_pacgan_refuses_a_critic_that_packs_nothing_and_batches_that_split_a_pack() -> None:
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.train.fit import resolve

    objective = build_objective("pacgan", {})
    objective.setup(GAN((2,), pack=2), lambda run: None)
    with pytest.raises(DgmError, match="packed samples"):
        objective.setup(GAN((2,), pack=1), lambda run: None)
    ring8 = load_data("ring8")
    config = RunConfig(model="gan", data="ring8", objective="pacgan", devices=2)
    with pytest.raises(DgmError, match="multiple of 6"):  # 128 per process, not whole triples
        resolve(config, ring8)
    assert resolve(replace(config, batch_size=384), ring8).model_args["pack"] == 3


def test_a_batch_normalised_gan_samples_per_sample_and_refuses_what_batchnorm_breaks() -> None:
    """DCGAN's BatchNorm (`batch_norm=true`): both image networks have it; out of training a
    sample does not depend on the rest of its batch; without it the weights keep the names of runs
    made before the option; gradient penalties (per sample) and the MLPs (GAN's, VAE's) refuse it."""
    from dgm.errors import DgmError
    from dgm.nn import has_batch_norm
    from dgm.vae.networks import ConvDecoder
    from dgm.vae.vae import VAE

    torch.manual_seed(3)
    shape = (1, 8, 8)
    gan = GAN(shape, latent=2, width=4, batch_norm=True).double()
    assert has_batch_norm(gan.generator) and has_batch_norm(gan.critic)
    assert not has_batch_norm(GAN(shape, latent=2, width=4).critic)
    x = torch.rand(16, *shape, dtype=torch.float64)
    loss, _ = build_objective("gan-ns", {}).loss("critic", gan, (x,), StepContext(0))
    loss.backward()  # training mode: batch statistics, and the running ones move
    assert gan.critic.conv[1].running_mean.abs().sum() > 0
    gan.eval()
    z = torch.randn(6, 2, dtype=torch.float64)
    torch.testing.assert_close(gan.generate(z)[:1], gan.generate(z[:1]))
    torch.testing.assert_close(gan.score(x)[:2], gan.score(x[:2]))

    def names(layers: tuple[str, ...]) -> list[str]:
        return sorted(f"{m}.{p}" for m in layers for p in ("weight", "bias"))

    assert sorted(ConvDecoder(shape, 2, 4, torch.nn.ReLU, 0, 1).state_dict()) == names(
        ("dense.0", "deconv.0", "deconv.2")
    )
    assert sorted(GAN(shape, latent=2, width=4).critic.state_dict()) == names(("conv.0", "conv.2", "dense"))
    for objective in ("wgan-gp", "r3gan"):
        with pytest.raises(DgmError, match="leave batch_norm out"):
            build_objective(objective, {}).setup(gan, lambda run: gan)
    build_objective("wgan", {}).setup(gan, lambda run: gan)  # clipping is per weight: allowed
    with pytest.raises(ValueError, match="batch_norm is for the convolutional networks"):
        GAN.check_arguments({"batch_norm": True}, (2,))
    GAN.check_arguments({"batch_norm": True}, shape)
    with pytest.raises(ValueError, match="batch_norm is for the convolutional networks"):
        VAE.check_arguments({"batch_norm": True, "network": "mlp"}, shape)


@pytest.mark.parametrize("model_name", ["gan", "flow-gan"])
def test_a_logged_generator_step_reports_the_seed_statistic_in_data_units(model_name: str) -> None:
    """The seed's training statistic: the first 64 samples of the step, mapped back to the data's
    units, against the first 64 data points of the batch; only on a step that is logged."""
    from dgm.build import build_model
    from dgm.metrics.samples import seed_energy_statistic

    torch.manual_seed(8)
    model = build_model(model_name, (2,), "standardize").double()
    x = torch.randn(100, 2, dtype=torch.float64) * 3 + 1
    model.transform.fit(x)
    objective = build_objective("gan-ns" if model_name == "gan" else "flow-gan", {})
    torch.manual_seed(9)
    z = torch.randn(100, model.core.latent, dtype=torch.float64)  # the step's noise, as it draws it
    samples = model.postprocess(model.core.generate(z))
    for logging in (False, True):
        torch.manual_seed(9)
        _, terms = objective.loss("generator", model, (x,), StepContext(0, logging=logging))
        assert ("seed_energy" in terms) == logging
    assert "seed_energy" not in objective.loss("critic", model, (x,), StepContext(0, logging=True))[1]
    expected = seed_energy_statistic(samples[:64], x[:64])
    assert terms["seed_energy"].item() == pytest.approx(expected.item(), rel=1e-12)
    # in the model's own units (standardised) the statistic differs: the figure is the data's
    assert (
        abs(seed_energy_statistic(model.preprocess(samples[:64])[0], model.preprocess(x[:64])[0]) - expected)
        > 1e-3
    )
