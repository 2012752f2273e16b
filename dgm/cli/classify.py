"""`dgm classify RUN --data DATA [--split S] [-o FILE.npy|.csv] [--json]`: the classifier q(y | x)
that a semi-supervised model (vae-m2) learned, used on its own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUTPUTS = (".npy", ".csv")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from dgm.cli.common import add_device, add_seed

    p = sub.add_parser("classify", help="predict labels with a trained model's classifier (vae-m2, vae-m1m2)")
    p.add_argument("run", help="run folder written by dgm train")
    p.add_argument("--data", required=True, help="dataset name or path to a file or folder")
    p.add_argument(
        "--split", default="test", help="samples to classify: train, val, test or all (default test)"
    )
    p.add_argument("-o", "--output", help="write the predicted label values: .npy or .csv")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_seed(p)
    add_device(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from dgm.data import load_data
    from dgm.errors import DgmError
    from dgm.io import label_values, load, read_config
    from dgm.metrics import evaluate
    from dgm.metrics.evaluate import classifier_inputs
    from dgm.utils import atomic_path, resolve_device, seeded

    out = Path(args.output) if args.output else None
    if out is not None and out.suffix not in OUTPUTS:
        raise DgmError(f"cannot write {out.name}: choose an output ending in {', '.join(OUTPUTS)}")
    model = load(args.run, device=resolve_device(args.device))
    if not hasattr(model.core, "classify"):
        raise DgmError(f"the model of {args.run} has no classifier (train vae-m2 or vae-m1m2 for one)")
    values = label_values(read_config(args.run), model.context_features)
    data = load_data(args.data)
    if tuple(data.event_shape) != tuple(model.event_shape):
        raise DgmError(
            f"data shape {tuple(data.event_shape)} does not match the model's {tuple(model.event_shape)}"
        )
    x = classifier_inputs(model, data, args.split, args.seed)
    p = next(model.parameters())
    with seeded(args.seed, p.device), torch.no_grad():
        classes = torch.cat([model.core.classify(model.preprocess(b.to(p))[0]).cpu() for b in x.split(4096)])
    predicted = np.asarray(values)[classes.numpy()]
    result: dict = {"run": str(args.run), "data": data.name, "split": args.split, "n": len(predicted)}
    if data.split_labels(args.split) is not None:
        result.update(evaluate(model, data, args.split, ["accuracy"], seed=args.seed, label_values=values))
    if out is not None:
        with atomic_path(out) as tmp:
            if out.suffix == ".npy":
                with tmp.open("wb") as f:
                    np.save(f, predicted)
            else:
                np.savetxt(tmp, predicted, fmt="%d")
        result["output"] = str(out)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:<11}  {v:.6g}" if isinstance(v, float) else f"{k:<11}  {v}")
    return 0
