"""Random smooth optical flow and warping, for the cycle's pseudo-supervision (Wang et al. 2020,
"Unsupervised video translation", code wangkaihong/Unsup_Recycle_GAN).

A flow is drawn as the reference's ``GenerateFakeFlow`` draws it, in fractions of the image side
instead of pixels of a 256 px frame: Gaussian motion on a coarse grid, resized to the image,
plus one global shift per axis, then box-blurred. No optical-flow network is needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_flow(
    size: int,
    generator: torch.Generator,
    *,
    motion: float,
    shift: float,
    grid: int = 2,
    blur: float = 0.39,
    device: torch.device | None = None,
) -> torch.Tensor:
    """A smooth flow [1, 2, size, size] in pixels: N(0, ``motion`` x size) on a ``grid`` x
    ``grid`` field (the reference: 8 px on 2 x 2 at 256 px), resized bilinearly, plus a
    whole-pixel shift per axis uniform in +-``shift`` x size (10 px), box-blurred over
    ``blur`` x size (100 px)."""
    field = torch.randn(1, 2, grid, grid, generator=generator) * (motion * size)
    flow = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
    most = max(0, round(shift * size))
    offsets = torch.randint(-most, most + 1, (1, 2, 1, 1), generator=generator).float()
    flow = flow + offsets
    k = max(1, round(blur * size)) | 1  # odd, so the blur keeps the size
    padded = F.pad(flow, (k // 2,) * 4, mode="replicate")
    return F.avg_pool2d(padded, k, stride=1).to(device or flow.device)


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``images`` [n, C, H, W] moved by ``flow`` [1, 2, H, W] (pixels): out(p) = in(p - flow(p)),
    bilinear, borders repeated."""
    n, _, h, w = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=images.device, dtype=flow.dtype),
        torch.arange(w, device=images.device, dtype=flow.dtype),
        indexing="ij",
    )
    x = (xs - flow[:, 0]) * (2 / max(w - 1, 1)) - 1
    y = (ys - flow[:, 1]) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack([x, y], dim=-1).expand(n, h, w, 2).to(images.dtype)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)
