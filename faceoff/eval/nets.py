"""The two judges eval trains on real frames: a parameter probe and an A-vs-B classifier.

Both are the same small CNN, trained deterministically from a seed and cached on disk as
safetensors, so evaluating many runs of one data set trains each judge once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from faceoff.console import track
from faceoff.io import atomic_path

VERSION = 1
"""Bumped whenever the network, training or cache layout changes: old cache entries are ignored."""


@dataclass(frozen=True)
class JudgeConfig:
    """How a judge is built and trained; part of its cache key."""

    width: int = 16  # channels of the first layer, doubled per layer up to 8x
    layers: int = 4  # stride-2 convolutions
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3


PROBE_CONFIG = JudgeConfig()
CLASSIFIER_CONFIG = JudgeConfig(steps=200)
"""A vs B is easy (skin, hair, background differ): a short training is enough."""


class SmallCNN(nn.Module):
    """Stride-2 3x3 convolutions with group norm, then a linear layer on a 4x4 feature map.

    The map is flattened rather than averaged so the head keeps *where* things are: the probe
    regresses head position as well as expression. Group norm behaves the same in training and
    evaluation, and does not care which frames share a batch.
    """

    def __init__(self, outputs: int, width: int = 16, layers: int = 4) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = 3
        for i in range(layers):
            out = width * min(2**i, 8)
            blocks += [
                nn.Conv2d(channels, out, 3, stride=2, padding=1),
                nn.GroupNorm(4, out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            channels = out
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(channels * 16, outputs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """float [-1, 1] [N, 3, H, W] -> [N, outputs]."""
        return self.head(self.pool(self.features(images)).flatten(1))


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and pixel noise only: nothing moves, so position labels stay true.

    The judges then read generated frames, which are never pixel-perfect, less brittly.
    """
    n = len(images)
    gain = 1.0 + 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    shift = 0.2 * (torch.rand(n, 1, 1, 1, generator=generator) - 0.5)
    noise = 0.03 * torch.randn(images.shape, generator=generator)
    return (images * gain + shift + noise).clamp_(-1, 1)


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> float [-1, 1], the range generators work in."""
    return images.float().div(127.5).sub(1.0)


def fit(
    images: torch.Tensor,
    targets: torch.Tensor,
    loss: str,
    *,
    seed: int,
    config: JudgeConfig = PROBE_CONFIG,
    description: str = "training",
    device: torch.device | None = None,
) -> SmallCNN:
    """Train a SmallCNN on uint8 [N, 3, H, W] images; ``loss`` is ``"l1"`` or ``"ce"``.

    Deterministic for a seed on the CPU: the weights are drawn inside a forked RNG seeded with
    ``seed`` and every batch and augmentation comes from a local generator.
    """
    device = device or torch.device("cpu")
    outputs = targets.shape[1] if loss == "l1" else int(targets.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallCNN(outputs, config.width, config.layers)
    net.to(device).train()
    generator = torch.Generator().manual_seed(seed + 1)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    for _ in track(range(config.steps), config.steps, description):
        picks = torch.randint(0, len(images), (config.batch_size,), generator=generator)
        batch = _augment(to_input(images[picks]), generator).to(device)
        out = net(batch)
        wanted = targets[picks].to(device)
        value = F.l1_loss(out, wanted) if loss == "l1" else F.cross_entropy(out, wanted)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        schedule.step()
    return net.cpu().eval()


@torch.no_grad()
def predict(net: nn.Module, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The network's outputs on uint8 [N, 3, H, W] images, batched, on the net's device."""
    device = next(net.parameters()).device
    parts = [
        net(to_input(images[i : i + batch]).to(device)).cpu() for i in range(0, len(images), batch)
    ]
    return torch.cat(parts) if parts else torch.empty(0)


def cache_key(parts: dict[str, Any]) -> str:
    """A short hex digest of everything a judge's weights depend on."""
    text = json.dumps({**parts, "version": VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def judges_dir() -> Path:
    """``<faceoff cache>/probes``: one safetensors file per trained judge."""
    from faceoff.masks import cache_root

    return cache_root() / "probes"


def save_judge(
    path: Path, net: SmallCNN, extra: dict[str, torch.Tensor], meta: dict[str, str]
) -> None:
    """The weights plus any tensors a judge needs to be read (e.g. target mean and std)."""
    tensors = {f"net.{k}": v.contiguous() for k, v in net.state_dict().items()}
    tensors.update({f"extra.{k}": v.contiguous() for k, v in extra.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_judge(
    path: Path, outputs: int, config: JudgeConfig
) -> tuple[SmallCNN, dict[str, torch.Tensor]] | None:
    """A cached judge, or None when there is none or it cannot be read (it is retrained)."""
    if not path.is_file():
        return None
    try:
        tensors = load_file(str(path))
        net = SmallCNN(outputs, config.width, config.layers)
        net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    except (SafetensorError, OSError, RuntimeError, ValueError):
        return None
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return net.eval(), extra
