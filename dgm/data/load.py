"""Resolve a DATA argument: a registered dataset name, or a path to a user file or folder."""

from __future__ import annotations

from pathlib import Path

from dgm.data.base import DataSource
from dgm.errors import DgmError
from dgm.registry import DATASETS


def load_data(spec: str) -> DataSource:
    """Return the dataset named `spec`, or read the file or folder at that path."""
    import dgm.data.images  # noqa: F401  (registers mnist, digits)
    import dgm.data.mixture  # noqa: F401  (registers gmm8, gmm16)
    import dgm.data.pca  # noqa: F401  (registers mnist-pca32)
    import dgm.data.toy  # noqa: F401  (registers the 2-D toys)

    if spec in DATASETS:
        return DATASETS.get(spec)()
    path = Path(spec).expanduser()
    if path.exists():
        from dgm.data.files import load_file

        return load_file(path)
    known = ", ".join(DATASETS.names())
    raise DgmError(f"data {spec!r} is neither a registered dataset ({known}) nor an existing path")
