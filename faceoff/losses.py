"""The loss contracts. The training loop asks a loss what it needs instead of branching on names."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from faceoff.capabilities import WeightedMembers


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

    A discriminator that is several (the paper's two-discriminator form) implements
    :class:`faceoff.capabilities.WeightedMembers`; each member is then judged as a discriminator
    of its own and its losses weighted: L = sum_i w_i L(D_i). Any other discriminator is one
    member of weight 1.
    """
    if isinstance(discriminator, WeightedMembers):
        return list(discriminator.weighted_members())
    return [(1.0, discriminator)]


def total(terms: list[torch.Tensor]) -> torch.Tensor:
    """The sum of loss terms; a single term as it is (no stack, no extra kernel)."""
    return terms[0] if len(terms) == 1 else torch.stack(terms).sum()


def scores(discriminator: nn.Module, images: torch.Tensor) -> list[tuple[float, torch.Tensor]]:
    """Each member's (weight, fp32 scores) for ``images``; call it under ``engine.autocast()``."""
    return [(w, member(images).float()) for w, member in weighted_members(discriminator)]


def generator_adversarial(
    loss: AdversarialLoss, judged: list[tuple[float, torch.Tensor]]
) -> torch.Tensor:
    """The generator's adversarial loss from every member's scores of its images."""
    return total([w * loss.generator_loss(s) for w, s in judged])


def discriminator_adversarial(
    loss: AdversarialLoss,
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    autocast: Any,
) -> torch.Tensor:
    """The discriminator's loss on ``real`` and (detached) ``fake`` images, each member's
    weighted, with the loss's penalty (computed in fp32) where it has one. ``autocast`` is the
    engine's precision region (``engine.autocast``)."""
    with autocast():
        real_scores = scores(discriminator, real)
        fake_scores = scores(discriminator, fake)
    terms = []
    for (w, r), (_, f), (_, member) in zip(
        real_scores, fake_scores, weighted_members(discriminator)
    ):
        value = loss.discriminator_loss(r, f)
        penalty = loss.penalty(member, real, fake)
        terms.append(w * (value if penalty is None else value + penalty))
    return total(terms)


def clip_weights(loss: AdversarialLoss, discriminators: list[nn.Module]) -> None:
    """WGAN's weight clipping after a discriminator step, if the loss asks for it."""
    if loss.clip_weights is None:
        return
    bound = loss.clip_weights
    with torch.no_grad():
        for net in discriminators:
            for p in net.parameters():
                p.clamp_(-bound, bound)
