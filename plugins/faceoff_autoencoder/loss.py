"""The reconstruction loss: DSSIM plus L1 or MSE, each a mean over pixels weighted by a map.

faceswap multiplies its per-pixel loss by the face mask, with eye and mouth multipliers, and runs
SSIM on mask-multiplied images; DeepFaceLab runs DSSIM and MSE on images multiplied by a blurred
mask. Here both terms are per-pixel maps weighted by the same map (the batch's mask, floored at
``background``), and the weighted mean is divided by the weights' sum: the weights move the
loss between regions without changing its scale, so loss weights and learning rates mean the
same with and without masks.
"""

from __future__ import annotations

import torch
from pytorch_msssim.ssim import _fspecial_gauss_1d, gaussian_filter

WIN_SIZE, WIN_SIGMA = 11, 1.5  # pytorch-msssim's defaults (Wang et al. 2004)
K1, K2 = 0.01, 0.03


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM per pixel of images in [0, 1] ([n, C, H - 10, W - 10]: the window's valid region),
    with pytorch-msssim's Gaussian window and constants; its mean is ``pytorch_msssim.ssim``."""
    win = _fspecial_gauss_1d(WIN_SIZE, WIN_SIGMA).repeat([x.shape[1], 1, 1, 1]).to(x)
    mu_x, mu_y = gaussian_filter(x, win), gaussian_filter(y, win)
    var_x = gaussian_filter(x * x, win) - mu_x**2
    var_y = gaussian_filter(y * y, win) - mu_y**2
    cov = gaussian_filter(x * y, win) - mu_x * mu_y
    c1, c2 = K1**2, K2**2
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * (2 * cov + c2) / (var_x + var_y + c2)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` [n, C, h, w] weighted by ``weights`` [n, 1, h, w] (None: plain)."""
    if weights is None:
        return values.mean()
    total = (values * weights).sum()
    return total / (weights.sum() * values.shape[1]).clamp_min(1e-8)


def _crop(weights: torch.Tensor | None) -> torch.Tensor | None:
    """The weights of the pixels an SSIM map covers (the centre, less half a window a side)."""
    if weights is None:
        return None
    m = WIN_SIZE // 2
    return weights[..., m:-m, m:-m]


def reconstruction(
    output: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor | None,
    *,
    dssim: float,
    pixel: float,
    pixel_loss: str,
) -> torch.Tensor:
    """``dssim`` x DSSIM + ``pixel`` x L1 (or MSE) of images in [-1, 1], in fp32. DSSIM is
    (1 - SSIM) / 2 on images mapped to [0, 1] (DeepFaceLab's and faceswap's); L1 and MSE are
    on [-1, 1], as faceoff's other reconstruction losses."""
    output, target = output.float(), target.float()
    terms = []
    if dssim:
        per_pixel = (1 - ssim_map((output + 1) / 2, (target + 1) / 2)) / 2
        terms.append(dssim * weighted_mean(per_pixel, _crop(weights)))
    if pixel:
        diff = output - target
        per_pixel = diff.abs() if pixel_loss == "l1" else diff * diff
        terms.append(pixel * weighted_mean(per_pixel, weights))
    return sum(terms[1:], terms[0]) if terms else output.new_zeros(())


def loss_weights(mask: torch.Tensor | None, background: float) -> torch.Tensor | None:
    """The per-pixel weights of a batch's mask: its weights (face 1, eyes and mouth more),
    at least ``background``; None without a mask."""
    return None if mask is None else mask.clamp(min=background)
