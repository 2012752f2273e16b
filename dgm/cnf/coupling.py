"""Couplings of data and noise for flow matching: independent pairs, or the exact minibatch
optimal transport pairing, which makes the regressed paths short and nearly straight (reflow's
coupling, a trained flow's own pairs (x = φ(z), z), lives in the objective: it needs the teacher)."""

from __future__ import annotations

import torch
from torch import Tensor

#: How flow matching pairs data x with noise z: independently, by minibatch OT, or (reflow) as a
#: trained flow's samples x = φ(z) with their own latents.
COUPLINGS = ("independent", "ot", "reflow")


def ot_pairing(x: Tensor, z: Tensor) -> Tensor:
    """Indices π with (x_i, z_π(i)) an optimal pairing: π minimises Σ_i ‖x_i − z_π(i)‖².

    The exact OT plan between two uniform empirical measures of equal size n (POT's network
    simplex, `ot.emd`) is a permutation matrix divided by n; row i's mass sits on column π(i).
    """
    import ot

    n = x.shape[0]
    cost = torch.cdist(x.detach().double().flatten(1), z.detach().double().flatten(1)).pow(2).cpu().numpy()
    plan = ot.emd(ot.unif(n), ot.unif(n), cost, numItermax=10_000_000)
    return torch.as_tensor(plan.argmax(1), device=x.device)


def couple(x: Tensor, z: Tensor, coupling: str, labels: Tensor | None = None) -> Tensor:
    """The noise batch z reordered so that (x_i, z_i) are the coupling's pairs. With labels
    (a conditional model) the OT pairing is taken within each class, so that the coupling does
    not mix conditions."""
    if coupling == "independent":
        return z
    if coupling != "ot":
        raise ValueError(f"couple() pairs by the independent or the ot coupling, not {coupling!r}")
    if labels is None:
        return z[ot_pairing(x, z)]
    paired = z.clone()
    for label in labels.unique():
        rows = (labels == label).nonzero().squeeze(1)
        paired[rows] = z[rows][ot_pairing(x[rows], z[rows])]
    return paired
