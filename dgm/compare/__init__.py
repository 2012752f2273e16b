"""Head-to-head comparison: several models, one dataset, one budget, one evaluation, one report."""

from dgm.compare.report import write_report
from dgm.compare.runner import Row, compare, family, models_for

__all__ = ["Row", "compare", "family", "models_for", "write_report"]
