"""Overrides that shrink the quickstart to a few seconds on a CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
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
    "train.precision=fp32",  # the same arithmetic on every CPU ('auto' picks by the hardware)
    "objective.params.pool_size=3",
    "output.log_every=1",
    "output.sample_every=2",
    "output.checkpoint_every=2",
]


def set_args(overrides: list[str]) -> list[str]:
    """``--set`` arguments for a CLI call."""
    return [arg for item in overrides for arg in ("--set", item)]


def tiny_spec(*extra: str, registry=None):
    """The quickstart spec with the tiny overrides, then ``extra``."""
    from faceoff.plugins import get_registry
    from faceoff.spec import load_spec

    return load_spec(QUICKSTART, registry or get_registry(), [*TINY, *extra])


def run_args(run: Path, overrides: list[str], *flags: str, spec: Path = QUICKSTART) -> list[str]:
    """``run SPEC --out RUN --no-progress FLAGS --set ...`` with the tiny overrides first."""
    head = ["run", str(spec), "--out", str(run), "--no-progress", *flags]
    return head + set_args([*TINY, *overrides])


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


def start_faceoff(
    args: list[str], ready: Callable[[], bool], timeout: float, cwd: Path = ROOT
) -> subprocess.Popen:
    """``python -m faceoff ARGS`` in the background (one OpenMP thread), returned once
    ``ready()`` holds, so that a signal sent next reaches the command while it works."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceoff", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    return proc


def start_training(args: list[str], run: Path, steps: int, timeout: float) -> subprocess.Popen:
    """``python -m faceoff ARGS`` in the background, returned once ``run`` has logged ``steps``
    metrics rows (so a signal sent next reaches a process in its training loop)."""
    metrics = run / "metrics.jsonl"

    def logged() -> bool:
        return metrics.is_file() and metrics.read_text().count("\n") >= steps

    return start_faceoff(args, logged, timeout)


def tiny_training(*extra: str, registry=None, device: str = "cpu", seed: int = 0):
    """The tiny quickstart's objective and engine (``faceoff.train.build.Training``), built
    after seeding the global RNG with ``seed``; ``.step(batch)`` trains on one batch."""
    import torch

    from faceoff.train.build import build_training

    torch.manual_seed(seed)
    resolved = tiny_spec(*extra, registry=registry)
    return build_training(resolved, torch.device(device))
