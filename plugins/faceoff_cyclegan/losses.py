"""The reference's losses: least-squares GAN and L1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from faceoff.losses import AdversarialLoss, ReconstructionLoss


class LSGANLoss(AdversarialLoss):
    """MSE of the scores against 1 (real) and 0 (fake); the discriminator's loss is halved."""

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(fake_scores, torch.ones_like(fake_scores))

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        real = F.mse_loss(real_scores, torch.ones_like(real_scores))
        fake = F.mse_loss(fake_scores, torch.zeros_like(fake_scores))
        return 0.5 * (real + fake)


class L1Loss(ReconstructionLoss):
    """Mean absolute error over all pixels; ignores masks."""

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return F.l1_loss(output, target)
