"""The VAE objectives: what they optimise and how their gradients are estimated."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model, build_objective
from dgm.errors import DgmError
from dgm.objectives.base import StepContext
from dgm.vae.vae import VAE


def _grads(vae: VAE, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    vae.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in vae.named_parameters()}


def test_dreg_leaves_the_decoder_gradient_and_the_value_alone_and_is_unbiased_for_the_encoder() -> None:
    torch.manual_seed(0)
    vae = VAE((3,), latent=2, hidden=(8,), activation="tanh", likelihood="gaussian", sigma=0.5).double()
    x = torch.randn(2, 3, dtype=torch.float64).repeat(20_000, 1)  # 20,000 draws for each of 2 points
    ctx = StepContext(0)
    torch.manual_seed(1)
    plain_loss, _ = build_objective("iwae", {"k": 4, "dreg": False}).loss("model", vae, (x,), ctx)
    plain = _grads(vae, plain_loss)
    torch.manual_seed(1)  # the same draws
    dreg_loss, _ = build_objective("iwae", {"k": 4}).loss("model", vae, (x,), ctx)
    dreg = _grads(vae, dreg_loss)
    assert dreg_loss.item() == pytest.approx(plain_loss.item(), abs=1e-12)  # both report −IWAE_K
    for name in plain:
        if name.startswith("decoder"):
            assert torch.allclose(dreg[name], plain[name], atol=1e-12), name
        else:  # two unbiased estimates of one gradient; DReG's is the less noisy
            assert torch.allclose(dreg[name], plain[name], atol=0.02, rtol=0.05), name


def test_elbo_warmup_scales_the_kl_term() -> None:
    torch.manual_seed(0)
    vae = VAE((3,), latent=2).double()
    x = torch.randn(16, 3, dtype=torch.float64)
    objective = build_objective("elbo", {"warmup": 10})
    losses = []
    for step in (0, 4, 9, 50):
        torch.manual_seed(2)
        loss, terms = objective.loss("model", vae, (x,), StepContext(step))
        losses.append(loss.item())
        beta = min(1.0, (step + 1) / 10)
        assert loss.item() == pytest.approx((terms["rec"] + beta * terms["kl"]).item(), rel=1e-12)
    assert losses[2] == pytest.approx(losses[3])  # β reached 1 at step 9


def test_the_loss_is_the_negative_elbo_in_data_space() -> None:
    """With standardised data, the loss adds log|det ∂T/∂x|: its value bounds −log p(x), not −log p(T(x))."""
    torch.manual_seed(0)
    x = torch.randn(64, 3, dtype=torch.float64) * 5 + 2
    model = build_model("vae", (3,), "standardize").double()
    model.transform.fit(x)
    torch.manual_seed(3)
    loss, _ = build_objective("elbo", {}).loss("model", model, (x,), StepContext(0))
    torch.manual_seed(3)
    assert loss.item() == pytest.approx(-model.elbo(x).mean().item(), rel=1e-12)


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_vae_objectives_refuse_other_models(objective: str) -> None:
    model = build_model("realnvp", (2,), "standardize")
    with pytest.raises(DgmError, match="trains VAEs"):
        build_objective(objective, {}).setup(model, lambda run: model)
