"""The GAN model: x = g(z), z ~ N(0, I_q); a critic d scores samples; no density."""

from __future__ import annotations

from torch import Tensor, nn

from dgm.distributions import standard_normal
from dgm.models.base import GenerativeModel
from dgm.nn import MLP
from dgm.registry import MODELS

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


@MODELS.register("gan", "GAN with MLP generator and critic, for vectors (Goodfellow et al., 2014)")
class GAN(GenerativeModel):
    """Creates a GAN for vectors: generator g: R^q → R^D and critic d: R^D → R (a logit).

    Trained by a two-player objective (default `gan-ns`, the non-saturating Jensen-Shannon game).
    `log_prob` raises `NoDensityError`: judge a GAN by sample-based metrics.

    Args:
        event_shape: (D,).
        latent: q, the dimension of z.
        hidden: hidden sizes of both networks.
        activation: relu, leaky_relu or elu.

    Example:
        >>> GAN((2,), latent=4).sample(5).shape
        torch.Size([5, 2])
    """

    data_kinds = ("points",)
    default_objective = "gan-ns"
    default_steps = 3000

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        latent: int = 8,
        hidden: tuple[int, ...] = (128, 128),
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__(event_shape)
        if len(self.event_shape) != 1:
            raise ValueError(f"gan models vectors, not data of shape {self.event_shape}")
        if latent < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"latent and hidden sizes must be positive, got {latent} and {hidden}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        act = ACTIVATIONS[activation]
        self.latent = latent
        self.generator = MLP(latent, self.dim, hidden, activation=act)
        self.critic = MLP(self.dim, 1, hidden, activation=act)

    def generate(self, z: Tensor) -> Tensor:
        """x = g(z), shape (B, D)."""
        return self.generator(z)

    def score(self, x: Tensor) -> Tensor:
        """The critic's logit d(x), shape (B,)."""
        return self.critic(x).squeeze(-1)

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        p = next(self.parameters())
        return self.generate(standard_normal((self.latent,), p).sample((n,)))
