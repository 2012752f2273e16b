"""Objectives of the VAEs: the (β-weighted, warmed-up) ELBO and the importance-weighted bound.

Both act on the preprocessed data y = T(x) and add log|det ∂T/∂x|, so their values are bounds on
log p(x) in the user's units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dgm.distributions import log_normal
from dgm.errors import DgmError
from dgm.models.base import GenerativeModel
from dgm.objectives.base import Objective, StepContext, noise_free, preprocessed
from dgm.registry import OBJECTIVES
from dgm.vae.vae import VAE

if TYPE_CHECKING:
    from dgm.data.dequantize import PipelineNoise
    from dgm.vae.m1m2 import M1M2


def _vae(model: GenerativeModel, objective: str) -> VAE | M1M2:
    """The model's core, checked to be what `objective` trains."""
    core = getattr(model, "core", model)
    if objective == "m2" and not core.semi_supervised:
        raise DgmError(f"objective 'm2' trains the semi-supervised VAEs, not {type(core).__name__}")
    if objective != "m2" and (not isinstance(core, VAE) or core.semi_supervised):
        why = "; train it with objective 'm2'" if core.semi_supervised else ""
        raise DgmError(f"objective {objective!r} trains VAEs; {type(core).__name__} is not one{why}")
    return core


@OBJECTIVES.register("elbo", "VAE evidence lower bound: loss = −E_q[log p(x|z)] + β_t·KL(q ‖ p), β warmed up")
class ELBO(Objective):
    """loss = −(1/B) Σ_i (E_q[log p(x_i | z)] − β_t KL(q(z | x_i) ‖ p(z))), one draw z per sample.

    β = 1 is the ELBO (Kingma & Welling, 2014); β ≠ 1 the β-VAE (Higgins et al., 2017), whose loss
    is no bound on the NLL (validation scores the true ELBO all the same). With `warmup` = W,
    β_t = β·min(1, (t + 1)/W) (KL annealing: Bowman et al., 2016; Sønderby et al., 2016).

    Args:
        beta: the KL weight β.
        warmup: steps over which β rises linearly from 0 (0: none).
    """

    may_be_zero = ("warmup",)

    def __init__(self, *, beta: float = 1.0, warmup: int = 0) -> None:
        self.beta, self.warmup = beta, warmup

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        _vae(model, "elbo")

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        vae = _vae(model, "elbo")
        y, ladj = preprocessed(model, batch[0])
        rec, kl = vae.elbo_terms(y, *batch[1:])
        beta = self.beta * min(1.0, (ctx.step + 1) / self.warmup) if self.warmup else self.beta
        loss = -(rec + ladj - beta * kl).mean()
        return loss, {"rec": -(rec + ladj).mean().detach(), "kl": kl.mean().detach()}


@OBJECTIVES.register("iwae", "importance-weighted bound with K samples (Burda et al., 2016); DReG gradients")
class IWAE(Objective):
    """loss = −(1/B) Σ_i log (1/K) Σ_k w_ik, w_ik = p(x_i | z_ik) p(z_ik) / q(z_ik | x_i), z_ik ~ q.

    With `dreg` the encoder's gradient is the doubly reparameterised estimator (Tucker et al.,
    2019): Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ with q's parameters held fixed inside log w, w̃ the
    normalised weights; it stays informative as K grows, where the plain estimator's signal-to-
    noise ratio falls as 1/√K (Rainforth et al., 2018). The decoder's gradient Σ_k w̃_k ∇_θ log w_k
    is the same either way, and so is the loss's value, −IWAE_K.

    Args:
        k: K, importance samples per data point.
        dreg: use the doubly reparameterised encoder gradient.
    """

    example_model = "vae"

    def __init__(self, *, k: int = 5, dreg: bool = True) -> None:
        self.k, self.dreg = k, dreg

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        _vae(model, "iwae")

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        vae = _vae(model, "iwae")
        y, ladj = preprocessed(model, batch[0])
        if not self.dreg:
            bound = vae.iwae(y, *batch[1:], k=self.k) + ladj
            return -bound.mean(), {}
        log_w = _dreg_log_weights(vae, y, batch[1] if len(batch) > 1 else None, self.k)
        w = torch.softmax(log_w.detach(), 0)
        surrogate = (w * log_w).sum(0)  # its gradient: Σ w̃ ∇ log w, with z's share rescaled by w̃
        bound = torch.logsumexp(log_w.detach(), 0) - math.log(self.k)
        return -(surrogate - surrogate.detach() + bound + ladj).mean(), {}


def _dreg_log_weights(vae: VAE, x: Tensor, c: Tensor | None, k: int) -> Tensor:
    """log w_k with q's parameters detached inside log q(z_k | x), and a hook that multiplies the
    gradient reaching z_k by its normalised weight w̃_k (so Σ_k w̃_k log w_k back-propagates
    w̃_k² into the encoder and w̃_k into the decoder), shape (K, B)."""
    z, mu, log_sigma = vae.posterior_samples(x, c, k)
    log_w = vae.log_joint(x, z, c) - log_normal(z, mu.detach(), log_sigma.detach())
    if z.requires_grad:
        w = torch.softmax(log_w.detach(), 0)
        z.register_hook(lambda g: g * w[..., None])
    return log_w


@OBJECTIVES.register(
    "m2", "semi-supervised M2: −U(x) unlabelled, −w·L(x, y) + α·CE labelled (Kingma et al., 2014)"
)
class SemiSupervised(Objective):
    """loss = (1/B) [Σ_unlabelled −U(x) + Σ_labelled (−w·L(x, y) + α·(−log q(y | x)))], labelled
    rows being those with a one-hot c (the pipeline keeps `labels` of them, repeated so that about
    half of each batch is labelled; the rest have c = 0). The model gives both terms
    (`semi_supervised_terms`); M1+M2's bound is M2's on a draw from M1's stored posterior of x,
    which leaves out the terms of frozen M1 and of its inactive units: the same gradients as the
    bound on log p(x | y) for that posterior, logged as `code_bound`.

    Kingma et al.'s objective is Σ_l L + Σ_u U + α·E_l[−log q(y | x)] with α = 0.1·N: divided by
    N ≈ N_u, a weight of about 0.1 on each labelled row's cross-entropy against each unlabelled
    row's bound when both come in equal numbers per batch. The default, 50 (0.1·N_u/N_l, as some
    re-implementations read it), learns more slowly in M1+M2 than 0.5 or 5 (benchmarks/README.md).
    Their sum over the data set also counts each labelled row's bound once per pass, as each
    unlabelled row's; the pipeline's repeats count it N_u/N_l times (about 500 with 100 labels),
    which w = N_l/N_u undoes. The default, w = 1, is the plain per-batch sum; in M1+M2 w = 0.001–0.1
    gave a classifier 2 points better, on pixels the same classifier and a better bound
    (benchmarks/README.md).

    A model with `codes` (M1+M2, whose M1 is frozen) trains on the codes of the training data,
    computed once without noise (`training_data`), in place of the data: its loss reads codes.

    Args:
        alpha: weight of the classification loss on each labelled row.
        labelled_weight: w, the weight of each labelled row's bound L(x, y) (an unlabelled row's
            U(x) weighs 1).
    """

    may_be_zero = ("alpha", "labelled_weight")

    def __init__(self, *, alpha: float = 50.0, labelled_weight: float = 1.0) -> None:
        self.alpha = alpha
        self.labelled_weight = labelled_weight

    def setup(self, model: GenerativeModel, load_run: Callable[[str], GenerativeModel]) -> None:
        _vae(model, "m2")

    def training_data(
        self, model: GenerativeModel, tensors: tuple[Tensor, ...], noise: PipelineNoise | None
    ) -> tuple[Tensor, ...] | None:
        """M1+M2's training split as codes, (codes(T(E[x̃])), c), x̃ the pipeline's noisy x, on the
        model's device in chunks; None for the other models."""
        m2 = _vae(model, "m2")
        if not hasattr(m2, "codes"):
            return None
        with torch.no_grad():
            codes = torch.cat([m2.codes(y).cpu() for y in noise_free(model, tensors[0], noise)])
        return (codes, *tensors[1:])

    def loss(
        self, player: str, model: GenerativeModel, batch: tuple[Tensor, ...], ctx: StepContext
    ) -> tuple[Tensor, dict[str, Tensor]]:
        m2 = _vae(model, "m2")
        if hasattr(m2, "codes"):  # a batch of codes, whose preprocessing's log-det is a constant
            y, ladj = batch[0], 0.0
        else:
            y, ladj = preprocessed(model, batch[0])
        c = (
            batch[1]
            if len(batch) > 1
            else torch.zeros(len(y), m2.context_features, dtype=y.dtype, device=y.device)
        )
        labelled = c.sum(1) > 0
        bound, logits = m2.semi_supervised_terms(y, c)
        bound = bound + ladj
        weight = torch.ones_like(bound).masked_fill(labelled, self.labelled_weight)
        ce = torch.nn.functional.cross_entropy(logits, c[labelled].argmax(1), reduction="sum")
        loss = (-(weight * bound).sum() + self.alpha * ce) / len(y)
        terms = {m2.semi_supervised_bound: -bound.mean().detach()}
        if labelled.any():
            terms["accuracy"] = (logits.argmax(1) == c[labelled].argmax(1)).double().mean()
        return loss, terms
