"""Synthetic-data utility: a model that knows the classes teaches a classifier; one that does not fails."""

from __future__ import annotations

import pytest
import torch

from dgm.data.base import DataSource, seeded_split
from dgm.metrics import evaluate
from dgm.metrics.utility import balanced_subset, synthetic_utility
from dgm.models.base import GenerativeModel

MEANS = torch.tensor([[0.0, 0.0], [2.5, 0.0], [0.0, 2.5]])


def _data(n: int = 4000, seed: int = 0) -> DataSource:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(3, (n,), generator=g)
    x = MEANS[labels] + torch.randn(n, 2, generator=g)
    return DataSource("blobs", "points", seeded_split(x), labels=seeded_split(labels))


class _Conditional(GenerativeModel):
    """x | c ~ N(MEANS[π(c)], I): the true law when π is the identity, a mislabelled one otherwise."""

    context_features = 3

    def __init__(self, permutation: tuple[int, int, int] = (0, 1, 2)) -> None:
        super().__init__((2,))
        self.permutation = torch.tensor(permutation)
        self.unused = torch.nn.Parameter(torch.zeros(()))  # evaluation reads the device off a parameter

    def sample(self, n: int, c: torch.Tensor | None = None) -> torch.Tensor:
        return MEANS[self.permutation[c.argmax(1)]] + torch.randn(n, 2)


def test_balanced_subset_takes_each_class_alike() -> None:
    y = torch.tensor([0] * 50 + [1] * 7 + [2] * 30)
    pick = balanced_subset(y, 10, seed=0)
    assert torch.bincount(y[pick]).tolist() == [10, 7, 10] and len(set(pick.tolist())) == 27


def test_a_perfect_model_teaches_as_well_as_real_data_and_a_mislabelled_one_fails() -> None:
    data = _data()
    good = evaluate(_Conditional(), data, "test", ["utility"], n_samples=1000)
    assert abs(good["tstr_accuracy"] - good["trtr_accuracy"]) < 4 * good["tstr_se"] + 0.01
    assert good["trtr_accuracy"] > 0.8 and good["utility_n_synthetic"] == 400  # the test split: 400
    assert good["augmented_accuracy"] >= good["few_real_accuracy"] - 2 * good["few_real_se"]
    bad = evaluate(_Conditional((1, 2, 0)), data, "test", ["utility"], n_samples=1000)
    assert bad["tstr_accuracy"] < 0.2 < good["tstr_accuracy"] - 0.6
    assert bad["trtr_accuracy"] == good["trtr_accuracy"]  # the real baseline does not see the model


def test_utility_is_independent_of_the_order_of_the_test_and_training_points() -> None:
    """The real twins and the few real points per class are drawn from the training points in an
    order fixed by their content: permuting them changes nothing but the classifier's rounding."""
    g = torch.Generator().manual_seed(1)
    y = torch.randint(3, (600,), generator=g)
    x = MEANS[y] + torch.randn(600, 2, generator=g)
    s_y = torch.randint(3, (300,), generator=g)
    s = MEANS[s_y] + torch.randn(300, 2, generator=g)
    perm, train_perm = torch.randperm(200, generator=g), torch.randperm(400, generator=g)
    a = synthetic_utility(s, s_y, x[:400], y[:400], x[400:], y[400:])
    b = synthetic_utility(s, s_y, x[:400], y[:400], x[400:][perm], y[400:][perm])
    assert a == b
    c = synthetic_utility(s, s_y, x[:400][train_perm], y[:400][train_perm], x[400:], y[400:])
    assert c == pytest.approx(a, abs=1 / 200)  # at most one test point's prediction may flip


def test_real_twins_are_distinct_while_a_class_has_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """The TRTR baseline trains on as many real training points as there are samples, per class,
    none twice while the class has enough (repeats would lower the real ceiling)."""
    from dgm.metrics import utility

    fitted = []
    monkeypatch.setattr(utility, "classifier_accuracy", lambda x, y, *_: fitted.append((x, y)) or 0.5)
    g = torch.Generator().manual_seed(2)
    y = torch.randint(3, (600,), generator=g)
    x = MEANS[y] + torch.randn(600, 2, generator=g)
    s_y = y[:300][torch.randperm(300, generator=g)]  # as many per class as the real rows hold
    utility.synthetic_utility(MEANS[s_y], s_y, x[:300], y[:300], x[300:], y[300:])
    twins_x, twins_y = fitted[1]  # tstr, trtr, few real, augmented
    assert len(torch.unique(twins_x, dim=0)) == 300 and torch.equal(twins_y.sort()[0], s_y.sort()[0])
    more = utility._draw(torch.arange(10, 60), 80, g)  # more than the class holds: with repeats
    assert len(more) == 80 and set(more.tolist()) <= set(range(10, 60))
