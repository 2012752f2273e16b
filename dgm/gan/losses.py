"""GAN losses as pure functions of the critic's outputs d(x) on real and generated samples (each
shape (B,)) → scalar, and the gradient penalties that make a critic (nearly) 1-Lipschitz.

With D(x) = σ(d(x)) the probability that x is real, the Jensen-Shannon game (Goodfellow et al.,
2014) has the critic maximise E_data[log D(x)] + E_z[log(1 − D(g(z)))]; for a fixed generator the
optimum is D*(x) = p_data(x) / (p_data(x) + p_g(x)). The generator's non-saturating loss
−E_z[log D(g(z))] has the same fixed point and strong gradients early in training; the minimax
loss E_z[log(1 − D(g(z)))] is the game itself (and saturates when the critic wins).

The Wasserstein-1 distance has the dual form W1(p, q) = sup_{Lip(f) ≤ 1} E_p[f] − E_q[f]
(Kantorovich-Rubinstein): a critic kept 1-Lipschitz (weight clipping, a gradient penalty, or
spectral normalisation) estimates it by E[d(x)] − E[d(g(z))].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.functional import relu, softplus


def critic_loss_js(real: Tensor, fake: Tensor) -> Tensor:
    """−E[log σ(d(x))] − E[log(1 − σ(d(g(z))))] = E[softplus(−d(x))] + E[softplus(d(g(z)))].

    Example:
        >>> import torch
        >>> round(critic_loss_js(torch.zeros(4), torch.zeros(4)).item(), 4)  # 2 log 2 at D = ½
        1.3863
    """
    return softplus(-real).mean() + softplus(fake).mean()


def generator_loss_nonsaturating(fake: Tensor) -> Tensor:
    """−E[log σ(d(g(z)))] = E[softplus(−d(g(z)))], the generator's non-saturating loss."""
    return softplus(-fake).mean()


def generator_loss_minimax(fake: Tensor) -> Tensor:
    """E[log(1 − σ(d(g(z))))] = −E[softplus(d(g(z)))], the original game's (saturating) loss."""
    return -softplus(fake).mean()


def critic_loss_least_squares(real: Tensor, fake: Tensor) -> Tensor:
    """½E[(d(x) − 1)²] + ½E[d(g(z))²] (LSGAN, Mao et al., 2017, targets a = 0, b = 1)."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def generator_loss_least_squares(fake: Tensor) -> Tensor:
    """½E[(d(g(z)) − 1)²] (LSGAN, c = 1)."""
    return 0.5 * ((fake - 1) ** 2).mean()


def log_ratio_js(d: Tensor) -> Tensor:
    """log p_data(x)/p_g(x) from a Jensen-Shannon critic at its optimum: its logit itself, as
    σ(d*) = p_data/(p_data + p_g) gives d* = log p_data − log p_g."""
    return d


#: a least-squares critic's output is trusted within [δ, 1 − δ]: ratios up to (1 − δ)/δ = 99
LEAST_SQUARES_MARGIN = 0.01


def log_ratio_least_squares(d: Tensor) -> Tensor:
    """log p_data(x)/p_g(x) from a least-squares critic (targets 0 and 1) at its optimum,
    d* = p_data/(p_data + p_g): log d − log(1 − d), with d clamped into [δ, 1 − δ]. Nothing keeps
    a trained critic in (0, 1), and one output at or past 1 would otherwise set the sampler's
    bound M so high that it keeps nothing else.

    Example:
        >>> import torch
        >>> [round(r, 4) for r in log_ratio_least_squares(torch.tensor([0.5, 0.8, 1.3])).tolist()]
        [0.0, 1.3863, 4.5951]
    """
    d = d.clamp(LEAST_SQUARES_MARGIN, 1 - LEAST_SQUARES_MARGIN)
    return d.log() - (-d).log1p()


def critic_loss_hinge(real: Tensor, fake: Tensor) -> Tensor:
    """E[max(0, 1 − d(x))] + E[max(0, 1 + d(g(z)))] (Lim & Ye, 2017; SNGAN, Miyato et al., 2018)."""
    return relu(1 - real).mean() + relu(1 + fake).mean()


def critic_loss_wasserstein(real: Tensor, fake: Tensor) -> Tensor:
    """E[d(g(z))] − E[d(x)]: minus the critic's estimate of W1 (Arjovsky et al., 2017)."""
    return fake.mean() - real.mean()


def generator_loss_wasserstein(fake: Tensor) -> Tensor:
    """−E[d(g(z))] (also the hinge game's generator loss)."""
    return -fake.mean()


def critic_loss_relativistic(real: Tensor, fake: Tensor) -> Tensor:
    """E[softplus(−(d(x) − d(g(z))))] over pairs: the relativistic pairing loss (Jolicoeur-Martineau,
    2019; R3GAN, Huang et al., 2024)."""
    return softplus(fake - real).mean()


def generator_loss_relativistic(fake: Tensor, real: Tensor) -> Tensor:
    """E[softplus(−(d(g(z)) − d(x)))]: the same pairs seen from the generator."""
    return softplus(real - fake).mean()


def gradient_norms(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """‖∇_x d(x)‖ per critic input, the norm over all non-batch dimensions, shape (B,) (or (B/m,)
    for a critic that packs m consecutive samples into one input); differentiable (create_graph)
    so that a penalty on it trains the critic."""
    x = x.detach().requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.reshape(scores.shape[0], -1).norm(dim=1)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """E[(‖∇d(x̂)‖ − 1)²] on interpolates x̂ = ε x + (1 − ε) g(z), ε ~ U[0, 1] drawn per sample
    (WGAN-GP, Gulrajani et al., 2017); eps has shape (B,)."""
    shape = (-1,) + (1,) * (real.dim() - 1)
    mixed = eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake
    return ((gradient_norms(critic, mixed) - 1) ** 2).mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """E[‖∇d(x)‖²] on the samples x: R1 on real data, R2 on generated ones (Mescheder et al., 2018)."""
    return (gradient_norms(critic, x) ** 2).mean()
