"""Reconstruction losses: 1 - SSIM, 1 - MS-SSIM (pytorch-msssim) and mask-weighted L1.

Images come in [-1, 1]; the SSIM losses map them to [0, 1] first, so pytorch-msssim's constants
(K1 = 0.01, K2 = 0.03 of a data range of 1) mean what they were made for. (The paper's code ran
SSIM on [-1, 1] images with constants for [0, 1].)
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim, ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

from faceoff.errors import FaceoffError
from faceoff.losses import ReconstructionLoss
from faceoff_losses import MS_SSIM_WEIGHTS

WIN_SIGMA = 1.5  # pytorch-msssim's default, that of Wang et al.


def _unit(images: torch.Tensor) -> torch.Tensor:
    return (images + 1) * 0.5


class SSIMLoss(ReconstructionLoss):
    """1 - SSIM (Gaussian window, sigma 1.5) averaged over the batch and channels; no masks."""

    def __init__(self, win_size: int = 11) -> None:
        super().__init__()
        self.win_size = win_size

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        value = ssim(
            _unit(output),
            _unit(target),
            data_range=1.0,
            size_average=True,
            win_size=self.win_size,
            win_sigma=WIN_SIGMA,
        )
        return 1 - value


def ms_ssim_scales(
    x: torch.Tensor, y: torch.Tensor, weights: list[float], win_size: int = 11
) -> torch.Tensor:
    """MS-SSIM over ``len(weights)`` scales, averaged over batch and channels; data range 1.

    The computation of pytorch_msssim.ms_ssim (relu'd contrast-structure terms at every scale
    but the last, SSIM at the last, each to the power of its weight, 2x2 average pooling
    between scales) without its fixed assertion that the image suits five scales. Used for
    fewer than five scales; at five, :class:`MSSSIMLoss` calls pytorch_msssim.ms_ssim itself.
    """
    win = _fspecial_gauss_1d(win_size, WIN_SIGMA).repeat([x.shape[1], 1, 1, 1])
    terms = []
    for level in range(len(weights)):
        ssim_per_channel, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False)
        if level < len(weights) - 1:
            terms.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    terms.append(torch.relu(ssim_per_channel))
    stacked = torch.stack(terms, dim=0)  # [level, batch, channel]
    return torch.prod(stacked ** x.new_tensor(weights).view(-1, 1, 1), dim=0).mean()


class MSSSIMLoss(ReconstructionLoss):
    """1 - MS-SSIM averaged over the batch and channels; no masks.

    With 5 scales this is pytorch_msssim.ms_ssim with its default weights (0.0448, 0.2856,
    0.3001, 0.2363, 0.1333; Wang et al. 2003, finest first). pytorch-msssim takes fewer weights
    for fewer scales but still asserts an image larger than (win_size - 1) x 16, the five-scale
    bound, so fewer scales are computed here the same way (:func:`ms_ssim_scales`) with the first
    ``scales`` weights renormalised to sum 1, and need only (win_size - 1) x 2^(scales - 1).
    """

    def __init__(self, win_size: int = 11, scales: int = 5) -> None:
        super().__init__()
        self.win_size = win_size
        self.scales = scales
        first = MS_SSIM_WEIGHTS[:scales]
        self.weights = [w / sum(first) for w in first]

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x, y = _unit(output), _unit(target)
        if self.scales == len(MS_SSIM_WEIGHTS):
            value = ms_ssim(
                x, y, data_range=1.0, size_average=True, win_size=self.win_size, win_sigma=WIN_SIGMA
            )
        else:
            value = ms_ssim_scales(x, y, self.weights, self.win_size)
        return 1 - value


class MaskedL1Loss(ReconstructionLoss):
    """mean(|output - target| x (w x mask + 1)) over all elements: the paper's mask as weight.

    A pixel inside the mask (mask 1) weighs w + 1, one outside weighs 1; soft masks in between.
    The mean is over every element, so w = 0 (or a mask of zeros) gives plain L1 and a mask of
    ones gives (w + 1) x L1. The paper's code weighted by m x (w - 1) + 1 with w = 2, which is
    this form with w = 1, the default here. The mask is [B, 1, H, W] in [0, 1], shared by the
    channels; without one the loss refuses to guess.
    """

    def __init__(self, w: float = 1.0) -> None:
        super().__init__()
        self.w = float(w)

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is None:
            raise FaceoffError(
                "masked-l1 got no mask: it needs face masks from a 'mask' section with a "
                "mask provider in mode 'weight'"
            )
        fits = mask.dim() == 4 and mask.shape[1] in (1, output.shape[1])
        if not (fits and mask.shape[0] == output.shape[0] and mask.shape[2:] == output.shape[2:]):
            raise ValueError(
                f"masked-l1: mask of shape {tuple(mask.shape)} does not fit images of shape "
                f"{tuple(output.shape)}; expected [B, 1, H, W]"
            )
        weight = self.w * mask + 1
        return ((output - target).abs() * weight).mean()
