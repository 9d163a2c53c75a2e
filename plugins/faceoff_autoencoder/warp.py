"""The autoencoder's augmentation, on the batch in torch (no round trip through the CPU's NumPy).

Each image gets a random affine map (rotation, scale, shift), applied alike to the input, the
target and the mask, and the input alone also gets a random smooth warp: a coarse grid of control
points (faceswap: 5x5) jittered by Gaussian noise, upsampled bicubically to a dense field of
offsets. The target is never warped, so the networks learn to undo the warp: a denoising
autoencoder, which is what lets a decoder accept the other person's code. Both are one
``grid_sample`` each, the affine map composed after the warp, so the input is resampled once.

faceswap remaps with bilinear interpolation of a linearly upsampled grid and jitters the border
points too (as here); DeepFaceLab picks a grid of 2, 4 or 8 cells per image with noise 0.24 of a
cell and remaps bicubically. Borders replicate the edge pixels, as both do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """How strongly to augment: ``warp`` is the std of the control points' jitter in image sides
    (faceswap: 5/256), ``points`` the control points per side, ``rotation`` the largest angle in
    degrees, ``zoom`` the largest scale change, ``shift`` the largest shift in image sides."""

    warp: float = 5 / 256
    points: int = 5
    rotation: float = 10.0
    zoom: float = 0.05
    shift: float = 0.05

    @property
    def affine(self) -> bool:
        return bool(self.rotation or self.zoom or self.shift)


def _uniform(n: int, bound: float, rng: torch.Generator, *shape: int) -> torch.Tensor:
    return (torch.rand(n, *shape, generator=rng, dtype=torch.float64) * 2 - 1) * bound


def affine_matrices(n: int, how: Augment, rng: torch.Generator) -> torch.Tensor:
    """[n, 2, 3] maps from output to source coordinates (normalised, [-1, 1]) of a random
    rotation, scale and shift per image; drawn in float64 on the CPU, returned float32."""
    angle = _uniform(n, math.radians(how.rotation), rng)
    scale = 1 + _uniform(n, how.zoom, rng)
    shift = _uniform(n, how.shift, rng, 2) * 2  # image sides -> normalised units (a side is 2)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    rows = [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)]
    return torch.stack(rows, 1).float()


def warp_offsets(n: int, size: int, how: Augment, rng: torch.Generator) -> torch.Tensor:
    """[n, size, size, 2] smooth random offsets (normalised units): Gaussian jitter of std
    ``how.warp`` image sides at ``how.points`` x ``how.points`` control points, the corner ones on
    the corner pixels, upsampled bicubically."""
    jitter = torch.randn(n, 2, how.points, how.points, generator=rng) * (2 * how.warp)
    dense = F.interpolate(jitter, size=(size, size), mode="bicubic", align_corners=True)
    return dense.permute(0, 2, 3, 1)


def grids(
    n: int, size: int, how: Augment, rng: torch.Generator, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The sampling grids (``grid_sample``'s [n, size, size, 2]) of the input and the target;
    None where an image is left as it is (no warp and no affine: the input; no affine: the
    target). The random numbers are drawn in a fixed order: warp, then affine."""
    offsets = warp_offsets(n, size, how, rng).to(device) if how.warp else None
    theta = affine_matrices(n, how, rng).to(device) if how.affine else None
    if offsets is None and theta is None:
        return None, None
    eye = torch.eye(2, 3, device=device).expand(n, 2, 3)
    base = F.affine_grid(eye, [n, 1, size, size], align_corners=False)
    warped = base if offsets is None else base + offsets
    if theta is None:
        return warped, None
    linear, move = theta[:, :, :2], theta[:, :, 2]

    def through(points: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nhwj,nij->nhwi", points, linear) + move[:, None, None, :]

    return through(warped), through(base)


def sample(images: torch.Tensor, grid: torch.Tensor | None) -> torch.Tensor:
    """``images`` resampled at ``grid`` (bilinear, edges replicated); as they are for None."""
    if grid is None:
        return images
    out = F.grid_sample(
        images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.to(images.dtype)


def augment(
    images: torch.Tensor, masks: torch.Tensor | None, how: Augment, rng: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(input, target, target's mask) of a batch [n, C, s, s]: the input warped and moved, the
    target and mask only moved. ``rng`` is a CPU generator (the objective's checkpointed stream),
    so a resumed run draws the same warps on any device."""
    n, size = images.shape[0], images.shape[-1]
    to_input, to_target = grids(n, size, how, rng, images.device)
    targets = sample(images, to_target)
    moved = None if masks is None else sample(masks, to_target)
    return sample(images, to_input), targets, moved
