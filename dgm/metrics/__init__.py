"""Evaluation metrics, registered by name for `dgm evaluate --metrics`."""

import dgm.metrics.suite  # noqa: F401  (registers every metric)
from dgm.metrics.evaluate import Evaluation, evaluate
from dgm.metrics.samples import energy_distance

__all__ = ["Evaluation", "energy_distance", "evaluate"]
