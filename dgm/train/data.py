"""Deterministic mini-batches: batch k is a function of (seed, k) alone.

Because no sampler state has to be saved, a run resumed at step k draws exactly the batches an
uninterrupted run would have drawn, which makes `--resume` bit-for-bit on CPU.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import IterableDataset


class StepBatches(IterableDataset):
    """Yield batches of x, each epoch a fresh seeded permutation, starting at `start_step`.

    Under data parallelism each of the `world_size` processes takes its own slice of the global
    batch, so the processes together see the same examples as one process would.
    """

    def __init__(
        self, tensors: tuple[Tensor, ...], batch_size: int, seed: int, *, rank: int = 0, world_size: int = 1
    ) -> None:
        self.tensors, self.seed, self.rank, self.world_size = tensors, seed, rank, world_size
        self.n = tensors[0].shape[0]
        self.batch_size = min(batch_size, self.n)
        self.start_step = 0

    @property
    def steps_per_epoch(self) -> int:
        """Full batches per pass over the data (the last partial batch is dropped)."""
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        step = self.start_step
        while True:
            epoch, k = divmod(step, self.steps_per_epoch)
            gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            perm = torch.randperm(self.n, generator=gen)
            idx = perm[k * self.batch_size : (k + 1) * self.batch_size][self.rank :: self.world_size]
            yield tuple(t[idx] for t in self.tensors)
            step += 1


def steps_for_epochs(n: int, batch_size: int, epochs: int) -> int:
    """Number of optimiser steps in `epochs` passes over n samples (last partial batch dropped)."""
    return epochs * (n // min(batch_size, n))
