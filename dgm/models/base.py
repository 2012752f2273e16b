"""The model contract shared by every family.

A generator g maps a latent distribution to data space. Every model can `sample(n)`. Models with
an exact density add `log_prob(x)`; models with only a bound name it (a VAE's `elbo`); a model
with no density (a GAN) raises `NoDensityError` from `log_prob` rather than return a number.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dgm.errors import NoDensityError
from dgm.flows.base import Bijection
from dgm.utils import one_hot


class GenerativeModel(nn.Module):
    """Base class: `sample` for all, `log_prob` for the families that have an exact density.

    Args:
        event_shape: shape of one data sample, e.g. (2,) or (1, 28, 28).
    """

    has_density: bool = False
    #: the kinds of data the model is built for: "points" (vectors) and/or "image" (C, H, W).
    data_kinds: tuple[str, ...] = ("points", "image")
    #: size of the context c (number of classes for a class-conditional model); 0: unconditional.
    context_features: int = 0
    #: training steps when the user gives no length (0: the data-dependent initialisation is the fit).
    default_steps: int = 2000
    #: name of the objective (in dgm.registry.OBJECTIVES) used when the user names none.
    default_objective: str = "mle"
    #: True if log_prob takes discrete data k/(L−1) as they are (the model dequantises them itself);
    #: False: discrete data are uniformly dequantised before they reach the model.
    discrete: bool = False

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)

    @property
    def dim(self) -> int:
        return int(torch.Size(self.event_shape).numel())

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """Draw n samples x = g(z), z ~ p_Z (given context c, shape (n, C)); shape (n, *event_shape)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Return log p(x | c) in nats, shape (B,)."""
        raise NoDensityError(
            f"{type(self).__name__} defines no tractable density, so it has no log-likelihood; "
            "compare it by sample-based metrics (energy distance) instead"
        )

    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        """Data-dependent initialisation from (a batch of) training data x (and contexts c)."""


class Preprocessed(GenerativeModel):
    """A model of y = T(x) seen in data space: log p(x) = log p_Y(T(x)) + log|det ∂T/∂x|.

    Samples are mapped back with T⁻¹, so both likelihoods and samples are in the user's units.
    """

    def __init__(self, model: GenerativeModel, transform: Bijection) -> None:
        super().__init__(model.event_shape)
        self.model = model
        self.transform = transform
        self.has_density = model.has_density
        self.context_features = model.context_features
        self.default_objective = model.default_objective

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        x, _ = self.transform.inverse(self.model.sample(n, c))
        return x

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        y, ladj = self.transform(x)
        return self.model.log_prob(y, c) + ladj

    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        self.model.initialize(self.transform(x)[0], c)


def sample_labelled(model: GenerativeModel, n: int, labels: Tensor | None = None) -> Tensor:
    """n samples; a conditional model draws them for `labels` (default: uniform over its classes)."""
    k = model.context_features
    if not k:
        return model.sample(n)
    if labels is None:
        labels = torch.randint(k, (n,))
    p = next(model.parameters())
    return model.sample(n, one_hot(labels[:n], k, p))
