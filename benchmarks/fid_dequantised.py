"""What dequantisation does to the FID of real images: N training images (the floors' subset) as
stored and uniformly dequantised, (k + u)/L, each against the whole test split in dgm's feature
net. The feature metrics put a dequantised model's samples back on the stored levels; this is the
offset they would carry otherwise. Prints a table and writes benchmarks/results/fid-dequantised.json.

    DGM_DATA=../shared/data/mnist python benchmarks/fid_dequantised.py [--data mnist] [--n 2000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.data import load_data
    from dgm.data.dequantize import dequantize
    from dgm.metrics.features import features, training_subset
    from dgm.metrics.frechet import frechet_distance

    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--data", default="mnist", help="a data set with a shipped feature net (mnist, digits)")
    p.add_argument("--n", type=int, default=2000, help="training images")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_data(args.data)
    train = training_subset(data.split("train"), args.n)
    real = features(data.split("test"), args.data)
    noisy = dequantize(train, data.levels, torch.Generator().manual_seed(0))
    images = {"stored": train, "dequantised": noisy}
    rows = {name: frechet_distance(features(x, args.data), real) for name, x in images.items()}
    print("| images | FID against the test split |\n|---|---|")
    for name, fid in rows.items():
        print(f"| {args.n:,} training images, {name} | {fid:.2f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fid-dequantised.json").write_text(json.dumps({"args": vars(args), "fid": rows}, indent=2))


if __name__ == "__main__":
    main()
