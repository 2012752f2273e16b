"""The minibatch OT coupling of flow matching: optimal, and pairs in the right direction."""

from __future__ import annotations

import itertools

import ot
import pytest
import torch

from dgm.cnf.coupling import couple, ot_pairing


def test_pairing_cost_equals_the_exact_ot_optimum() -> None:
    torch.manual_seed(0)
    for n, d in ((8, 2), (64, 2), (100, 5)):
        x, z = torch.randn(n, d) + 2, torch.randn(n, d)
        paired = x.sub(z[ot_pairing(x, z)]).pow(2).sum(1).mean().item()
        cost = torch.cdist(x.double(), z.double()).pow(2).numpy()
        assert abs(paired - ot.emd2(ot.unif(n), ot.unif(n), cost)) < 1e-5
        assert paired < x.sub(z).pow(2).sum(1).mean().item()  # better than the independent pairs


def test_pairing_is_the_best_permutation_on_small_problems() -> None:
    torch.manual_seed(1)
    x, z = torch.randn(6, 2), torch.randn(6, 2) * 3
    best = min(itertools.permutations(range(6)), key=lambda p: x.sub(z[list(p)]).pow(2).sum().item())
    assert ot_pairing(x, z).tolist() == list(best)


def test_pairs_go_in_the_right_direction() -> None:
    """x_i is paired with its own partner: z a known permutation of slightly moved x."""
    torch.manual_seed(2)
    x = torch.randn(50, 2) * 5
    order = torch.randperm(50)
    z = (x + 0.01 * torch.randn(50, 2))[order]  # x_i's partner sits at the row where order == i
    paired = couple(x, z, "ot")
    assert torch.allclose(paired, x, atol=0.1)
    assert torch.equal(couple(x, z, "independent"), z)


def test_conditional_pairs_stay_within_their_class() -> None:
    torch.manual_seed(3)
    x, z = torch.randn(40, 2), torch.randn(40, 2)
    labels = torch.arange(40) % 3
    paired = couple(x, z, "ot", labels)
    for k in range(3):
        rows = labels == k
        assert sorted(paired[rows][:, 0].tolist()) == sorted(z[rows][:, 0].tolist())


def test_couple_pairs_only_by_the_couplings_it_knows() -> None:
    x, z = torch.randn(6, 2), torch.randn(6, 2)
    assert torch.equal(couple(x, z, "independent"), z)
    with pytest.raises(ValueError, match="not 'reflow'"):  # reflow's pairs come from its teacher
        couple(x, z, "reflow")
