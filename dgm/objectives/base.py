"""The objective contract."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from dgm.models.base import GenerativeModel


class Objective(Protocol):
    """loss, terms = objective(model, x): a scalar loss to minimise and named scalars to log."""

    def __call__(self, model: GenerativeModel, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]: ...
