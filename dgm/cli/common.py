"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to compute (auto: CUDA when present)",
    )


def add_seed(p: argparse.ArgumentParser, default: int | None = 0) -> None:
    """--seed; default None means "the config's seed" (0 unless a --config file sets it)."""
    shown = "0, or the --config file's" if default is None else default
    p.add_argument("--seed", type=int, default=default, help=f"random seed (default {shown})")


def run_label_values(run: str, classes: int) -> list[int]:
    """The data's label value of each class 0..K−1 of a conditional run (config.json, data.label_values);
    runs saved before labels were mapped have the values 0..K−1."""
    from dgm.errors import DgmError
    from dgm.io import read_config

    values = read_config(run).get("data", {}).get("label_values") or list(range(classes))
    if not (
        isinstance(values, list)
        and len(values) == classes
        and all(type(v) is int for v in values)
        and len(set(values)) == classes
    ):
        raise DgmError(f"{run}: data.label_values in config.json must be {classes} distinct integers")
    return values
