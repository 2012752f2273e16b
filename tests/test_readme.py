"""The README's Python quick start runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_python_quick_start_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    block = re.search(r"## Quick start \(Python\)\s+```python\n(.*?)```", README.read_text(), re.S)
    assert block, "the README has no Python quick start"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict = {}
        exec(compile(block.group(1), "README.md", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    assert namespace["samples"].shape == (1000, 2) and not namespace["samples"].requires_grad
    assert namespace["log_p"].shape == (10_000,)
    assert "nll" in capsys.readouterr().out
