"""Write a comparison's report.json and report.html, with its trade-off figures."""

from __future__ import annotations

import math
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from dgm import __version__
from dgm.compare.html import metric_columns, write_html
from dgm.compare.runner import Row, write_json_report
from dgm.metrics.evaluate import DIAGNOSTICS
from dgm.registry import METRICS

#: Quality measures plotted against training time (each where two models or more report it).
TRADEOFFS = (
    ("energy_distance", "energy distance (test)"),
    ("fid", "FID (dgm features)"),
    ("nll", "NLL (nats)"),
)


def write_report(rows: list[Row], out: Path, settings: dict[str, Any]) -> tuple[Path, Path]:
    """report.json and report.html in `out`; `settings` describes the comparison (data, budget, …)."""
    meta = {
        **settings,
        "dgm_version": __version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    meta["summary"] = _summary(rows, meta)
    from dgm.plots import tradeoff

    extra = []
    for key, label in TRADEOFFS:
        points = [
            (_label(r, key), r.train_seconds, r.metrics[key]) for r in rows if _finite(r.metrics.get(key))
        ]
        if len(points) >= 2:
            extra.append(tradeoff(points, "training time (s)", label, out / "figures" / f"{key}_vs_time.png"))
    # Optimal transport's trade-off: how far each flow moves mass against how well it fits.
    moved = [r for r in rows if _finite(r.metrics.get("transport_cost")) and _finite(r.metrics.get("nll"))]
    if len(moved) >= 2:
        points = [(_label(r, "nll"), r.metrics["transport_cost"], r.metrics["nll"]) for r in moved]
        label = "transport cost E‖f(x) − x‖²"
        extra.append(tradeoff(points, label, "NLL (nats)", out / "figures" / "nll_vs_transport.png"))
    notes = {name: METRICS.summary(name) for name in METRICS.names()} | DIAGNOSTICS
    shown = set(metric_columns(rows))
    notes = {k: v for k, v in notes.items() if any(c == k or c.startswith(k) for c in shown) or k in shown}
    json_path = write_json_report(rows, out / "report.json", meta)
    html_path = write_html(rows, out / "report.html", meta, notes, extra)
    return html_path, json_path


def _label(row: Row, key: str) -> str:
    """The row's name in a plot of `key`, starred where its NLL is an estimate (trace estimated)."""
    return row.name + ("*" if key == "nll" and row.metrics.get("nll_probes") else "")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _summary(rows: list[Row], meta: dict[str, Any]) -> str:
    budget = (
        f"{meta['max_steps']} steps"
        if meta.get("max_steps")
        else f"{meta['max_time']}"
        if meta.get("max_time")
        else "each model's default length"
    )
    n_test = next((r.metrics.get("n_test") for r in rows), "?")
    k = meta.get("importance_samples", 0)
    probes = max((r.metrics.get("nll_probes", 0) for r in rows), default=0)
    models = len({r.run for r in rows})  # a run sampled two ways (+DRS) is one model
    return (
        f"{models} models on {meta['data']} (test split, n = {n_test}), trained for {budget} each "
        f"(steps capped at a model's default length; closed-form fits take none), seed {meta['seed']}. "
        f"Sample metrics use {meta['n_samples']} model samples; "
        + (
            f"bounded densities report an NLL (and, where the true density is known, a KL) "
            f"importance-sampled with K = {k}. "
            if k
            else ""
        )
        + (
            'A density marked "trace estimated" (starred in the plots) reports an NLL with Hutchinson\'s '
            f"unbiased estimate of its flow's trace ({probes} probe per point), not its exact value. "
            if probes
            else ""
        )
        + f"dgm {meta['dgm_version']}, torch {meta['torch']}, threads: {meta['threads']}, {meta['date']}."
    )
