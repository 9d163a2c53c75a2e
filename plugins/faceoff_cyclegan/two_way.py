"""What every two-way objective (a G_AB and a G_BA, an image pool per domain) shares: the sample
grid of both directions' translations and round trips, and the pools as checkpointed state.
Used by ``cyclegan`` and ``recycle-gan``."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from faceoff.objective import Engine
from faceoff.pool import ImagePool


class TwoWay:
    """Mixed into an objective that has ``G_AB``, ``G_BA``, ``pool_A`` and ``pool_B``."""

    G_AB: nn.Module
    G_BA: nn.Module
    pool_A: ImagePool
    pool_B: ImagePool

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        """Each direction's translation and round trip of the test frames."""
        real_A, real_B = images["A"], images["B"]
        with engine.autocast():
            fake_B = self.G_AB(real_A).float()
            fake_A = self.G_BA(real_B).float()
            rec_A = self.G_BA(fake_B).float()
            rec_B = self.G_AB(fake_A).float()
        return [
            {"real A": real_A, "A->B": fake_B, "A->B->A": rec_A},
            {"real B": real_B, "B->A": fake_A, "B->A->B": rec_B},
        ]

    def extra_state(self) -> dict[str, torch.Tensor]:
        out = {}
        for label, pool in (("A", self.pool_A), ("B", self.pool_B)):
            images = pool.state()
            if images is not None:
                out[f"pool.{label}"] = images
        return out

    def load_extra_state(self, tensors: Mapping[str, torch.Tensor]) -> None:
        device = next(self.G_AB.parameters()).device
        self.pool_A.load(tensors.get("pool.A"), device)
        self.pool_B.load(tensors.get("pool.B"), device)
