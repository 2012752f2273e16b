"""DataSource labels: any integer values become classes 0..K−1, mapped to a model's label values."""

from __future__ import annotations

import pytest
import torch

from dgm.data.base import DataSource, describe_values
from dgm.errors import DgmError

X = {s: torch.zeros(n, 2) for s, n in (("train", 4), ("val", 2), ("test", 2))}


def labelled(train: list[int], val: list[int], test: list[int]) -> DataSource:
    labels = {"train": torch.tensor(train), "val": torch.tensor(val), "test": torch.tensor(test)}
    return DataSource("d", "points", dict(X), labels)


def test_label_values_become_classes_in_sorted_order() -> None:
    data = labelled([5000, 0, -3, 0], [5000, 0], [-3, -3])
    assert data.label_values == (-3, 0, 5000) and data.num_classes == 3
    assert data.labels["train"].tolist() == [2, 1, 0, 1] and data.split_labels("all").max() == 2
    digits = labelled([0, 1, 2, 3], [4, 5], [6, 7])  # labels 0..K−1 stay as they are
    assert digits.label_values == tuple(range(8)) and digits.labels["val"].tolist() == [4, 5]
    unlabelled = DataSource("u", "points", dict(X))
    assert unlabelled.num_classes == 0 and unlabelled.split_classes("test", [0, 1]) is None


def test_split_classes_follow_the_model_s_label_values() -> None:
    data = labelled([0, 5000, 0, 0], [5000, 0], [5000, 0])
    assert data.split_classes("test", [0, 7, 5000]).tolist() == [2, 0]  # a subset of the model's classes
    assert data.split_classes("test", [0, 5000]).tolist() == [1, 0]
    with pytest.raises(DgmError, match=r"label values 5000 .*not trained on.*: 0, 1\)") as info:
        data.split_classes("test", [0, 1])
    assert "\n" not in str(info.value)


def test_classes_given_with_their_values_must_lie_in_range() -> None:
    data = labelled([0, 5000, 0, 0], [5000, 0], [5000, 0])
    assert DataSource("d", "points", dict(X), dict(data.labels), label_values=(0, 5000)).num_classes == 2
    with pytest.raises(DgmError, match=r"classes 0\.\.1"):
        DataSource("d", "points", dict(X), {"train": torch.tensor([0, 2, 0, 0])}, label_values=(0, 5000))


def test_describe_values_counts_long_lists() -> None:
    assert describe_values([-1, 0, 5000]) == "-1, 0, 5000"
    assert describe_values(range(5001), limit=3) == "0, 1, 2, …, (5001 values)"
