"""Synthetic-data utility: do a conditional model's samples teach a classifier what real data do?

Train on synthetic, test on real (TSTR; Esteban et al., 2017): a classifier fitted only to labelled
model samples is scored on the real test split, beside the same classifier fitted to as many
real training points (TRTR, the ceiling). Augmentation: a classifier fitted to a few real labelled
points, with and without the synthetic ones added. The classifier is a multinomial logistic
regression on standardised, flattened inputs (scikit-learn; deterministic), deliberately simple so
that the numbers measure the data and not the classifier.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from dgm.metrics.uncertainty import content_order


def classifier_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """Accuracy on (test_x, test_y) of a multinomial logistic regression (L2, C = 1) fitted to
    (train_x, train_y), inputs flattened and standardised with the training inputs' mean and std."""
    from sklearn.linear_model import LogisticRegression

    a = train_x.reshape(len(train_x), -1).double().numpy()
    b = test_x.reshape(len(test_x), -1).double().numpy()
    mu, sd = a.mean(0), a.std(0)
    sd[sd == 0] = 1.0  # constant inputs (an image's border) carry nothing
    ya = train_y.numpy()
    if len(np.unique(ya)) < 2:  # one class seen: the classifier predicts it everywhere
        return float((test_y.numpy() == ya[0]).mean())
    clf = LogisticRegression(max_iter=300)
    clf.fit((a - mu) / sd, ya)
    return float((clf.predict((b - mu) / sd) == test_y.numpy()).mean())


def balanced_subset(y: Tensor, per_class: int, seed: int) -> Tensor:
    """Indices of up to `per_class` points of each class of y, chosen with the seed."""
    g = torch.Generator().manual_seed(seed)
    picks = [
        idx[torch.randperm(len(idx), generator=g)[:per_class]]
        for k in torch.unique(y)
        for idx in [torch.nonzero(y == k).flatten()]
    ]
    return torch.cat(picks).sort().values


def _draw(idx: Tensor, n: int, g: torch.Generator) -> Tensor:
    """n of the indices idx: without repeats while there are enough, else with replacement."""
    if n <= len(idx):
        return idx[torch.randperm(len(idx), generator=g)[:n]]
    return idx[torch.randint(len(idx), (n,), generator=g)]


def synthetic_utility(
    samples: Tensor,
    sample_y: Tensor,
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    *,
    few_per_class: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """TSTR, TRTR and augmentation accuracies on the real test points, each with its binomial
    standard error √(a(1 − a)/n_test):

    - tstr_accuracy: fitted to the model's samples (sample_y: the labels they were drawn for);
    - trtr_accuracy: fitted to as many real training points, of the same classes in the same numbers;
    - few_real_accuracy: fitted to `few_per_class` real training points per class;
    - augmented_accuracy: those few real points plus every model sample.
    """
    order = content_order(train_x)  # the real points are drawn whatever order they come in
    train_x, train_y = train_x[order], train_y[order]
    g = torch.Generator().manual_seed(seed)
    # The real twin of the synthetic set: for each sample, a training point of the same class,
    # distinct ones while the class has enough (repeats would lower the real ceiling).
    twins = torch.cat(
        [
            _draw(torch.nonzero(train_y == k).flatten(), int((sample_y == k).sum()), g)
            for k in torch.unique(sample_y)
            if (train_y == k).any()
        ]
    )
    few = balanced_subset(train_y, few_per_class, seed)
    accuracies = {
        "tstr_accuracy": classifier_accuracy(samples, sample_y, test_x, test_y),
        "trtr_accuracy": classifier_accuracy(train_x[twins], train_y[twins], test_x, test_y),
        "few_real_accuracy": classifier_accuracy(train_x[few], train_y[few], test_x, test_y),
        "augmented_accuracy": classifier_accuracy(
            torch.cat([train_x[few].to(samples), samples]),
            torch.cat([train_y[few], sample_y]),
            test_x,
            test_y,
        ),
    }
    n = len(test_y)
    out: dict[str, float] = {}
    for key, a in accuracies.items():
        out[key] = a
        out[key.replace("_accuracy", "_se")] = math.sqrt(a * (1 - a) / n)
    out |= {"utility_n_synthetic": len(samples), "utility_n_few": len(few), "utility_n_test": n}
    return out
