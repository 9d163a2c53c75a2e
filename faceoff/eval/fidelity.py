"""Fidelity to the true face-off: a translation against the target redrawn with the source's
ground truth (:meth:`faceoff.eval.data.EvalData.ideal`).

The probe and the classifier say whether an output carries the expression and looks like the
target; neither sees blur or speckle. SSIM and PSNR against the ideal do, and ``detail`` says
which of the two it is: the output's high-frequency energy over the ideal's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

PSNR_CAP = 100.0
"""dB, for identical images (JSON has no infinity)."""
SSIM_WINDOW = 11
"""pytorch-msssim's window: frames with a smaller side have no SSIM."""


def similarity(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
    """PSNR (dB, mean over frames, capped at :data:`PSNR_CAP`) and SSIM (pytorch-msssim, mean
    over frames; None under an 11 px side) of uint8 [N, 3, H, W] frames, on [0, 1]."""
    from pytorch_msssim import ssim

    a = x.float() / 255
    b = y.float() / 255
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(10 ** (-PSNR_CAP / 10))
    psnr = float((10 * torch.log10(1 / mse)).mean())
    small = min(a.shape[-2:]) < SSIM_WINDOW
    return psnr, None if small else float(ssim(a, b, data_range=1.0, size_average=True))


def detail_energy(frames: torch.Tensor) -> float:
    """Mean squared Laplacian of the frames' grey level on [0, 1]: OpenCV's 3x3 Laplacian
    (``ksize=1``, the 4-neighbour kernel; borders reflected) of the BT.601 luma, averaged over
    every pixel of every frame of uint8 [N, 3, H, W]."""
    images = frames.permute(0, 2, 3, 1).numpy().astype(np.float32) / 255
    total = 0.0
    for image in images:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        total += float(np.mean(np.square(cv2.Laplacian(grey, cv2.CV_32F, ksize=1))))
    return total / max(len(images), 1)


def fidelity(outputs: torch.Tensor, ideal: torch.Tensor) -> dict[str, Any]:
    """SSIM, PSNR and ``detail`` of outputs against the ideal face-off (uint8 [N, 3, H, W],
    frame by frame). ``detail`` = the outputs' :func:`detail_energy` / the ideal's: below 1
    blurred, above 1 speckled (None when the ideal is flat)."""
    if outputs.shape != ideal.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and ideal {tuple(ideal.shape)} differ")
    psnr, ssim = similarity(outputs, ideal)
    made, wanted = detail_energy(outputs), detail_energy(ideal)
    return {
        "computed": True,
        "ssim": ssim,
        "psnr": psnr,
        "detail": made / wanted if wanted > 0 else None,
        "output_energy": made,
        "ideal_energy": wanted,
    }
