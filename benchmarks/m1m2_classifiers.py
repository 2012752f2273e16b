"""Three classifiers of one trained M1+M2 run (`vae-m1m2`), on the test images binarised once
(seed 0, as `dgm evaluate` scored M1+M2 before its M2 trained on codes of grey images) and on
the grey images themselves: q(y | μ₁ᴬ(x)), the generative argmax_y log p(μ₁ᴬ(x) | y) (M2's
importance-sampled estimate with K draws, a uniform p(y)), and their product; μ₁ᴬ the posterior
mean of the M1 units that M2 models. Prints a table and writes
benchmarks/results/m1m2-classifiers.json.

    DGM_DATA=../shared/data/mnist python benchmarks/m1m2_classifiers.py RUN [RUN ...] [--n 2000] [--k 50]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def accuracies(run: str, n: int, k: int) -> dict[str, float]:
    import dgm.catalog  # noqa: F401  (registers every component)
    from dgm.data import load_data
    from dgm.io import load

    model = load(run).eval()
    core = model.core
    data = load_data("mnist")
    x, y = data.split("test")[:n], data.split_labels("test")[:n]
    classes = torch.eye(core.context_features)
    row: dict[str, float] = {}
    torch.manual_seed(0)  # the importance samples
    with torch.no_grad():
        binary = torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
        for name, images in (("binarised", binary), ("grey", x)):
            mu = core.m1.encode(model.preprocess(images)[0])[0][:, core.active]
            log_q = torch.log_softmax(core.m2.class_logits(mu), 1)
            log_p = torch.stack(
                [core.m2.log_prob_importance(mu, c.expand(len(mu), -1), k) for c in classes], 1
            )
            for rule, score in (("q", log_q), ("generative", log_p), ("product", log_q + log_p)):
                row[f"{name}/{rule}"] = (score.argmax(1) == y).double().mean().item()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("runs", nargs="+", help="trained vae-m1m2 run folders")
    p.add_argument("--n", type=int, default=2000, help="the first N test images")
    p.add_argument("--k", type=int, default=50, help="importance samples of log p(z₁ | y)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = {run: accuracies(run, args.n, args.k) for run in args.runs}
    keys = list(next(iter(rows.values())))
    print("| run | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for run, row in rows.items():
        print(f"| {run} | " + " | ".join(f"{100 * row[key]:.2f} %" for key in keys) + " |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "m1m2-classifiers.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
