"""Checks that every bijection and every bound must pass, shared by the test suite (and usable by
contributors)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from dgm.bijection import Bijection


def autograd_log_abs_det(f: Bijection, x: Tensor, c: Tensor | None = None) -> Tensor:
    """log|det ∂f(x; c)/∂x| per sample from the full autograd Jacobian, shape (B,). Use small D.

    Each sample is pushed through f alone, so layers must not mix samples (use eval mode for
    batch statistics).
    """
    flat = x.reshape(x.shape[0], -1)
    jacs = []
    for i, xi in enumerate(flat):
        ci = None if c is None else c[i : i + 1]
        jacs.append(
            torch.autograd.functional.jacobian(
                lambda v, ci=ci: f(v.reshape(1, *x.shape[1:]), ci)[0].reshape(-1), xi
            )
        )
    return torch.linalg.slogdet(torch.stack(jacs)).logabsdet


def check_bijection(
    f: Bijection, x: Tensor, c: Tensor | None = None, *, rtol: float = 1e-10, atol: float = 1e-8
) -> None:
    """Assert f⁻¹(f(x)) = x, ladj = log|det J| (autograd) and ladj_inv = −ladj, in x's dtype."""
    y, ladj = f(x, c)
    assert y.shape[0] == x.shape[0] and y[0].numel() == x[0].numel(), f"{tuple(x.shape)} -> {tuple(y.shape)}"
    x_back, ladj_inv = f.inverse(y, c)
    assert ladj.shape == (x.shape[0],), f"ladj has shape {tuple(ladj.shape)}, expected ({x.shape[0]},)"
    err = ((x_back - x).abs().max() / x.abs().max().clamp_min(1e-300)).item()
    assert err < rtol, f"inverse(forward(x)) differs from x: relative error {err:.3g}"
    ref = autograd_log_abs_det(f, x, c)
    assert torch.allclose(ladj, ref, atol=atol, rtol=0), f"ladj {ladj} != autograd {ref}"
    assert torch.allclose(ladj_inv, -ladj, atol=atol, rtol=0), "inverse ladj is not −ladj"


def example_batch(model_name: str, n: int, dtype: torch.dtype = torch.float64) -> tuple[str, Tensor]:
    """A preprocessing name and a batch of n samples of a kind the registered model accepts:
    3-D points, or else 1×4×4 images in (0, 1), with the model's default preprocessing."""
    from dgm.registry import MODELS

    model = MODELS.get(model_name)
    if "points" in model.data_kinds:
        return model.pipeline_defaults("points", {})[0], torch.randn(n, 3, dtype=dtype) * 2 + 1
    return model.pipeline_defaults("image", {})[0], torch.rand(n, 1, 4, 4, dtype=dtype) * 0.98 + 0.01


def model_for(objective: str) -> str:
    """A registered model of vectors trained by `objective` by default from its own initialisation
    (or else the objective's `example_model`): the model each objective's tests use (an objective
    that no such model uses fails them, rather than go untested)."""
    from dgm.registry import MODELS, OBJECTIVES

    own = [e for e in MODELS if not e.obj.init_from_required]
    names = [e.name for e in own if e.obj.default_objective == objective and "points" in e.obj.data_kinds]
    names += [n for n in (OBJECTIVES.get(objective).example_model,) if n]
    if not names:
        raise AssertionError(f"no registered model of vectors uses objective {objective!r}: it is untested")
    return names[0]


def kill_after_checkpoint(command: list[str], run: Path, timeout: float = 120) -> int:
    """Start `command` (a training into `run`), SIGKILL it once a periodic checkpoint past step 0
    exists, and return the checkpoint's step: the situation `--resume` must recover from."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + timeout
    # Files are replaced atomically, so reading the checkpoint while it is rewritten is safe.
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["dgm"]["step"] > 0:
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        raise AssertionError("the run finished before it could be killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return torch.load(ckpt, weights_only=True)["dgm"]["step"]


def check_lower_bound(bound: Callable[[Tensor], Tensor], log_p: Tensor, x: Tensor, draws: int = 2000) -> None:
    """Assert that the stochastic `bound(x)` (one draw per sample, shape (B,)) is a lower bound on
    the exact log p(x) in expectation: for every sample, the mean of `draws` draws is at most
    log p(x) plus four standard errors (so a bound that exceeds log p is caught, not a noisy one)."""
    values = torch.stack([bound(x) for _ in range(draws)])  # (draws, B)
    mean, se = values.mean(0), values.std(0) / draws**0.5
    excess = (mean - log_p) / se.clamp_min(1e-12)
    worst = int(excess.argmax())
    assert (mean <= log_p + 4 * se + 1e-9).all(), (
        f"not a lower bound: E[bound] = {mean[worst].item():.4f} > log p = {log_p[worst].item():.4f} "
        f"({excess[worst].item():.1f} standard errors above)"
    )
