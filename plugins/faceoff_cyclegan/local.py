"""Local discriminators: each domain's region (the mouth) cut out of real and generated frames
and judged by a discriminator of its own.

A translation of A keeps A's pose, so its region is where A's mask puts it; a real frame's
region is where its own mask does. The cut is torchvision's ``roi_align`` (bilinear, and
differentiable in the image), a ``local_size`` square centred on the mask's weight above 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn
from torchvision.ops import roi_align

from faceoff.errors import FaceoffError
from faceoff.losses import (
    AdversarialLoss,
    discriminator_adversarial,
    generator_adversarial,
    scores,
    total,
)
from faceoff_cyclegan.local_params import LocalParams

Pair = tuple[torch.Tensor, torch.Tensor]  # (images [n, 3, H, W], their masks [n, 1, H, W])


def region_boxes(masks: torch.Tensor, size: int) -> torch.Tensor:
    """roi_align boxes [n, 5] (index, x1, y1, x2, y2): a ``size`` square per mask, centred on its
    weight above 1; where a mask weights nothing above 1 (no face), the frame's centre."""
    weight = (masks.float() - 1).clamp(min=0)[:, 0]  # [n, H, W]
    n, h, w = weight.shape
    mass = weight.sum((1, 2))
    ys = torch.arange(h, device=masks.device, dtype=torch.float32) + 0.5
    xs = torch.arange(w, device=masks.device, dtype=torch.float32) + 0.5
    found = mass > 0
    safe = mass.clamp(min=1e-8)
    cy = torch.where(found, (weight.sum(2) * ys).sum(1) / safe, torch.full_like(mass, h / 2))
    cx = torch.where(found, (weight.sum(1) * xs).sum(1) / safe, torch.full_like(mass, w / 2))
    half = size / 2
    index = torch.arange(n, device=masks.device, dtype=torch.float32)
    return torch.stack([index, cx - half, cy - half, cx + half, cy + half], 1)


def cut(images: torch.Tensor, masks: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size`` x ``size`` regions of ``images`` that ``masks`` locate (see region_boxes)."""
    boxes = region_boxes(masks, size).to(images.dtype)
    return roi_align(images, boxes, output_size=size, spatial_scale=1.0, sampling_ratio=2,
                     aligned=True)  # fmt: skip


def check_masks(masks: torch.Tensor | None) -> torch.Tensor:
    """The batch's masks, or a clear error where they weight no region."""
    if masks is None:
        raise FaceoffError(
            "objective.params.local_discriminator: the batch has no face masks; add a 'mask' "
            "section in weight mode"
        )
    if not bool((masks > 1).any()):
        raise FaceoffError(
            "objective.params.local_discriminator: the face masks weight no region above 1, so "
            "there is nothing to cut out; set the mask provider's mouth_weight (e.g. 2)"
        )
    return masks


class LocalDiscriminators:
    """The two local discriminators of an objective (D_A_local judges A's regions)."""

    def __init__(self, params: LocalParams, networks: Mapping[str, nn.Module]) -> None:
        self.D = {"A": networks["D_A_local"], "B": networks["D_B_local"]}
        self.weight, self.size = params.local_weight, params.local_size
        self.unchecked = 2  # the first step's masks of A and of B

    def nets(self) -> list[nn.Module]:
        return [self.D["A"], self.D["B"]]

    def masks(self, masks: torch.Tensor | None) -> torch.Tensor:
        """The batch's masks; the first two (A's and B's, on the first step) checked by
        check_masks, so no later step pays a device sync for it."""
        if self.unchecked:
            check_masks(masks)
            self.unchecked -= 1
        return masks  # type: ignore[return-value]

    def generator_terms(
        self, adversarial: AdversarialLoss, fakes: Mapping[str, list[Pair]]
    ) -> dict[str, torch.Tensor]:
        """``fakes``: per judged domain, generated frames with the masks of their sources (run
        under the engine's autocast). ``G_AB_local`` is the term of the translations to B."""
        terms = {}
        for domain, name in (("B", "G_AB_local"), ("A", "G_BA_local")):
            judged = [
                generator_adversarial(
                    adversarial, scores(self.D[domain], cut(x, self.masks(m), self.size))
                )
                for x, m in fakes[domain]
            ]
            terms[name] = self.weight * total(judged)
        return terms

    def discriminator_losses(
        self,
        adversarial: AdversarialLoss,
        pairs: Mapping[str, list[tuple[Pair, Pair]]],
        autocast: Callable,
        backward: Callable[[torch.Tensor], None],
    ) -> dict[str, torch.Tensor]:
        """Per domain, each (real, generated) pair's loss, backpropagated as it is made."""
        out = {}
        for domain in ("A", "B"):
            losses = []
            for (real, real_mask), (fake, fake_mask) in pairs[domain]:
                loss = self.weight * discriminator_adversarial(
                    adversarial,
                    self.D[domain],
                    cut(real, real_mask, self.size),
                    cut(fake.detach(), fake_mask, self.size),
                    autocast,
                )
                backward(loss)
                losses.append(loss.detach())
            out[f"D_{domain}_local"] = total(losses)
        return out
