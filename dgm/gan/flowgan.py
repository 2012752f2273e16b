"""Flow-GAN (Grover, Dhar & Ermon, 2018): a normalizing flow as a GAN's generator.

The generator x = f⁻¹(z) is invertible, so the model keeps its exact log-likelihood
log p(x) = log N(f(x)) + log|det ∂f/∂x| whichever way it is trained: by maximum likelihood
(`mle`), adversarially (any GAN objective), or by both (`flow-gan`: the generator minimises its
adversarial loss plus λ·E_data[−log p(x)]). Training adversarially and reading the NLL shows in
numbers what the adversarial game does to likelihood.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from dgm.flows.recipes import finite_flow
from dgm.gan.gan import conv_critic
from dgm.gan.objectives import NonSaturatingGAN
from dgm.models.base import GenerativeModel
from dgm.nn import activation_class
from dgm.objectives.base import StepContext, preprocessed
from dgm.registry import MODELS, OBJECTIVES
from dgm.vae.networks import ContextMLP


@MODELS.register(
    "flow-gan", "Flow-GAN: a normalizing flow as the generator, with its exact NLL (Grover et al., 2018)"
)
class FlowGAN(GenerativeModel):
    """Creates a Flow-GAN: a registered finite flow as generator, and a critic: an MLP for vectors,
    DCGAN's convolutional discriminator (`conv_critic`) for images.

    The critic judges data as the flow sees it (after the preprocessing, e.g. the logit of
    dequantised images), where the generator draws its samples.

    Args:
        event_shape: (D,) vectors or (C, H, W) images.
        flow: the generator, a registered finite flow at its default arguments: realnvp, nice,
            maf or nsf for vectors, glow for images; auto (recorded as such in a run's config, so
            its meaning is fixed): realnvp for vectors, glow for images.
        hidden: hidden sizes of the critic (vectors).
        width: channels of the critic's first convolution (images; the second has 2·width).
        activation: the MLP critic's activation, a name in `dgm.nn.ACTIVATIONS` (vectors).

    Example:
        >>> import torch
        >>> FlowGAN((2,)).log_prob(torch.randn(5, 2)).shape
        torch.Size([5])
    """

    density = "exact"
    default_objective = "flow-gan"
    default_steps = 3000

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        flow: str = "auto",
        hidden: tuple[int, ...] = (128, 128),
        width: int = 32,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__(event_shape)
        image = len(self.event_shape) == 3
        if flow == "auto":
            flow = "glow" if image else "realnvp"
        self.generator = finite_flow(flow, self.event_shape)
        if image:
            self.critic: nn.Module = conv_critic(self.event_shape, width)
        else:
            self.critic = ContextMLP(self.dim, 1, hidden, activation_class(activation), 0)
        self.latent = self.dim  # z ~ N(0, I_D), flat (a multi-scale flow splits it itself)

    @classmethod
    def check_arguments(cls, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
        """Refuse a setting of the critic not built: hidden sizes or an activation on images (DCGAN's
        critic has leaky ReLUs of its own), a width on vectors."""
        if len(event_shape) == 3:
            ignored, built, takes = ("hidden", "activation"), "convolutional", "width"
        else:
            ignored, built, takes = ("width",), "MLP", "hidden, activation"
        for name in ignored:
            if name in given:
                raise ValueError(f"{name} is not for the {built} critic of this data, which takes {takes}")

    def check_pipeline(self, preprocess: str, dequantize: str, levels: int | None) -> None:
        """Uniform noise only: a variational dequantiser belongs to neither player of the game, and the
        critic would compare the raw discrete images with the generator's continuous ones."""
        if dequantize == "variational":
            raise ValueError("a Flow-GAN dequantises its images uniformly: use dequantize=uniform")

    def generate(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """x = f⁻¹(z)."""
        return self.generator.transform.inverse(z)[0]

    def score(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.critic(x).reshape(x.shape[0])

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        return self.generator.log_prob(x)

    def inverse(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The flow's map from data to latent, z = f(x)."""
        return self.generator.inverse(x)

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.generator.sample(n)

    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        self.generator.initialize(x)


@OBJECTIVES.register(
    "flow-gan", "hybrid Flow-GAN: non-saturating GAN + λ·NLL for the generator (Grover et al., 2018)"
)
class HybridFlowGAN(NonSaturatingGAN):
    """The non-saturating game, with the generator also minimising λ·E_data[−log p(x)] (its
    exact likelihood on the batch): λ = 0 is the pure GAN, large λ approaches maximum likelihood.

    Args:
        weight: λ, the weight of the NLL in the generator's loss.
    """

    example_model = "flow-gan"
    may_be_zero = ("weight",)

    def __init__(self, *, weight: float = 1.0) -> None:
        self.weight = weight

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        loss, terms = super().loss(player, model, batch, ctx)
        if player != "generator" or not self.weight:
            return loss, terms
        y, ladj = preprocessed(model, batch[0])
        nll = -(getattr(model, "core", model).log_prob(y) + ladj).mean()
        return loss + self.weight * nll, {**terms, "nll": nll.detach()}
