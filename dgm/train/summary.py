"""After training: evaluate the kept model on the test split, write figures and report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgm.train.fit import TrainResult


def summarize(out: Path, result: TrainResult, *, verbose: bool = True) -> dict[str, Any]:
    """Evaluate the kept model on the test split, write figures and report.json, say where they are
    (when verbose) and return the report. (The validation split chose the kept model, so its score
    there is optimistic: the test split gives the unbiased number.)"""
    from dgm import plots
    from dgm.data import load_data
    from dgm.io import read_config
    from dgm.metrics import evaluate
    from dgm.utils import valid_json, write_json

    say = print if verbose else (lambda *a: None)
    config = read_config(out)
    say(f"step {result.global_step}: evaluating the model of step {result.kept_step} and drawing figures …")
    data = load_data(config["train"]["data"])
    metrics = evaluate(result.model, data, "test", extended=False)
    report = {
        "split": "test",
        "steps": result.global_step,
        "model_step": result.kept_step,
        "processes": result.world_size,
        "density": result.model.reported_density(),
        **metrics,
    }
    write_json(out / "report.json", valid_json(report))
    if result.stopped_early:
        say(
            f"stopped early at step {result.global_step}: no better validation score for "
            f"{config['train']['patience']} checks"
        )
    if metrics.get("modes_covered", 0) < metrics.get("modes_total", 0):
        say(
            f"warning: the samples cover {metrics['modes_covered']} of the {metrics['modes_total']} "
            f"modes of {data.name} (mode collapse)"
        )
    figures = plots.run_figures(out, result.model, data)
    shown = ("nll", "nll_bound", "kl", "energy_distance", "accuracy", "modes_covered")
    line = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in shown)
    if metrics.get("nll_probes"):
        line += f" (trace estimated: {metrics['nll_probes']} Hutchinson probe per point)"
    kept = (
        f" (model of step {result.kept_step}, best on validation)"
        if result.kept_step != result.global_step
        else ""
    )
    say(f"trained {config['model']} on {data.name}: test {line}{kept}")
    files = [
        f for f in ("model.safetensors", "config.json", "metrics.csv", "report.json") if (out / f).exists()
    ]
    say(f"run folder: {out}  ({', '.join(files)})")
    for f in figures:
        say(f"figure: {f}")
    return report
