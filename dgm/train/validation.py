"""The fixed validation estimator that picks a run's model: the same numbers at every check.

Density models are scored by the mean negative log-likelihood (exact) or negative ELBO (bound)
of the validation split, with seeded noise; models without a density by the energy distance
between seeded model samples and a fixed subset of the validation split. Lower is better.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from dgm.metrics.modes import mode_statistics
from dgm.metrics.samples import energy_distance
from dgm.models.base import GenerativeModel
from dgm.utils import seeded

#: Validation points (and model samples) compared by the energy distance of a model with no density.
ENERGY_POINTS = 2000


def score_name(model: GenerativeModel) -> str:
    """What `validation_score` measures for this model (a column of metrics.csv)."""
    return {"exact": "nll", "bound": "nll_bound"}.get(model.density, "energy_distance")


@torch.no_grad()
def validation_score(
    model: GenerativeModel,
    val: tuple[Tensor, ...],
    seed: int,
    *,
    rank: int = 0,
    world_size: int = 1,
    reduce_sum: Callable[[Tensor], Tensor] = lambda t: t,
) -> float:
    """Mean −log p (or −ELBO) over val = (x,) or (x, c), or the energy distance for no density.

    Under data parallelism each process scores its share of the chunks and `reduce_sum` adds
    the processes' totals; the random streams are seeded and restored, so training is unaffected.
    """
    with _evaluating(model, seed) as p:
        if model.density == "none":
            return _energy(model, val, seed, p)
        total = p.new_zeros(2, dtype=torch.float64)
        # Models whose density is costly (an ODE per point) score a fixed leading subset.
        n = getattr(getattr(model, "core", model), "validation_points", None)
        chunks = list(zip(*(t[:n].split(4096) for t in val), strict=True))
        for chunk in chunks[rank::world_size]:
            chunk = tuple(t.to(p) for t in chunk)
            total[0] -= model.log_likelihood(*chunk).double().sum()
            total[1] += chunk[0].shape[0]
        total = reduce_sum(total)
        return (total[0] / total[1]).item()


@contextmanager
def _evaluating(model: GenerativeModel, seed: int) -> Iterator[Tensor]:
    """The model in eval mode with seeded random streams, both restored afterwards; yields a
    parameter (its device and dtype)."""
    p = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with seeded(seed, p.device):
            yield p
    finally:
        model.train(was_training)


def _energy(model: GenerativeModel, val: tuple[Tensor, ...], seed: int, p: Tensor) -> float:
    idx, samples = _samples(model, val, seed, p)
    # A conditional model draws sample i for point i's label; the estimator then leaves out the
    # n dependent pairs (sample i, point i), so a perfect model still scores ≈ 0.
    return energy_distance(samples, val[0][idx].cpu(), paired=len(val) > 1).item()


def _samples(model: GenerativeModel, val: tuple[Tensor, ...], seed: int, p: Tensor) -> tuple[Tensor, Tensor]:
    """The fixed validation subset's indices and the model's seeded samples for it (one for each
    point's label when the model is conditional)."""
    n = min(ENERGY_POINTS, val[0].shape[0])
    idx = torch.randperm(val[0].shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    c = val[1][idx].to(p) if len(val) > 1 else None
    return idx, model.sample(n, c).cpu()


@torch.no_grad()
def validation_modes(
    model: GenerativeModel, val: tuple[Tensor, ...], seed: int, modes: tuple[Tensor, float]
) -> dict[str, float]:
    """Mode coverage (`dgm.metrics.modes`) of the samples that the energy distance of a model
    without a density compares, on data of known modes (centres, std): logged at each check, so
    that a collapse shows while training."""
    with _evaluating(model, seed) as p:
        return mode_statistics(_samples(model, val, seed, p)[1], *modes)
