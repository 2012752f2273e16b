"""A time-bounded run on a small data set: the kept (best validated) model against the last one.

An 8-D mixture of four Gaussians with a known density, 1,500 samples written as a CSV (1,200 to
train: a MAF overfits them within minutes). `dgm train maf --max-time T` runs twice, keeping the
best validated weights (the default) and the last ones (`keep=last`); both decay the learning
rate over the time budget. Reports steps, the kept step, test NLL and KL = NLL − H, with H the
mixture's entropy by Monte Carlo (10⁶ samples). Prints a table and writes
benchmarks/results/budget.json.

    python benchmarks/budget.py [--max-time 3m] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
CLI = [sys.executable, "-m", "dgm.cli.main"]
D, N = 8, 1500


def mixture() -> torch.distributions.MixtureSameFamily:
    """Four Gaussians in 8-D: means ±2 on the first two axes, per-component diagonal scales."""
    g = torch.Generator().manual_seed(0)
    means = torch.zeros(4, D, dtype=torch.float64)
    means[:, :2] = 2 * torch.tensor([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=torch.float64)
    scales = 0.3 + torch.rand(4, D, generator=g, dtype=torch.float64)
    components = torch.distributions.Independent(torch.distributions.Normal(means, scales), 1)
    return torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.ones(4)), components)


def entropy(p: torch.distributions.Distribution, n: int = 1_000_000) -> tuple[float, float]:
    """H = −E log p(x) by Monte Carlo, with its standard error."""
    torch.manual_seed(1)
    lp = p.log_prob(p.sample((n,)))
    return -lp.mean().item(), lp.std().item() / math.sqrt(n)


def run(csv: Path, out: Path, max_time: str, threads: int, keep: str) -> dict:
    args = ["train", "maf", "--data", str(csv), "--out", str(out), "--max-time", max_time, "--no-progress"]
    subprocess.run(
        [*CLI, *args, "--threads", str(threads), "--set", f"keep={keep}"], check=True, capture_output=True
    )
    done = subprocess.run(
        [*CLI, "evaluate", str(out), "--data", str(csv), "--json"], check=True, capture_output=True
    )
    report = json.loads((out / "report.json").read_text())
    return {"keep": keep, "steps": report["steps"], **json.loads(done.stdout)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-time", default="3m")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    truth = mixture()
    torch.manual_seed(2)
    x = truth.sample((N,))
    h, h_se = entropy(truth)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "mixture8.csv"
        csv.write_text("\n".join(",".join(f"{v:.8g}" for v in row) for row in x.tolist()) + "\n")
        for keep in ("best", "last"):
            r = run(csv, Path(tmp) / keep, args.max_time, args.threads, keep)
            rows.append({**r, "entropy": h, "kl": r["nll"] - h, "kl_se": math.hypot(r["nll_se"], h_se)})
    print(f"8-D mixture of 4 Gaussians, {N} samples (80/10/10), H = {h:.3f} ± {h_se:.3f}")
    print(f"maf --max-time {args.max_time} --threads {args.threads}")
    print("| keep | steps | kept step | test NLL | KL |")
    print("|---|---|---|---|---|")
    for r in rows:
        kl = f"{r['kl']:.3f} ± {r['kl_se']:.3f}"
        print(f"| {r['keep']} | {r['steps']} | {r['model_step']} | {r['nll']:.3f} | {kl} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "budget.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {RESULTS / 'budget.json'}")


if __name__ == "__main__":
    main()
