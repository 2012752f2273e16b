"""report.html: one self-contained page comparing models (figures inlined, no network, no script
from elsewhere), with a table that sorts by any column.

The page checks itself when it loads: it counts the images that failed to render and the table's
rows into attributes of <body> (`data-broken-images`, `data-rows`), which the browser test reads.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from dgm.compare.runner import Row
from dgm.utils import atomic_path

#: Metric keys in the order the table shows them (others follow alphabetically), with the
#: direction that is better: -1 lower, +1 higher, 0 closest to the value in TARGETS.
BETTER: dict[str, int] = {
    "nll": -1,
    "nll_bound": -1,
    "kl": -1,
    "bits_per_dim": -1,
    "bits_per_dim_bound": -1,
    "energy_distance": -1,
    "mmd2": -1,
    "sw2": -1,
    "w1": -1,
    "w2": -1,
    "sinkhorn_divergence": -1,
    "fid": -1,
    "kid": -1,
    "inception_score": 1,
    "prdc_precision": 1,
    "prdc_recall": 1,
    "prdc_density": 0,
    "prdc_coverage": 1,
    "c2st_accuracy": 0,
    "memorisation_ratio": 0,
    "modes_covered": 1,
    "high_quality": 1,
    "mode_reverse_kl": -1,
    "accuracy": 1,
    "seed_energy": -1,
    "seed_energy_batch_stats": -1,
    "transport_cost": -1,
    "normalization": 0,
}
#: The ideal value of a metric whose best is neither the lowest nor the highest.
TARGETS = {"prdc_density": 1.0, "c2st_accuracy": 0.5, "memorisation_ratio": 1.0, "normalization": 1.0}
#: Columns of cost, after the metrics: (key of Row, header, better).
COST = (
    ("train_seconds", "train (s)", -1),
    ("steps", "steps", 0),
    ("sample_seconds_per_10k", "sample 10k (s)", -1),
    ("parameters", "parameters", 0),
)
#: Metric keys that describe the evaluation rather than the model: shown in the notes, not the table.
SIZES = (
    "n_test",
    "nll_k",
    "nll_probes",
    "kl_k",
    "prdc_k",
    "prdc_n",
    "ot_n",
    "sw_n",
    "mmd_n",
    "mmd_bandwidth",
    "c2st_n",
    "sinkhorn_n",
    "sinkhorn_reg",
    "entropy",
    "fid_floor",
    "kid_floor",
    "energy_n",
    "seed_energy_x1000",
    "seed_energy_batches",
    "seed_energy_batch_stats_x1000",
    "seed_energy_batch_stats_batches",
)


def metric_columns(rows: list[Row]) -> list[str]:
    """The metric keys any row reports, in table order; standard errors go into their value's cell."""
    keys = {
        k
        for r in rows
        for k, v in r.metrics.items()
        if isinstance(v, int | float)
        and not k.endswith("_se")
        and k not in SIZES
        and not k.startswith(("memorisation_n", "utility_n", "fid_n", "fid_floor_n", "kid_floor_n"))
    }
    order = list(BETTER)
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


#: Metrics estimated from the importance-sampled NLL of a bounded density (its K in `nll_k`).
ESTIMATED = ("nll", "kl", "bits_per_dim")


def _fmt(v: float | None, se: float | None = None, not_finite: bool = False) -> str:
    """v ± se; "–" for a metric that does not apply, and a non-finite value said as such."""
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v is None:
        return "not finite" if not_finite else "–"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 1:
        text = f"{int(v):,}"
    else:
        text = f"{v:.4g}"
    if se is not None and isinstance(se, float) and math.isfinite(se):
        text += f" ± {se:.2g}"
    return text


def _best(values: list[float | None], key: str, better: int) -> float | None:
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(finite) < 2:
        return None
    if better == 0:
        if key not in TARGETS:
            return None
        return min(finite, key=lambda v: abs(v - TARGETS[key]))
    return min(finite) if better < 0 else max(finite)


def _ties_best(v: Any, se: Any, best: float | None, best_se: Any) -> bool:
    """Whether v is the best value or within two standard errors of the difference from it
    (|v − best| ≤ 2·√(se² + se_best²), when both errors are known): a tie the data cannot break."""
    if best is None or not isinstance(v, int | float) or not math.isfinite(v):
        return False
    if v == best:
        return True
    errors = [e for e in (se, best_se) if isinstance(e, float) and math.isfinite(e)]
    return len(errors) == 2 and abs(v - best) <= 2 * math.hypot(*errors)


def _table(rows: list[Row]) -> str:
    columns = metric_columns(rows)
    head = ["model", "family", "density"] + columns + [label for _, label, _ in COST]
    best = {k: _best([r.metrics.get(k) for r in rows], k, BETTER.get(k, 0)) for k in columns}
    best |= {k: _best([getattr(r, k) for r in rows], k, b) for k, _, b in COST}
    out = ['<table id="results"><thead><tr>']
    out += [f'<th title="click to sort">{html.escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    best_se = {
        k: next((r.metrics.get(f"{k}_se") for r in rows if r.metrics.get(k) == best[k]), None)
        for k in columns
    }
    for r in rows:
        texts = (html.escape(t) for t in (r.name, r.family, r.density))
        cells = [f'<td data-v="{t}">{t}</td>' for t in texts]
        bad = r.metrics.get("not_finite") or []
        for k in columns:
            v, se = r.metrics.get(k), r.metrics.get(f"{k}_se")
            # an importance-sampled estimate (an upper bound on the NLL in expectation) says so
            estimate = f"K = {int(r.metrics['nll_k']):,}" if k in ESTIMATED and "nll_k" in r.metrics else ""
            cells.append(_cell(v, se, _ties_best(v, se, best[k], best_se[k]), k in bad, estimate))
        for k, _, _ in COST:
            v = getattr(r, k)
            cells.append(_cell(v, None, v == best[k]))
        out.append(f'<tr id="row-{_anchor(r.name)}">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _anchor(name: str) -> str:
    """A row's name as an HTML id: no spaces ("gan +DRS" → "gan-+DRS"), escaped."""
    return html.escape("-".join(name.split()))


def _cell(v: Any, se: Any, best: bool, not_finite: bool = False, estimate: str = "") -> str:
    number = isinstance(v, int | float) and math.isfinite(v)
    sort = repr(float(v)) if number else ""
    text = html.escape(_fmt(v, se, not_finite))
    if number and estimate:
        text += f' <small title="importance-sampled estimate">(IS, {html.escape(estimate)})</small>'
    return f'<td data-v="{sort}" class="num{" best" if best else ""}">{text}</td>'


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(alt)
    return (
        f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1500px}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #ddd}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.best{font-weight:bold;background:#e8f5e9}section.model{margin-top:2em}
figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}img{max-height:320px}
figcaption{font-size:12px;color:#555}dt{font-family:monospace;margin-top:.4em}dd{margin-left:1.5em;color:#444}
"""

# Sort by a column (numbers by data-v, empty last), and the self-check the browser test reads.
SCRIPT = """
document.querySelectorAll('#results th').forEach((th, i) => {
  th.addEventListener('click', () => {
    const body = document.querySelector('#results tbody');
    const up = th.dataset.dir !== 'up'; th.dataset.dir = up ? 'up' : 'down';
    const key = r => r.children[i].dataset.v;
    const rows = [...body.rows].sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === '' || y === '') return (x === '') - (y === '');
      const d = isNaN(x) || isNaN(y) ? x.localeCompare(y) : x - y;
      return up ? d : -d;
    });
    rows.forEach(r => body.appendChild(r));
  });
});
window.addEventListener('load', () => {
  const broken = [...document.images].filter(im => !(im.complete && im.naturalWidth > 0));
  document.body.dataset.brokenImages = broken.length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.rows = document.querySelectorAll('#results tbody tr').length;
});
"""


def write_html(
    rows: list[Row], path: Path, meta: dict[str, Any], notes: dict[str, str], extra: list[Path]
) -> Path:
    """Write the report: a header, the sortable table, `extra` figures (trade-offs), one section of
    figures per model, and the definitions of the metrics (`notes`: name → description)."""
    title = f"dgm compare: {meta['data']}"
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(meta['summary'])}</p>",
        _table(rows),
        "<p>Click a header to sort. Bold: the best value of a column (closest to the ideal for "
        "prdc_density, C2ST accuracy, memorisation ratio and normalisation). ± is one standard error.</p>",
    ]
    if extra:
        parts.append("<h2>Trade-offs</h2>" + "".join(_image(p, p.stem.replace("_", " ")) for p in extra))
    for r in rows:
        figs = "".join(_image(Path(f), Path(f).stem) for f in r.figures if Path(f).exists())
        name, run = html.escape(r.name), html.escape(r.run)
        parts.append(
            f"<section class='model' id='model-{_anchor(r.name)}'><h2>{name}</h2>"
            f"<p>{html.escape(r.family)}, density {r.density}, run <code>{run}</code></p>{figs}</section>"
        )
    parts.append("<h2>Metrics</h2><dl>")
    parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in notes.items()]
    parts.append(f"</dl><script>{SCRIPT}</script></body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path
