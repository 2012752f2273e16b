"""Training objectives: an objective takes a model and a batch and returns (loss, named terms).

Objectives are separate from models so that any generator can be trained with any discrepancy
where the maths allows it; the trainer never changes when an objective is added.
"""

from dgm.objectives.base import Objective
from dgm.objectives.likelihood import MaximumLikelihood

__all__ = ["MaximumLikelihood", "Objective"]
