"""Figures for a run: 2-D densities beside the truth, samples over data, training curves, image grids.

matplotlib is imported inside each function (with the Agg backend), so `import dgm` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from dgm.io import read_metrics
from dgm.models.base import sample_labelled
from dgm.utils import atomic_path, one_hot


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix.lstrip("."))
    _plt().close(fig)
    return path


def plot_extent(x: Tensor, pad: float = 0.15) -> tuple[float, float, float, float]:
    """A square-ish box around the 0.5%–99.5% quantiles of 2-D points, padded by `pad`."""
    lo, hi = torch.quantile(x.double(), torch.tensor([0.005, 0.995], dtype=torch.float64), dim=0)
    w = hi - lo
    w = torch.where(w > 0, w, torch.ones_like(w))  # a constant coordinate still gets a visible range
    lo, hi = lo - pad * w, hi + pad * w
    return lo[0].item(), hi[0].item(), lo[1].item(), hi[1].item()


def grid_2d(extent: tuple[float, float, float, float], n: int = 200) -> tuple[Tensor, Tensor, Tensor]:
    """Return (xx, yy, points) of an n × n grid over extent; points has shape (n², 2)."""
    xs = torch.linspace(extent[0], extent[1], n, dtype=torch.float64)
    ys = torch.linspace(extent[2], extent[3], n, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return xx, yy, torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)


def _model_log_density(model: Any, data: Any, x: Tensor) -> Tensor:
    """log p(x); for a class-conditional model the marginal log Σ_k π_k p(x | k), π = label frequencies."""
    k = model.context_features
    if not k:
        return model.log_prob(x)
    log_pi = (
        torch.bincount(data.split_labels("train"), minlength=k).double().div(len(data.split("train"))).log()
    )
    per_class = [model.log_prob(x, one_hot(torch.full((len(x),), j), k, x)) + log_pi[j] for j in range(k)]
    return torch.logsumexp(torch.stack(per_class), dim=0)


@torch.no_grad()
def density_2d(model: Any, data: Any, path: Path, n: int = 200) -> Path:
    """Heatmap of the learned density p_model beside the true density p_data when it is known."""
    plt = _plt()
    extent = plot_extent(data.split("test"))
    xx, yy, pts = grid_2d(extent, n)
    p = next(model.parameters())
    panels = [("model", _model_log_density(model, data, pts.to(p)).double().cpu().exp())]
    if data.has_true_density:
        panels.insert(0, ("true density", data.log_prob(pts).double().exp()))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (title, dens) in zip(axes[0], panels, strict=True):
        ax.pcolormesh(
            xx.numpy(), yy.numpy(), dens.reshape(n, n).numpy(), shading="auto", cmap="viridis", vmin=0
        )
        ax.set_title(title)
        ax.set_aspect("equal")
    return _save(fig, path)


def samples_2d(samples: Tensor, data_x: Tensor, path: Path) -> Path:
    """Scatter of model samples over data points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    x0, x1, y0, y1 = plot_extent(data_x if len(data_x) else samples)
    data_x, samples = data_x.numpy(), samples.numpy()
    ax.scatter(data_x[:, 0], data_x[:, 1], s=2, alpha=0.35, label="data", color="tab:blue")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.35, label="model", color="tab:orange")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.legend(markerscale=5, loc="upper right")
    return _save(fig, path)


@torch.no_grad()
def flow_layers(model: Any, x: Tensor, path: Path, max_panels: int = 8) -> Path:
    """Data pushed through a 2-D flow layer by layer, from data (left) to latent (right).

    Points are coloured by their angle in data space, so one can follow them through the layers.
    """
    plt = _plt()
    p = next(model.parameters())
    y, _ = model.transform(x.to(p))  # preprocessing first: the flow acts on y
    continuous = hasattr(model.model, "velocity")  # an ODE: states at equally spaced times
    states = model.model.trajectory(y, frames=max_panels - 1) if continuous else model.model.trajectory(y)
    keep = sorted({round(i * (len(states) - 1) / (max_panels - 1)) for i in range(max_panels)})
    colour = torch.atan2(*(x - x.mean(0)).T.flip(0).double()).numpy()
    fig, axes = plt.subplots(1, len(keep), figsize=(2.6 * len(keep), 2.7), squeeze=False)
    for ax, i in zip(axes[0], keep, strict=True):
        s = states[i].double().cpu().numpy()
        ax.scatter(s[:, 0], s[:, 1], s=1, c=colour, cmap="hsv")
        step = f"t = {i / (len(states) - 1):.2g}" if continuous else f"layer {i}"
        ax.set_title(
            "data (preprocessed)" if i == 0 else "latent" if i == len(states) - 1 else step, fontsize=9
        )
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


@torch.no_grad()
def velocity_2d(model: Any, x: Tensor, path: Path, times: tuple[float, ...] = (0.0, 0.5, 1.0)) -> Path:
    """The velocity field v(y, t) of a 2-D continuous flow at a few times, over its preprocessed data
    (t = 0: data, t = 1: latent), arrows coloured by speed."""
    plt = _plt()
    p = next(model.parameters())
    y = model.transform(x.to(p))[0].double().cpu()
    extent = plot_extent(torch.cat([y, torch.randn_like(y)]))
    xs, ys, pts = grid_2d(extent, n=21)
    fig, axes = plt.subplots(1, len(times), figsize=(3.2 * len(times), 3.2), squeeze=False)
    for ax, t in zip(axes[0], times, strict=True):
        v = model.model.velocity(pts.to(p), t).double().cpu()
        ax.scatter(y[:, 0], y[:, 1], s=1, c="0.8")
        ax.quiver(pts[:, 0], pts[:, 1], v[:, 0], v[:, 1], v.norm(dim=1), cmap="viridis")
        ax.set_title(f"v(y, t = {t:g})", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def image_grid(images: Tensor, path: Path, nrow: int = 8) -> Path:
    """Tile images (N, C, H, W) with values in [0, 1] into one picture."""
    plt = _plt()
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    canvas = torch.ones(c, rows * (h + 1) + 1, ncol * (w + 1) + 1)
    for i, img in enumerate(images.clamp(0, 1)):
        r, k = divmod(i, ncol)
        canvas[:, 1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + k * (w + 1) : 1 + k * (w + 1) + w] = img
    fig, ax = plt.subplots(figsize=(ncol * 0.6 + 0.5, rows * 0.6 + 0.5))
    pic = canvas[0] if c == 1 else canvas.permute(1, 2, 0)
    ax.imshow(pic.numpy(), cmap="gray" if c == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    return _save(fig, path)


def nearest_training_images(samples: Tensor, train: Tensor, path: Path) -> Path:
    """Model samples (top row) above their nearest training images in Euclidean distance (bottom
    row): a sample that equals its neighbour is a copy (see the memorisation metric)."""
    from dgm.metrics.memorisation import nearest_neighbours

    _, index = nearest_neighbours(samples, train)
    return image_grid(torch.cat([samples, train[index].to(samples)]).float(), path, nrow=len(samples))


def training_curves(metrics_csv: Path, path: Path) -> Path | None:
    """Plot every train/ and val/ column of metrics.csv against the step."""
    if not metrics_csv.exists():
        return None
    rows = read_metrics(metrics_csv)
    keys = sorted({k for r in rows for k in r if k.startswith(("train/", "val/"))})
    if not keys:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in keys:
        pts = [(int(r["step"]), r[k]) for r in rows if k in r]
        if pts:
            ax.plot(*zip(*pts, strict=True), label=k, marker="." if k.startswith("val/") else None)
    ax.set_xlabel("step")
    ax.legend()
    return _save(fig, path)


def latent_map(model: Any, data: Any, path: Path, n: int = 2000, cells: int = 15) -> Path:
    """A VAE with a 2-D latent space: the test set's posterior means μ(x), coloured by label, and
    (images) the decoder's mean on a grid of z = h(u), u at the normal quantiles 2.5 %…97.5 % and
    h the map from N(0, I) to the prior (the identity for the normal prior, the flow of a flow
    prior): cells of equal prior mass."""
    plt = _plt()
    vae = model.core
    x = data.split("test")[:n]
    labels = data.split_labels("test")
    c = (
        None
        if labels is None or not model.context_features
        else one_hot(labels[:n], model.context_features, x)
    )
    p = next(vae.parameters())
    y = model.preprocess(x.to(p))[0]
    mu = vae.encode(y, None if c is None else c.to(p))[0].double().cpu()
    images = data.kind == "image" and not model.context_features
    fig, axes = plt.subplots(1, 2 if images else 1, figsize=(11 if images else 5, 5), squeeze=False)
    ax = axes[0, 0]
    colour = None if labels is None else labels[: len(mu)].numpy()
    pts = ax.scatter(mu[:, 0], mu[:, 1], c=colour, s=3, cmap=None if colour is None else "tab10")
    if colour is not None:
        fig.colorbar(pts, ax=ax, label="label")
    ax.set_title("posterior means μ(x) of the test set", fontsize=9)
    ax.set_aspect("equal")
    if images:
        q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.025, 0.975, cells)).to(p)
        u = torch.cartesian_prod(q.flip(0), q)[:, [1, 0]]  # rows from high u₂ to low, u₁ left to right
        decoded = model.postprocess(vae.decode(vae.prior_transform(u))).double().cpu().clamp(0, 1)
        _, ch, h, w = decoded.shape
        canvas = (
            decoded.reshape(cells, cells, ch, h, w).permute(2, 0, 3, 1, 4).reshape(ch, cells * h, cells * w)
        )
        axes[0, 1].imshow(canvas[0].numpy(), cmap="gray", vmin=0, vmax=1)
        axes[0, 1].set_title("decoder mean on a grid of the prior's quantiles", fontsize=9)
        axes[0, 1].axis("off")
    return _save(fig, path)


def analogies(model: Any, data: Any, path: Path, n: int = 8) -> Path:
    """A semi-supervised model's analogies (Kingma et al., 2014, Fig. 1): each row a test image,
    then its style, inferred under its label, decoded under every class."""
    x = data.split("test")[:n]
    labels = data.split_labels("test")
    p = next(model.parameters())
    c = None if labels is None else one_hot(labels[:n], model.context_features, p)
    grid = model.postprocess(model.core.analogies(model.preprocess(x.to(p))[0], c).flatten(0, 1))
    columns = grid.shape[0] // len(x)
    rows = torch.cat([x[:, None], grid.cpu().to(x).reshape(len(x), columns, *x.shape[1:])], 1)
    return image_grid(rows.flatten(0, 1).float(), path, nrow=columns + 1)


def vae_figures(model: Any, data: Any, figs: Path) -> list[Path]:
    """Reconstructions (test images over their decoder means at μ(x)), latent interpolations between
    pairs of test images (unconditional models), for a 2-D latent space the latent map, and a
    semi-supervised model's analogies."""
    out = []
    if data.kind == "image" and hasattr(model.core, "analogies"):
        out.append(analogies(model, data, figs / "analogies.png"))
    if not hasattr(model.core, "encode"):
        return out
    if model.core.latent == 2:
        out.append(latent_map(model, data, figs / "latent.png"))
    if data.kind == "image":
        x = data.split("test")[:16]
        labels = data.split_labels("test")
        p = next(model.parameters())
        c = (
            None
            if labels is None or not model.context_features
            else one_hot(labels[:16], model.context_features, p)
        )
        y = model.preprocess(x.to(p))[0]
        rec = model.postprocess(model.core.reconstruct(y, c)).cpu()
        out.append(image_grid(torch.cat([x, rec.to(x)]).float(), figs / "reconstructions.png", nrow=16))
        if c is None:  # from test image 1 to 2, 3 to 4, …: 8 rows of 10 decoded means
            path = [model.core.interpolate(y[i : i + 1], y[i + 1 : i + 2], 10) for i in range(0, 16, 2)]
            grid = model.postprocess(torch.cat(path)).cpu().float()
            out.append(image_grid(grid, figs / "interpolation.png", nrow=10))
    return out


def run_figures(run_dir: Path, model: Any, data: Any, n: int = 2000) -> list[Path]:
    """Write the standard figures of a run into run_dir/figures and return their paths."""
    figs = run_dir / "figures"
    out: list[Path | None] = [training_curves(run_dir / "metrics.csv", figs / "training.png")]
    with torch.no_grad():
        n = n if data.kind == "points" else 64
        labels = data.split_labels("test") if model.context_features else None
        if labels is not None:
            n = min(n, len(labels))
        samples = sample_labelled(model, n, None if labels is None else labels[:n]).double().cpu()
    if data.kind == "points" and data.dim == 2:
        out.append(samples_2d(samples, data.split("test")[:n], figs / "samples.png"))
        if model.has_density:
            out.append(density_2d(model, data, figs / "density.png", n=model.core.density_grid // 2))
        if hasattr(model.model, "trajectory") and not model.context_features:
            out.append(flow_layers(model, data.split("test")[:n].double(), figs / "layers.png"))
        if hasattr(model.model, "velocity") and not model.context_features:
            out.append(velocity_2d(model, data.split("test")[:n].double(), figs / "velocity.png"))
    elif data.kind == "image":
        out.append(image_grid(samples.float(), figs / "samples.png"))
        out.append(nearest_training_images(samples[:8], data.split("train"), figs / "nearest.png"))
    if hasattr(model.core, "encode") or hasattr(model.core, "analogies"):
        with torch.no_grad():
            out += vae_figures(model, data, figs)
    return [p for p in out if p is not None]


def tradeoff(points: list[tuple[str, float, float]], xlabel: str, ylabel: str, path: Path) -> Path:
    """Scatter of (name, cost, quality) points, each labelled with its name (e.g. energy distance
    against training time, one point per model)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, x, y in points:
        ax.scatter([x], [y], s=18)
        ax.annotate(name, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    if all(x > 0 for _, x, _ in points):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return _save(fig, path)
