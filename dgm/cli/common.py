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
