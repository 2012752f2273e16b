"""Run folders are claimed atomically: one training at a time, never into a foreign folder."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dgm.errors import DgmError
from dgm.io import CONFIG
from dgm.train.folder import LOCK, claim_run_folder


def _claim(out: Path, barrier: mp.Barrier, results: mp.Queue) -> None:
    barrier.wait()
    try:
        with claim_run_folder(out, resume=False):
            (out / CONFIG).write_text("{}")  # the run's first file
            results.put("won")
    except DgmError as e:
        results.put(f"refused: {e}")


def test_two_claims_at_the_same_instant_exactly_one_wins_every_time(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    for i in range(30):
        out, barrier, results = tmp_path / f"r{i}", ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_claim, args=(out, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes[0].startswith("refused") and outcomes[1] == "won", outcomes
        assert not (out / LOCK).exists()  # released on the way out


def test_a_foreign_folder_or_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.json").write_text("my own file")
    with pytest.raises(DgmError, match="not empty and holds no dgm run"):
        with claim_run_folder(tmp_path / "mine", resume=False):
            pass
    assert (tmp_path / "mine" / "report.json").read_text() == "my own file"
    (tmp_path / "f").write_text("")
    with pytest.raises(DgmError, match="is a file"):
        with claim_run_folder(tmp_path / "f", resume=False):
            pass


def test_a_live_claim_blocks_and_a_stale_one_does_not(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / CONFIG).write_text("{}")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK).write_text(f"{live.pid} {os.uname().nodename}")
        with pytest.raises(DgmError, match=f"in use by process {live.pid}"):
            with claim_run_folder(out, resume=True):
                pass
    finally:
        live.kill()
        live.wait()
    with claim_run_folder(out, resume=True):  # its process is gone: the claim is stale
        assert (out / LOCK).read_text().startswith(str(os.getpid()))
    assert not (out / LOCK).exists()


@pytest.mark.slow
def test_two_trainings_into_one_folder_one_wins(tmp_path: Path) -> None:
    cli = [
        sys.executable,
        "-m",
        "dgm.cli.main",
        "train",
        "gaussian",
        "--no-progress",
        "--out",
        str(tmp_path / "t"),
    ]
    procs = [
        subprocess.Popen([*cli, "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for data in ("moons", "circles")
    ]
    codes = sorted(p.wait(120) for p in procs)
    errors = [p.stderr.read() for p in procs]
    assert codes == [0, 2], errors
    assert any("in use by" in e or "already holds a run" in e for e in errors), errors


def test_a_claim_from_another_host_says_how_to_release_it(tmp_path: Path) -> None:
    """Another host's process cannot be checked from here: the claim holds, and the error names the
    lock file to delete once that run is known to be dead."""
    out = tmp_path / "r"
    out.mkdir()
    (out / CONFIG).write_text("{}")
    (out / LOCK).write_text("123 some-other-host")
    with pytest.raises(DgmError, match=r"process 123 on host some-other-host .*if that run is dead, delete"):
        with claim_run_folder(out, resume=True):
            pass
    assert (out / LOCK).read_text() == "123 some-other-host"
