"""The loss contracts. The training loop asks a loss what it needs instead of branching on names."""

from __future__ import annotations

import torch
from torch import nn


class AdversarialLoss(nn.Module):
    """What an adversarial-loss plugin's ``build(params)`` returns.

    The loop calls :meth:`generator_loss` on the discriminator's scores for generated images and
    :meth:`discriminator_loss` on the scores for real and (pooled) generated images. What a loss
    may override to change the loop's behaviour, all with the reference's defaults:
    ``critic_steps`` (discriminator steps per generator step), ``clip_weights`` (clip the
    discriminator's weights to +-value after each of its steps) and :meth:`penalty` (a term added
    to the discriminator's loss, such as WGAN-GP's gradient penalty).
    """

    critic_steps: int = 1
    clip_weights: float | None = None

    def penalty(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor | None:
        """An extra discriminator loss term computed from the network itself; None for none."""
        return None

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Loss of the generator: how far its images are from being judged real."""
        raise NotImplementedError

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        """Loss of the discriminator on real and generated images (the reference halves it)."""
        raise NotImplementedError


class ReconstructionLoss(nn.Module):
    """What a reconstruction-loss plugin's ``build(params)`` returns: ``loss(out, target, mask)``.

    Images are in [-1, 1], [B, C, H, W]; ``mask`` is None or [B, 1, H, W] in [0, 1] (given only when
    the spec has masks in ``weight`` mode). Used for both the cycle and the identity terms.
    """

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError


def weighted_members(discriminator: nn.Module) -> list[tuple[float, nn.Module]]:
    """The discriminators whose adversarial losses are combined, with their weights.

    A discriminator that is several (the paper's two-discriminator form) exposes
    ``weighted_members()``; each member is then judged as a discriminator of its own and its
    losses weighted: L = sum_i w_i L(D_i). Any other discriminator is one member of weight 1.
    """
    members = getattr(discriminator, "weighted_members", None)
    return list(members()) if callable(members) else [(1.0, discriminator)]
