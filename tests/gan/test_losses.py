"""GAN losses against their closed forms, and the critic's optimum D* = p_data / (p_data + p_g)."""

from __future__ import annotations

import torch

from dgm.gan.losses import critic_loss_js, generator_loss_nonsaturating


def test_losses_equal_their_log_sigmoid_forms() -> None:
    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected = -(d_real.log().mean() + (1 - d_fake).log().mean())
    torch.testing.assert_close(critic_loss_js(real, fake), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        generator_loss_nonsaturating(fake), -d_fake.log().mean(), rtol=1e-12, atol=1e-12
    )


def test_the_critic_loss_is_minimised_at_the_optimal_discriminator() -> None:
    """Data and generator on two points a, b with p_data = (0.7, 0.3), p_g = (0.2, 0.8): the logits
    minimising the critic's loss give D*(x) = p_data(x) / (p_data(x) + p_g(x)) at both points."""
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)  # d(a), d(b)
    real = torch.tensor([0] * 7 + [1] * 3)  # a batch of data: 70% a
    fake = torch.tensor([0] * 2 + [1] * 8)  # a batch of generator samples: 20% a
    opt = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = critic_loss_js(logits[real], logits[fake])
        loss.backward()
        return loss

    opt.step(closure)
    expected = torch.tensor([0.7 / (0.7 + 0.2), 0.3 / (0.3 + 0.8)], dtype=torch.float64)
    torch.testing.assert_close(torch.sigmoid(logits.detach()), expected, rtol=0, atol=1e-6)
