"""`dgm sample RUN [-n N] [-o FILE.npy|.csv|.png] [--seed S] [--solver S --steps K] [--rejection]`:
draw samples from a trained model (a continuous flow with the ODE solver and step count given; a
GAN, with `--rejection`, by discriminator rejection sampling)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dgm.cli.common import add_device, add_sampling, add_seed

if TYPE_CHECKING:
    from torch import Tensor

    from dgm.models.base import GenerativeModel

FORMATS = (".npy", ".csv", ".png")
CHUNK = 65536  # samples drawn and written at a time
PNG_SAMPLES = {False: 20000, True: 256}  # samples a .png shows: 2-D points (False), images (True)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("run", help="run folder written by dgm train")
    p.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("-o", "--output", help="output file: .npy, .csv or .png (default RUN/samples.npy)")
    p.add_argument(
        "--label",
        type=int,
        help="label value to sample, as in the training data (class-conditional models; default: uniform)",
    )
    add_sampling(p)
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from dgm import plots
    from dgm.cli.common import apply_sampling
    from dgm.data.base import describe_values
    from dgm.errors import DgmError
    from dgm.io import label_values, load, read_config
    from dgm.utils import atomic_path, resolve_device

    if args.n < 1:
        raise DgmError(f"-n must be a positive integer, got {args.n}")
    out = Path(args.output) if args.output else Path(args.run) / "samples.npy"
    if out.suffix not in FORMATS:
        raise DgmError(f"cannot write {out.name}: choose an output ending in {', '.join(FORMATS)}")
    model = load(args.run, device=resolve_device(args.device))
    config = read_config(args.run)
    apply_sampling(model, args, config)
    kind = config.get("data", {}).get("kind", "points")
    label = None
    if args.label is not None:
        if not model.context_features:
            raise DgmError("--label needs a class-conditional model (train with --set conditional=true)")
        values = label_values(config, model.context_features)
        if args.label not in values:
            raise DgmError(
                f"--label {args.label} is not a label of the training data (known: {describe_values(values)})"
            )
        label = values.index(args.label)
    shape = tuple(model.event_shape)
    if out.suffix == ".png" and kind != "image" and shape != (2,):
        raise DgmError("a .png of samples needs 2-D points or images; write .npy or .csv instead")
    if out.suffix == ".csv" and len(shape) != 1:
        raise DgmError("only vector samples can be written as .csv; use .npy for images")
    n = min(args.n, PNG_SAMPLES[kind == "image"]) if out.suffix == ".png" else args.n
    chunks = _draw(model, n, label, args.seed, args.run)
    if out.suffix == ".png":
        x = torch.cat(list(chunks))
        if kind == "image":
            plots.image_grid(x.float(), out)
        else:
            plots.samples_2d(x.double(), _data_points(args.run), out)
    elif out.suffix == ".csv":
        columns = config.get("data", {}).get("columns") or []
        with atomic_path(out) as tmp, open(tmp, "w") as f:
            if len(columns) == shape[0]:  # the training file's header, above the synthetic rows
                f.write(",".join(columns) + "\n")
            for x in chunks:  # 9 (17) significant digits read back the same float32 (float64)
                digits = 9 if x.dtype == torch.float32 else 17
                np.savetxt(f, x.numpy(), delimiter=",", fmt=f"%.{digits}g")
    else:
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            _write_npy(f, chunks, (n, *shape))
    print(f"wrote {n} samples to {out}")
    return 0


def _draw(model: GenerativeModel, n: int, label: int | None, seed: int, run: str) -> Iterator[Tensor]:
    """n samples (of class `label`, or of uniformly drawn classes for a conditional model when it is
    None) drawn CHUNK at a time after one seeding (so memory stays bounded whatever n is), on
    the CPU; each chunk is checked to be finite, so that no NaN is ever written. Progress goes to
    stderr when it is a terminal and n spans several chunks."""
    import torch

    from dgm.errors import NotFinite
    from dgm.models.base import sample_labelled

    torch.manual_seed(seed)
    show = n > CHUNK and sys.stderr.isatty()
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        with torch.no_grad():
            x = sample_labelled(model, k, None if label is None else torch.full((k,), label)).cpu()
        if not torch.isfinite(x).all():
            raise NotFinite(
                f"the model in {run} drew NaN or infinite samples; nothing was written "
                "(the weights are corrupt, or the run diverged)"
            )
        if show:
            print(f"\rsampling: {start + k}/{n}", end="\n" if start + k == n else "", file=sys.stderr)
        yield x


def _write_npy(f: BinaryIO, chunks: Iterator[Tensor], shape: tuple[int, ...]) -> None:
    """An .npy file written incrementally: the header for the full array, then each chunk's bytes."""
    import numpy as np

    first = next(chunks).numpy()
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(f, header)
    f.write(first.tobytes())
    for x in chunks:
        f.write(x.numpy().tobytes())


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
