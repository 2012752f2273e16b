"""One library's flow on one toy: a plain PyTorch training loop, then test log-densities and sampling speed.

Started by benchmarks/peers.py: the peers' rows with the peer virtualenv's Python, dgm's rows with
dgm's. Only the dgm rows import dgm. Every library gets the same architecture (ARCHITECTURE), the
same fixed batches, optimiser, schedule and thread count:

    python worker.py --lib zuko --flow nsf --toy moons --data DIR --steps 3000 --threads 2 --out FILE

DIR holds train.npy and test.npy (raw units, float32), batches.npy (step × batch indices into
train) and stats.npy (mean and std of train). The peers train on y = (x − μ)/σ, the same map as
dgm's "standardize" preprocessing, and report log p(x) = log p(y) − Σ log σ in raw units. Writes
FILE (metrics as JSON) and FILE with suffix .npy (the test log-densities).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

LAYERS, HIDDEN, BINS, BOUND, LR = 8, (128, 128), 8, 5.0, 1e-3
ARCHITECTURE = (
    f"{LAYERS} coupling layers alternating halves, conditioner MLP 1→{HIDDEN[0]}→{HIDDEN[1]}→params (ReLU), "
    f"standard normal base; spline: {BINS} rational-quadratic bins on [−{BOUND:g}, {BOUND:g}], linear tails"
)
# (module, log_prob(x) -> (B,), sample(n) -> (n, 2)); the peers' x is standardised.
Built = tuple[nn.Module, Callable[[Tensor], Tensor], Callable[[int], Tensor]]


def zuko_flow(flow: str) -> Built:
    """zuko.flows.RealNVP, or the same coupling stack (zuko.flows.NICE) with RQS univariates."""
    import zuko

    if flow == "realnvp":
        model = zuko.flows.RealNVP(2, transforms=LAYERS, hidden_features=HIDDEN)
    else:
        spline = partial(zuko.transforms.MonotonicRQSTransform, bound=BOUND)
        shapes = [(BINS,), (BINS,), (BINS - 1,)]
        model = zuko.flows.NICE(
            2, transforms=LAYERS, univariate=spline, shapes=shapes, hidden_features=HIDDEN
        )
    return model, lambda x: model().log_prob(x), lambda n: model().sample((n,))


def nflows_flow(flow: str) -> Built:
    """nflows.flows.Flow over AffineCouplingTransform or PiecewiseRationalQuadraticCouplingTransform."""
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.nn.nets import MLP
    from nflows.transforms import (
        AffineCouplingTransform,
        CompositeTransform,
        PiecewiseRationalQuadraticCouplingTransform,
    )
    from nflows.utils import create_alternating_binary_mask

    class Net(MLP):
        def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:  # couplings pass a context
            return super().forward(x)

    def net(n_in: int, n_out: int) -> nn.Module:
        return Net((n_in,), (n_out,), list(HIDDEN))

    def layer(k: int) -> nn.Module:
        mask = create_alternating_binary_mask(2, even=k % 2 == 0)
        if flow == "realnvp":
            return AffineCouplingTransform(mask, net)
        return PiecewiseRationalQuadraticCouplingTransform(
            mask, net, num_bins=BINS, tails="linear", tail_bound=BOUND
        )

    model = Flow(CompositeTransform([layer(k) for k in range(LAYERS)]), StandardNormal([2]))
    return model, model.log_prob, model.sample


def normflows_flow(flow: str) -> Built:
    """normflows.NormalizingFlow over AffineCouplingBlock, or spline couplings built from its parts."""
    import normflows as nf
    from normflows.flows.neural_spline.coupling import PiecewiseRationalQuadraticCoupling
    from normflows.utils.masks import create_alternating_binary_mask

    class Net(nf.nets.MLP):
        def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:  # spline couplings pass one
            return super().forward(x)

    def net(n_in: int, n_out: int) -> nn.Module:
        return Net([n_in, *HIDDEN, n_out], init_zeros=True)

    class SplineCoupling(nf.flows.Flow):
        """nf.flows.CoupledRationalQuadraticSpline with an MLP (not ResidualNet) conditioner and no
        unconditional spline on the conditioning half, to match the others' architecture."""

        def __init__(self, k: int) -> None:
            super().__init__()
            mask = create_alternating_binary_mask(2, even=k % 2 == 0)
            self.prqct = PiecewiseRationalQuadraticCoupling(
                mask, net, num_bins=BINS, tails="linear", tail_bound=BOUND
            )

        forward = nf.flows.CoupledRationalQuadraticSpline.forward
        inverse = nf.flows.CoupledRationalQuadraticSpline.inverse

    if flow == "realnvp":
        modes = ("channel", "channel_inv")
        layers = [nf.flows.AffineCouplingBlock(net(1, 2), split_mode=modes[k % 2]) for k in range(LAYERS)]
    else:
        layers = [SplineCoupling(k) for k in range(LAYERS)]
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), layers)
    return model, model.log_prob, lambda n: model.sample(n)[0]


def dgm_args(flow: str) -> dict:
    """dgm's registry arguments for ARCHITECTURE."""
    extra = {"bins": BINS, "bound": BOUND} if flow == "nsf" else {}
    return {"transforms": LAYERS, "hidden": HIDDEN, **extra}


def dgm_flow(flow: str, train: Tensor) -> Built:
    """dgm's registered model with its "standardize" preprocessing, fitted on the raw train split."""

    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.build import build_model

    model = build_model(flow, (2,), "standardize", dgm_args(flow))
    model.transform.fit(train)
    model.initialize(train)
    return model, model.log_prob, model.sample


def fit(model: nn.Module, log_prob: Callable[[Tensor], Tensor], batches: Tensor) -> dict:
    """Minimise the mean NLL with Adam and a cosine-annealed rate; stop at the first non-finite loss."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=len(batches))
    model.train()
    nan_step, t0 = None, time.perf_counter()
    for step, x in enumerate(batches):
        loss = -log_prob(x).mean()
        if not torch.isfinite(loss):
            nan_step = step
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    seconds = time.perf_counter() - t0
    done = len(batches) if nan_step is None else nan_step
    return {"nan_step": nan_step, "train_s": seconds, "steps_per_s": done / seconds if done else math.nan}


def lightning_fit(flow: str, toy: str, steps: int, batch: int, seed: int) -> tuple[nn.Module, dict]:
    """dgm's real trainer; steps/s over the logged steps (metrics.csv), wall includes start-up."""
    import csv

    from dgm.config import RunConfig
    from dgm.train import train

    config = RunConfig(
        model=flow, data=toy, model_args=dgm_args(flow), max_steps=steps, batch_size=batch, lr=LR,
        val_every=steps, checkpoint_every=steps, seed=seed, device="cpu",
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(config, Path(tmp) / "run", progress=False)
        wall = time.perf_counter() - t0
        with (Path(tmp) / "run" / "metrics.csv").open() as f:
            rows = [(int(r["step"]), float(r["wall_time"])) for r in csv.DictReader(f)]
    (s0, t_0), (s1, t_1) = rows[0], rows[-1]
    rate = (s1 - s0) / (t_1 - t_0) if s1 > s0 else steps / wall
    nan_step = result.global_step if result.global_step < steps else None
    return result.model, {"nan_step": nan_step, "train_s": wall, "steps_per_s": rate}


@torch.no_grad()
def evaluate(model: nn.Module, log_prob: Callable, sample: Callable, test: Tensor, ladj: float) -> tuple:
    """Test log-densities in raw units, and samples/s for 100,000 samples (after a small warm-up)."""
    model.eval()
    logp = torch.cat([log_prob(chunk) for chunk in test.split(4096)]) + ladj
    sample(1000)
    t0 = time.perf_counter()
    x = sample(100_000)
    rate = 100_000 / (time.perf_counter() - t0)
    finite = torch.isfinite(logp)
    metrics = {
        "nll": -logp.double().mean().item(),
        "nll_se": logp.double().std().item() / math.sqrt(len(logp)),
        "nonfinite_logp": int((~finite).sum()),
        "nonfinite_samples": int((~torch.isfinite(x)).any(1).sum()),
        "samples_per_s": rate,
    }
    return logp.numpy(), metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("lib", "flow", "toy", "data", "out"):
        p.add_argument(f"--{name}", required=True)
    for name in ("steps", "threads", "seed"):
        p.add_argument(f"--{name}", type=int, required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = Path(args.data)
    train, test = (torch.from_numpy(np.load(data / f"{s}.npy")) for s in ("train", "test"))
    batches = torch.from_numpy(np.load(data / "batches.npy")).long()[: args.steps]
    mean, std = torch.from_numpy(np.load(data / "stats.npy"))
    ladj = 0.0
    if args.lib == "dgm-lightning":
        model, result = lightning_fit(args.flow, args.toy, args.steps, batches.shape[1], args.seed)
        log_prob, sample = model.log_prob, model.sample
    elif args.lib == "dgm":
        model, log_prob, sample = dgm_flow(args.flow, train)
        result = fit(model, log_prob, train[batches])
    else:
        build = {"zuko": zuko_flow, "nflows": nflows_flow, "normflows": normflows_flow}[args.lib]
        model, log_prob, sample = build(args.flow)
        train, test = (train - mean) / std, (test - mean) / std
        ladj = -std.log().sum().item()
        result = fit(model, log_prob, train[batches])
    result["params"] = sum(w.numel() for w in model.parameters() if w.requires_grad)
    result["versions"] = {"torch": torch.__version__, args.lib: version(args.lib.split("-")[0])}
    if result["nan_step"] is None:
        logp, metrics = evaluate(model, log_prob, sample, test, ladj)
        result.update(metrics)
        np.save(Path(args.out).with_suffix(".npy"), logp)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
