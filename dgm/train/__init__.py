"""Training on PyTorch Lightning. This is the only subpackage that imports Lightning."""

from dgm.train.fit import train

__all__ = ["train"]
