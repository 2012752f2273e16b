"""The dataset contract shared by toys, images and user files.

A `DataSource` holds fixed, seeded train/val/test splits of float tensors of shape (N, *event_shape).
Points are (N, D); images are (N, C, H, W) with pixel values scaled to [0, 1] and `levels` the
number of grey levels of the raw data (256 for 8-bit images). A toy additionally knows its true
density: `log_prob(x)` and the reference differential entropy `entropy = (H, standard error)`,
so that evaluations can report KL(p_data || p_model) = NLL - H.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from dgm.errors import DgmError

Split = Literal["train", "val", "test", "all"]
SPLITS: tuple[str, ...] = ("train", "val", "test", "all")


@dataclass
class DataSource:
    """Named data with fixed splits.

    Attributes:
        name: registry name or file path.
        kind: "points" for (N, D) vectors, "image" for (N, C, H, W) in [0, 1].
        splits: tensors keyed "train", "val", "test" (and optionally "all").
        labels: optional integer labels per split, shape (N,): classes 0..K−1 once constructed.
        levels: number of discrete values per pixel of the raw data (images), else None.
        label_values: the user's label value of each class 0..K−1 (sorted). Left empty, `labels`
            are read as the user's values and encoded (see `encode_labels`); given, `labels` must
            already be classes 0..K−1.
        columns: the column names of a CSV file's header (empty without one), which `dgm sample`
            writes above synthetic rows.
    """

    name: str
    kind: Literal["points", "image"]
    splits: dict[str, Tensor]
    labels: dict[str, Tensor] = field(default_factory=dict)
    levels: int | None = None
    label_values: tuple[int, ...] = ()
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Make labels classes 0..K−1 whatever values the data use (e.g. {0, 5000} or negative)."""
        if not self.labels:
            self.label_values = ()
        elif not self.label_values:
            self.labels, self.label_values = encode_labels(self.labels)
        elif any(int(y.min()) < 0 or int(y.max()) >= len(self.label_values) for y in self.labels.values()):
            raise DgmError(f"dataset {self.name!r}: labels must be classes 0..{len(self.label_values) - 1}")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.splits["train"].shape[1:])

    @property
    def dim(self) -> int:
        """Number of scalar dimensions D of one sample."""
        return int(torch.Size(self.event_shape).numel())

    def split(self, name: str) -> Tensor:
        """Return the samples of one split; "all" concatenates every split."""
        if name == "all":
            return self.splits.get("all", torch.cat([self.splits[s] for s in ("train", "val", "test")]))
        if name not in self.splits:
            raise DgmError(f"dataset {self.name!r} has no split {name!r} (choose from {SPLITS})")
        return self.splits[name]

    def split_labels(self, name: str) -> Tensor | None:
        """Integer labels of one split (shape (N,)), or None for unlabelled data."""
        if not self.labels:
            return None
        if name == "all" and "all" not in self.labels:
            return torch.cat([self.labels[s] for s in ("train", "val", "test")])
        return self.labels[name]

    @property
    def num_classes(self) -> int:
        """Number of classes K (labels are 0..K−1); 0 for unlabelled data."""
        return len(self.label_values)

    def split_classes(self, name: str, values: Sequence[int]) -> Tensor | None:
        """Labels of one split as classes of a model trained on the label values `values` (its
        class k is the value values[k]), or None for unlabelled data. A label value of this data
        that is not in `values` is an error: the model has no class for it."""
        labels = self.split_labels(name)
        if labels is None:
            return None
        unknown = [v for v in self.label_values if v not in values]
        if unknown:
            raise DgmError(
                f"{self.name!r} has label values {describe_values(unknown)} that the model was not "
                f"trained on (its label values: {describe_values(values)})"
            )
        return torch.tensor([list(values).index(v) for v in self.label_values], dtype=torch.long)[labels]

    # A true density is known only for synthetic data; subclasses override these.
    has_true_density: bool = False

    def log_prob(self, x: Tensor) -> Tensor:
        """Return the true log-density log p_data(x), shape (N,)."""
        raise DgmError(f"dataset {self.name!r} has no known true density")

    @property
    def entropy(self) -> tuple[float, float] | None:
        """Reference differential entropy H = -E log p_data(x) in nats and its standard error."""
        return None


def encode_labels(labels: dict[str, Tensor]) -> tuple[dict[str, Tensor], tuple[int, ...]]:
    """Map integer label values to classes 0..K−1: class k is the k-th smallest distinct value v_k
    over all splits, so y = v_k becomes k. Returns the classes per split and (v_0, ..., v_{K−1})."""
    values = torch.unique(torch.cat([y.long() for y in labels.values()]))  # sorted
    classes = {k: torch.searchsorted(values, y.long()) for k, y in labels.items()}
    return classes, tuple(int(v) for v in values)


def describe_values(values: Sequence[int], limit: int = 20) -> str:
    """Label values for a message, "0, 5, 7"; past `limit` values the rest is only counted:
    "0, 1, …, (5000 values)"."""
    shown = ", ".join(str(v) for v in list(values)[:limit])
    return shown if len(values) <= limit else f"{shown}, …, ({len(values)} values)"


def seeded_split(
    x: Tensor, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, Tensor]:
    """Shuffle the rows of x with a fixed seed and cut them into train/val/test splits."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(fractions[1] * n)))
    n_test = max(1, int(round(fractions[2] * n)))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DgmError(f"too few samples ({n}) to split into train, val and test")
    idx = {"train": perm[:n_train], "val": perm[n_train : n_train + n_val], "test": perm[n_train + n_val :]}
    return {k: x[v] for k, v in idx.items()}
