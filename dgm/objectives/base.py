"""The objective contract."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor

from dgm.models.base import GenerativeModel


class Objective(Protocol):
    """loss, terms = objective(model, x, c): a scalar loss to minimise and named scalars to log.

    c is the optional context (one-hot labels for class-conditional models), shape (B, K).
    """

    def __call__(
        self, model: GenerativeModel, x: Tensor, c: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]: ...
