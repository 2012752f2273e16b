"""The VAE's bounds against a model whose likelihood is exact: a linear-Gaussian decoder
(probabilistic PCA), p(x) = N(x; b, W Wᵀ + σ² I)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from dgm.distributions import kl_standard_normal, log_normal
from dgm.testing import check_lower_bound
from dgm.vae.vae import VAE

D, Q, SIGMA = 4, 2, 0.5


def _linear_vae(seed: int = 0) -> VAE:
    """A linear VAE with orthogonal decoder columns (so the exact posterior is diagonal)."""
    torch.manual_seed(seed)
    vae = VAE((D,), latent=Q, hidden=(), likelihood="gaussian", sigma=SIGMA).double()
    w = torch.linalg.qr(torch.randn(D, Q, dtype=torch.float64))[0] * torch.tensor(
        [2.0, 0.8], dtype=torch.float64
    )
    with torch.no_grad():
        vae.decoder.net[0].weight.copy_(w)
        vae.decoder.net[0].bias.copy_(torch.randn(D, dtype=torch.float64))
    return vae


def _exact_log_p(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    w, b = vae.decoder.net[0].weight, vae.decoder.net[0].bias
    cov = w @ w.T + SIGMA**2 * torch.eye(D, dtype=w.dtype)
    return MultivariateNormal(b, cov).log_prob(x)


def _set_exact_posterior(vae: VAE) -> None:
    """q(z | x) = p(z | x) = N(M⁻¹Wᵀ(x − b), σ² M⁻¹), M = WᵀW + σ² I (diagonal here)."""
    w, b = vae.decoder.net[0].weight, vae.decoder.net[0].bias
    m = w.T @ w + SIGMA**2 * torch.eye(Q, dtype=w.dtype)
    gain = torch.linalg.solve(m, w.T)  # (Q, D)
    with torch.no_grad():
        enc = vae.encoder.net[0]
        enc.weight.zero_()
        enc.weight[:Q] = gain
        enc.bias[:Q] = -gain @ b
        enc.bias[Q:] = torch.log(SIGMA / m.diagonal().sqrt())


def test_the_elbo_is_exact_at_the_exact_posterior() -> None:
    vae = _linear_vae()
    _set_exact_posterior(vae)
    x = vae.sample(6)
    log_p = _exact_log_p(vae, x)
    with torch.no_grad():  # every weight: log p(x, z) − log p(z | x) = log p(x)
        assert torch.allclose(vae.log_weights(x, k=7), log_p.expand(7, -1), atol=1e-10)
        # the ELBO with its analytic KL is exact in expectation only
        elbo = torch.stack([vae.elbo(x) for _ in range(4000)])
    assert ((elbo.mean(0) - log_p).abs() < 4 * elbo.std(0) / math.sqrt(4000)).all()


def _approximate_posterior(vae: VAE) -> None:
    """The exact posterior made too wide and shrunk towards 0: the bounds are strict."""
    _set_exact_posterior(vae)
    with torch.no_grad():
        vae.encoder.net[0].bias[Q:] += 0.4
        vae.encoder.net[0].weight[:Q] *= 0.8


def test_elbo_below_iwae_below_log_p_and_iwae_rises_with_k() -> None:
    vae = _linear_vae()
    _approximate_posterior(vae)
    with torch.no_grad():
        x = vae.sample(3)
        log_p = _exact_log_p(vae, x)
        means, ses = [], []
        for k in (1, 4, 32, 256):
            draws = torch.stack([vae.iwae(x, k=k) for _ in range(400)])
            means.append(draws.mean(0))
            ses.append(draws.std(0) / 20)
        elbo = torch.stack([vae.elbo(x) for _ in range(4000)])
    assert torch.allclose(elbo.mean(0), means[0], atol=float(4 * ses[0].max()))  # ELBO = IWAE_1
    for lo, hi, se_lo, se_hi in zip(means[:-1], means[1:], ses[:-1], ses[1:], strict=True):
        assert (hi > lo - 3 * torch.hypot(se_lo, se_hi)).all()
    assert (means[0] < log_p - 0.05).all()  # a strict gap at K = 1 ...
    assert ((log_p - means[-1]) < 0.1 * (log_p - means[0])).all()  # ... closed by 90 % at K = 256
    check_lower_bound(lambda x: vae.iwae(x, k=256), log_p, x, draws=200)


def test_importance_sampled_log_prob_converges_to_the_exact_likelihood() -> None:
    vae = _linear_vae(1)
    _approximate_posterior(vae)
    x = vae.sample(4).detach()
    with torch.no_grad():
        estimate = vae.log_prob_importance(x, k=5000, chunk=700)  # 8 chunks, the last one partial
    # Var(w/p) ≈ 0.6 here, so the estimate's standard error is √(0.6/5000) ≈ 0.011 nats.
    assert torch.allclose(estimate, _exact_log_p(vae, x), atol=0.05)


def test_analytic_kl_equals_its_monte_carlo_estimate() -> None:
    torch.manual_seed(0)
    mu, log_sigma = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64) * 0.5
    z = mu + log_sigma.exp() * torch.randn(200_000, 3, 5, dtype=torch.float64)
    mc = log_normal(z, mu, log_sigma) - log_normal(z)
    se = mc.std(0) / math.sqrt(mc.shape[0])
    assert ((mc.mean(0) - kl_standard_normal(mu, log_sigma)).abs() < 4 * se).all()


def _seed_bound(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    """The seed code's "ELBO": it samples z = μ + exp(s) ε (so exp(s) is the std) but scores
    log q with −½ Σ s (s as a log-variance), and normalises log p(z) with 1 dimension, not q."""
    mu, log_std = vae.encode(x)
    s = log_std  # the seed's network output, used as the log of the std when sampling
    eps = torch.randn_like(mu)
    z = mu + torch.exp(s) * eps
    log_q = (-0.5 * eps**2 - 0.5 * s).sum(1) - 0.5 * Q * math.log(2 * math.pi)
    log_pz = -0.5 * (z**2).sum(1) - 0.5 * 1 * math.log(2 * math.pi)
    return vae.likelihood.log_prob(x, vae.decoder(z)) + log_pz - log_q


def test_a_bound_with_the_seed_codes_conventions_is_caught_as_no_bound() -> None:
    vae = _linear_vae()
    _set_exact_posterior(vae)
    x = vae.sample(5).detach()
    log_p = _exact_log_p(vae, x)
    with torch.no_grad():
        check_lower_bound(vae.elbo, log_p, x)  # dgm's ELBO passes
        with pytest.raises(AssertionError, match="not a lower bound"):
            check_lower_bound(lambda x: _seed_bound(vae, x), log_p, x)


def test_a_trained_linear_vae_reaches_the_ppca_maximum_likelihood() -> None:
    """PPCA with σ fixed: the ML covariance has eigenvalues max(λ_i, σ²) on the top q sample
    eigenvectors and σ² elsewhere; a linear VAE's ELBO can reach it (Lucas et al., 2019)."""
    truth = _linear_vae(2)
    x = truth.sample(2000).detach()
    xc = x - x.mean(0)
    lam = torch.linalg.eigvalsh(xc.T @ xc / len(x)).flip(0)
    c = torch.cat([lam[:Q].clamp_min(SIGMA**2), torch.full((D - Q,), SIGMA**2, dtype=x.dtype)])
    ml = -0.5 * (D * math.log(2 * math.pi) + c.log().sum() + (lam / c).sum())  # per sample
    torch.manual_seed(3)
    vae = VAE((D,), latent=Q, hidden=(), likelihood="gaussian", sigma=SIGMA).double()
    opt = torch.optim.Adam(vae.parameters(), lr=2e-2)
    for _ in range(1500):
        opt.zero_grad()
        (-vae.elbo(x).mean()).backward()
        opt.step()
    with torch.no_grad():
        elbo = torch.stack([vae.elbo(x).mean() for _ in range(50)]).mean().item()
    assert ml - 0.02 < elbo < ml + 0.01


def test_prior_transform_carries_the_standard_normal_to_a_flow_prior() -> None:
    """log p(h(u)) = log N(u) − log|det ∂h/∂u| with the Jacobian by autograd, for a flow prior
    moved away from the identity (the latent map's grid and the samples go through h)."""
    torch.manual_seed(1)
    vae = VAE((3,), latent=2, hidden=(8,), prior="realnvp").double()
    with torch.no_grad():
        for q in vae.prior.parameters():
            q.add_(0.3 * torch.randn_like(q))
    u = torch.randn(5, 2, dtype=torch.float64)
    z = vae.prior_transform(u)
    jacobian = torch.autograd.functional.jacobian
    jac = torch.stack([jacobian(vae.prior_transform, ui[None])[0, :, 0] for ui in u])
    assert (z - u).abs().max() > 0.1  # not the identity
    expected = log_normal(u) - torch.linalg.slogdet(jac)[1]
    assert torch.allclose(vae.log_prior(z), expected, atol=1e-9)


def test_a_flow_prior_starts_as_the_normal_prior_and_trains_with_the_vae() -> None:
    """RealNVP starts as the identity, so its prior is N(0, I): the ELBO with the Monte Carlo KL
    then estimates the ELBO with the analytic one; and the prior receives gradients."""
    torch.manual_seed(0)
    normal = VAE((3,), latent=2, hidden=(8,)).double()
    flow = VAE((3,), latent=2, hidden=(8,), prior="realnvp").double()
    flow.load_state_dict(normal.state_dict(), strict=False)
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        a = torch.stack([normal.elbo(x) for _ in range(1000)])
        b = torch.stack([flow.elbo(x) for _ in range(1000)])
    se = torch.hypot(a.std(0), b.std(0)) / math.sqrt(1000)
    assert ((a.mean(0) - b.mean(0)).abs() < 4 * se).all()
    (-flow.elbo(x).mean()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in flow.prior.parameters())
    with pytest.raises(ValueError, match="prior must be normal or a trainable flow"):
        VAE((3,), latent=2, prior="gan")
