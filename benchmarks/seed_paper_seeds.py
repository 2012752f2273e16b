"""The seed-paper figures over several seeds: mean ± standard deviation (ddof = 1) of each figure
of each experiment, over `dgm reproduce seed-paper --seed S --out DIR` folders, one seed each.

Prints a Markdown table and writes benchmarks/results/seed-paper-seeds.json.

    python benchmarks/seed_paper_seeds.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
#: the VAE's bound; the seed's statistic on held-out batches (running and batch statistics) and as
#: its training loop logged it; the sample metrics
FIGURES = (
    "nll_bound",
    "seed_energy_x1000",
    "seed_energy_batch_stats_x1000",
    "seed_energy_train_x1000",
    "fid",
    "prdc_precision",
)


def summary(folders: list[Path]) -> list[dict]:
    """One entry per experiment and figure: the seeds it was found for, its values, mean and sd."""
    found: dict[tuple[str, str], dict] = {}
    for folder in folders:
        table = json.loads((folder / "seed-paper.json").read_text())
        for row in table["rows"]:
            for key in FIGURES:
                value = row["metrics"].get(key)
                if isinstance(value, float):
                    entry = found.setdefault(
                        (row["experiment"], key),
                        {
                            "experiment": row["experiment"],
                            "figure": key,
                            "seed_figure": row["seed"],
                            "seeds": [],
                            "values": [],
                        },
                    )
                    entry["seeds"].append(row["run_seed"])
                    entry["values"].append(value)
    for entry in found.values():
        v = entry["values"]
        entry["mean"] = statistics.fmean(v)
        entry["sd"] = statistics.stdev(v) if len(v) > 1 else None
    return list(found.values())


def markdown(entries: list[dict]) -> str:
    lines = ["| experiment | figure | seed's | seeds | values | mean ± sd |", "|---|---|---|---|---|---|"]
    for e in entries:
        values = ", ".join(f"{v:.4g}" for v in e["values"])
        sd = "" if e["sd"] is None else f" ± {e['sd']:.2g}"
        seed = f"{e['seed_figure']:g}" if e["figure"].startswith("seed_energy") else "–"
        lines.append(
            f"| {e['experiment']} | {e['figure']} | {seed} | {', '.join(map(str, e['seeds']))} | "
            f"{values} | {e['mean']:.4g}{sd} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folders", nargs="+", type=Path, help="seed-paper output folders, one seed each")
    args = p.parse_args()
    entries = summary(args.folders)
    print(markdown(entries), end="")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "seed-paper-seeds.json").write_text(json.dumps(entries, indent=1))
