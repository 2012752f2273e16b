"""The shared bijection check must catch a wrong log-determinant (the seed code's RealNVP defect)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from dgm.bijection import Bijection, Compose
from dgm.testing import check_bijection


class Scale(Bijection):
    """y = a ⊙ x; log|det| = Σ log|a|, or a deliberately wrong value counting every coordinate twice."""

    def __init__(self, a: Tensor, wrong: bool = False) -> None:
        super().__init__()
        self.a, self.wrong = a, wrong

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = self.a.abs().log().sum() * (2 if self.wrong else 1)
        return x * self.a, ladj.expand(x.shape[0])

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = self.a.abs().log().sum() * (2 if self.wrong else 1)
        return y / self.a, -ladj.expand(y.shape[0])


def test_check_passes_a_correct_composition() -> None:
    a = torch.tensor([2.0, -0.5, 3.0], dtype=torch.float64)
    check_bijection(Compose(Scale(a), Scale(a.flip(0))), torch.randn(5, 3, dtype=torch.float64))


def test_check_catches_a_wrong_log_determinant_that_is_consistent_in_both_directions() -> None:
    a = torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64)
    with pytest.raises(AssertionError, match="autograd"):
        check_bijection(Scale(a, wrong=True), torch.randn(5, 3, dtype=torch.float64))
