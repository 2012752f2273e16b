"""Mode coverage of samples from data with known, well-separated modes (ring8, grid25): the
standard measure of a GAN's mode collapse (Srivastava et al., VEEGAN, 2017; Lin et al., PacGAN,
2018).

A sample is *high quality* when it lies within 3σ of some mode (σ the modes' common std), and it
is then assigned to the nearest mode; a mode is *covered* when at least one high-quality sample
falls on it (VEEGAN's rule; PacGAN's stricter one counts a mode lost with fewer than 20 of 2,500
samples, which `mode_reverse_kl` penalises instead). The *reverse KL* compares the histogram q
of the high-quality samples over the K modes with the truth's uniform p: KL(q ‖ p) =
Σ_k q_k log(K q_k), 0 when every mode gets its share, log K when all samples sit on one mode.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mode_statistics(x: Tensor, centres: Tensor, std: float) -> dict[str, float]:
    """modes_covered (a count out of K), high_quality (a share of the samples in [0, 1]) and
    mode_reverse_kl (nats) of samples x (N, 2) against modes `centres` (K, 2) of std `std`."""
    distance, nearest = torch.cdist(x.double(), centres.double()).min(dim=1)
    good = distance <= 3 * std
    k = len(centres)
    counts = torch.bincount(nearest[good], minlength=k).double()
    q = counts / counts.sum().clamp_min(1)
    reverse_kl = (q[q > 0] * torch.log(k * q[q > 0])).sum().item() if good.any() else math.log(k)
    return {
        "modes_covered": int((counts > 0).sum()),
        "modes_total": k,
        "high_quality": good.double().mean().item(),
        "mode_reverse_kl": reverse_kl,
    }
