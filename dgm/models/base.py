"""The model contract shared by every family.

A generator g maps a latent distribution to data space. Every model can `sample(n)`. Its
`density` says what it knows of p(x): "exact" (flows: `log_prob(x)`), "bound" (a VAE, a
variationally dequantised flow: `elbo(x)` ≤ log p(x), and an importance-sampled estimate where one
exists) or "none" (a GAN: `log_prob` raises `NoDensityError` rather than return a number).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from dgm.bijection import Bijection
from dgm.errors import NoDensityError
from dgm.utils import one_hot

if TYPE_CHECKING:
    from dgm.data.base import DataSource


class GenerativeModel(nn.Module):
    """Base class: `sample` for all, `log_prob` for the families that have an exact density.

    Args:
        event_shape: shape of one data sample, e.g. (2,) or (1, 28, 28).
    """

    #: "exact" (log_prob), "bound" (elbo ≤ log p) or "none" (samples only).
    density: str = "none"
    #: the kinds of data the model is built for: "points" (vectors) and/or "image" (C, H, W).
    data_kinds: tuple[str, ...] = ("points", "image")
    #: size of the context c (number of classes for a class-conditional model); 0: unconditional.
    context_features: int = 0
    #: training steps when the user gives no length (0: the data-dependent initialisation is the fit).
    default_steps: int = 2000
    #: name of the objective (in dgm.registry.OBJECTIVES) used when the user names none.
    default_objective: str = "mle"
    #: True if the model takes discrete data k/(L−1) as they are (it dequantises them itself, or
    #: dequantize=none); False: discrete data are uniformly dequantised before they reach it
    #: (`dgm.data.dequantize.pipeline_levels`, the one place that decides).
    discrete: bool = False
    #: True if the model is a distribution over binary data: the pipeline binarises grey values,
    #: b ~ Bern(x), afresh for every training batch and once, seeded, for evaluation.
    binary: bool = False
    #: keyword arguments that may be 0; every other number among them (a size, count or scale)
    #: must be positive, and all must be finite (`dgm.build` checks them before building).
    may_be_zero: tuple[str, ...] = ("context_features",)
    #: True if the model also learns from unlabelled samples, whose context c is 0 (M2): a run may
    #: then keep only some labels (`labels` = N).
    semi_supervised: bool = False
    #: what `--init-from RUN` must name when the model cannot train without another run's weights
    #: (vae-m1m2: a trained VAE, M1); None: it starts from its own initialisation.
    init_from_required: str | None = None
    #: True if `log_prob_importance(x, c, k)` estimates log p(x | c) by importance sampling (a
    #: bounded density whose evaluation can report an NLL estimate beside its bound).
    importance_sampled: bool = False
    #: validation points scored per check (None: the whole validation split); models whose
    #: log-density costs an ODE solve per point score a fixed leading subset.
    validation_points: int | None = None
    #: cells per side of the 2-D grid on which evaluation integrates the density (and half that
    #: for the density figure); models whose density costs an ODE solve per point use fewer.
    density_grid: int = 400

    def __init__(self, event_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)

    @classmethod
    def pipeline_defaults(cls, kind: str, model_args: dict[str, Any]) -> tuple[str, str]:
        """(preprocessing, dequantisation of discrete data) when the user names neither, for data of
        `kind` ("points" or "image"): standardised points, logit images, uniform noise."""
        return ("standardize" if kind == "points" else "logit"), "uniform"

    def check_pipeline(self, preprocess: str, dequantize: str, levels: int | None) -> None:
        """Raise ValueError if the model cannot take data prepared this way (default: it can)."""

    @classmethod
    def check_arguments(cls, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
        """Raise ValueError for an argument of a new run, as the user gave it, that the model would
        ignore on data of this shape (default: none)."""

    @classmethod
    def arguments_from_run(cls, model_args: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """The model arguments of a new run that starts from another run's weights (`--init-from`;
        `run` is that run's config.json), with what that run fixes filled in (default: nothing)."""
        return model_args

    @classmethod
    def arguments_from_data(
        cls, model_args: dict[str, Any], source: Callable[[], GenerativeModel], data: DataSource
    ) -> dict[str, Any]:
        """The model arguments of a new run that starts from another run (`--init-from`), with what
        that run's model (`source()` loads it) and the data fix filled in (default: nothing)."""
        return model_args

    @property
    def has_density(self) -> bool:
        """True when `log_prob` is the exact log-density."""
        return self.density == "exact"

    @property
    def log_prob_probes(self) -> int:
        """Hutchinson probes per point behind evaluation's `log_prob`: 0 when it is log p itself,
        k > 0 when it is an estimate of log p (a continuous flow above 32 dimensions: unbiased with a
        fixed-step solver)."""
        return 0

    def reported_density(self) -> str:
        """The density kind as reports show it: `density`, with "(trace estimated)" after an
        exact density whose evaluated log p is an estimate (`log_prob_probes` > 0)."""
        return f"{self.density} (trace estimated)" if self.log_prob_probes else self.density

    @property
    def dim(self) -> int:
        return int(torch.Size(self.event_shape).numel())

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """Draw n samples x = g(z), z ~ p_Z (given context c, shape (n, C)); shape (n, *event_shape)."""
        raise NotImplementedError

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Return log p(x | c) in nats, shape (B,)."""
        if self.density == "bound":
            raise NoDensityError(
                f"{type(self).__name__} has only a bound on its density: use elbo(x), or "
                "log_prob_importance(x, k) for an importance-sampled estimate"
            )
        raise NoDensityError(
            f"{type(self).__name__} defines no tractable density, so it has no log-likelihood; "
            "compare it by sample-based metrics (energy distance) instead"
        )

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Return a lower bound on log p(x | c) (an unbiased one-sample estimate of it), shape (B,)."""
        return self.log_prob(x, c)

    def log_prob_importance(self, x: Tensor, c: Tensor | None = None, k: int = 100) -> Tensor:
        """An importance-sampled estimate of log p(x | c) with K draws (models with
        `importance_sampled`), a lower bound in expectation that tightens as K grows, shape (B,)."""
        raise NoDensityError(f"{type(self).__name__} has no importance-sampled estimate of its density")

    def log_likelihood(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """What training maximises and validation scores: log p(x | c) for an exact density, the
        ELBO for a bounded one, shape (B,)."""
        return self.log_prob(x, c) if self.density == "exact" else self.elbo(x, c)

    def diagnostics(self) -> dict[str, float]:
        """Named quantities that describe the trained model (e.g. solver evaluations), for reports."""
        return {}

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
        self.density = model.density
        self.context_features = model.context_features
        self.default_objective = model.default_objective
        self.binary = model.binary
        self.importance_sampled = model.importance_sampled or self.importance_sampled

    @property
    def core(self) -> GenerativeModel:
        """The model of the preprocessed data y = T(x) (its generator, critic, encoder, …)."""
        return self.model

    def preprocess(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return y = T(x) and log|det ∂T/∂x|, shape (B,)."""
        return self.transform(x)

    def postprocess(self, y: Tensor) -> Tensor:
        """Return x = T⁻¹(y): model-space values (e.g. a generator's output) in data units."""
        return self.transform.inverse(y)[0]

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        return self.postprocess(self.model.sample(n, c))

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        y, ladj = self.transform(x)
        return self.model.log_prob(y, c) + ladj

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        y, ladj = self.transform(x)
        return self.model.elbo(y, c) + ladj

    def log_prob_importance(self, x: Tensor, c: Tensor | None = None, k: int = 100) -> Tensor:
        y, ladj = self.transform(x)
        return self.model.log_prob_importance(y, c, k) + ladj

    @property
    def log_prob_probes(self) -> int:
        return self.model.log_prob_probes

    def diagnostics(self) -> dict[str, float]:
        return self.model.diagnostics()

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
