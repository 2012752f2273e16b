"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to compute (auto: CUDA when present)",
    )


def seed_number(text: str) -> int:
    """--seed's type: an integer of size at most 2**53 (the bound of a config's seed)."""
    from dgm.config import MAX_INT

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(f"is too large (at most 2**53), got {text}")
    return value


def add_seed(p: argparse.ArgumentParser, default: int | None = 0) -> None:
    """--seed; default None means "the config's seed" (0 unless a --config file sets it)."""
    shown = "0, or the --config file's" if default is None else default
    p.add_argument("--seed", type=seed_number, default=default, help=f"random seed (default {shown})")


def add_sampling(p: argparse.ArgumentParser) -> None:
    """How a model draws its samples: --solver and --steps (continuous flows; defaults: the
    model's own) and --rejection (GANs)."""
    p.add_argument(
        "--solver",
        choices=["euler", "rk4", "dopri5"],
        help="ODE solver of a continuous flow (default: the model's evaluation solver)",
    )
    p.add_argument("--steps", type=int, help="steps of a fixed-step solver (euler, rk4)")
    p.add_argument(
        "--rejection",
        action="store_true",
        help="GANs of a Jensen-Shannon or least-squares game: discriminator rejection sampling, the "
        "generator's samples corrected by the critic's density ratio",
    )


def apply_sampling(model: object, args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Give the model the sampler the command line names; a clear error for a model without it."""
    from dgm.errors import DgmError

    core = getattr(model, "core", model)
    if args.rejection:
        from dgm.gan.objectives import check_rejection

        log_ratio = check_rejection(core, config)
        core.use_rejection(log_ratio)
    if args.solver is None and args.steps is None:
        return
    if args.steps is not None and args.steps < 1:
        raise DgmError(f"--steps must be a positive integer, got {args.steps}")
    if not hasattr(core, "use_solver"):
        raise DgmError(
            f"--solver and --steps apply to continuous flows; {type(core).__name__} integrates no ODE"
        )
    if args.steps is not None and (args.solver or core.eval_solver.method) == "dopri5":
        raise DgmError("--steps sets a fixed-step solver's steps; dopri5 chooses its own (use --solver rk4)")
    core.use_solver(args.solver, args.steps)
