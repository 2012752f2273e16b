"""dgm.fit: the CLI's training from Python, on names, paths and in-memory arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import dgm
from dgm.errors import DgmError

pytestmark = pytest.mark.slow


def test_fit_an_array_then_resume_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)) * [1.0, 0.3] + [2.0, -1.0]
    out = tmp_path / "arr"
    model = dgm.fit("realnvp", x, out=out, max_steps=30, model_args={"hidden": [16, 16]})
    assert (out / "data.npz").exists() and (out / "model.safetensors").exists()
    with torch.no_grad():
        lp = model.log_prob(torch.as_tensor(x[:5], dtype=torch.float32))
    assert lp.shape == (5,) and torch.isfinite(lp).all() and not lp.requires_grad
    again = dgm.fit("realnvp", x, out=out, resume=True, max_steps=60)
    assert dgm.load(out).state_dict().keys() == again.state_dict().keys()
    with pytest.raises(DgmError, match="already holds a run"):
        dgm.fit("realnvp", x, out=out, max_steps=5)


def test_bad_data_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    with pytest.raises(DgmError):  # a folder it created is removed again
        dgm.fit("realnvp", np.full((100, 2), np.nan), out=tmp_path / "bad", max_steps=5)
    assert not (tmp_path / "bad").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made stays, empty
    with pytest.raises(DgmError):
        dgm.fit("realnvp", np.full((100, 2), np.nan), out=tmp_path / "mine", max_steps=5)
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())
