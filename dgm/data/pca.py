"""MNIST reduced to 32 dimensions by PCA (`mnist-pca32`): image data small enough for every
density model of vectors, where a continuous flow's trace cost shows.

The 8-bit pixels are dequantised once, x̃ = (k + u)/256 with u ~ U[0, 1)^784 from a fixed seed, so
that the projection has a density; the principal axes W (784 × 32) and the mean μ are fitted on
the training split only, and every split is y = (x̃ − μ) W. Likelihoods are of y, in nats per
sample (a model of the 32 coordinates, not of the image).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from dgm.data.base import DataSource
from dgm.data.mnist import load_mnist
from dgm.registry import DATASETS

COMPONENTS = 32


@lru_cache(maxsize=1)
def _projected() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], tuple[int, ...]]:
    mnist = load_mnist()
    g = torch.Generator().manual_seed(0)
    flat = {}
    for split in ("train", "val", "test"):
        k = mnist.split(split).flatten(1) * 255  # the grey levels 0..255
        flat[split] = (k + torch.rand(k.shape, generator=g)) / 256
    mean = flat["train"].mean(0)
    # principal axes: the leading eigenvectors of the training covariance (eigh sorts ascending)
    centred = flat["train"] - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred / len(centred))
    axes = vectors[:, -COMPONENTS:].flip(1)
    splits = {s: (x - mean) @ axes for s, x in flat.items()}
    labels = {s: mnist.split_labels(s) for s in flat}
    return splits, labels, mnist.label_values


def load_mnist_pca() -> DataSource:
    """MNIST's splits as 32 principal coordinates (N, 32), with the digit labels."""
    splits, labels, values = _projected()
    return DataSource("mnist-pca32", "points", dict(splits), dict(labels), label_values=values)


DATASETS.add(
    "mnist-pca32",
    load_mnist_pca,
    "MNIST dequantised and projected on its 32 principal axes (fitted on train): points, with labels",
)
