"""mnist-pca32: MNIST's principal coordinates, fitted on the training split."""

from __future__ import annotations

import torch

from dgm.data import load_data


def test_principal_coordinates_are_centred_decorrelated_and_ordered() -> None:
    data = load_data("mnist-pca32")
    y = data.split("train").double()
    assert data.kind == "points" and data.event_shape == (32,) and data.num_classes == 10
    assert y.mean(0).abs().max() < 1e-4
    cov = torch.cov(y.T)
    variances = cov.diagonal()
    assert (cov - torch.diag(variances)).abs().max() < 1e-3 * variances.max()
    assert (variances[:-1] >= variances[1:]).all()
    assert data.split("test").shape == (10_000, 32) and len(data.split_labels("test")) == 10_000
