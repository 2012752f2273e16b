"""Shared fixtures: float64 by default where precision matters, seeded RNG, the shared MNIST copy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (ROOT / ".." / "shared" / "data" / "mnist").resolve()


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _mnist_copy() -> None:
    """Point dgm at the shared MNIST files so that no test ever downloads."""
    if "DGM_DATA" not in os.environ and SHARED_MNIST.exists():
        os.environ["DGM_DATA"] = str(SHARED_MNIST)


@pytest.fixture
def points_csv(tmp_path: Path) -> Path:
    """A small correlated 2-D Gaussian sample as a CSV file with a header."""
    g = torch.Generator().manual_seed(1)
    x = (
        torch.randn(600, 2, generator=g, dtype=torch.float64)
        @ torch.tensor([[1.0, 0.5], [0.0, 0.3]]).double()
    )
    path = tmp_path / "points.csv"
    path.write_text("a,b\n" + "\n".join(f"{u:.10g},{v:.10g}" for u, v in (x + 1).tolist()) + "\n")
    return path
