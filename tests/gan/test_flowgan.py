"""Flow-GAN on vectors and images: every adversarial objective trains it, its critic matches the
data it is given, and what it cannot use is refused rather than ignored."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model, build_objective
from dgm.flows.recipes import Glow, RealNVP
from dgm.gan.flowgan import FlowGAN
from dgm.gan.objectives import Adversarial
from dgm.objectives.base import StepContext
from dgm.registry import OBJECTIVES

ADVERSARIAL = [e.name for e in OBJECTIVES if issubclass(e.obj, Adversarial)]


@pytest.mark.parametrize("objective", ADVERSARIAL)
def test_an_image_flow_gan_trains_under_every_adversarial_objective(objective: str) -> None:
    """Each player's loss is finite and reaches that player's parameters; the critic's leaves the
    generator alone (its samples are detached)."""
    torch.manual_seed(0)
    model = build_model("flow-gan", (1, 8, 8), "logit", {"width": 4}).double()
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64) * 0.9 + 0.05
    model.initialize(x)
    obj = build_objective(objective, {})
    for player in ("critic", "generator"):
        model.zero_grad()
        loss, _ = obj.loss(player, model, (x,), StepContext(0))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is not None for p in obj.parameters(player, model))
        if player == "critic":
            assert all(p.grad is None for p in model.core.generator.parameters())


def test_the_generator_follows_the_data_and_a_run_of_the_vector_model_still_loads() -> None:
    assert isinstance(FlowGAN((1, 8, 8)).generator, Glow) and isinstance(FlowGAN((2,)).generator, RealNVP)
    old = FlowGAN((2,), flow="realnvp")  # what runs saved before flow=auto
    FlowGAN((2,)).load_state_dict(old.state_dict())
    with pytest.raises(ValueError, match="no registered finite flow of images \\(glow\\)"):
        FlowGAN((1, 8, 8), flow="realnvp")


@pytest.mark.parametrize(
    ("shape", "given"),
    [((1, 8, 8), {"hidden": [8]}), ((1, 8, 8), {"activation": "tanh"}), ((2,), {"width": 8})],
)
def test_a_setting_for_the_critic_not_built_is_refused(shape: tuple[int, ...], given: dict) -> None:
    with pytest.raises(ValueError, match=f"{next(iter(given))} is not for the"):
        FlowGAN.check_arguments(given, shape)
    FlowGAN.check_arguments({"width": 8} if len(shape) == 3 else {"hidden": [8]}, shape)


def test_variational_dequantisation_is_refused() -> None:
    with pytest.raises(ValueError, match="dequantize=uniform"):
        FlowGAN((1, 8, 8)).check_pipeline("logit", "variational", 17)
    FlowGAN((1, 8, 8)).check_pipeline("logit", "uniform", 17)
