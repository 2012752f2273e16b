"""Integration of ODEs dy/dt = f(t, y) on a tuple state: fixed-step Euler and classical RK4, and
adaptive Dormand-Prince (dopri5) through torchdiffeq; every solve counts its function evaluations.

Classical RK4 (OT-Flow's scheme) advances y by h·(k₁ + 2k₂ + 2k₃ + k₄)/6 with
k₁ = f(t, y), k₂ = f(t + h/2, y + h/2·k₁), k₃ = f(t + h/2, y + h/2·k₂), k₄ = f(t + h, y + h·k₃);
torchdiffeq's "rk4" is the 3/8 rule, so the fixed-step schemes are written here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

#: Solvers a continuous flow integrates with: fixed steps (euler, rk4) or adaptive (dopri5).
SOLVERS = ("euler", "rk4", "dopri5")
#: The most fixed steps a solve may take: beyond, an evaluation would run for hours, not finish.
MAX_STEPS = 100_000

State = tuple[Tensor, ...]
Dynamics = Callable[[float | Tensor, State], State]


@dataclass(frozen=True)
class Solver:
    """How to integrate: `method` with `steps` equal steps (euler, rk4), or dopri5 to the
    tolerance atol + rtol·|y| (steps unused)."""

    method: str = "rk4"
    steps: int = 8
    atol: float = 1e-5
    rtol: float = 1e-5

    def __post_init__(self) -> None:
        if self.method not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {self.method!r}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be an integer from 1 to {MAX_STEPS}, got {self.steps}")
        if not (self.atol > 0 and self.rtol > 0):
            raise ValueError(f"tolerances must be positive, got atol={self.atol}, rtol={self.rtol}")

    def describe(self) -> str:
        """ "rk4, 8 steps" or "dopri5, atol 1e-05, rtol 1e-05"."""
        if self.method == "dopri5":
            return f"dopri5, atol {self.atol:g}, rtol {self.rtol:g}"
        return f"{self.method}, {self.steps} steps"


def _axpy(y: State, h: float, k: State) -> State:
    return tuple(a + h * b for a, b in zip(y, k, strict=True))


def _euler_step(f: Dynamics, t: float, y: State, h: float) -> State:
    return _axpy(y, h, f(t, y))


def _rk4_step(f: Dynamics, t: float, y: State, h: float) -> State:
    k1 = f(t, y)
    k2 = f(t + h / 2, _axpy(y, h / 2, k1))
    k3 = f(t + h / 2, _axpy(y, h / 2, k2))
    k4 = f(t + h, _axpy(y, h, k3))
    return tuple(a + h / 6 * (p + 2 * q + 2 * r + s) for a, p, q, r, s in zip(y, k1, k2, k3, k4, strict=True))


def odeint(f: Dynamics, y0: State, t0: float, t1: float, solver: Solver) -> tuple[State, int]:
    """Return y(t1) for dy/dt = f(t, y), y(t0) = y0 (t1 < t0 integrates backwards), and the
    number of evaluations of f. Gradients flow through the solver's steps (no adjoint)."""
    nfe = 0

    def counted(t: float | Tensor, y: State) -> State:
        nonlocal nfe
        nfe += 1
        return f(t, y)

    if solver.method == "dopri5":
        import torchdiffeq

        times = torch.tensor([t0, t1], dtype=y0[0].dtype, device=y0[0].device)
        path = torchdiffeq.odeint(counted, y0, times, method="dopri5", atol=solver.atol, rtol=solver.rtol)
        return tuple(p[-1] for p in path), nfe
    step = _rk4_step if solver.method == "rk4" else _euler_step
    h = (t1 - t0) / solver.steps
    y = y0
    for k in range(solver.steps):
        y = step(counted, t0 + k * h, y, h)
    return y, nfe
