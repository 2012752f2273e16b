"""`dgm sample RUN [-n N] [-o FILE.npy|.csv|.png] [--seed S]`: draw samples from a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from dgm.cli.common import add_device, add_seed

FORMATS = (".npy", ".csv", ".png")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("run", help="run folder written by dgm train")
    p.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("-o", "--output", help="output file: .npy, .csv or .png (default RUN/samples.npy)")
    p.add_argument("--label", type=int, help="class to sample (class-conditional models; default: uniform)")
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from dgm import plots
    from dgm.errors import DgmError
    from dgm.io import load, read_config
    from dgm.models.base import sample_labelled
    from dgm.utils import atomic_path, resolve_device

    if args.n < 1:
        raise DgmError(f"-n must be a positive integer, got {args.n}")
    out = Path(args.output) if args.output else Path(args.run) / "samples.npy"
    if out.suffix not in FORMATS:
        raise DgmError(f"cannot write {out.name}: choose an output ending in {', '.join(FORMATS)}")
    model = load(args.run, device=resolve_device(args.device))
    kind = read_config(args.run).get("data", {}).get("kind", "points")
    labels = None
    if args.label is not None:
        if not model.context_features:
            raise DgmError("--label needs a class-conditional model (train with --set conditional=true)")
        if not 0 <= args.label < model.context_features:
            raise DgmError(f"--label must be in 0..{model.context_features - 1}, got {args.label}")
        labels = torch.full((args.n,), args.label)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        x = sample_labelled(model, args.n, labels).cpu()
    if out.suffix == ".png":
        if kind == "image":
            plots.image_grid(x.float()[:256], out)
        elif x.reshape(args.n, -1).shape[1] == 2:
            plots.samples_2d(x.double(), _data_points(args.run), out)
        else:
            raise DgmError("a .png of samples needs 2-D points or images; write .npy or .csv instead")
    elif out.suffix == ".csv":
        if x.dim() != 2:
            raise DgmError("only vector samples can be written as .csv; use .npy for images")
        with atomic_path(out) as tmp:
            np.savetxt(tmp, x.numpy(), delimiter=",", fmt="%.8g")
    else:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.save(f, x.numpy())
    print(f"wrote {args.n} samples to {out}")
    return 0


def _data_points(run: str) -> torch.Tensor:  # noqa: F821
    """The training data's test split, drawn under the samples when the data is still available."""
    import torch

    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.io import read_config

    try:
        return load_data(read_config(run)["data"]["name"]).split("test")[:2000].double()
    except (DgmError, KeyError):
        return torch.empty(0, 2, dtype=torch.float64)
