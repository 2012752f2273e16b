"""The registered sample metrics (energy_distance, seed_energy, mmd, sliced_wasserstein,
wasserstein, sinkhorn, prdc, c2st, memorisation): independent of the samples' order and of their
float dtype, reported by `evaluate` with their standard errors and sizes, for unconditional and
class-conditional models."""

from __future__ import annotations

import pytest
import torch

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data.base import DataSource, seeded_split
from dgm.errors import DgmError
from dgm.metrics import evaluate
from dgm.metrics.evaluate import Evaluation
from dgm.metrics.suite.samples import _compared
from dgm.metrics.uncertainty import content_order, seeded_order, subset_se, subset_values
from dgm.models.base import GenerativeModel
from dgm.registry import METRICS
from dgm.utils import one_hot

SAMPLE_METRICS = [
    "energy_distance",
    "seed_energy",
    "mmd",
    "sliced_wasserstein",
    "wasserstein",
    "sinkhorn",
    "prdc",
    "c2st",
    "memorisation",
]
KEYS = {
    "energy_distance": {"energy_distance", "energy_distance_se", "energy_n"},
    "seed_energy": {"seed_energy", "seed_energy_se", "seed_energy_x1000", "seed_energy_batches"},
    "mmd": {"mmd2", "mmd2_se", "mmd_n", "mmd_bandwidth"},
    "sliced_wasserstein": {"sw2", "sw2_se", "sw_n"},
    "wasserstein": {"w1", "w1_se", "w2", "w2_se", "ot_n"},
    "sinkhorn": {"sinkhorn_divergence", "sinkhorn_divergence_se", "sinkhorn_n", "sinkhorn_reg"},
    "prdc": {
        "prdc_precision",
        "prdc_recall",
        "prdc_density",
        "prdc_coverage",
        "prdc_precision_se",
        "prdc_coverage_se",
        "prdc_k",
        "prdc_n",
    },
    "c2st": {"c2st_accuracy", "c2st_accuracy_se", "c2st_p", "c2st_n"},
    "memorisation": {"memorisation_ratio", "memorisation_ratio_se", "memorisation_n", "memorisation_n_train"},
}


def _evaluation(samples: torch.Tensor, x: torch.Tensor, train: torch.Tensor) -> Evaluation:
    """An evaluation whose model samples, points and training split are given."""
    data = DataSource("given", "points", {"train": train, "val": x[:2], "test": x})
    ev = Evaluation(build_model("gaussian", (x.shape[1],), "none"), data, x, n_samples=len(samples))
    ev._cache.update(samples=samples, train_x=train)
    return ev


def _sets(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g)  # more points than samples: the metrics pick a subset
    samples = torch.randn(160, 3, generator=g) * 1.1 + 0.2
    train = torch.randn(400, 3, generator=g)
    return samples.to(dtype), x.to(dtype), train.to(dtype)


@pytest.mark.parametrize("name", SAMPLE_METRICS)
def test_sample_metric_does_not_depend_on_the_order_of_the_samples(name: str) -> None:
    """Permuting the samples, the points and the training set leaves every value unchanged (the
    seeded subsets and splits are drawn in an order fixed by the content), up to float rounding."""
    samples, x, train = _sets()
    fn = METRICS.get(name).fn
    out = fn(_evaluation(samples, x, train))
    g = torch.Generator().manual_seed(1)
    perm = [torch.randperm(len(t), generator=g) for t in (samples, x, train)]
    permuted = fn(_evaluation(samples[perm[0]], x[perm[1]], train[perm[2]]))
    assert KEYS[name] <= set(out) and set(permuted) == set(out)
    # a standard error is named after its value (`X_se`), where reports put it beside X
    assert all(key[: -len("_se")] in out for key in out if key.endswith("_se")), sorted(out)
    for key, value in out.items():
        assert permuted[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("name", SAMPLE_METRICS)
def test_sample_metric_computes_in_float64_whatever_the_input_dtype(name: str) -> None:
    """The same values given as float32 or as float64 give the same result to 1e-9: every metric
    converts to float64 before computing (a float32 computation would differ by ≈ 1e-7)."""
    fn = METRICS.get(name).fn
    out32 = fn(_evaluation(*_sets(torch.float32)))
    out64 = fn(_evaluation(*(t.double() for t in _sets(torch.float32))))
    for key, value in out32.items():
        assert out64[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_subsets_are_disjoint_seeded_and_keep_pairs_together() -> None:
    x = torch.arange(23.0)[:, None]
    y = 100 + torch.arange(23.0)[:, None]
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def sizes(a: torch.Tensor, b: torch.Tensor) -> list[float]:
        seen.append((a, b))
        return [len(a), len(b)]

    values = subset_values(sizes, x, y, subsets=5, paired=True)
    assert values.tolist() == [[4, 4]] * 5  # ⌊23/5⌋ each, the remainder left out
    rows = torch.cat([a for a, _ in seen]).flatten()
    assert len(rows.unique()) == 20  # disjoint
    assert all(torch.equal(b - 100, a) for a, b in seen)  # pairs stay together
    assert subset_se(torch.tensor([1.0, 2.0, 3.0, 4.0])).item() == pytest.approx(
        torch.tensor([1.0, 2, 3, 4]).std().item() / 2
    )
    # the order depends on the content only; the seed moves the subsample
    perm = torch.randperm(23)
    assert torch.equal(x[perm][content_order(x[perm])], x[content_order(x)])
    assert not torch.equal(seeded_order(x, seed=0), seeded_order(x, seed=1))


def _gaussian_source() -> DataSource:
    x = torch.randn(3000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 0.5])
    return DataSource("gauss", "points", seeded_split(x))


def test_evaluate_reports_the_sample_metrics_of_a_fitted_gaussian() -> None:
    """A Gaussian fitted to Gaussian data: indistinguishable by every two-sample statistic."""
    data = _gaussian_source()
    model = build_model("gaussian", (2,), "standardize")
    model.transform.fit(data.split("train"))
    model.initialize(data.split("train"))
    out = evaluate(model, data, "test", SAMPLE_METRICS)
    assert set(out) >= set().union(*KEYS.values())
    assert out["mmd_n"] == out["sw_n"] == out["prdc_n"] == 300  # the test split's size
    assert out["ot_n"] == 300 and out["sinkhorn_n"] == 300 and out["memorisation_n_train"] == 2400
    assert abs(out["mmd2"]) < 3 * out["mmd2_se"]
    assert abs(out["c2st_accuracy"] - 0.5) < 3 * out["c2st_accuracy_se"]
    # a ratio of means of heavy-tailed nearest-neighbour distances: on 300 points its SE is 0.06-0.1
    # and a low draw comes with a low SE, so allow 0.25 (copying scores near 0)
    assert out["memorisation_ratio"] == pytest.approx(1.0, abs=0.25)


MEANS = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])


class _PerfectConditional(GenerativeModel):
    """Samples x | c ~ N(MEANS[c], I): exactly the law of the data of `_labelled_gaussians`."""

    context_features = 3

    def __init__(self) -> None:
        super().__init__((2,))
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        return MEANS[c.argmax(1)] + torch.randn(n, 2)


def test_evaluate_pairs_a_conditional_models_samples_with_their_points() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.multinomial(torch.tensor([0.5, 0.3, 0.2]), 3000, replacement=True, generator=g)
    x = MEANS[labels] + torch.randn(3000, 2, generator=g)
    data = DataSource("labelled", "points", seeded_split(x), labels=seeded_split(labels))
    out = evaluate(_PerfectConditional(), data, "test", SAMPLE_METRICS)
    assert set(out) >= set().union(*KEYS.values())
    # sample i was drawn for point i's label, and is compared with point i, in order
    test_x, test_c = data.split("test"), one_hot(data.split_labels("test"), 3, data.split("test"))
    ev = Evaluation(_PerfectConditional(), data, test_x, test_c, n_samples=100)
    samples, x, paired = _compared(ev)
    assert paired and torch.equal(x, test_x[:100]) and torch.equal(samples, ev.samples())
    assert abs(out["mmd2"]) < 3 * out["mmd2_se"]
    assert abs(out["c2st_accuracy"] - 0.5) < 3 * out["c2st_accuracy_se"]


def test_exact_wasserstein_applies_to_points_only() -> None:
    images = DataSource("tiny", "image", seeded_split(torch.rand(60, 1, 2, 2)))
    with pytest.raises(DgmError, match="points data"):
        evaluate(build_model("gaussian", (1, 2, 2), "none"), images, "test", ["wasserstein"])
