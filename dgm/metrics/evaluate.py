"""Run registered metrics on a model and a data split; the result is one flat dict of numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat

import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.data.dequantize import bits_per_dim, dequantize
from dgm.errors import DgmError
from dgm.metrics.likelihood import mean_and_se
from dgm.metrics.normalization import grid_mass, padded_extent
from dgm.metrics.samples import energy_distance
from dgm.models.base import GenerativeModel
from dgm.registry import METRICS
from dgm.utils import one_hot, seeded


@dataclass
class Evaluation:
    """A model, the data it is judged on (x, shape (N, ...); c, one-hot labels for a conditional
    model) and cached model outputs."""

    model: GenerativeModel
    data: DataSource
    x: Tensor
    c: Tensor | None = None
    n_samples: int = 2000
    seed: int = 0
    _cache: dict[str, Tensor] = field(default_factory=dict)

    def log_prob(self) -> Tensor:
        """log p_model(x) for every evaluation sample, shape (N,)."""
        if "log_prob" not in self._cache:
            p = next(self.model.parameters())
            cs = self.c.split(4096) if self.c is not None else repeat(None)
            chunks = zip(self.x.split(4096), cs, strict=False)  # repeat(None) is endless
            # Seeded: some log-likelihoods are estimates (variational dequantisation draws noise).
            with seeded(self.seed, p.device), torch.no_grad():
                lp = [self.model.log_prob(x.to(p), None if c is None else c.to(p)) for x, c in chunks]
            self._cache["log_prob"] = torch.cat(lp).double().cpu()
        return self._cache["log_prob"]

    def samples(self) -> Tensor:
        """n_samples model samples drawn with a fixed seed, on the CPU; a conditional model draws
        them for the labels of the first n_samples evaluation points, so both sides share a class mix."""
        if "samples" not in self._cache:
            p = next(self.model.parameters())
            n = min(self.n_samples, self.x.shape[0]) if self.c is not None else self.n_samples
            c = None if self.c is None else self.c[:n].to(p)
            with seeded(self.seed, p.device), torch.no_grad():
                self._cache["samples"] = self.model.sample(n, c).cpu()
        return self._cache["samples"]


@dataclass(frozen=True)
class Metric:
    """A named metric: fn(evaluation) -> named values, and what it needs to apply."""

    fn: Callable[[Evaluation], dict[str, float]]
    needs_density: bool = False
    needs_truth: bool = False
    needs_2d: bool = False
    needs_levels: bool = False

    def applies(self, ev: Evaluation) -> bool:
        return (
            (ev.model.has_density or not self.needs_density)
            and (ev.data.has_true_density or not self.needs_truth)
            and (ev.data.kind == "points" and ev.data.dim == 2 or not self.needs_2d)
            and (ev.data.levels is not None or not self.needs_levels)
        )

    def requirement(self, ev: Evaluation) -> str:
        """What is missing, for the error message when the metric does not apply."""
        if self.needs_density and not ev.model.has_density:
            return "a density"
        if self.needs_2d and not (ev.data.kind == "points" and ev.data.dim == 2):
            return "2-D points"
        if self.needs_levels and ev.data.levels is None:
            return "discrete (image) data"
        return "a known true density"


def _nll(ev: Evaluation) -> dict[str, float]:
    nll, se = mean_and_se(-ev.log_prob())
    return {"nll": nll, "nll_se": se}


def _bpd(ev: Evaluation) -> dict[str, float]:
    """Bits per dimension of discrete data: (E[−log p(x̃)]/D + log L)/ln 2 on dequantised x̃."""
    nll, se = mean_and_se(-ev.log_prob())
    return {"bits_per_dim": bits_per_dim(nll, ev.data.dim, ev.data.levels)}


def _kl(ev: Evaluation) -> dict[str, float]:
    """KL(p_data || p_model) = E_data[−log p_model] − H(p_data), with both standard errors combined."""
    nll, se = mean_and_se(-ev.log_prob())
    h, h_se = ev.data.entropy
    return {"kl": nll - h, "kl_se": math.hypot(se, h_se), "entropy": h}


def _energy(ev: Evaluation) -> dict[str, float]:
    """All model samples against (at most n_samples) data points; the unbiased estimate can dip below 0."""
    samples = ev.samples()
    if ev.c is not None:  # a conditional model's samples follow the first labels: compare with those points
        x = ev.x[: samples.shape[0]]
    else:
        x = ev.x[
            torch.randperm(ev.x.shape[0], generator=torch.Generator().manual_seed(ev.seed))[: ev.n_samples]
        ]
    if x.shape[0] < 2 or samples.shape[0] < 2:
        return {}  # a U-statistic needs two points on each side
    return {"energy_distance": energy_distance(samples, x).item()}


def _mass(ev: Evaluation) -> dict[str, float]:
    """∫ p_model over the data's box widened by half its size on each side (≈ 1 for a density)."""
    p = next(ev.model.parameters())
    if ev.c is None:
        mass = grid_mass(lambda pts: ev.model.log_prob(pts.to(p)), padded_extent(ev.x))
        return {"normalization": mass}
    # p(x | c) must integrate to one for every class c: report the worst class.
    masses = []
    for k in range(ev.model.context_features):
        ck = one_hot(torch.tensor([k]), ev.model.context_features, p)
        masses.append(
            grid_mass(
                lambda pts, ck=ck: ev.model.log_prob(pts.to(p), ck.expand(len(pts), -1)), padded_extent(ev.x)
            )
        )
    return {"normalization": max(masses, key=lambda m: abs(m - 1))}


METRICS.add("nll", Metric(_nll, needs_density=True), "negative log-likelihood, nats per sample")
METRICS.add("kl", Metric(_kl, needs_density=True, needs_truth=True), "KL(p_data || p_model) = NLL − H")
METRICS.add(
    "bits_per_dim",
    Metric(_bpd, needs_density=True, needs_levels=True),
    "bits per dimension of discrete data (images), dequantised, upper bound",
)
METRICS.add("energy_distance", Metric(_energy), "energy distance between model samples and data")
METRICS.add(
    "normalization",
    Metric(_mass, needs_density=True, needs_2d=True),
    "∫ p_model dx on a grid around 2-D data (should be 1)",
)


def evaluate(
    model: GenerativeModel,
    data: DataSource,
    split: str = "test",
    metrics: list[str] | None = None,
    *,
    n_samples: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Return {metric values..., "n_test": N} for the model on one split of the data.

    With `metrics=None` every registered metric that applies is run; naming a metric that does
    not apply (e.g. "nll" for a GAN, "kl" for data with no known density) is an error.
    """
    x = data.split(split)
    if data.levels is not None and not model.discrete:  # judge a continuous density on dequantised x̃
        x = dequantize(x, data.levels, torch.Generator().manual_seed(seed))
    if x.shape[0] < 1:
        raise DgmError(f"split {split!r} of {data.name!r} is empty")
    if tuple(x.shape[1:]) != tuple(model.event_shape):
        raise DgmError(
            f"data shape {tuple(x.shape[1:])} does not match the model's {tuple(model.event_shape)}"
        )
    c = None
    if model.context_features:
        labels = data.split_labels(split)
        if labels is None:
            raise DgmError(f"the model is class-conditional, but {data.name!r} has no labels")
        if data.num_classes > model.context_features:
            raise DgmError(
                f"{data.name!r} has {data.num_classes} classes; the model knows {model.context_features}"
            )
        c = one_hot(labels, model.context_features, x)
    ev = Evaluation(model, data, x, c, n_samples=n_samples, seed=seed)
    names = metrics if metrics is not None else METRICS.names()
    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    try:
        for name in names:
            metric = METRICS.get(name)
            if metric.applies(ev):
                out.update(metric.fn(ev))
            elif metrics is not None:
                raise DgmError(
                    f"metric {name!r} needs {metric.requirement(ev)}, which this model or data lacks"
                )
    finally:
        model.train(was_training)
    out["n_test"] = int(x.shape[0])
    return out
