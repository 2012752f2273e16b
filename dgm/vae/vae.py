"""The variational autoencoder: a decoder p(x | z) with prior p(z), and an encoder q(z | x).

log p(x) ≥ ELBO(x) = E_q[log p(x | z)] − KL(q(z | x) ‖ p(z))                (Kingma & Welling, 2014)
log p(x) ≥ IWAE_K(x) = E[log (1/K) Σ_k w_k],  w_k = p(x | z_k) p(z_k) / q(z_k | x),  z_k ~ q
                                                                              (Burda et al., 2016)
with ELBO = IWAE_1 ≤ IWAE_K ≤ IWAE_{K+1} → log p(x) as K → ∞. q(z | x) = N(μ(x), diag σ(x)²) is
sampled by reparameterisation, z = μ + σ ⊙ ε, ε ~ N(0, I).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from dgm.distributions import kl_standard_normal, log_normal
from dgm.errors import DgmError
from dgm.flows.recipes import finite_flow
from dgm.models.base import GenerativeModel
from dgm.nn import activation_class
from dgm.registry import MODELS
from dgm.vae.likelihoods import make_likelihood
from dgm.vae.networks import (
    ConvDecoder,
    ConvEncoder,
    MLPDecoder,
    MLPEncoder,
    builds_conv,
    check_network_sizes,
)


@MODELS.register(
    "vae", "variational autoencoder, MLP or convolutional; ELBO and IWAE bounds (Kingma & Welling, 2014)"
)
class VAE(GenerativeModel):
    """Creates a VAE: encoder q(z | x, c) = N(μ, diag σ²), decoder p(x | z, c), prior p(z).

    Its density is a bound: `elbo(x)` ≤ log p(x), `iwae(x, k)` tighter, and
    `log_prob_importance(x, c, k)` the importance-sampled estimate reported as the NLL (never as
    an exact likelihood). `sample` draws x ~ p(x | z); `decode` gives the decoder's mean.

    Args:
        event_shape: (D,) vectors or (C, H, W) images.
        latent: q, the dimension of z.
        hidden: hidden sizes of the MLP encoder (the decoder mirrors them).
        width: channels of the first convolution (the second has 2·width).
        network: mlp, conv (images with sides divisible by 4), or auto (conv for images).
        activation: a name in `dgm.nn.ACTIVATIONS`.
        likelihood: gaussian, bernoulli (binarised grey values), continuous-bernoulli (grey values
            in [0, 1]) or logistic (discretised to `levels` grey values).
        sigma: the Gaussian likelihood's fixed standard deviation; 0 learns one per element.
        levels: grey levels L of the discretised logistic likelihood (the data's).
        prior: normal (N(0, I)), or the name of a registered finite flow of vectors (realnvp,
            nice, maf, nsf), trained with the VAE.
        context_features: size of a one-hot label fed to encoder and decoder (conditional VAE).
        batch_norm: BatchNorm in the convolutional decoder, as in the seed paper's (whose decoder
            is its GANs' generator: `--init-from` needs the same layers). In training a sample's
            bound then depends on its batch; evaluation uses the running statistics, where
            every bound holds per sample.

    Example:
        >>> import torch
        >>> VAE((3,), latent=2).elbo(torch.randn(5, 3)).shape
        torch.Size([5])
    """

    density = "bound"
    importance_sampled = True
    default_objective = "elbo"
    default_steps = 5000
    may_be_zero = (*GenerativeModel.may_be_zero, "sigma")

    def __init__(
        self,
        event_shape: tuple[int, ...],
        *,
        latent: int = 8,
        hidden: tuple[int, ...] = (256, 256),
        width: int = 32,
        network: str = "auto",
        activation: str = "relu",
        likelihood: str = "gaussian",
        sigma: float = 0.0,
        levels: int = 256,
        prior: str = "normal",
        context_features: int = 0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(event_shape)
        conv = builds_conv(network, self.event_shape)
        self.latent, self.context_features = latent, context_features
        self.likelihood = make_likelihood(likelihood, sigma=sigma, levels=levels)
        self.likelihood_name = likelihood
        self.discrete, self.binary = self.likelihood.discrete, self.likelihood.binary
        act = activation_class(activation)
        shape, params = self.event_shape, self.likelihood.params
        if conv:
            self.encoder: nn.Module = ConvEncoder(shape, latent, width, act, context_features)
            self.decoder: nn.Module = ConvDecoder(
                shape, latent, width, act, context_features, params, batch_norm
            )
        else:
            self.encoder = MLPEncoder(shape, latent, hidden, act, context_features)
            self.decoder = MLPDecoder(shape, latent, hidden, act, context_features, params)
        try:
            self.prior = None if prior == "normal" else finite_flow(prior, (latent,))
        except ValueError as e:
            raise ValueError(f"prior must be normal or a trainable flow of vectors: {e}") from None

    @classmethod
    def check_arguments(cls, given: dict[str, Any], event_shape: tuple[int, ...]) -> None:
        """A size or BatchNorm given for the networks not built is refused (`check_network_sizes`)."""
        check_network_sizes(cls, given, event_shape)

    @classmethod
    def pipeline_defaults(cls, kind: str, model_args: dict[str, Any]) -> tuple[str, str]:
        """Data in [0, 1] stay there for the likelihoods of grey values; discrete likelihoods take
        the grey levels as they are (no dequantisation)."""
        try:
            lik = make_likelihood(model_args.get("likelihood", "gaussian"), levels=2)
        except ValueError as e:
            raise DgmError(f"model_args.likelihood: {e}") from None
        preprocess, dequantize = super().pipeline_defaults(kind, model_args)
        return ("none" if lik.unit_interval else preprocess), ("none" if lik.discrete else dequantize)

    def check_pipeline(self, preprocess: str, dequantize: str, levels: int | None) -> None:
        name, lik = self.likelihood_name, self.likelihood
        if dequantize == "variational":
            raise ValueError("a VAE is its own bound on discrete data: use dequantize=uniform or none")
        if lik.unit_interval and levels is None:
            raise ValueError(f"likelihood {name} scores grey values in [0, 1] (images); these data are not")
        if lik.unit_interval and preprocess != "none":
            raise ValueError(
                f"likelihood {name} scores data in [0, 1]: use preprocess=none, not {preprocess}"
            )
        if lik.discrete and dequantize != "none":
            raise ValueError(f"likelihood {name} takes the grey levels as they are: use dequantize=none")
        if getattr(lik, "levels", levels) != levels:
            raise ValueError(
                f"likelihood {name} has {lik.levels} levels but the data have {levels}: set levels={levels}"
            )

    # ---- the two networks ---------------------------------------------------------------------
    def encode(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The posterior's parameters (μ, log σ), each (B, q)."""
        return self.encoder(x, c)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """The decoder's mean E[x | z], shape (B, *event_shape)."""
        return self.likelihood.mean(self.decoder(z, c))

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z), shape (B,)."""
        return log_normal(z) if self.prior is None else self.prior.log_prob(z)

    def prior_transform(self, u: Tensor) -> Tensor:
        """z = h(u), the map that carries N(0, I) to the prior p(z): the identity for the normal
        prior, the flow's f⁻¹ for a flow prior, so that log p(h(u)) = log N(u) − log|det ∂h/∂u|;
        shape (B, q)."""
        return u if self.prior is None else self.prior.transform.inverse(u)[0]

    def sample_prior(self, n: int) -> Tensor:
        p = next(self.parameters())
        return self.prior_transform(torch.randn(n, self.latent, dtype=p.dtype, device=p.device))

    # ---- bounds -------------------------------------------------------------------------------
    def elbo_terms(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One-sample E_q[log p(x | z)] and KL(q ‖ p) (analytic for the normal prior, else the
        one-sample log q(z | x) − log p(z)), each (B,): ELBO = first − second."""
        z, mu, log_sigma = self.posterior_samples(x, c)
        z = z[0]
        rec = self.likelihood.log_prob(x, self.decoder(z, c))
        if self.prior is None:
            return rec, kl_standard_normal(mu, log_sigma)
        return rec, log_normal(z, mu, log_sigma) - self.prior.log_prob(z)

    def elbo(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        rec, kl = self.elbo_terms(x, c)
        return rec - kl

    def posterior_samples(
        self, x: Tensor, c: Tensor | None = None, k: int = 1
    ) -> tuple[Tensor, Tensor, Tensor]:
        """K reparameterised draws z = μ + σ ⊙ ε from q(z | x), shape (K, B, q), and (μ, log σ)."""
        mu, log_sigma = self.encode(x, c)
        eps = torch.randn(k, *mu.shape, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(log_sigma) * eps, mu, log_sigma

    def log_joint(self, x: Tensor, z: Tensor, c: Tensor | None = None) -> Tensor:
        """log p(x | z) + log p(z) for K latents per sample, z of shape (K, B, q) → (K, B)."""
        k = z.shape[0]
        rep = lambda t: t.expand(k, *t.shape).reshape(-1, *t.shape[1:])  # noqa: E731
        flat = z.reshape(-1, self.latent)
        h = self.decoder(flat, None if c is None else rep(c))
        return (self.likelihood.log_prob(rep(x), h) + self.log_prior(flat)).reshape(k, -1)

    def log_weights(self, x: Tensor, c: Tensor | None = None, k: int = 1) -> Tensor:
        """log w_k = log p(x | z_k) + log p(z_k) − log q(z_k | x) for K draws z_k ~ q, shape (K, B)."""
        z, mu, log_sigma = self.posterior_samples(x, c, k)
        return self.log_joint(x, z, c) - log_normal(z, mu, log_sigma)

    def iwae(self, x: Tensor, c: Tensor | None = None, k: int = 1) -> Tensor:
        """The importance-weighted bound log (1/K) Σ_k w_k, one draw of it, shape (B,)."""
        return torch.logsumexp(self.log_weights(x, c, k), 0) - math.log(k)

    def log_prob_importance(
        self, x: Tensor, c: Tensor | None = None, k: int = 100, chunk: int | None = None
    ) -> Tensor:
        """Estimate log p(x) by importance sampling with K draws from q, log (1/K) Σ_k w_k, in chunks
        of draws (default: about 4096 decoder passes each) so that memory stays bounded for
        K = 5000; shape (B,). In expectation a lower bound (IWAE_K) that tightens to log p(x)."""
        chunk = chunk or max(1, 4096 // x.shape[0])
        parts = [self.log_weights(x, c, min(chunk, k - s)) for s in range(0, k, chunk)]
        return torch.logsumexp(torch.cat(parts), 0) - math.log(k)

    # ---- generation ---------------------------------------------------------------------------
    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x ~ p(x | z, c), z ~ p(z)."""
        return self.likelihood.sample(self.decoder(self.sample_prior(n), c))

    def reconstruct(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """The decoder's mean at the posterior mean: decode(μ(x))."""
        return self.decode(self.encode(x, c)[0], c)

    def interpolate(self, x0: Tensor, x1: Tensor, steps: int = 8, c: Tensor | None = None) -> Tensor:
        """Decoded means along the straight line between the posterior means of x0 and x1 (each one
        sample, batch 1), shape (steps, *event_shape)."""
        z0, z1 = self.encode(x0, c)[0], self.encode(x1, c)[0]
        t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
        return self.decode((1 - t) * z0 + t * z1, None if c is None else c.expand(steps, -1))
