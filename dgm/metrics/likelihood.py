"""Likelihood metrics in the data's own units."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mean_and_se(values: Tensor) -> tuple[float, float]:
    """Return the mean of values (N,) and its standard error std/√N."""
    values = values.double()
    se = values.std().item() / math.sqrt(values.numel()) if values.numel() > 1 else float("nan")
    return values.mean().item(), se


@torch.no_grad()
def batched_log_prob(log_prob, x: Tensor, batch_size: int = 4096) -> Tensor:  # noqa: ANN001
    """Evaluate log_prob over x in batches, returning shape (N,)."""
    return torch.cat([log_prob(chunk) for chunk in x.split(batch_size)])
