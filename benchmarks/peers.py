"""dgm's RealNVP and spline flow against zuko, nflows and normflows, side by side (issue 3).

    python benchmarks/peers.py [--steps 3000] [--toys moons,8gaussians,...] [--libs dgm,zuko,nflows,normflows]
                               [--flows realnvp,nsf] [--threads 2] [--seeds 0,1,2] [--jobs 1]

The peers live in their own virtualenv, benchmarks/.peers-venv, made on first use (torch pinned to
dgm's 2.13.0 first, then the three libraries under that pin); they are never dependencies of dgm.
Every library trains the same architecture (benchmarks/peers/worker.py: ARCHITECTURE) in the same
plain PyTorch loop, on the same standardised data and fixed batches (512 per step, drawn from the
train split by a seeded shuffle), with Adam(1e-3) annealed by a cosine over the steps, float32 and
the same thread count, one process per run. KL = test NLL − H in the data's raw units, H the toy's
true entropy. A row "dgm-lightning" trains dgm's model through `dgm train`'s Lightning trainer (its
own seeded batches), to show the trainer's overhead; it is not a peer. Prints a Markdown table per
flow and the ratios the issue asks for; writes benchmarks/results/peers.json.

With several seeds (each seed draws its own batches and initialisation; the toys' splits are
fixed), tables give the mean over seeds ± their standard deviation, and dgm is compared with the
peer of lowest mean KL by the mean per-seed difference ± its standard error, judged with the
Student-t quantile for that many seeds. `--jobs 2` runs two workers at a time (every library
shares the same load).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from worker import ARCHITECTURE  # noqa: E402  (the one place the architecture is written)

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peers-venv"
WORKER = HERE / "peers" / "worker.py"
RESULTS = HERE / "results"
TORCH = "torch==2.13.0"  # a CPU wheel on this machine; an unpinned torch would pull a CUDA build
PEERS = ("zuko", "nflows", "normflows")
BATCH = 512
TOYS = "moons,8gaussians,checkerboard,pinwheel,2spirals"
MISMATCHES = """\
Where the libraries differ inside that architecture (each library's own choice, kept):
- affine scale: dgm s = 3·tanh(ŝ/3), exp(s); zuko s = ŝ/(1 + |ŝ/log 1e-3|), exp(s); nflows
  sigmoid(ŝ + 2) + 1e-3; normflows exp(ŝ), unbounded.
- spline: zuko bounds its unconstrained widths, heights and derivatives softly (slope 1e-3);
  dgm, nflows and normflows use minimum bin size and derivative 1e-3; all have derivative 1 at ±B.
- normflows' stock CoupledRationalQuadraticSpline has a ResidualNet conditioner and an extra
  unconditional spline on the conditioning half: its parts are used here with an MLP and without.
- initialisation: dgm and normflows (init_zeros=True) zero the conditioners' last layer, so the
  flow starts as the identity; zuko and nflows keep PyTorch's default initialisation.
- zuko and normflows realnvp alternate halves by masks / split modes, as dgm and nflows do."""


def peer_python() -> Path:
    """The peer virtualenv's interpreter, creating the virtualenv first if it is missing or broken."""
    python = VENV / "bin" / "python"
    pin = TORCH.split("==")[1]
    check = [
        str(python),
        "-c",
        f"import torch, {', '.join(PEERS)}; assert torch.__version__.startswith({pin!r})",
    ]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing {', '.join(PEERS)} into {VENV} ...", flush=True)
    t0 = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    constraints = VENV / "constraints.txt"
    constraints.write_text(TORCH + "\n")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    for command in ([*pip, TORCH, "numpy"], [*pip, "-c", str(constraints), *PEERS]):  # torch first
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pip failed ({' '.join(command[3:])}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    subprocess.run(check, check=True)
    print(f"installed in {time.perf_counter() - t0:.0f} s", flush=True)
    return python


def write_data(toy: str, steps: int, seed: int, folder: Path) -> float:
    """Save the toy's splits, the per-step batch indices and the standardisation; return its entropy H."""
    from dgm.data import load_data

    data = load_data(toy)
    train, test = data.split("train").float(), data.split("test").float()
    # the same statistics as dgm's Standardize.fit
    stats = np.stack([train.mean(0).numpy(), train.std(0).clamp_min(1e-3).numpy()])
    rng = np.random.default_rng(seed)
    epochs = -(-steps * BATCH // len(train))
    order = np.concatenate([rng.permutation(len(train)) for _ in range(epochs)])
    folder.mkdir(parents=True)
    for name, value in [("train", train.numpy()), ("test", test.numpy()), ("stats", stats)]:
        np.save(folder / f"{name}.npy", value)
    np.save(folder / "batches.npy", order[: steps * BATCH].reshape(steps, BATCH))
    return data.entropy[0]


def run_one(
    python: Path,
    lib: str,
    flow: str,
    toy: str,
    seed: int,
    folder: Path,
    entropy: float,
    args: argparse.Namespace,
) -> dict:
    """Run the worker in its own process; a crash or a NaN becomes a row, never an exception."""
    out = folder / f"{lib}-{flow}.json"
    options = {"lib": lib, "flow": flow, "toy": toy, "data": folder, "out": out}
    options |= {"steps": args.steps, "threads": args.threads, "seed": seed}
    command = [str(python), str(WORKER), *(f"--{k}={v}" for k, v in options.items())]
    print(f"{toy} seed {seed} {flow} {lib} ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    row = {"toy": toy, "seed": seed, "flow": flow, "lib": lib, "nan_step": None}
    row |= {k: math.nan for k in ("kl", "nll", "nll_se", "steps_per_s", "samples_per_s")}
    if done.returncode != 0:
        return row | {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    row |= json.loads(out.read_text())
    row["kl"] = row["nll"] - entropy
    if row["nan_step"] is None:
        row["logp"] = np.load(out.with_suffix(".npy"))
    return row


def nan_note(r: dict) -> str:
    if "error" in r:
        return f"crashed: {r['error'][:60]}"
    if r["nan_step"] is not None:
        return f"loss at step {r['nan_step']}"
    bad = [f"{r[k]} {k.split('_')[1]}" for k in ("nonfinite_logp", "nonfinite_samples") if r[k]]
    return ", ".join(bad) or "no"


def _mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for one value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per (toy, flow, lib): means over seeds, the seeds' KL spread and every NaN note."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["toy"], r["flow"], r["lib"]), []).append(r)
    out = []
    for (toy, flow, lib), rs in groups.items():
        kl, kl_sd = _mean_sd([r["kl"] for r in rs])
        notes = sorted({f"seed {r['seed']}: {nan_note(r)}" for r in rs if nan_note(r) != "no"})
        row = {"toy": toy, "flow": flow, "lib": lib, "seeds": len(rs), "kl": kl, "kl_sd": kl_sd}
        row |= {
            k: float(np.mean([r[k] for r in rs])) for k in ("nll", "nll_se", "steps_per_s", "samples_per_s")
        }
        out.append(row | {"params": rs[0].get("params", "-"), "nan": "; ".join(notes) or "no"})
    return out


def table(rows: list[dict], flow: str) -> str:
    lines = [f"### {flow}\n", "| toy | lib | KL | test NLL | steps/s | samples/s | params | NaN? |"]
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in (r for r in rows if r["flow"] == flow):
        spread = r["kl_sd"] if r["seeds"] > 1 else r["nll_se"]  # seeds' spread, or the test s.e.
        lines.append(
            f"| {r['toy']} | {r['lib']} | {r['kl']:.4f} ± {spread:.4f} | {r['nll']:.4f} | "
            f"{r['steps_per_s']:.1f} | {r['samples_per_s']:.3g} | {r['params']} | {r['nan']} |"
        )
    return "\n".join(lines)


def compare(rows: list[dict], flow: str, toy: str) -> dict | None:
    """dgm against the peer of lowest mean KL on one toy: the KL difference ± its standard error
    (over seeds; with one seed, paired over the test points) and the throughput ratio."""
    mine = [r for r in rows if r["flow"] == flow and r["toy"] == toy]
    by_lib = {lib: [r for r in mine if r["lib"] == lib] for lib in {r["lib"] for r in mine}}
    peers = [p for p in PEERS if by_lib.get(p) and all("logp" in r for r in by_lib[p])]
    if not by_lib.get("dgm") or not peers:
        return None
    mean = {lib: float(np.mean([r["kl"] for r in rs])) for lib, rs in by_lib.items()}
    speed = {lib: float(np.mean([r["steps_per_s"] for r in rs])) for lib, rs in by_lib.items()}
    best, fastest = min(peers, key=mean.get), max(peers, key=speed.get)
    s = {"flow": flow, "toy": toy, "dgm_kl": mean["dgm"], "best_peer": best, "best_peer_kl": mean[best]}
    s |= {"fastest_peer": fastest, "speed_ratio": speed["dgm"] / speed[fastest]}
    s |= {"kl_ratio": mean["dgm"] / mean[best], "kl_diff": math.nan, "kl_diff_se": math.nan}
    pairs = [(d, b) for d in by_lib["dgm"] for b in by_lib[best] if d["seed"] == b["seed"]]
    complete = pairs and all("logp" in d for d, _ in pairs)  # else a dgm seed failed: NaN, verdict "no"
    if complete and len(pairs) > 1:
        diff, sd = _mean_sd([d["kl"] - b["kl"] for d, b in pairs])
        s |= {"kl_diff": diff, "kl_diff_se": sd / math.sqrt(len(pairs)), "n_seeds": len(pairs)}
    elif complete:  # one seed: per test point, KL_dgm − KL_best = mean(log p_best − log p_dgm)
        diff = pairs[0][1]["logp"] - pairs[0][0]["logp"]
        s |= {"kl_diff": float(diff.mean()), "kl_diff_se": float(diff.std(ddof=1) / math.sqrt(len(diff)))}
    return s | {"lightning_ratio": speed.get("dgm-lightning", math.nan) / speed["dgm"]}


def verdict(s: dict) -> str:
    """yes: dgm's KL ≤ the best peer's; ~: worse, but within the two-sided 95% interval of the
    difference (t quantile over seeds, or 2 s.e. over test points for one seed); no: worse, or NaN."""
    from scipy.stats import t

    n = s.get("n_seeds", 1)
    q = float(t.ppf(0.975, n - 1)) if n > 1 else 2.0
    return "yes" if s["kl_diff"] <= 0 else "~" if s["kl_diff"] <= q * s["kl_diff_se"] else "no"


def summary_table(summary: list[dict]) -> str:
    lines = [
        "| flow | toy | dgm KL | best peer KL | KL_dgm − KL_best | KL ratio | as good? "
        "| steps/s ÷ fastest peer | ≥ 1.2? | dgm-lightning ÷ dgm steps/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['flow']} | {s['toy']} | {s['dgm_kl']:.4f} | {s['best_peer_kl']:.4f} ({s['best_peer']}) | "
            f"{s['kl_diff']:+.4f} ± {s['kl_diff_se']:.4f} | {s['kl_ratio']:.3f} | {verdict(s)} | "
            f"{s['speed_ratio']:.2f} ({s['fastest_peer']}) | {'yes' if s['speed_ratio'] >= 1.2 else 'no'} | "
            f"{s['lightning_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--toys", default=TOYS)
    p.add_argument("--libs", default="dgm,dgm-lightning," + ",".join(PEERS))
    p.add_argument("--flows", default="realnvp,nsf")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", default="0", help="comma-separated seeds; each is a full repetition")
    p.add_argument("--jobs", type=int, default=1, help="workers run at a time")
    args = p.parse_args()
    libs, flows, toys = args.libs.split(","), args.flows.split(","), args.toys.split(",")
    seeds = sorted({int(s) for s in args.seeds.split(",")})
    unknown = sorted(set(libs) - {"dgm", "dgm-lightning", *PEERS}) + sorted(set(flows) - {"realnvp", "nsf"})
    if unknown:
        sys.exit(f"unknown library or flow {unknown[0]!r}")
    peer = peer_python() if set(libs) & set(PEERS) else None
    with tempfile.TemporaryDirectory() as tmp:
        tasks = []
        for seed in seeds:
            for toy in toys:
                folder = Path(tmp) / f"{toy}-{seed}"
                entropy = write_data(toy, args.steps, seed, folder)
                for flow in flows:
                    for lib in libs:  # interleaved, so that machine noise spreads over every library
                        python = peer if lib in PEERS else Path(sys.executable)
                        tasks.append((python, lib, flow, toy, seed, folder, entropy, args))
        with ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(lambda t: run_one(*t), tasks))
    summary = [s for flow in flows for toy in toys if (s := compare(rows, flow, toy))]
    means = aggregate(rows)
    print(f"\nArchitecture: {ARCHITECTURE}.\n{MISMATCHES}\n")
    print("\n\n".join(table(means, flow) for flow in flows))
    print(f"\n### dgm against the best peer\n\n{summary_table(summary)}")
    RESULTS.mkdir(exist_ok=True)
    settings = vars(args) | {"batch_size": BATCH, "lr": 1e-3, "schedule": "cosine", "dtype": "float32"}
    report = {
        "settings": settings,
        "architecture": ARCHITECTURE,
        "mismatches": MISMATCHES,
        "rows": [{k: v for k, v in r.items() if k != "logp"} for r in rows],
        "means": means,
        "summary": summary,
    }
    (RESULTS / "peers.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS / 'peers.json'}")


if __name__ == "__main__":
    main()
