"""Train the feature nets dgm ships for FID, KID and the Inception score, reproducibly on the CPU.

    DGM_DATA=/work/shared/data/mnist python scripts/train_feature_nets.py             # mnist, digits
    python scripts/train_feature_nets.py --data digits
    python scripts/train_feature_nets.py --measure-only   # the shipped weights: floors recomputed

writes dgm/metrics/weights/<data>.safetensors and <data>.json (architecture, seed, epochs, this
command, test accuracy, real-data floors). Each net trains on the training split only, for a fixed
number of epochs (no choice made on the validation or test split, so the test accuracy is unbiased),
with Adam, a cosine learning rate and random shifts of the images. Seeded and deterministic: the
same thread count on the same kind of CPU gives the same bytes (floating-point sums in the conv
kernels depend on the threading and the instruction set). One thread is the default: on a shared
machine two threads ran 2-3× slower than one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor
from torch.nn.functional import cross_entropy

import dgm.metrics.features as feats
from dgm.data import load_data
from dgm.metrics.frechet import inception_score

WEIGHTS = Path(__file__).resolve().parents[1] / "dgm" / "metrics" / "weights"

#: per dataset: architecture and training settings
SETTINGS: dict[str, dict] = {
    "mnist": {"channels": (16, 32), "features": 128, "epochs": 4, "batch": 128, "lr": 5e-3, "shift": 1},
    "digits": {"channels": (16, 32), "features": 64, "epochs": 40, "batch": 64, "lr": 5e-3, "shift": 1},
}
FLOOR_SIZES = (2000, 10000)  # floors at these numbers of training images (at most the whole split)


def shifted(x: Tensor, s: int, g: torch.Generator) -> Tensor:
    """Each image moved by its own random (dy, dx) ∈ {−s..s}², zeros shifted in (exact, no resampling)."""
    if s == 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    d = torch.randint(0, 2 * s + 1, (2, n), generator=g)
    out = torch.empty_like(x)
    for dy in range(2 * s + 1):
        for dx in range(2 * s + 1):
            i = ((d[0] == dy) & (d[1] == dx)).nonzero().squeeze(1)
            out[i] = padded[i, :, dy : dy + h, dx : dx + w]
    return out


def accuracy(net: feats.FeatureNet, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (torch.cat([net(c).argmax(1) for c in x.split(256)]) == y).double().mean().item()


def train(name: str, seed: int, epochs: int | None) -> tuple[feats.FeatureNet, dict]:
    s = SETTINGS[name]
    epochs = s["epochs"] if epochs is None else epochs
    data = load_data(name)
    x, y = data.split("train"), data.split_labels("train")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    side = x.shape[-1]
    net = feats.FeatureNet(feats.FeatureNetConfig(side, s["channels"], s["features"], data.num_classes))
    opt = torch.optim.Adam(net.parameters(), lr=s["lr"])
    steps = epochs * math.ceil(x.shape[0] / s["batch"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    start = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        for idx in torch.randperm(x.shape[0], generator=g).split(s["batch"]):
            xb = shifted(x[idx], s["shift"], g)
            loss = cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        val = accuracy(net, data.split("val"), data.split_labels("val"))
        print(f"{name} epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, val acc {val:.4f}", flush=True)
    seconds = time.perf_counter() - start
    info = {
        "seed": seed,
        "epochs": epochs,
        "batch_size": s["batch"],
        "optimizer": f"Adam, lr {s['lr']}, cosine decay to 0 over {steps} steps",
        "augmentation": f"random integer shifts of up to {s['shift']} px per axis, zeros shifted in",
        "train_split": f"train ({x.shape[0]} images); val and test unused in training",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "seconds": round(seconds, 1),
    }
    return net, info


def write(name: str, net: feats.FeatureNet, info: dict, command: str) -> dict:
    """Save the weights and their description, then `measure` the saved net."""
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    path = WEIGHTS / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    path.chmod(0o644)  # safetensors writes 0600
    c = net.config
    meta = {
        "data": name,
        "architecture": {
            "side": c.side,
            "channels": list(c.channels),
            "features": c.features,
            "classes": c.classes,
            "layers": "conv3x3-bn-relu-maxpool2, conv3x3-bn-relu-maxpool2, linear-relu (features), linear",
        },
        "parameters": sum(p.numel() for p in net.parameters()),
        "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "command": command,
        "training": info,
    }
    (WEIGHTS / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return measure(name)


def measure(name: str) -> dict:
    """Measure the shipped net as dgm loads it (accuracy, floors, Inception score) into its JSON:
    after training, or alone (`--measure-only`) when a metric's definition changed."""
    feats.feature_metadata.cache_clear()
    feats._load.cache_clear()
    meta = dict(feats.feature_metadata(name))
    data = load_data(name)
    train_x, test_x = data.split("train"), data.split("test")
    probs = feats.class_probabilities(test_x, name)
    meta["test_accuracy"] = (probs.argmax(1) == data.split_labels("test")).double().mean().item()
    meta["n_test"] = int(test_x.shape[0])
    meta["val_accuracy"] = accuracy(feats.feature_net(name), data.split("val"), data.split_labels("val"))
    sizes = tuple(sorted({min(n, train_x.shape[0]) for n in FLOOR_SIZES}))
    is_mean, is_se = inception_score(probs, 10)
    meta["floors"] = {
        "what": "n_fake training images (the first of a permutation seeded with `seed`) scored as a "
        "model's samples against the n_real test images; kid with its defaults (100 subsets of "
        "min(1000, half the smaller set) rows)",
        "seed": 0,
        "fid": feats.real_floors(name, train_x, test_x, sizes),
        "inception_score": {
            "split": "test",
            "n": meta["n_test"],
            "splits": 10,
            "value": is_mean,
            "se": is_se,
        },
    }
    (WEIGHTS / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    feats.feature_metadata.cache_clear()
    return meta


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="default: per dataset (SETTINGS)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--measure-only", action="store_true", help="keep the shipped weights; recompute accuracy and floors"
    )
    args = parser.parse_args(argv)
    if Path(feats.__file__).resolve().parent != WEIGHTS.parent:
        sys.exit(f"dgm is imported from {feats.__file__}, not this checkout: pip install -e . first")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # tiny Adam moments otherwise slow the step many times over
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = False  # slow, and every buffer is written
    for name in args.data:
        command = "python scripts/train_feature_nets.py " + shlex.join(
            ["--data", name, "--seed", str(args.seed), "--threads", str(args.threads)]
            + ([] if args.epochs is None else ["--epochs", str(args.epochs)])
        )
        if args.measure_only:
            meta, trained = measure(name), "shipped weights"
        else:
            net, info = train(name, args.seed, args.epochs)
            meta, trained = write(name, net, info, command), f"trained in {info['seconds']} s"
        print(
            f"{name}: {meta['parameters']} parameters, {trained}, "
            f"test accuracy {meta['test_accuracy']:.4f}, floors {json.dumps(meta['floors']['fid'])}, "
            f"IS {meta['floors']['inception_score']['value']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
