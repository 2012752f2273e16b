"""Likelihood metrics in the data's own units."""

from __future__ import annotations

import math

from torch import Tensor


def mean_and_se(values: Tensor) -> tuple[float, float]:
    """Return the mean of values (N,) and its standard error std/√N."""
    values = values.double()
    se = values.std().item() / math.sqrt(values.numel()) if values.numel() > 1 else float("nan")
    return values.mean().item(), se
