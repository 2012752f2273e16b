"""Registered image datasets: MNIST (28x28, downloaded when missing) and scikit-learn's digits (8x8)."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from dgm.data.base import DataSource, seeded_split
from dgm.data.mnist import load_mnist
from dgm.registry import DATASETS


def split_labelled(
    x: Tensor, y: Tensor | None = None, seed: int = 0
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Cut samples x and their labels y with the same seeded 80/10/10 permutation.

    The rows are shuffled once (`seeded_split` of the indices 0..N-1) and that index split is applied
    to both, so x[i] keeps its label y[i].
    """
    index = seeded_split(torch.arange(x.shape[0]), seed=seed)
    splits = {k: x[v] for k, v in index.items()}
    labels = {} if y is None else {k: y[v] for k, v in index.items()}
    return splits, labels


@lru_cache(maxsize=1)
def _digits_tensors() -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # values are counts 0..16 of "on" pixels in 4x4 blocks: 17 levels, x = count / 16
    x = torch.as_tensor(digits.images, dtype=torch.float32).div_(16).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.as_tensor(digits.target, dtype=torch.long)
    return split_labelled(x, y)


def load_digits() -> DataSource:
    """Return scikit-learn's 1,797 handwritten digits, (N, 1, 8, 8) in [0, 1], levels = 17, 80/10/10."""
    splits, labels = _digits_tensors()
    return DataSource(name="digits", kind="image", splits=dict(splits), labels=dict(labels), levels=17)


DATASETS.add("mnist", load_mnist, "MNIST handwritten digits, 1x28x28, 50k/10k/10k (downloaded when missing)")
DATASETS.add("digits", load_digits, "scikit-learn digits, 1x8x8 with 17 grey levels, 1797 images 80/10/10")
