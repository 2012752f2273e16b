"""Continuous normalizing flows: OT-Flow, FFJORD (RNODE) and flow matching, one ODE machinery."""

from dgm.cnf.cnf import ContinuousFlow
from dgm.cnf.ode import SOLVERS, Solver, odeint

__all__ = ["SOLVERS", "ContinuousFlow", "Solver", "odeint"]
