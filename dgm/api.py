"""The Python API for notebooks and scripts: `dgm.fit` trains like `dgm train`, in memory too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from dgm.models.base import Preprocessed


def fit(
    model: str,
    data: str | Path | np.ndarray | torch.Tensor,
    *,
    out: str | Path,
    labels: np.ndarray | torch.Tensor | None = None,
    resume: bool = False,
    progress: bool = False,
    verbose: bool = False,
    **settings: Any,
) -> Preprocessed:
    """Train a registered model and return it (eval mode): the run of `dgm train MODEL --data DATA`.

    The run folder `out` gets the same files and guarantees as the CLI's (model files, checkpoint,
    metrics.csv, figures, report.json; atomic writes, `resume=True` continues a stopped run). An
    in-memory array is written into the run folder as `data.npz` (with `labels` as y), split
    80/10/10 like a file, so that the run can be resumed and evaluated later.

    Args:
        model: a registered model name (`dgm list models`).
        data: a registered dataset name, a path, or an array of samples (N, D) or images.
        out: the run folder (new, or the run to resume).
        labels: integer labels of an in-memory array, for class-conditional models.
        settings: any config key (`dgm.config.RunConfig`): max_steps=500, lr=3e-3,
            model_args={"hidden": [64, 64]}, optim={"critic": {"lr": 5e-5}}, ema=0.999, …; a name
            that is no config key goes to the objective's or the model's arguments (coupling="ot").

    Example:
        >>> import dgm  # doctest: +SKIP
        >>> model = dgm.fit("nsf", data="moons", out="runs/nsf", max_steps=500)  # doctest: +SKIP
        >>> model.log_prob(x)  # doctest: +SKIP
    """
    from dgm.build import route_arguments
    from dgm.config import RunConfig
    from dgm.train import train
    from dgm.train.fit import resume_config
    from dgm.train.summary import summarize

    out = Path(out)
    arrays = None
    if not isinstance(data, (str, Path)):
        arrays = (data, labels)
        data = str((out / "data.npz").resolve())
    given = route_arguments({**settings, "model": model, "data": str(data)})
    config = resume_config(out, {k: v for k, v in given.items() if k != "data"}) if resume else None
    config = config or RunConfig.from_dict(given)
    result = train(config, out, resume=resume, progress=progress, arrays=None if resume else arrays)
    if result.is_global_zero:
        summarize(out, result, verbose=verbose)
    return result.model
