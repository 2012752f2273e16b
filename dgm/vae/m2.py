"""The semi-supervised VAE M2 (Kingma, Rezende, Mohamed & Welling, 2014).

Generative model p(y) p(z) p(x | y, z), y one of K classes (p(y) uniform), z ~ N(0, I); inference
model q(y | x) (a classifier) and q(z | x, y). For a labelled pair the bound is

    log p(x, y) ≥ L(x, y) = E_q(z|x,y)[log p(x | y, z) + log p(z) − log q(z | x, y)] + log p(y),

and for an unlabelled x, summing the label out under q(y | x),

    log p(x) ≥ U(x) = Σ_y q(y | x) L(x, y) + H(q(y | x)).

The classifier learns from both: through U on unlabelled data, and by the extra term
α·(−log q(y | x)) on labelled data (objective `m2`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from dgm.nn import MLP, activation_class
from dgm.registry import MODELS
from dgm.vae.vae import VAE


@MODELS.register(
    "vae-m2", "semi-supervised VAE M2: classifier q(y|x) and label-conditional VAE (Kingma et al., 2014)"
)
class M2(VAE):
    """Creates M2: a VAE conditioned on the label y (one-hot c) and a classifier q(y | x).

    As a density model it is class-conditional: `elbo(x, c)` bounds log p(x | y) (c the one-hot y;
    the constant log p(y) left out, as for every conditional model), and `elbo(x)` bounds the
    marginal log p(x) by U(x), as does `elbo(x, c)` on the rows of c that are all zero
    (unlabelled). `classify(x)` is the classifier q(y | x) on its own. Arguments as for `vae`, and:

    Args:
        classifier_hidden: hidden sizes of the classifier's MLP.
        classes: K, when no labelled data set it (a run sets context_features = K of its data,
            which takes precedence).

    Example:
        >>> import torch
        >>> m = M2((4,), latent=2, classes=3)
        >>> m.elbo(torch.randn(5, 4)).shape, m.classify(torch.randn(5, 4)).shape
        (torch.Size([5]), torch.Size([5]))
    """

    default_objective = "m2"
    semi_supervised = True
    #: the name under which the `m2` objective logs the mean negative of `semi_supervised_terms`' bound
    semi_supervised_bound = "bound"

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        latent: int = 50,
        hidden: tuple[int, ...] = (500,),
        classifier_hidden: tuple[int, ...] = (500,),
        width: int = 32,
        network: str = "mlp",
        activation: str = "softplus",
        likelihood: str = "gaussian",
        sigma: float = 0.0,
        levels: int = 256,
        prior: str = "normal",
        classes: int = 10,
        context_features: int = 0,
    ) -> None:
        context_features = context_features or classes
        if context_features < 2:
            raise ValueError(f"M2 needs at least 2 classes, got {context_features}")
        super().__init__(
            event_shape,
            latent=latent,
            hidden=hidden,
            width=width,
            network=network,
            activation=activation,
            likelihood=likelihood,
            sigma=sigma,
            levels=levels,
            prior=prior,
            context_features=context_features,
        )
        dim = math.prod(self.event_shape)
        self.classifier = MLP(
            dim, context_features, classifier_hidden, activation=activation_class(activation)
        )

    def class_logits(self, x: Tensor) -> Tensor:
        """The classifier's logits, log q(y | x) up to a constant, shape (B, K)."""
        return self.classifier(x.flatten(1))

    def classify(self, x: Tensor) -> Tensor:
        """The most probable class under q(y | x), shape (B,)."""
        return self.class_logits(x).argmax(1)

    def semi_supervised_terms(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """What the `m2` objective trains on: the bound of each row, L(x, y) ≤ log p(x, y) with a
        label (`elbo(x, c)` + log p(y)) and U(x) ≤ log p(x) without (Kingma et al.'s objective;
        log p(y) is a constant, there so that both kinds of row are on one scale), and the
        classifier's logits on the labelled rows, shapes (B,) and (B_l, K)."""
        labelled = c.sum(1) > 0
        log_p_y = -math.log(self.context_features) * labelled.to(x.dtype)
        return self.elbo(x, c) + log_p_y, self.class_logits(x[labelled])

    def _each_label(self, x: Tensor, bound: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """bound(x, c_y) for every class y, shape (K, B)."""
        k, b = self.context_features, x.shape[0]
        eye = torch.eye(k, dtype=x.dtype, device=x.device)
        xs = x.expand(k, *x.shape).reshape(k * b, *x.shape[1:])
        return bound(xs, eye.repeat_interleave(b, 0)).reshape(k, b)

    def unlabelled_bound(self, x: Tensor) -> Tensor:
        """U(x) = Σ_y q(y | x) (ELBO(x | y) + log p(y)) + H(q(y | x)), shape (B,)."""
        log_q = torch.log_softmax(self.class_logits(x), 1).T  # (K, B)
        labelled = self._each_label(x, super().elbo) - math.log(self.context_features)
        return (log_q.exp() * (labelled - log_q)).sum(0)

    def _by_row(
        self,
        x: Tensor,
        c: Tensor | None,
        with_label: Callable[[Tensor, Tensor], Tensor],
        without: Callable[[Tensor], Tensor],
    ) -> Tensor:
        """with_label(x, c) on the rows with a label (c one-hot), then without(x) on the rest (c = 0)."""
        labelled = torch.zeros(len(x), dtype=torch.bool, device=x.device) if c is None else c.sum(1) > 0
        if labelled.all():
            return with_label(x, c)
        if not labelled.any():
            return without(x)
        out = x.new_empty(len(x))
        out[labelled] = with_label(x[labelled], c[labelled])
        out[~labelled] = without(x[~labelled])
        return out

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """ELBO(x | y) for the rows with a label (c one-hot), U(x) for the rows without (c = 0)."""
        return self._by_row(x, c, super().elbo, self.unlabelled_bound)

    def log_prob_importance(
        self, x: Tensor, c: Tensor | None = None, k: int = 100, chunk: int | None = None
    ) -> Tensor:
        """log p(x | y) by importance sampling with K draws; without c (or on its rows that are all
        zero), log p(x) = log Σ_y p(y) p(x | y)."""
        conditional = lambda xs, cs: super(M2, self).log_prob_importance(xs, cs, k, chunk)  # noqa: E731

        def marginal(xs: Tensor) -> Tensor:
            return torch.logsumexp(self._each_label(xs, conditional), 0) - math.log(self.context_features)

        return self._by_row(x, c, conditional, marginal)

    def analogies(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """Kingma et al.'s analogies: the style z = μ(x, y) of each x under its label y (c, or the
        classifier's choice where c is None or zero) decoded under every class k, E[x | z, e_k];
        column y is the reconstruction. Shape (B, K, *event_shape)."""
        k, b = self.context_features, x.shape[0]
        eye = torch.eye(k, dtype=x.dtype, device=x.device)
        if c is None or not (c.sum(1) > 0).all():
            guess = eye[self.classify(x)]
            c = guess if c is None else torch.where(c.sum(1, keepdim=True) > 0, c, guess)
        z = self.encode(x, c)[0]
        decoded = self.decode(z.repeat_interleave(k, 0), eye.repeat(b, 1))
        return decoded.reshape(b, k, *decoded.shape[1:])

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x ~ p(x | y, z); without c, y ~ p(y) uniform."""
        if c is None:
            p = next(self.parameters())
            c = torch.eye(self.context_features, dtype=p.dtype, device=p.device)[
                torch.randint(self.context_features, (n,), device=p.device)
            ]
        return super().sample(n, c)
