"""The comparison report: its table from rows, and the page as a real browser shows it."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dgm.compare import Row, write_report
from dgm.compare.html import metric_columns
from dgm.plots import tradeoff

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = "apt-get update && apt-get install -y chromium"


def _rows(tmp_path: Path) -> list[Row]:
    """Three made-up rows with a figure each: a density, a bound with its estimate, and a GAN."""
    fig = tradeoff([("a", 1.0, 2.0), ("b", 2.0, 1.0)], "x", "y", tmp_path / "fig.png")
    base = {"run": str(tmp_path), "steps": 10, "sample_seconds_per_10k": 0.5, "figures": [str(fig)]}
    return [
        Row("flow", "realnvp", "finite flow", "exact", train_seconds=3.0, parameters=100, **base,
            metrics={"nll": 1.2, "nll_se": 0.01, "energy_distance": 0.02, "n_test": 100}),
        Row("vae", "vae", "VAE", "bound", train_seconds=2.0, parameters=50, **base,
            metrics={"nll": 1.5, "nll_se": 0.02, "nll_bound": 1.6, "energy_distance": 0.01, "nll_k": 100}),
        Row("gan", "gan", "GAN", "none", train_seconds=1.0, parameters=70, **base,
            metrics={"energy_distance": float("nan"), "seed_energy_x1000": 5.0}),
    ]  # fmt: skip


def _settings() -> dict:
    return {"data": "moons", "models": ["flow", "vae", "gan"], "max_steps": 10, "max_time": None,
            "seed": 0, "n_samples": 100, "importance_samples": 100, "device": "cpu"}  # fmt: skip


def test_columns_merge_standard_errors_and_leave_out_sizes(tmp_path: Path) -> None:
    assert metric_columns(_rows(tmp_path)) == ["nll", "nll_bound", "energy_distance"]


def test_report_files(tmp_path: Path) -> None:
    page, data = write_report(_rows(tmp_path), tmp_path, _settings())
    report = json.loads(data.read_text())
    assert [r["name"] for r in report["rows"]] == ["flow", "vae", "gan"]
    assert report["rows"][2]["metrics"]["energy_distance"] is None  # NaN is not JSON
    text = page.read_text()
    assert text.count("<tr id=") == 3 and "1.2 ± 0.01" in text
    # The best value of a column is marked: the lowest NLL (flow), the lowest energy (vae), and
    # a column with no number (the GAN's NaN) shows a dash.
    assert re.search(r'class="num best">1.2 ±', text) and re.search(r'class="num best">0.01<', text)
    assert 'src="http' not in text and "<script src" not in text  # self-contained
    assert (tmp_path / "figures" / "nll_vs_time.png").exists()
    assert not (tmp_path / "figures" / "nll_vs_transport.png").exists()  # one flow reports it: no plot


def test_flows_that_move_mass_get_a_transport_plot(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    rows[0].metrics["transport_cost"] = 0.3
    rows[1].metrics["transport_cost"] = 0.5  # a bound's importance-sampled NLL: a point like any
    page, _ = write_report(rows, tmp_path, _settings())
    assert (tmp_path / "figures" / "nll_vs_transport.png").read_bytes()[:4] == b"\x89PNG"
    assert "nll vs transport" in page.read_text()  # inlined, captioned by its name


def chromium_check(page: Path) -> tuple[dict[str, str], list[str]]:
    """Load the page in headless Chromium: the <body> attributes after load, and console lines."""
    if CHROMIUM is None:
        pytest.skip(f"Chromium is not installed (install it with: {INSTALL})")
    profile = page.parent / "chromium-profile"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=5000", "--dump-dom"]  # fmt: skip
    r = subprocess.run(
        [CHROMIUM, *flags, page.resolve().as_uri()], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", r.stdout)
    assert body, r.stdout[:500]
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    return attrs, [line for line in r.stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_in_a_browser(tmp_path: Path) -> None:
    page, _ = write_report(_rows(tmp_path), tmp_path, _settings())
    attrs, console = chromium_check(page)
    assert console == []
    assert attrs["rows"] == "3" and attrs["broken-images"] == "0" and int(attrs["images"]) >= 4


def test_browser_check_catches_a_broken_page(tmp_path: Path) -> None:
    """The check can fail: a figure that does not decode and a script error are both seen."""
    rows = _rows(tmp_path)
    (tmp_path / "corrupt.png").write_bytes(b"not a png")
    rows[0].figures = [*rows[0].figures, str(tmp_path / "corrupt.png")]
    page, _ = write_report(rows, tmp_path, _settings())
    page.write_text(page.read_text().replace("</body>", "<script>nothing();</script></body>"))
    attrs, console = chromium_check(page)
    assert attrs["broken-images"] == "1"
    assert any("nothing is not defined" in line for line in console)


def test_an_estimated_nll_is_named_in_the_summary_and_not_a_column(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    page, _ = write_report(rows, tmp_path, _settings())
    assert "trace estimated" not in page.read_text()
    rows.append(
        Row("cnf", "ffjord", "continuous flow", "exact (trace estimated)", train_seconds=1.0, parameters=9,
            run=str(tmp_path), steps=10, sample_seconds_per_10k=0.5, figures=[],
            metrics={"nll": 1.1, "nll_se": 0.01, "nll_probes": 1})
    )  # fmt: skip
    assert "nll_probes" not in metric_columns(rows)
    page, _ = write_report(rows, tmp_path, _settings())
    text = html.unescape(page.read_text())
    assert (
        "reports an NLL with Hutchinson's unbiased estimate of its flow's trace (1 probe per point)" in text
    )


def test_a_models_diagnostics_are_defined_under_metrics(tmp_path: Path) -> None:
    """A model's diagnostics (a continuous flow's NFE, rejection sampling's bound and acceptance) are
    columns, and the Metrics list defines them beside the registered metrics."""
    rows = _rows(tmp_path)
    rows[0].metrics.update(nfe=26, acceptance=0.4, log_ratio_bound=0.9)
    text = html.unescape(write_report(rows, tmp_path, _settings())[0].read_text())
    for key in ("nfe", "acceptance", "log_ratio_bound", *metric_columns(rows)):
        assert re.search(f"<dt>{key}</dt><dd>.+?</dd>", text), key


def test_the_table_marks_ties_estimates_and_values_that_are_not_finite(tmp_path: Path) -> None:
    """Best is every value within two standard errors of the difference from the best (the data
    cannot rank them); an importance-sampled NLL says so with its K; infinity is no dash."""
    rows = _rows(tmp_path)
    rows[1].metrics.update(nll=1.25, nll_se=0.05)  # 1.2 ± 0.01: a difference of 1 standard error
    rows[2].metrics.update(mmd2=float("inf"), w1=None, not_finite=["w1"])  # as read back from JSON
    rows[0].metrics.update(mmd2=0.5, w1=0.3)
    text = html.unescape(write_report(rows, tmp_path, _settings())[0].read_text())
    assert re.search(r'class="num best">1.2 ± 0.01<', text)
    assert re.search(
        r'class="num best">1.25 ± 0.05 <small title="importance-sampled estimate">\(IS, K = 100\)', text
    )
    assert re.search(r'class="num">∞<', text) and re.search(r'class="num">not finite<', text)
    rows[1].metrics.update(nll=1.5, nll_se=0.02)  # 15 standard errors apart: one best
    text = html.unescape(write_report(rows, tmp_path, _settings())[0].read_text())
    assert re.search(r'class="num">1.5 ± 0.02 <small', text)
