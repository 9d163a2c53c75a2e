"""Unaligned batches from in-memory uint8 frames, with the same crop and flip for image and mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from faceoff.data import Domain


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> uint8 [N, 3, H, W] (still uint8: a quarter of float32's memory)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the networks' range."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [-1, 1] [N, 3, H, W] -> uint8 [N, H, W, 3] for writing pictures."""
    images = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return images.permute(0, 2, 3, 1).numpy()


@dataclass
class DomainTensors:
    """A domain's frames (uint8) and masks (float16 weight maps), if any, ready to index."""

    images: torch.Tensor
    masks: torch.Tensor | None

    @classmethod
    def from_domain(cls, domain: Domain, masks: np.ndarray | None) -> DomainTensors:
        mask_t = torch.from_numpy(masks).unsqueeze(1).contiguous() if masks is not None else None
        return cls(to_tensor(domain.frames), mask_t)

    def __len__(self) -> int:
        return len(self.images)


class UnpairedBatches:
    """The reference's unaligned sampling: A in shuffled order, B at random, per epoch.

    A's index is the shuffled position modulo the size of A; B's index is uniform, as in the
    reference's unaligned dataset. Each epoch's order comes from (seed, epoch) alone, and the rest
    from ``generator``, so a run resumed mid-epoch draws exactly what it would have drawn.
    """

    def __init__(
        self,
        a: DomainTensors,
        b: DomainTensors,
        *,
        batch_size: int,
        crop_size: int,
        flip: bool,
        seed: int,
        generator: torch.Generator,
    ) -> None:
        self.a, self.b = a, b
        self.batch_size, self.crop_size, self.flip = batch_size, crop_size, flip
        self.seed, self.generator = seed, generator
        self.epoch_size = max(len(a), len(b))
        self._order: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        """The shuffled positions of one epoch."""
        if self._order is None or self._order[0] != epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(self.epoch_size, generator=rng))
        return self._order[1]

    def batch(self, epoch: int, step_in_epoch: int) -> dict[str, torch.Tensor]:
        """Batch number ``step_in_epoch`` of ``epoch``."""
        n = self.batch_size
        picks = self.order(epoch)[(torch.arange(n) + step_in_epoch * n) % self.epoch_size]
        index_a = picks % len(self.a)
        index_b = torch.randint(0, len(self.b), (n,), generator=self.generator)
        out: dict[str, torch.Tensor] = {}
        for label, data, index in (("A", self.a, index_a), ("B", self.b, index_b)):
            images, masks = crop_flip(
                data.images[index],
                data.masks[index] if data.masks is not None else None,
                self.crop_size,
                self.flip,
                self.generator,
            )
            out[label] = images
            if masks is not None:
                out[f"mask_{label}"] = masks
        return out


def crop_flip(
    images: torch.Tensor,
    masks: torch.Tensor | None,
    crop: int,
    flip: bool,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random ``crop`` x ``crop`` window and random horizontal flip per image, mask alike."""
    n, _, h, w = images.shape
    tops = torch.randint(0, h - crop + 1, (n,), generator=generator).tolist()
    lefts = torch.randint(0, w - crop + 1, (n,), generator=generator).tolist()
    flips = (torch.rand(n, generator=generator) < 0.5).tolist() if flip else [False] * n

    def apply(t: torch.Tensor) -> torch.Tensor:
        out = torch.stack(
            [t[i, :, y : y + crop, x : x + crop] for i, (y, x) in enumerate(zip(tops, lefts))]
        )
        for i, flipped in enumerate(flips):
            if flipped:
                out[i] = out[i].flip(-1)
        return out

    return apply(images), apply(masks) if masks is not None else None


def center_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    """The middle ``crop`` x ``crop`` window: sample grids at the training scale, no randomness."""
    h, w = images.shape[-2:]
    y, x = (h - crop) // 2, (w - crop) // 2
    return images[..., y : y + crop, x : x + crop]
