"""M1+M2 (Kingma, Rezende, Mohamed & Welling, 2014): the semi-supervised M2 on the latent code of
a VAE, M1, trained first without labels.

M1 is a VAE p(x | z₁) p(z₁) with encoder q(z₁ | x); M2 models z₁ as its data, with p(y) p(z₂) and
p(z₁ | y, z₂) Gaussian, and classifies z₁ by q(y | z₁). M1 is frozen, so the stacked model is the
two-layer latent variable model p(x | z₁) p_M2(z₁) with M2 trained on draws z₁ ~ q(z₁ | x), and

    log p(x | y) ≥ E_q(z₁|x)[log p(x | z₁) − log q(z₁ | x) + ELBO_M2(z₁ | y)],

with U_M2(z₁) ≤ log p(z₁) in place of ELBO_M2(z₁ | y) for an unlabelled x (see `dgm.vae.m2`).
Freezing M1 is Kingma et al.'s recipe; the bound holds for any M1. The classifier sees
draws z₁ while training, as Kingma et al.'s did, and the posterior mean μ₁(x) in eval mode.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dgm.distributions import log_normal
from dgm.errors import DgmError
from dgm.models.base import GenerativeModel
from dgm.registry import MODELS
from dgm.vae.m2 import M2
from dgm.vae.vae import VAE

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
    `elbo(x)` log p(x), `log_prob_importance` estimates them and `classify(x)` is q(y | μ₁(x)).

    Args:
        m1_latent, m1_hidden, m1_width, m1_network, m1_activation, m1_likelihood, m1_sigma,
            m1_levels: M1's arguments (see `vae`).
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
    may_be_zero = (*GenerativeModel.may_be_zero, "m1_sigma")

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
        self.m2 = M2(
            (m1_latent,),
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

    def init_from(self, other: GenerativeModel) -> None:
        """Take M1's weights from the trained VAE `other`."""
        if type(other) is not VAE:
            raise DgmError(f"--init-from: vae-m1m2 starts from a trained vae, not a {type(other).__name__}")
        self.m1.load_state_dict(other.state_dict())

    # ---- the classifier -----------------------------------------------------------------------
    def code(self, x: Tensor) -> Tensor:
        """M1's code of x that M2 sees: a draw z₁ ~ q(z₁ | x) in training, μ₁(x) in eval mode."""
        mu, log_sigma = self.m1.encode(x)
        return mu + torch.exp(log_sigma) * torch.randn_like(mu) if self.training else mu

    def class_logits(self, x: Tensor) -> Tensor:
        """The classifier's logits on M1's code, shape (B, K)."""
        return self.m2.class_logits(self.code(x))

    def classify(self, x: Tensor) -> Tensor:
        """The most probable class under q(y | z₁), shape (B,)."""
        return self.class_logits(x).argmax(1)

    def semi_supervised_terms(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """M2's `semi_supervised_terms` on one code z₁ of each row (a draw in training): M2's
        bound on log p(z₁ | y) (or log p(z₁)) and the classifier's logits on the labelled rows.
        The bound leaves out log p(x | z₁) − log q(z₁ | x), which depends on M1 alone: frozen, it
        has no gradient, and skipping its decoder pass makes a step about a third cheaper."""
        return self.m2.semi_supervised_terms(self.code(x), c)

    # ---- bounds -------------------------------------------------------------------------------
    def _m1_terms(self, x: Tensor, k: int = 1) -> tuple[Tensor, Tensor]:
        """K draws z₁ ~ q(z₁ | x) flattened to (K·B, q₁) (draw-major: row k·B + b), and
        log p(x | z₁) − log q(z₁ | x), (K, B)."""
        z1, mu, log_sigma = self.m1.posterior_samples(x, None, k)
        flat = z1.reshape(-1, z1.shape[-1])
        xs = x.expand(k, *x.shape).reshape(-1, *x.shape[1:])
        log_lik = self.m1.likelihood.log_prob(xs, self.m1.decoder(flat)).reshape(k, -1)
        return flat, log_lik - log_normal(z1, mu, log_sigma)

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """log p(x | z₁) − log q(z₁ | x) + M2's bound on log p(z₁ | y) (or log p(z₁)), one draw, (B,)."""
        z1, log_ratio = self._m1_terms(x)
        return log_ratio[0] + self.m2.elbo(z1, c)

    def log_prob_importance(
        self, x: Tensor, c: Tensor | None = None, k: int = 100, chunk: int | None = None
    ) -> Tensor:
        """log (1/K) Σ_k p(x | z₁ₖ) p̂(z₁ₖ) / q(z₁ₖ | x), z₁ₖ ~ q, with p̂ M2's one-draw importance
        estimate of p(z₁ | y) (summed over y without c): unbiased for p(x), so the estimate is a lower
        bound in expectation that tightens as K grows, shape (B,)."""
        chunk = chunk or max(1, 4096 // (x.shape[0] * (self.context_features if c is None else 1)))
        parts = []
        for s in range(0, k, chunk):
            n = min(chunk, k - s)
            z1, log_ratio = self._m1_terms(x, n)
            cs = None if c is None else c.repeat(n, 1)
            parts.append(log_ratio + self.m2.log_prob_importance(z1, cs, 1).reshape(n, -1))
        return torch.logsumexp(torch.cat(parts), 0) - math.log(k)

    # ---- generation ---------------------------------------------------------------------------
    def analogies(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """M2's analogies on M1's code μ₁(x), decoded by M1: E[x | z₁ = E[z₁ | z₂, e_k]] for every
        class k, z₂ = μ₂(μ₁(x), y) (see `M2.analogies`), shape (B, K, *event_shape)."""
        codes = self.m2.analogies(self.m1.encode(x)[0], c)
        decoded = self.m1.decode(codes.flatten(0, 1))
        return decoded.reshape(*codes.shape[:2], *decoded.shape[1:])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x ~ p(x | z₁), z₁ ~ p_M2(z₁ | y) (y ~ p(y) uniform without c)."""
        return self.m1.likelihood.sample(self.m1.decoder(self.m2.sample(n, c)))
