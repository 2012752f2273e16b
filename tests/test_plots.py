"""Figures: every image model's run gets its samples beside their nearest training images."""

from __future__ import annotations

from pathlib import Path

import dgm.catalog  # noqa: F401  (registers every component)
from dgm.build import build_model
from dgm.data import load_data
from dgm.plots import run_figures


def test_image_runs_show_samples_beside_their_nearest_training_images(tmp_path: Path) -> None:
    data = load_data("digits")
    model = build_model("gan", (1, 8, 8), "none", {"latent": 2, "width": 8}).eval()
    figures = {p.name for p in run_figures(tmp_path, model, data)}
    assert {"samples.png", "nearest.png"} <= figures
    assert (tmp_path / "figures" / "nearest.png").read_bytes()[:4] == b"\x89PNG"
