"""The seed paper's GAN statistic along training, as the seed's training loop logged it: dgm's runs
beside the seed's own logs, window by window.

Each RUN is a GAN experiment's folder written by `dgm reproduce seed-paper` (named after its
experiment, e.g. .../wgan-vae-init), which logs the statistic of every generator step. For each,
the sum over every 1,000 generator steps (`dgm.compare.seed_paper.window_sums`) beside the seed's
log at the same steps (`SEED_LOGS`), and the mean ± standard deviation (ddof = 1) of the run's
last ten windows and of the seed's at the same steps (its last ten, for a finished run): the
seed's single run has no spread across seeds, but its last windows show how much one window's
figure moves. Prints a Markdown table; writes
benchmarks/results/seed-trajectory.json and, with --figure, a plot of both logs.

    python benchmarks/seed_trajectory.py RUN [RUN ...] [--figure benchmarks/figures/seed-trajectory.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
#: generator steps whose windows the table shows
SHOWN = (1000, 10_000, 20_000, 30_000, 40_000, 50_000)
LAST = 10


def trajectory(run: Path) -> dict:
    """The run's windows beside the seed's, and the mean ± sd of the last `LAST` of each."""
    from dgm.compare.seed_paper import SEED_LOGS, window_sums

    name = run.name
    if name not in SEED_LOGS:
        raise SystemExit(f"{run}: not a seed-paper GAN experiment ({', '.join(SEED_LOGS)})")
    seed_log = dict(zip(range(1000, 50_001, 1000), SEED_LOGS[name], strict=True))
    dgm = dict(window_sums(run))
    out = {
        "experiment": name,
        "run": str(run),
        "run_seed": _run_seed(run),
        "windows": dgm,
        "seed_log": seed_log,
    }
    last = sorted(dgm)[-LAST:]  # the run's last windows, and the seed's at the same steps
    out["last"] = last
    for key, log in (("dgm", dgm), ("seed", seed_log)):
        values = [log[g] for g in last]
        out[f"{key}_last"] = {"mean": statistics.fmean(values), "sd": statistics.stdev(values)}
    both = [g for g in dgm if g in seed_log]
    out["dgm_lower"] = sum(dgm[g] < seed_log[g] for g in both)
    out["windows_compared"] = len(both)
    return out


def _run_seed(run: Path) -> int:
    return json.loads((run / "config.json").read_text())["train"]["seed"]


def markdown(entries: list[dict]) -> str:
    head = " | ".join(f"{g // 1000}k" for g in SHOWN)
    lines = [
        f"| experiment | run | {head} | the run's last {LAST} windows: mean ± sd | dgm lower |",
        "|---|---|" + "---|" * len(SHOWN) + "---|---|",
    ]
    shown = set()  # the seed's row once per experiment and span of last windows (seeds of one run)
    for e in entries:
        rows = [(f"dgm, seed {e['run_seed']}", e["windows"], e["dgm_last"])]
        if (e["experiment"], tuple(e["last"])) not in shown:
            shown.add((e["experiment"], tuple(e["last"])))
            rows.insert(0, ("the seed's log", e["seed_log"], e["seed_last"]))
        for who, log, last in rows:
            cells = " | ".join(f"{log[g]:.1f}" if g in log else "–" for g in SHOWN)
            lower = f"{e['dgm_lower']}/{e['windows_compared']}" if who.startswith("dgm") else ""
            span = f"{e['last'][0] // 1000}k–{e['last'][-1] // 1000}k: {last['mean']:.1f} ± {last['sd']:.1f}"
            lines.append(f"| {e['experiment']} | {who} | {cells} | {span} | {lower} |")
    return "\n".join(lines) + "\n"


def figure(entries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(e["experiment"] for e in entries))
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [e for e in entries if e["experiment"] == name]
        seed_log = mine[0]["seed_log"]
        ax.plot(list(seed_log), list(seed_log.values()), "k-", label="the seed's log")
        for e in mine:
            ax.plot(list(e["windows"]), list(e["windows"].values()), label=f"dgm, seed {e['run_seed']}")
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("generator steps")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("statistic, sum over 1,000 steps")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("runs", nargs="+", type=Path, help="seed-paper GAN run folders")
    p.add_argument("--figure", type=Path, help="write a plot of the logs here")
    args = p.parse_args()
    entries = [trajectory(run) for run in args.runs]
    print(markdown(entries), end="")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "seed-trajectory.json").write_text(json.dumps(entries, indent=1))
    if args.figure:
        figure(entries, args.figure)
