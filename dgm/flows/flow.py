"""A normalizing flow: a bijection f from data to latent and a base density p_Z.

log p(x | c) = log p_Z(f(x; c)) + log|det ∂f/∂x|; sampling draws z ~ p_Z and returns f⁻¹(z; c).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dgm.bijection import Bijection, Compose
from dgm.distributions import standard_normal
from dgm.models.base import GenerativeModel


class Flow(GenerativeModel):
    """Creates a flow model from a bijection (data → latent) and a standard normal base.

    Args:
        event_shape: shape of one sample.
        transform: f, mapping data to latent.
        context_features: size of the context c (0 for an unconditional flow).
        latent_shape: shape of z = f(x) when it differs from the data's (multi-scale flows).
    """

    density = "exact"

    def __init__(
        self,
        event_shape: tuple[int, ...],
        transform: Bijection,
        context_features: int = 0,
        latent_shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(event_shape)
        self.transform = transform
        self.context_features = context_features
        self.latent_shape = tuple(latent_shape or event_shape)

    def _base(self, like: Tensor):  # noqa: ANN202  (a torch Distribution)
        return standard_normal(self.latent_shape, like)

    def _like(self) -> Tensor:
        return next(self.parameters())

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        z, ladj = self.transform(x, c)
        return self._base(z).log_prob(z) + ladj

    def inverse(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Map data to latent: z = f(x; c)."""
        return self.transform(x, c)[0]

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        z = self._base(self._like()).sample((n,))
        return self.transform.inverse(z, c)[0]

    def trajectory(self, x: Tensor, c: Tensor | None = None) -> list[Tensor]:
        """States after every layer from data to latent (for plots of the flow, layer by layer)."""
        if not isinstance(self.transform, Compose):
            return [x, self.inverse(x, c)]
        return self.transform.trajectory(x, c)

    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        """Run one batch through the flow in training mode to trigger data-dependent init (ActNorm)."""
        was_training = self.training
        self.train()
        n = min(len(x), 4096)
        with torch.no_grad():
            self.transform(x[:n].to(self._like()), None if c is None else c[:n].to(self._like()))
        self.train(was_training)
