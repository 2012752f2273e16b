"""Datasets: 2-D toys with true densities, images (MNIST, digits) and user files.

`load_data(spec)` takes a registered name or a path to a file or folder.
"""

from dgm.data.base import DataSource, seeded_split
from dgm.data.load import load_data

__all__ = ["DataSource", "load_data", "seeded_split"]
