"""The torch side of faceoff-hello's losses."""

from __future__ import annotations

import torch

from faceoff.losses import ReconstructionLoss


class L2Loss(ReconstructionLoss):
    """Squared error, reduced by mean or sum; ignores masks."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def _reduce(self, values: torch.Tensor) -> torch.Tensor:
        return values.sum() if self.reduction == "sum" else values.mean()

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self._reduce((output - target) ** 2)


class MaskedL2Loss(L2Loss):
    """Squared error weighted by (mask + 1) when a mask [B, 1, H, W] is given."""

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        error = (output - target) ** 2
        if mask is not None:
            error = error * (mask + 1)
        return self._reduce(error)
