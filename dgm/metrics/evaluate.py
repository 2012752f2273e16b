"""Run registered metrics on a model and a data split; the result is one flat dict of numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.data.dequantize import bits_per_dim, pipeline_noise
from dgm.errors import DgmError
from dgm.metrics.likelihood import mean_and_se
from dgm.metrics.modes import mode_statistics
from dgm.metrics.normalization import grid_mass, padded_extent
from dgm.metrics.samples import energy_distance, seed_energy_statistic
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
    importance_samples: int = 0  # K for an importance-sampled log p of a bounded density (0: none)
    #: L of the discrete data the model's density is judged on (bits/dim); None: continuous data, or
    #: binarised data (whose likelihood is reported in nats, as the literature does).
    levels: int | None = None
    _cache: dict[str, Tensor] = field(default_factory=dict)

    def _per_sample(
        self, name: str, fn: Callable[[Tensor, Tensor | None], Tensor], chunk: int = 4096
    ) -> Tensor:
        """fn(x, c) over the evaluation samples in chunks, seeded (bounds and estimates draw noise), (N,)."""
        if name not in self._cache:
            p = next(self.model.parameters())
            cs = self.c.split(chunk) if self.c is not None else repeat(None)
            chunks = zip(self.x.split(chunk), cs, strict=False)  # repeat(None) is endless
            with seeded(self.seed, p.device), torch.no_grad():
                values = [fn(x.to(p), None if c is None else c.to(p)) for x, c in chunks]
            self._cache[name] = torch.cat(values).double().cpu()
        return self._cache[name]

    def log_prob(self) -> Tensor:
        """log p_model(x) for every evaluation sample, shape (N,): exact, or for a bounded density
        the importance-sampled estimate with K = importance_samples."""
        if self.model.density == "exact":
            return self._per_sample("log_prob", self.model.log_prob)
        k = self.importance_samples
        # K copies of a chunk are in memory at once: keep K × chunk near 4096 samples.
        return self._per_sample(
            "log_prob", lambda x, c: self.model.log_prob_importance(x, c, k), chunk=max(1, 4096 // k)
        )

    def elbo(self) -> Tensor:
        """The evidence lower bound per evaluation sample (a one-sample estimate), shape (N,)."""
        return self._per_sample("elbo", self.model.elbo)

    def samples(self) -> Tensor:
        """n_samples model samples drawn with a fixed seed, on the CPU; a conditional model draws
        them for the labels of the first n_samples evaluation points, so both sides share a class mix
        (sample i is then paired with point i: `_energy` leaves such pairs out of its cross term)."""
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
    # the model's density kinds it applies to ("estimate": a bound with an importance-sampled NLL)
    density: tuple[str, ...] = ("exact", "bound", "estimate", "none")
    needs_truth: bool = False
    needs_2d: bool = False
    needs_levels: bool = False
    needs_map: bool = False  # a map f from data to latent (flows)
    needs_classifier: bool = False  # a classifier q(y | x) and labelled data (semi-supervised VAEs)
    needs_modes: bool = False  # data of known, separated modes (ring8, grid25)

    def applies(self, ev: Evaluation) -> bool:
        return (
            _density(ev) in self.density
            and (hasattr(getattr(ev.model, "core", ev.model), "inverse") or not self.needs_map)
            and (ev.data.has_true_density or not self.needs_truth)
            and (ev.data.kind == "points" and ev.data.dim == 2 or not self.needs_2d)
            and (ev.levels is not None or not self.needs_levels)
            and (_classifier(ev) is not None or not self.needs_classifier)
            and (getattr(ev.data, "modes", None) is not None or not self.needs_modes)
        )

    def requirement(self, ev: Evaluation) -> str:
        """What is missing, for the error message when the metric does not apply."""
        if _density(ev) not in self.density:
            wanted = {"exact": "an exact density", "bound": "a bounded density", "estimate": "an estimate"}
            return " or ".join(wanted.get(d, d) for d in self.density if d != "none") + (
                " (for a bound: --importance-samples K)" if "estimate" in self.density else ""
            )
        if self.needs_map and not hasattr(getattr(ev.model, "core", ev.model), "inverse"):
            return "a map from data to latent (a flow)"
        if self.needs_2d and not (ev.data.kind == "points" and ev.data.dim == 2):
            return "2-D points"
        if self.needs_levels and ev.levels is None:
            return "discrete (image) data"
        if self.needs_classifier and _classifier(ev) is None:
            return "a classifier (vae-m2) and labelled data"
        if self.needs_modes and getattr(ev.data, "modes", None) is None:
            return "data of known modes (ring8, grid25)"
        return "a known true density"


def _density(ev: Evaluation) -> str:
    """exact | estimate (a bound with an importance-sampled estimate asked for) | bound | none."""
    d = ev.model.density
    if d == "bound" and ev.importance_samples > 0 and ev.model.importance_sampled:
        return "estimate"
    return d


def _seed_energy(ev: Evaluation, batches: int = 50, size: int = 64) -> dict[str, float]:
    """The seed paper's statistic on `batches` pairs of 64 model samples and 64 evaluation points
    (drawn with the seed); also × 1,000, the scale of the seed's logs (a sum over 1,000 steps)."""
    samples = ev.samples()
    n = min(len(samples), ev.x.shape[0]) // size * size
    if n < size:
        return {}
    g = torch.Generator().manual_seed(ev.seed)
    data = ev.x[torch.randperm(ev.x.shape[0], generator=g)[:n]]
    values = torch.stack(
        [seed_energy_statistic(s, d) for s, d in zip(samples[:n].split(size), data.split(size), strict=True)][
            :batches
        ]
    )
    mean, se = mean_and_se(values)
    return {"seed_energy": mean, "seed_energy_se": se, "seed_energy_x1000": 1000 * mean}


def _modes(ev: Evaluation) -> dict[str, float]:
    """Mode coverage of the model's samples on a toy of known modes (see `dgm.metrics.modes`)."""
    centres, std = ev.data.modes
    return mode_statistics(ev.samples(), centres, std)


def _classifier(ev: Evaluation) -> Callable[[Tensor], Tensor] | None:
    """x ↦ predicted class, for a model with a classifier evaluated on labelled data."""
    core = getattr(ev.model, "core", ev.model)
    if not hasattr(core, "classify") or ev.c is None:
        return None
    return lambda x: core.classify(ev.model.preprocess(x)[0] if hasattr(ev.model, "preprocess") else x)


def _accuracy(ev: Evaluation) -> dict[str, float]:
    """The classifier's accuracy on the evaluation points, with its binomial standard error."""
    classify = _classifier(ev)
    hits = ev._per_sample("hits", lambda x, c: (classify(x) == c.argmax(1)).to(x.dtype))
    acc = hits.mean().item()
    return {"accuracy": acc, "accuracy_se": math.sqrt(acc * (1 - acc) / len(hits))}


def _nll(ev: Evaluation) -> dict[str, float]:
    """−log p: exact, or importance-sampled (reported with its K) for a bounded density."""
    nll, se = mean_and_se(-ev.log_prob())
    out = {"nll": nll, "nll_se": se}
    if ev.model.density != "exact":
        out["nll_k"] = ev.importance_samples
    return out


def _nll_bound(ev: Evaluation) -> dict[str, float]:
    """−ELBO, an upper bound on the NLL (never reported as the NLL itself)."""
    nll, se = mean_and_se(-ev.elbo())
    out = {"nll_bound": nll, "nll_bound_se": se}
    if ev.levels is not None:
        out["bits_per_dim_bound"] = bits_per_dim(nll, ev.data.dim, ev.levels)
    return out


def _bpd(ev: Evaluation) -> dict[str, float]:
    """Bits per dimension of discrete data: (E[−log p(x̃)]/D + log L)/ln 2 on dequantised x̃."""
    nll, se = mean_and_se(-ev.log_prob())
    return {"bits_per_dim": bits_per_dim(nll, ev.data.dim, ev.levels)}


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
    # Sample i shares point i's label, so the two are dependent: pairs (i, i) leave the cross mean.
    return {"energy_distance": energy_distance(samples, x, paired=ev.c is not None).item()}


def _mass(ev: Evaluation) -> dict[str, float]:
    """∫ p_model over the data's box widened by half its size on each side (≈ 1 for a density)."""
    p = next(ev.model.parameters())
    n = getattr(ev.model, "core", ev.model).density_grid
    if ev.c is None:
        mass = grid_mass(lambda pts: ev.model.log_prob(pts.to(p)), padded_extent(ev.x), n)
        return {"normalization": mass}
    # p(x | c) must integrate to one for every class c: report the worst class.
    masses = []
    for k in range(ev.model.context_features):
        ck = one_hot(torch.tensor([k]), ev.model.context_features, p)
        masses.append(
            grid_mass(
                lambda pts, ck=ck: ev.model.log_prob(pts.to(p), ck.expand(len(pts), -1)),
                padded_extent(ev.x),
                n,
            )
        )
    return {"normalization": max(masses, key=lambda m: abs(m - 1))}


def _transport(ev: Evaluation) -> dict[str, float]:
    """E‖f(y) − y‖² over the evaluation points, y = T(x) the preprocessed data and f the flow's map
    to the latent space: how far the model moves mass (OT-Flow's and flow matching's concern)."""
    core = getattr(ev.model, "core", ev.model)

    def displacement(x: Tensor, c: Tensor | None) -> Tensor:
        y = ev.model.preprocess(x)[0] if hasattr(ev.model, "preprocess") else x
        z = core.inverse(y, c)
        if z.shape != y.shape:  # a multi-scale latent has another shape: no displacement to measure
            return torch.full((len(x),), math.nan, dtype=x.dtype, device=x.device)
        return (z - y).flatten(1).pow(2).sum(1)

    cost = ev._per_sample("transport", displacement)
    if not torch.isfinite(cost).all():
        return {}
    mean, se = mean_and_se(cost)
    return {"transport_cost": mean, "transport_cost_se": se}


METRICS.add(
    "nll",
    Metric(_nll, density=("exact", "estimate")),
    "negative log-likelihood, nats per sample (importance-sampled with nll_k samples for a bound)",
)
METRICS.add(
    "nll_bound",
    Metric(_nll_bound, density=("bound", "estimate")),
    "negative ELBO, an upper bound on the NLL (models whose density is only bounded)",
)
METRICS.add("kl", Metric(_kl, density=("exact",), needs_truth=True), "KL(p_data || p_model) = NLL − H")
METRICS.add(
    "bits_per_dim",
    Metric(_bpd, density=("exact", "estimate"), needs_levels=True),
    "bits per dimension of discrete data (images), dequantised, upper bound",
)
METRICS.add(
    "energy_distance",
    Metric(_energy),
    "energy distance between model samples and data (an unbiased estimate of a non-negative "
    "quantity: it can be slightly negative when the two match)",
)
METRICS.add(
    "transport_cost",
    Metric(_transport, needs_map=True),
    "E‖f(x) − x‖² of a flow's map from data to latent, in the model's preprocessed coordinates",
)
METRICS.add(
    "accuracy",
    Metric(_accuracy, needs_classifier=True),
    "accuracy of the model's own classifier q(y | x) on labelled data (semi-supervised VAEs)",
)
METRICS.add(
    "seed_energy",
    Metric(_seed_energy),
    "the seed paper's smoothed energy statistic, 64 samples vs 64 points per batch (mean over up to "
    "50 batches; seed_energy_x1000 is on the scale of the seed's logged sums over 1,000 steps)",
)
METRICS.add(
    "modes",
    Metric(_modes, needs_modes=True),
    "mode coverage on ring8/grid25: modes_covered (a sample within 3σ), high_quality share, "
    "mode_reverse_kl of the mode histogram against uniform",
)
METRICS.add(
    "normalization",
    Metric(_mass, density=("exact",), needs_2d=True),
    "∫ p_model dx on a grid around 2-D data (should be 1)",
)


def model_inputs(model: GenerativeModel, data: DataSource, split: str, seed: int = 0) -> Tensor:
    """One split as the model sees it: a continuous density's discrete data dequantised, a binary
    model's binarised, with noise drawn once from the seed (so every metric sees the same points)."""
    x = data.split(split)
    noise = pipeline_noise(data.levels, model)
    return x if noise is None else noise(x, torch.Generator().manual_seed(seed))


def evaluate(
    model: GenerativeModel,
    data: DataSource,
    split: str = "test",
    metrics: list[str] | None = None,
    *,
    n_samples: int = 2000,
    seed: int = 0,
    importance_samples: int = 0,
    label_values: Sequence[int] | None = None,
) -> dict[str, float]:
    """Return {metric values..., "n_test": N, model diagnostics} for the model on one split.

    With `metrics=None` every registered metric that applies is run; naming a metric that does
    not apply (e.g. "nll" for a GAN, "kl" for data with no known density) is an error. A model
    whose density is only bounded reports `nll_bound`, and `nll` only as an importance-sampled
    estimate with K = `importance_samples` > 0 draws (reported as `nll_k`). A conditional model's
    class k is the label value `label_values[k]` (default: the data's own `label_values`).
    """
    x = model_inputs(model, data, split, seed)
    if x.shape[0] < 1:
        raise DgmError(f"split {split!r} of {data.name!r} is empty")
    if tuple(x.shape[1:]) != tuple(model.event_shape):
        raise DgmError(
            f"data shape {tuple(x.shape[1:])} does not match the model's {tuple(model.event_shape)}"
        )
    c = None
    if model.context_features:
        values = data.label_values if label_values is None else label_values
        labels = data.split_classes(split, values)
        if labels is None:
            raise DgmError(f"the model is class-conditional, but {data.name!r} has no labels")
        if len(values) > model.context_features:
            raise DgmError(
                f"{data.name!r} has {len(values)} classes; the model knows {model.context_features}"
            )
        c = one_hot(labels, model.context_features, x)
    levels = None if model.binary else data.levels
    ev = Evaluation(
        model,
        data,
        x,
        c,
        n_samples=n_samples,
        seed=seed,
        importance_samples=importance_samples,
        levels=levels,
    )
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
    out.update(model.diagnostics())
    return out
