"""Overrides that shrink the quickstart to a few seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

from torch import nn

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.json"

TINY = [
    "data.source.params.frames=8",
    "data.source.params.test_frames=2",
    "data.load_size=36",
    "data.crop_size=32",
    "generator.params.ngf=4",
    "generator.params.n_blocks=1",
    "discriminator.params.ndf=4",
    "train.batch_size=2",
    "train.device=cpu",
    "train.pool_size=3",
    "output.log_every=1",
    "output.sample_every=2",
    "output.checkpoint_every=2",
]


def set_args(overrides: list[str]) -> list[str]:
    """``--set`` arguments for a CLI call."""
    return [arg for item in overrides for arg in ("--set", item)]


def cancelled_biases(model: nn.Module) -> set[str]:
    """The biases of convolutions that an instance norm right after cancels."""
    convs = (nn.Conv2d, nn.ConvTranspose2d)
    ids = {
        id(a.bias)
        for seq in model.modules()
        if isinstance(seq, nn.Sequential)
        for a, b in zip(seq, list(seq)[1:])
        if isinstance(a, convs) and a.bias is not None and isinstance(b, nn.InstanceNorm2d)
    }
    return {n for n, p in model.named_parameters() if id(p) in ids}
