"""M1+M2 (Kingma, Rezende, Mohamed & Welling, 2014): the semi-supervised M2 on the latent code of
a VAE, M1, trained first without labels.

M1 is a VAE p(x | z₁) p(z₁) with encoder q(z₁ | x); M2 models M1's active units z₁ᴬ as its data,
with p(y) p(z₂) and p(z₁ᴬ | y, z₂) Gaussian, and classifies z₁ᴬ by q(y | z₁ᴬ). The other units, Ā,
which M1 left at its prior (their posterior mean hardly varies over the data), keep that prior:
M2 would only model noise there, and its classifier would read it. M1 is frozen, so the stacked
model is the two-layer latent variable model p(x | z₁) p_M2(z₁ᴬ) N(z₁ᴬ̄; 0, I), and

    log p(x | y) ≥ E_q(z₁|x)[log p(x | z₁) − log q(z₁ | x) + ELBO_M2(z₁ᴬ | y) + log N(z₁ᴬ̄; 0, I)],

with U_M2(z₁ᴬ) ≤ log p(z₁ᴬ) in place of ELBO_M2(z₁ᴬ | y) for an unlabelled x (see `dgm.vae.m2`).
Freezing M1 and dropping its inactive units are Kingma et al.'s recipe; the bound holds for any M1
and any choice of units. Frozen, M1 codes each training image once, without the pipeline's noise
(the grey image, not a binarisation of it): M2 trains on draws z₁ ~ q(z₁ | x) from those stored
posteriors, as Kingma et al.'s did, and classifies by the posterior mean μ₁(x).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.data.dequantize import pipeline_noise
from dgm.distributions import log_normal
from dgm.errors import DgmError
from dgm.models.base import GenerativeModel
from dgm.objectives.base import noise_free
from dgm.registry import MODELS
from dgm.vae.m2 import M2
from dgm.vae.vae import VAE

#: M1's units whose posterior mean varies over the training data with a standard deviation above
#: this are active (Burda et al., 2016: variance above 10⁻²; Kingma et al. kept the same units)
ACTIVE_STD = 0.1

#: the arguments of M1 (a `vae`), each an argument `m1_<name>` of vae-m1m2, copied from its run
M1_ARGUMENTS = ("latent", "hidden", "width", "network", "activation", "likelihood", "sigma", "levels")


def _plain(value: Any) -> Any:
    """A JSON list and a tuple of the same sizes compare equal as lists."""
    return list(value) if isinstance(value, list | tuple) else value


@MODELS.register(
    "vae-m1m2",
    "M2 on the latent code of a trained VAE, M1 (Kingma et al., 2014): --init-from the VAE's run",
)
class M1M2(GenerativeModel):
    """Creates M1+M2: a frozen VAE, M1, whose latent code z₁ a semi-supervised M2 models.

    Train M1 first (`dgm train vae`), then this model with `--init-from` M1's run, which copies
    M1's weights and its architecture (the `m1_*` arguments, which must not contradict it). The
    same data and preprocessing as M1's are the user's to give. `elbo(x, c)` bounds log p(x | y),
    `elbo(x)` log p(x), `log_prob_importance` estimates them and `classify(x)` is q(y | μ₁ᴬ(x)).
    M2 trains on `codes(x)` of the training data at the mean of the pipeline's noise (grey images
    for a binary M1, cell centres for a dequantising one; a static binarisation as it is), and its
    classifier is scored at that mean too (`classifies_noise_mean`).

    Args:
        m1_latent, m1_hidden, m1_width, m1_network, m1_activation, m1_likelihood, m1_sigma,
            m1_levels: M1's arguments (see `vae`).
        m1_active: the indices of M1's units that M2 models (empty: all). `--init-from` fills in,
            unless given, the units whose posterior mean varies over the training data (its
            standard deviation > 0.1, at the noise's mean); to model all of them, list them all.
        latent: the dimension of M2's z₂.
        hidden: hidden sizes of M2's encoder and decoder MLPs.
        classifier_hidden: hidden sizes of the classifier's MLP.
        activation: M2's activation.
        classes, context_features: as for `vae-m2`.

    Example:
        >>> import torch
        >>> m = M1M2((4,), m1_latent=3, latent=2, classes=3)
        >>> m.elbo(torch.randn(5, 4)).shape, m.classify(torch.randn(5, 4)).shape
        (torch.Size([5]), torch.Size([5]))
    """

    density = "bound"
    importance_sampled = True
    semi_supervised = True
    default_objective = "m2"
    default_steps = 5000
    init_from_required = "a trained VAE (M1)"
    #: the objective's bound is M2's on M1's code, not the bound on log p(x | y) of `elbo`
    semi_supervised_bound = "code_bound"
    #: M2 trains on codes of the data without the pipeline's noise, at its mean (`PipelineNoise.mean`:
    #: grey images, not binarisations), so its classifier is scored there too
    classifies_noise_mean = True
    may_be_zero = (*GenerativeModel.may_be_zero, "m1_sigma", "m1_active")

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        m1_latent: int = 8,
        m1_hidden: tuple[int, ...] = (256, 256),
        m1_width: int = 32,
        m1_network: str = "auto",
        m1_activation: str = "relu",
        m1_likelihood: str = "gaussian",
        m1_sigma: float = 0.0,
        m1_levels: int = 256,
        m1_active: tuple[int, ...] = (),
        latent: int = 50,
        hidden: tuple[int, ...] = (500,),
        classifier_hidden: tuple[int, ...] = (500,),
        activation: str = "softplus",
        classes: int = 10,
        context_features: int = 0,
    ) -> None:
        super().__init__(event_shape)
        self.m1 = VAE(
            event_shape,
            latent=m1_latent,
            hidden=m1_hidden,
            width=m1_width,
            network=m1_network,
            activation=m1_activation,
            likelihood=m1_likelihood,
            sigma=m1_sigma,
            levels=m1_levels,
        )
        self.m1.requires_grad_(False)  # trained before, without labels (Kingma et al.'s recipe)
        if len(set(m1_active)) != len(m1_active) or not all(0 <= u < m1_latent for u in m1_active):
            raise ValueError(f"m1_active must name distinct units of M1's {m1_latent}, got {list(m1_active)}")
        active = torch.tensor(sorted(m1_active)) if m1_active else torch.arange(m1_latent)
        self.register_buffer("active", active, persistent=False)
        self.m2 = M2(
            (len(active),),
            latent=latent,
            hidden=hidden,
            classifier_hidden=classifier_hidden,
            activation=activation,
            likelihood="gaussian",
            classes=classes,
            context_features=context_features,
        )
        self.context_features = self.m2.context_features
        self.discrete, self.binary = self.m1.discrete, self.m1.binary

    @classmethod
    def pipeline_defaults(cls, kind: str, model_args: dict[str, Any]) -> tuple[str, str]:
        """M1's: its likelihood decides."""
        return VAE.pipeline_defaults(kind, {"likelihood": model_args.get("m1_likelihood", "gaussian")})

    def check_pipeline(self, preprocess: str, dequantize: str, levels: int | None) -> None:
        self.m1.check_pipeline(preprocess, dequantize, levels)

    @classmethod
    def arguments_from_run(cls, model_args: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """M1's architecture from its run: `m1_<name>` = the run's `<name>`."""
        if run["model"] != "vae":
            raise DgmError(f"--init-from: vae-m1m2 starts from a trained vae (M1), not a {run['model']}")
        m1 = run.get("model_args", {})
        if m1.get("context_features") or m1.get("prior", "normal") != "normal":
            raise DgmError("--init-from: M1 must be an unconditional vae with the normal prior")
        if m1.get("batch_norm"):  # frozen M1 must code each image alone, not by its batch
            raise DgmError("--init-from: M1 must be a vae without batch_norm")
        out = dict(model_args)
        for name in M1_ARGUMENTS:
            if name not in m1:
                continue
            value = _plain(m1[name])
            given = _plain(out.setdefault(f"m1_{name}", value))
            if given != value:
                raise DgmError(f"--init-from: m1_{name}={given!r} contradicts the VAE's {name}={value!r}")
        return out

    @classmethod
    def arguments_from_data(
        cls, model_args: dict[str, Any], source: Callable[[], GenerativeModel], data: DataSource
    ) -> dict[str, Any]:
        """`m1_active`, unless given: M1's units whose posterior mean μ₁(x) has a standard deviation
        above ACTIVE_STD over the training data, taken at the pipeline's noise mean."""
        if model_args.get("m1_active"):
            return model_args
        m1 = source()
        with torch.no_grad():
            chunks = noise_free(m1, data.split("train"), pipeline_noise(data.levels, m1))
            mu = torch.cat([m1.core.encode(y)[0] for y in chunks])
        active = torch.nonzero(mu.std(0) > ACTIVE_STD).flatten().tolist()
        if not active:
            raise DgmError("--init-from: M1 has no active unit (no posterior mean varies over the data)")
        return {**model_args, "m1_active": active}

    def init_from(self, other: GenerativeModel) -> None:
        """Take M1's weights from the trained VAE `other`."""
        if type(other) is not VAE:
            raise DgmError(f"--init-from: vae-m1m2 starts from a trained vae, not a {type(other).__name__}")
        self.m1.load_state_dict(other.state_dict())

    # ---- the classifier -----------------------------------------------------------------------
    def codes(self, x: Tensor) -> Tensor:
        """M1's posterior on the active units, (μ₁ᴬ(x), log σ₁ᴬ(x)) side by side, shape (B, 2|A|):
        what M2 trains on, computed once per training sample."""
        mu, log_sigma = self.m1.encode(x)
        return torch.cat([mu[:, self.active], log_sigma[:, self.active]], 1)

    def class_logits(self, x: Tensor) -> Tensor:
        """The classifier's logits on M1's posterior mean μ₁ᴬ(x), shape (B, K)."""
        return self.m2.class_logits(self.m1.encode(x)[0][:, self.active])

    def classify(self, x: Tensor) -> Tensor:
        """The most probable class under q(y | μ₁ᴬ(x)), shape (B,)."""
        return self.class_logits(x).argmax(1)

    def semi_supervised_terms(self, codes: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """M2's `semi_supervised_terms` on one draw z₁ᴬ ~ q(z₁ᴬ | x) per row of `codes(x)`: M2's
        bound on log p(z₁ᴬ | y) (or log p(z₁ᴬ)) and the classifier's logits on the labelled rows.
        The bound leaves out the terms of frozen M1 and the inactive units, which have no gradient."""
        mu, log_sigma = codes.chunk(2, 1)
        return self.m2.semi_supervised_terms(mu + torch.exp(log_sigma) * torch.randn_like(mu), c)

    # ---- bounds -------------------------------------------------------------------------------
    def _m1_terms(self, x: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
        """K draws z₁ ~ q(z₁ | x), their active units flattened to (K·B, |A|) (draw-major: row
        k·B + b), and log p(x | z₁) + log N(z₁ᴬ̄; 0, I) − log q(z₁ | x), (K, B)."""
        z1, mu, log_sigma = self.m1.posterior_samples(x, None, k)
        flat = z1.reshape(-1, z1.shape[-1])
        xs = x.expand(k, *x.shape).reshape(-1, *x.shape[1:])
        log_lik = self.m1.likelihood.log_prob(xs, self.m1.decoder(flat)).reshape(k, -1)
        log_prior = log_normal(z1) - log_normal(z1[..., self.active])  # log N(z₁ᴬ̄; 0, I)
        return flat[:, self.active], log_lik + log_prior - log_normal(z1, mu, log_sigma)

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """log p(x | z₁) + log N(z₁ᴬ̄; 0, I) − log q(z₁ | x) + M2's bound on log p(z₁ᴬ | y) (or
        log p(z₁ᴬ)), one draw, (B,)."""
        z1, log_ratio = self._m1_terms(x)
        return log_ratio[0] + self.m2.elbo(z1, c)

    def log_prob_importance(
        self, x: Tensor, c: Tensor | None = None, k: int = 100, chunk: int | None = None
    ) -> Tensor:
        """log (1/K) Σ_k p(x | z₁ₖ) p̂(z₁ₖᴬ) N(z₁ₖᴬ̄; 0, I) / q(z₁ₖ | x), z₁ₖ ~ q, with p̂ M2's
        one-draw importance estimate of p(z₁ᴬ | y) (summed over y without c): unbiased for p(x),
        so the estimate is a lower bound in expectation that tightens as K grows, shape (B,)."""
        chunk = chunk or max(1, 4096 // (x.shape[0] * (self.context_features if c is None else 1)))
        parts = []
        for s in range(0, k, chunk):
            n = min(chunk, k - s)
            z1, log_ratio = self._m1_terms(x, n)
            cs = None if c is None else c.repeat(n, 1)
            parts.append(log_ratio + self.m2.log_prob_importance(z1, cs, 1).reshape(n, -1))
        return torch.logsumexp(torch.cat(parts), 0) - math.log(k)

    # ---- generation ---------------------------------------------------------------------------
    def _with_active(self, z1: Tensor, active: Tensor) -> Tensor:
        """M1's latent z₁ with its active units set to `active`, shape (B, q₁)."""
        z1[:, self.active] = active
        return z1

    def analogies(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """M2's analogies on M1's code μ₁ᴬ(x), decoded by M1: E[x | z₁ᴬ = E[z₁ᴬ | z₂, e_k],
        z₁ᴬ̄ = 0] for every class k, z₂ = μ₂(μ₁ᴬ(x), y) (see `M2.analogies`), shape
        (B, K, *event_shape)."""
        codes = self.m2.analogies(self.m1.encode(x)[0][:, self.active], c).flatten(0, 1)
        decoded = self.m1.decode(self._with_active(codes.new_zeros(len(codes), self.m1.latent), codes))
        return decoded.reshape(x.shape[0], -1, *decoded.shape[1:])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x ~ p(x | z₁), z₁ᴬ ~ p_M2(z₁ᴬ | y) (y ~ p(y) uniform without c), z₁ᴬ̄ ~ N(0, I)."""
        active = self.m2.sample(n, c)
        z1 = torch.randn(n, self.m1.latent, dtype=active.dtype, device=active.device)
        z1 = self._with_active(z1, active)
        return self.m1.likelihood.sample(self.m1.decoder(z1))
