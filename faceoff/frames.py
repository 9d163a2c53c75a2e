"""uint8 frames as tensors: the conversions and crops that training, figures, eval and apply share.

Frames are kept as uint8 (a quarter of float32's memory) until a network needs them; networks see
float images in [-1, 1], [N, 3, H, W].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
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


def center_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    """The middle ``crop`` x ``crop`` window: sample grids at the training scale, no randomness."""
    h, w = images.shape[-2:]
    y, x = (h - crop) // 2, (w - crop) // 2
    return images[..., y : y + crop, x : x + crop]


def sample_frames(domain: Domain, n: int, crop: int) -> torch.Tensor:
    """``n`` frames spread evenly over a domain, centre-cropped to the training size: uint8
    [n, 3, crop, crop] (the test frames of sample grids and figures)."""
    picks = torch.linspace(0, len(domain) - 1, min(n, len(domain))).round().long()
    return center_crop(to_tensor(domain.frames[picks.numpy()]), crop)
