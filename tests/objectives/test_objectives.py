"""Every registered objective: finite losses, gradients that reach each player's parameters and
no other player's step, players that partition the model. Resume is checked end to end in
tests/train/test_trainer.py for every objective."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.objectives.base import StepContext
from dgm.registry import OBJECTIVES
from dgm.testing import model_for


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_players_partition_the_model_and_every_loss_reaches_its_player(name: str) -> None:
    objective = OBJECTIVES.get(name)()
    x = torch.randn(64, 2, dtype=torch.float64)
    model = build_model(model_for(name), (2,), "standardize").double()
    model.transform.fit(x)
    model.initialize(x)
    groups = {p.name: objective.parameters(p.name, model) for p in objective.players}
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)), "players share parameters"
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}, "a parameter has no player"
    for player in objective.players:
        model.zero_grad(set_to_none=True)
        loss, terms = objective.loss(player.name, model, (x,), StepContext(step=0))
        assert loss.shape == () and torch.isfinite(loss), (player.name, loss)
        assert all(torch.isfinite(torch.as_tensor(v)) for v in terms.values())
        loss.backward()
        grads = [p.grad for p in groups[player.name]]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), player.name


def test_noise_for_the_global_batch_is_shared_out_among_processes() -> None:
    """Two processes' shares of the noise are the rows a single process would draw."""
    like = torch.zeros(1)
    torch.manual_seed(3)
    single = StepContext(0).noise(8, 3, like=like)
    parts = []
    for rank in range(2):
        torch.manual_seed(3)
        parts.append(StepContext(0, rank, 2).noise(4, 3, like=like))
    torch.testing.assert_close(torch.stack(parts, 1).reshape(8, 3), single)
