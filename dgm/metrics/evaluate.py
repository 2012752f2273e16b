"""Run registered metrics on a model and a data split; the result is one flat dict of numbers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import torch
from torch import Tensor

from dgm.data.base import DataSource
from dgm.data.dequantize import pipeline_noise, split_generator
from dgm.errors import DgmError
from dgm.metrics.features import has_feature_net
from dgm.models.base import GenerativeModel
from dgm.registry import METRICS
from dgm.utils import one_hot, seeded

#: model samples drawn per call of `sample` (memory stays bounded whatever n_samples is)
SAMPLE_CHUNK = 4096


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
    split: str = "test"  # the data split x was taken from
    label_values: Sequence[int] = ()  # a conditional model's class k is the label value label_values[k]
    progress: bool = False  # report chunked per-point computations on stderr as they go
    _cache: dict[str, Tensor] = field(default_factory=dict)
    _diagnostics: dict[str, float | str] | None = None

    def diagnostics(self) -> dict[str, float | str]:
        """The model's diagnostics as they stood after the evaluation samples' log-density pass,
        numbers the largest over its chunks (an ODE model's NFE is the test data's solve's, not the
        normalisation grid's), or the model's now if there was no such pass."""
        return self._diagnostics if self._diagnostics is not None else self.model.diagnostics()

    def _per_sample(
        self,
        name: str,
        fn: Callable[[Tensor, Tensor | None], Tensor],
        chunk: int = 4096,
        points: Tensor | None = None,
    ) -> Tensor:
        """fn(x, c) over the evaluation samples (or `points`, the same samples otherwise given) in
        chunks, seeded (bounds and estimates draw noise), (N,)."""
        if name not in self._cache:
            p = next(self.model.parameters())
            points = self.x if points is None else points
            cs = self.c.split(chunk) if self.c is not None else repeat(None)
            chunks = zip(points.split(chunk), cs, strict=False)  # repeat(None) is endless
            n = -(-points.shape[0] // chunk)
            values = []
            with seeded(self.seed, p.device), torch.no_grad():
                for i, (x, c) in enumerate(chunks, 1):
                    values.append(fn(x.to(p), None if c is None else c.to(p)))
                    if self.progress and n > 1:  # long ones: K = 5000 importance samples, say
                        end = "\n" if i == n else ""
                        print(f"\r{name}: {i}/{n} chunks of {chunk}", end=end, file=sys.stderr, flush=True)
            self._cache[name] = torch.cat(values).double().cpu()
        return self._cache[name]

    def log_prob(self) -> Tensor:
        """log p_model(x) for every evaluation sample, shape (N,): exact, or for a bounded density
        the importance-sampled estimate with K = importance_samples."""
        if self.model.density == "exact":
            if "log_prob" not in self._cache:
                seen: list[dict[str, float | str]] = []

                def log_prob(x: Tensor, c: Tensor | None) -> Tensor:
                    out = self.model.log_prob(x, c)
                    seen.append(self.model.diagnostics())  # e.g. this chunk's NFE
                    return out

                self._per_sample("log_prob", log_prob)
                numbers = {
                    k: max(d[k] for d in seen) for k, v in seen[-1].items() if isinstance(v, int | float)
                }
                self._diagnostics = {**seen[-1], **numbers}
            return self._cache["log_prob"]
        k = self.importance_samples
        # K copies of a chunk are in memory at once: keep K × chunk near 4096 samples.
        return self._per_sample(
            "log_prob", lambda x, c: self.model.log_prob_importance(x, c, k), chunk=max(1, 4096 // k)
        )

    def elbo(self) -> Tensor:
        """The evidence lower bound per evaluation sample (a one-sample estimate), shape (N,)."""
        return self._per_sample("elbo", self.model.elbo)

    def train_x(self) -> Tensor:
        """The data's training split as the model sees it (binarised or dequantised with the seed, as
        `x` is), the reference for memorisation and for the real-data floor of a sample metric."""
        if "train_x" not in self._cache:
            self._cache["train_x"] = model_inputs(self.model, self.data, "train", self.seed)
        return self._cache["train_x"]

    def samples(self) -> Tensor:
        """n_samples model samples drawn with a fixed seed, on the CPU; a conditional model draws
        them for the labels of the first n_samples evaluation points, so both sides share a class mix
        (sample i is then paired with point i: `_energy` leaves such pairs out of its cross term)."""
        if "samples" not in self._cache:
            p = next(self.model.parameters())
            n = min(self.n_samples, self.x.shape[0]) if self.c is not None else self.n_samples
            c = None if self.c is None else self.c[:n].to(p)
            parts = []
            with seeded(self.seed, p.device), torch.no_grad():
                # a chunk at a time: an image model's activations for every sample at once could
                # fill a GPU (FID on 50,000 samples)
                for s in range(0, max(n, 1), SAMPLE_CHUNK):  # n = 0: one empty draw, as before
                    k = min(SAMPLE_CHUNK, n - s)
                    parts.append(self.model.sample(k, None if c is None else c[s : s + k]).cpu())
            self._cache["samples"] = torch.cat(parts)
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
    needs_points: bool = False  # vectors (kind "points"), not images
    needs_features: bool = False  # images with a feature net shipped by dgm (mnist, digits)
    needs_conditional: bool = False  # a class-conditional model and labelled data
    # part of the extended suite: `dgm evaluate` and `dgm compare` compute it, the report written
    # at the end of every training run does not (seconds each on large data)
    extended: bool = False

    def applies(self, ev: Evaluation) -> bool:
        return (
            _density(ev) in self.density
            and (hasattr(getattr(ev.model, "core", ev.model), "inverse") or not self.needs_map)
            and (ev.data.has_true_density or not self.needs_truth)
            and (ev.data.kind == "points" and ev.data.dim == 2 or not self.needs_2d)
            and (ev.levels is not None or not self.needs_levels)
            and (model_classifier(ev) is not None or not self.needs_classifier)
            and (getattr(ev.data, "modes", None) is not None or not self.needs_modes)
            and (ev.data.kind == "points" or not self.needs_points)
            and (_has_features(ev) or not self.needs_features)
            and (ev.c is not None or not self.needs_conditional)
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
        if self.needs_points and ev.data.kind != "points":
            return "points data (vectors, not images)"
        if self.needs_2d and not (ev.data.kind == "points" and ev.data.dim == 2):
            return "2-D points"
        if self.needs_levels and ev.levels is None:
            return "discrete (image) data"
        if self.needs_classifier and model_classifier(ev) is None:
            return "a classifier (vae-m2, vae-m1m2) and labelled data"
        if self.needs_modes and getattr(ev.data, "modes", None) is None:
            return "data of known modes (ring8, grid25)"
        if self.needs_conditional and ev.c is None:
            return "a class-conditional model and labelled data"
        if self.needs_features and not _has_features(ev):
            return "images of a dataset with a feature net shipped by dgm (mnist, digits)"
        return "a known true density"


def _density(ev: Evaluation) -> str:
    """exact | estimate (a bound with an importance-sampled estimate asked for) | bound | none."""
    d = ev.model.density
    if d == "bound" and ev.importance_samples > 0 and ev.model.importance_sampled:
        return "estimate"
    return d


def model_classifier(ev: Evaluation) -> Callable[[Tensor], Tensor] | None:
    """x ↦ predicted class, for a model with a classifier evaluated on labelled data."""
    core = getattr(ev.model, "core", ev.model)
    if not hasattr(core, "classify") or ev.c is None:
        return None
    return lambda x: core.classify(ev.model.preprocess(x)[0] if hasattr(ev.model, "preprocess") else x)


def _has_features(ev: Evaluation) -> bool:
    """Whether dgm ships a feature net for the evaluation's images (mnist, digits)."""
    return ev.data.kind == "image" and has_feature_net(ev.data.name, tuple(ev.data.event_shape))


#: keys of the reports that hold metrics (`dgm evaluate`, report.json): no metric may use them
RESERVED = frozenset({"run", "data", "split", "density", "model_step", "steps", "processes", "n_test"})

#: What each number of a model's `diagnostics()` means: a report defines every column it shows.
DIAGNOSTICS: dict[str, str] = {
    "nfe": "calls of the ODE's right-hand side (velocity and divergence) in the solve of the test "
    "points' log-density, the most over its chunks (without an NLL, the model's latest such solve); "
    "sampling's solves are not counted",
    "log_ratio_bound": "M, the largest log p_data/p_g the critic gave any proposal (at least 0): "
    "rejection sampling accepts x with probability exp(log ratio(x) − M)",
    "acceptance": "the acceptance rate of rejection sampling: the share of the generator's proposals "
    "(after the burn-in that sets M) that passed u < exp(log ratio(x) − M), about 1/acceptance "
    "proposals per sample",
}


def model_inputs(model: GenerativeModel, data: DataSource, split: str, seed: int = 0) -> Tensor:
    """One split as the model sees it: a continuous density's discrete data dequantised, a binary
    model's binarised, with noise drawn once from the seed (so every metric sees the same points)."""
    x = data.split(split)
    noise = pipeline_noise(data.levels, model)
    return x if noise is None else noise(x, split_generator(seed, split))


def classifier_inputs(model: GenerativeModel, data: DataSource, split: str, seed: int = 0) -> Tensor:
    """One split as the model's classifier reads it: as the model sees it (`model_inputs`), or,
    for a classifier trained without the pipeline's noise (M1+M2's, on codes computed once), at
    the noise's mean: a binary model's grey images, a dequantising model's cell centres."""
    noise = pipeline_noise(data.levels, model)
    if noise is not None and getattr(getattr(model, "core", model), "classifies_noise_mean", False):
        return noise.mean(data.split(split))
    return model_inputs(model, data, split, seed)


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
    max_points: int | None = None,
    extended: bool = True,
    progress: bool = False,
) -> dict[str, float]:
    """Return {metric values..., "n_test": N, model diagnostics} for the model on one split.

    With `metrics=None` every registered metric that applies is run; naming a metric that does
    not apply (e.g. "nll" for a GAN, "kl" for data with no known density) is an error. A model
    whose density is only bounded reports `nll_bound`, and `nll` only as an importance-sampled
    estimate with K = `importance_samples` > 0 draws (reported as `nll_k`). A conditional model's
    class k is the label value `label_values[k]` (default: the data's own `label_values`).
    `max_points` judges on the split's first points only (the splits are drawn at random).
    `extended=False` leaves out the costlier metrics of the extended suite unless named;
    `progress` reports the chunks of per-point computations on stderr.
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
    if max_points is not None:
        x, c = x[:max_points], None if c is None else c[:max_points]
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
        split=split,
        label_values=tuple(values) if c is not None else (),
        progress=progress,
    )
    names = metrics if metrics is not None else METRICS.names()
    out: dict[str, float] = {}
    was_training = model.training
    model.eval()
    try:
        for name in names:
            metric = METRICS.get(name)
            if metric.applies(ev) and (extended or metric.extended is False or metrics is not None):
                values = metric.fn(ev)
                clash = values.keys() & (out.keys() | RESERVED | DIAGNOSTICS.keys())
                if clash:  # a bug: two metrics would overwrite each other's numbers
                    raise RuntimeError(f"metric {name!r} reports keys already taken: {sorted(clash)}")
                out.update(values)
            elif metrics is not None:
                raise DgmError(
                    f"metric {name!r} needs {metric.requirement(ev)}, which this model or data lacks"
                )
    finally:
        model.train(was_training)
    out["n_test"] = int(x.shape[0])
    out.update(ev.diagnostics())
    return out
