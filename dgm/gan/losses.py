"""GAN losses as pure functions of the critic's logits d(x) (shape (B,)) → scalar.

With D(x) = σ(d(x)) the probability that x is real, the Jensen-Shannon game (Goodfellow et al.,
2014) has the critic maximise E_data[log D(x)] + E_z[log(1 − D(g(z)))]; for a fixed generator the
optimum is D*(x) = p_data(x) / (p_data(x) + p_g(x)). The generator's non-saturating loss
−E_z[log D(g(z))] has the same fixed point and strong gradients early in training.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn.functional import softplus


def critic_loss_js(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """−E[log σ(d(x))] − E[log(1 − σ(d(g(z))))] = E[softplus(−d(x))] + E[softplus(d(g(z)))].

    Example:
        >>> import torch
        >>> round(critic_loss_js(torch.zeros(4), torch.zeros(4)).item(), 4)  # 2 log 2 at D = ½
        1.3863
    """
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def generator_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """−E[log σ(d(g(z)))] = E[softplus(−d(g(z)))], the generator's non-saturating loss."""
    return softplus(-fake_logits).mean()
