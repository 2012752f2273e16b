"""Continuous flows against each other and the best finite flow on 2-D toys, at a fixed CPU budget.

Table 1: test NLL, KL to the truth, normalisation, training steps and time, NFE of the evaluation
solve and the transport cost E‖f(x) − x‖² (in standardised units) for OT-Flow, FFJORD with and
without RNODE, flow matching with independent and OT couplings and after one reflow round, and nsf,
and a VAE (NLL and KL importance-sampled with K = 1,000). Table 2: sample quality against solver
steps for the flow-matching models (energy distance to 2,000 test points).
Writes benchmarks/results/cnf-DATASETS.json.

    python benchmarks/cnf.py [--max-time 2m] [--datasets moons,8gaussians,checkerboard] [--jobs 2]
    python benchmarks/cnf.py --datasets gmm8,gmm16,mnist-pca32 \
        --variants otflow,ffjord-rnode,fm-independent,nsf
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results"

OTFLOW_TUNED = {"lr": 5e-2, "batch_size": 512, "objective_args": {"alpha": [1.0, 100.0, 5.0]}}

#: name -> (model, settings): every variant at its registered defaults but for the named keys.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "otflow": ("otflow", {}),
    # OT-Flow with its own repository's toy weights α = (1, 100, 5) (the seed's are (1, 10, 5)), a
    # larger lr and batch: the best of five 2-minute trials on moons (benchmarks/README.md, cnf)
    "otflow-tuned": ("otflow", OTFLOW_TUNED),
    "ffjord-rnode": ("ffjord", {}),
    "ffjord": ("ffjord", {"objective_args": {"kinetic": 0.0, "jacobian": 0.0}}),
    "fm-independent": ("flow-matching", {"objective_args": {"coupling": "independent"}}),
    "fm-ot": ("flow-matching", {"objective_args": {"coupling": "ot"}}),
    # one reflow round from fm-independent's run (trained first, with the same budget; not counted)
    "fm-reflow": ("flow-matching", {"objective_args": {"coupling": "reflow"}}),
    "nsf": ("nsf", {}),
    # a VAE (its defaults: Gaussian decoder with learned σ), judged by its importance-sampled NLL
    "vae": ("vae", {}),
}
#: importance samples of a bounded density's NLL (and KL) in the table
IMPORTANCE_SAMPLES = 1000
SAMPLERS = [("euler", 1), ("euler", 2), ("euler", 4), ("euler", 8), ("rk4", 2), ("rk4", 8), ("dopri5", None)]


def bench_one(variant: str, data_name: str, max_time: str, threads: int) -> dict[str, Any]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.config import RunConfig
    from dgm.data import load_data
    from dgm.metrics import evaluate
    from dgm.metrics.samples import energy_distance
    from dgm.train import train
    from dgm.utils import seeded

    torch.set_num_threads(threads)
    model, settings = VARIANTS[variant]
    data = load_data(data_name)
    with tempfile.TemporaryDirectory() as tmp:
        if variant == "fm-reflow":
            teacher = VARIANTS["fm-independent"][1]
            given = {"model": model, "data": data_name, "max_time": max_time, **teacher}
            train(RunConfig.from_dict(given), Path(tmp) / "teacher", progress=False)
            settings = {"objective_args": {"coupling": "reflow", "teacher": str(Path(tmp) / "teacher")}}
        config = RunConfig.from_dict({"model": model, "data": data_name, "max_time": max_time, **settings})
        t0 = time.perf_counter()
        result = train(config, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
    k = IMPORTANCE_SAMPLES if result.model.density == "bound" else 0
    metrics = evaluate(result.model, data, "test", importance_samples=k)
    row = {"variant": variant, "data": data_name, "steps": result.global_step, "wall_s": wall, **metrics}
    if model == "flow-matching":
        test = data.split("test")[:2000].double()
        for solver, steps in SAMPLERS:
            result.model.core.use_solver(solver, steps)
            with seeded(0, torch.device("cpu")), torch.no_grad():
                x = result.model.sample(2000).double()
            row[f"energy_{solver}_{steps or 'adaptive'}"] = energy_distance(x, test).item()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-time", default="2m", help="training budget per model and data set")
    # the committed tables' variants: otflow-tuned and vae have tables and run.py entries of their own
    p.add_argument("--variants", default=",".join(v for v in VARIANTS if v not in ("otflow-tuned", "vae")))
    p.add_argument("--datasets", default="moons,8gaussians,checkerboard")
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each")
    args = p.parse_args()
    jobs = [(v, d) for d in args.datasets.split(",") for v in args.variants.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(bench_one, v, d, args.max_time, 1) for v, d in jobs]
        rows = [f.result() for f in futures]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cnf-{args.datasets.replace(',', '-')}.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")  # first, so that no result is lost
    print("| model | data | NLL | KL | normalization | steps | wall (s) | NFE | transport cost |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['variant']} | {r['data']} | {r['nll']:.3f} | {r.get('kl', math.nan):.3f} ± "
            f"{r.get('kl_se', math.nan):.3f} | "
            f"{r.get('normalization', math.nan):.4f} | {r['steps']} | {r['wall_s']:.0f} | "
            f"{r.get('nfe', '–')} | {r.get('transport_cost', math.nan):.3f} |"
        )
    keys = [f"energy_{s}_{k or 'adaptive'}" for s, k in SAMPLERS]
    print(
        "\n| model | data | " + " | ".join(k.removeprefix("energy_").replace("_", " ") for k in keys) + " |"
    )
    print("|---|---|" + "---|" * len(keys))
    for r in rows:
        if keys[0] in r:
            print(f"| {r['variant']} | {r['data']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
