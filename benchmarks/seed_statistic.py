"""The seed paper's energy statistic of finished GAN runs, measured several ways, to see what
moves it: 50 batches of 64 samples against test images and against training images, the
data's own floor (test against training images, training against training images), and the
run's last weights (checkpoints/last.ckpt) beside its kept ones. One thread; ×1,000 as the seed
logged it.

    DGM_DATA=../shared/data/mnist python benchmarks/seed_statistic.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse

import torch

BATCHES, SIZE = 50, 64


def statistic(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error ×1,000 of the statistic over BATCHES pairs of batches."""
    from dgm.metrics.samples import seed_energy_statistic

    v = torch.stack(
        [
            seed_energy_statistic(a[i * SIZE : (i + 1) * SIZE], b[i * SIZE : (i + 1) * SIZE])
            for i in range(BATCHES)
        ]
    )
    return 1000 * v.mean().item(), 1000 * v.std().item() / BATCHES**0.5


def _shown(a: torch.Tensor, b: torch.Tensor) -> str:
    mean, se = statistic(a, b)
    return f"{mean:.1f} ± {se:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="finished GAN runs on mnist")
    args = p.parse_args()
    torch.set_num_threads(1)
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.data.load import load_data
    from dgm.io import load
    from dgm.train.callbacks import AtomicCheckpointIO

    source = load_data("mnist")
    g = torch.Generator().manual_seed(0)
    n = BATCHES * SIZE
    train, test = (
        source.split(s)[torch.randperm(len(source.split(s)), generator=g)[:n]] for s in ("train", "test")
    )
    train2 = source.split("train")[torch.randperm(len(source.split("train")), generator=g)[:n]]
    print(f"floor: test vs train {_shown(test, train)}, train vs train {_shown(train2, train)}")
    for run in args.runs:
        model = load(run)
        torch.manual_seed(0)
        with torch.no_grad():
            s = model.sample(n)
        print(f"{run} kept: vs test {_shown(s, test)}, vs train {_shown(s, train)}")
        # our own checkpoint, written by dgm's training loop (never a user's file)
        ckpt = AtomicCheckpointIO().load_checkpoint(f"{run}/checkpoints/last.ckpt")
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        model.load_state_dict(state)
        torch.manual_seed(0)
        with torch.no_grad():
            s = model.sample(n)
        print(f"{run} last (step {ckpt['dgm']['step']}): vs test {_shown(s, test)}")


if __name__ == "__main__":
    main()
