"""In-domain image features that need no download: small CNN classifiers shipped with dgm.

FID, KID and the Inception score are usually computed in the features of Inception-v3 (ImageNet),
which every implementation downloads. dgm ships its own feature networks instead, one per image
dataset it knows (MNIST 28×28, scikit-learn's digits 8×8), trained by `scripts/train_feature_nets.py`:

    conv 3×3 (1 → c₁) → batch norm → ReLU → max-pool 2
      → conv 3×3 (c₁ → c₂) → batch norm → ReLU → max-pool 2
      → flatten → linear (c₂ (side/4)² → F) → ReLU   [the F features]
      → linear (F → 10)                             [class logits]

Batch norm uses its stored training statistics (eval mode), so an image's features do not depend
on the batch it comes in.

The weights are `weights/<data>.safetensors` inside the package (read with safetensors, never
pickle) with `weights/<data>.json` beside them: the architecture, how the net was trained (seed,
epochs, command), its test accuracy and the real-data floors of the metrics.

Scores in these features are comparable with each other, not with papers' FIDs in Inception's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from dgm.errors import DgmError
from dgm.metrics.frechet import frechet_distance, kid

#: datasets with a shipped feature network
FEATURE_NETS: tuple[str, ...] = ("mnist", "digits")


@dataclass(frozen=True)
class FeatureNetConfig:
    """Architecture of a feature net: image side (divisible by 4), the two conv blocks' channels,
    the number of features F and of classes."""

    side: int
    channels: tuple[int, int] = (16, 32)
    features: int = 128
    classes: int = 10


class FeatureNet(nn.Module):
    """Creates a small CNN classifier of 1-channel images of side `config.side` in [0, 1] whose
    penultimate (post-ReLU) activations are the features.

    Example:
        >>> net = FeatureNet(FeatureNetConfig(side=8, features=32))
        >>> tuple(net.features(torch.rand(5, 1, 8, 8)).shape), tuple(net(torch.rand(5, 1, 8, 8)).shape)
        ((5, 32), (5, 10))
    """

    def __init__(self, config: FeatureNetConfig) -> None:
        super().__init__()
        if config.side % 4:
            raise ValueError(f"the image side must be divisible by 4, got {config.side}")
        c1, c2 = config.channels
        self.config = config
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # side/2
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # side/4
            nn.Flatten(),
            nn.Linear(c2 * (config.side // 4) ** 2, config.features),
            nn.ReLU(),
        )
        self.head = nn.Linear(config.features, config.classes)

    def features(self, x: Tensor) -> Tensor:
        """The F features of images x (N, 1, side, side), shape (N, F)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, shape (N, classes)."""
        return self.head(self.body(x))


def _weights_dir() -> Any:
    return resources.files("dgm.metrics") / "weights"


def has_feature_net(name: str, event_shape: tuple[int, ...] | None = None) -> bool:
    """Whether dgm ships a feature net for dataset `name` (and, given, images of `event_shape`)."""
    if name not in FEATURE_NETS:
        return False
    try:
        side = feature_metadata(name)["architecture"]["side"]
    except DgmError:  # the weights were not installed: the metrics do not apply
        return False
    return event_shape is None or tuple(event_shape) == (1, side, side)


@cache
def feature_metadata(name: str) -> dict[str, Any]:
    """The JSON metadata of the shipped net for `name`: architecture, training, accuracy, floors.
    Do not modify the returned dict (it is cached)."""
    if name not in FEATURE_NETS:
        raise DgmError(f"no feature net for {name!r} (dgm ships {', '.join(FEATURE_NETS)})")
    path = _weights_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DgmError(f"{path} is missing: run scripts/train_feature_nets.py") from None


@cache
def _load(name: str, device: str) -> FeatureNet:
    meta = feature_metadata(name)
    arch = meta["architecture"]
    config = FeatureNetConfig(arch["side"], tuple(arch["channels"]), arch["features"], arch["classes"])
    path = _weights_dir() / f"{name}.safetensors"
    with resources.as_file(path) as file:
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        if digest != meta["weights_sha256"]:
            raise DgmError(f"{file}: SHA-256 {digest} differs from its metadata's; retrain or reinstall")
        state = load_file(file)
    net = FeatureNet(config)
    net.load_state_dict(state)
    return net.to(device).eval().requires_grad_(False)


def feature_net(name: str, device: torch.device | str = "cpu") -> FeatureNet:
    """Return the shipped feature net for dataset `name` ("mnist" or "digits") in eval mode on
    `device`, with frozen parameters; loaded once per device, checked against its metadata's SHA-256.
    The net is shared: do not train or move it."""
    return _load(name, str(torch.device(device)))


def _apply(net: FeatureNet, fn: Callable[[Tensor], Tensor], x: Tensor, batch: int) -> Tensor:
    side = net.config.side
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, side, side):
        raise DgmError(f"the feature net takes images of shape (N, 1, {side}, {side}), got {tuple(x.shape)}")
    p = next(net.parameters())
    with torch.no_grad():
        return torch.cat([fn(chunk.to(p)) for chunk in x.split(batch)]).double()


def features(x: Tensor, name: str, *, batch: int = 256) -> Tensor:
    """Return the features (N, F), float64, of images x (N, 1, side, side) in [0, 1] under the
    feature net of dataset `name`, computed in batches on x's device without gradients."""
    net = feature_net(name, x.device)
    return _apply(net, net.features, x, batch)


def class_probabilities(x: Tensor, name: str, *, batch: int = 256) -> Tensor:
    """Return p(y | x) (N, 10), float64, under the feature net of dataset `name` (for the Inception
    score; the argmax is its class prediction)."""
    net = feature_net(name, x.device)
    return _apply(net, lambda c: net(c).double().softmax(1), x, batch)


def training_subset(train: Tensor, n: int, seed: int = 0) -> Tensor:
    """The first n images of a permutation of the training split seeded with `seed` (nested in n)."""
    return train[torch.randperm(train.shape[0], generator=torch.Generator().manual_seed(seed))[:n]]


def real_floors(
    name: str, train: Tensor, test: Tensor, sizes: tuple[int, ...], *, seed: int = 0
) -> list[dict[str, float]]:
    """The scores of real images as if they were a model's samples: for each n in `sizes`, n training
    images (`training_subset`) against the whole test split, in the features of `name`'s net. The
    Fréchet distance is biased in the sample sizes, so a model's FID compares with the floor at its
    own n_fake. Each entry: {"n_fake", "n_real", "fid", "kid", "kid_se"} (kid with its defaults)."""
    fake_all, real = features(training_subset(train, max(sizes), seed), name), features(test, name)
    floors = []
    for n in sizes:
        fake = fake_all[:n]
        k, k_se = kid(fake, real, seed=seed)
        floors.append(
            {"n_fake": n, "n_real": len(real), "fid": frechet_distance(fake, real), "kid": k, "kid_se": k_se}
        )
    return floors
