"""Every density model on every 2-D toy at a fixed budget.

Prints a table and writes benchmarks/results/toy2d.json: test NLL, KL to the truth, the
normalisation integral, wall time, training steps/s and sampling samples/s.

    python benchmarks/toy2d.py [--steps 1000] [--models a,b] [--datasets a,b] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from dgm.config import RunConfig
from dgm.data import load_data
from dgm.data.toy import TOY_NAMES
from dgm.metrics import evaluate
from dgm.registry import MODELS
from dgm.train import train

RESULTS = Path(__file__).parent / "results"


def bench_one(model: str, data_name: str, steps: int, batch_size: int) -> dict:
    data = load_data(data_name)
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            model=model,
            data=data_name,
            max_steps=steps,
            batch_size=batch_size,
            val_every=steps,
            checkpoint_every=steps,
        )
        t0 = time.perf_counter()
        result = train(config, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
    metrics = evaluate(result.model, data, "test")
    t0 = time.perf_counter()
    with torch.no_grad():
        result.model.sample(100_000)
    sampling = 100_000 / (time.perf_counter() - t0)
    return {
        "model": model,
        "data": data_name,
        "steps": steps,
        "batch_size": batch_size,
        "wall_s": wall,
        "steps_per_s": steps / wall,
        "samples_per_s": sampling,
        **metrics,
    }


def main() -> None:
    import dgm.catalog  # noqa: F401  (registers every component)

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=512)
    from dgm.cnf import ContinuousFlow  # benchmarks/cnf.py compares those, at a time budget

    points = [
        e.name
        for e in MODELS
        if e.obj.density == "exact" and "points" in e.obj.data_kinds and not issubclass(e.obj, ContinuousFlow)
    ]
    p.add_argument("--models", default=",".join(points))
    p.add_argument("--datasets", default=",".join(TOY_NAMES))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = [
        bench_one(m, d, args.steps, args.batch_size)
        for m in args.models.split(",")
        for d in args.datasets.split(",")
    ]
    print("| model | data | NLL | KL | normalization | wall (s) | steps/s | samples/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['data']} | {r['nll']:.3f} | {r['kl']:.3f} ± {r['kl_se']:.3f} | "
            f"{r['normalization']:.4f} | {r['wall_s']:.1f} | {r['steps_per_s']:.0f} | "
            f"{r['samples_per_s']:.3g} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "toy2d.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS / 'toy2d.json'}")


if __name__ == "__main__":
    main()
