"""Finite normalizing flows: bijections with tractable log-determinants."""

from dgm.flows.base import Bijection, Compose

__all__ = ["Bijection", "Compose"]
