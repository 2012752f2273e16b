"""GAN losses against their closed forms, and the critic's optimum D* = p_data / (p_data + p_g)."""

from __future__ import annotations

import pytest
import torch

from dgm.gan.losses import critic_loss_js, critic_loss_least_squares, generator_loss_nonsaturating


def test_losses_equal_their_log_sigmoid_forms() -> None:
    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(d_real.log().mean() + (1 - d_fake).log().mean())
    torch.testing.assert_close(critic_loss_js(real, fake), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        generator_loss_nonsaturating(fake), -d_fake.log().mean(), rtol=1e-12, atol=1e-12
    )


def _optimal_outputs(critic_loss) -> torch.Tensor:  # noqa: ANN001
    """The critic's outputs (d(a), d(b)) minimising `critic_loss` when data and generator live on
    two points a, b with p_data = (0.7, 0.3) and p_g = (0.2, 0.8)."""
    d = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    real = torch.tensor([0] * 7 + [1] * 3)  # a batch of data: 70% a
    fake = torch.tensor([0] * 2 + [1] * 8)  # a batch of generator samples: 20% a
    opt = torch.optim.LBFGS([d], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = critic_loss(d[real], d[fake])
        loss.backward()
        return loss

    opt.step(closure)
    return d.detach()


RATIO = torch.tensor([0.7 / (0.7 + 0.2), 0.3 / (0.3 + 0.8)], dtype=torch.float64)  # p_data / (p_data + p_g)


def test_the_critic_loss_is_minimised_at_the_optimal_discriminator() -> None:
    """D*(x) = σ(d*(x)) = p_data(x) / (p_data(x) + p_g(x)) at both points."""
    torch.testing.assert_close(torch.sigmoid(_optimal_outputs(critic_loss_js)), RATIO, rtol=0, atol=1e-6)


def test_the_least_squares_critic_is_minimised_at_the_ratio() -> None:
    """With LSGAN's targets 0 and 1 the optimal output itself is p_data / (p_data + p_g)."""
    torch.testing.assert_close(_optimal_outputs(critic_loss_least_squares), RATIO, rtol=0, atol=1e-8)


def test_the_other_losses_equal_their_closed_forms() -> None:
    from torch.nn.functional import logsigmoid

    from dgm.gan import losses

    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    close = {"rtol": 1e-12, "atol": 1e-12}
    # the game's value: E log(1 − D(g(z))), D = σ(d)
    torch.testing.assert_close(
        losses.generator_loss_minimax(fake), (1 - fake.sigmoid()).log().mean(), **close
    )
    torch.testing.assert_close(
        losses.critic_loss_hinge(real, fake),
        torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean(),
        **close,
    )
    torch.testing.assert_close(losses.critic_loss_wasserstein(real, fake), fake.mean() - real.mean(), **close)
    torch.testing.assert_close(losses.generator_loss_wasserstein(fake), -fake.mean(), **close)
    pairs_real, pairs_fake = real[:40], fake  # relativistic: D(x, g) = σ(d(x) − d(g)) over pairs
    torch.testing.assert_close(
        losses.critic_loss_relativistic(pairs_real, pairs_fake),
        -logsigmoid(pairs_real - pairs_fake).mean(),
        **close,
    )
    torch.testing.assert_close(
        losses.generator_loss_relativistic(pairs_fake, pairs_real),
        -logsigmoid(pairs_fake - pairs_real).mean(),
        **close,
    )


def test_the_penalties_on_critics_with_known_gradients() -> None:
    """d(x) = wᵀx has ∇d = w everywhere: the WGAN-GP penalty is (‖w‖ − 1)²; d(x) = a‖x‖² has
    ∇d = 2a x: R1 is E[4a²‖x‖²]."""
    from dgm.gan import losses

    w = torch.tensor([0.6, -1.2, 2.0], dtype=torch.float64)
    x, g = torch.randn(30, 3, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    eps = torch.rand(30, dtype=torch.float64)
    gp = losses.gradient_penalty(lambda v: v @ w, x, g, eps)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-12)
    # d(x) = ½‖x‖² has ∇d = x: the penalty sees the interpolates ε x + (1 − ε) g themselves
    mixed = eps[:, None] * x + (1 - eps[:, None]) * g
    gp = losses.gradient_penalty(lambda v: 0.5 * (v**2).sum(1), x, g, eps)
    assert gp.item() == pytest.approx(((mixed.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-12)
    r1 = losses.r1_penalty(lambda v: 0.7 * (v**2).sum(1), x)
    assert r1.item() == pytest.approx((4 * 0.49 * (x**2).sum(1)).mean().item(), rel=1e-12)
