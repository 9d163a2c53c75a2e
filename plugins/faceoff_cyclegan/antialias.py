"""Anti-aliased down- and upsampling (Zhang 2019, "Making convolutional networks shift-invariant
again"), as CUT's reference builds its networks by default (``--no_antialias`` off).

A fixed binomial filter blurs before subsampling (and after upsampling), one channel at a time.
The filter is a buffer named ``filt``, as in CUT's code, so its checkpoints' keys are ours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BINOMIAL = {3: (1.0, 2.0, 1.0), 4: (1.0, 3.0, 3.0, 1.0)}


def _filter(size: int, channels: int, scale: float = 1.0) -> torch.Tensor:
    row = torch.tensor(_BINOMIAL[size])
    filt = row[:, None] * row[None, :]
    filt = filt / filt.sum() * scale
    return filt[None, None].repeat(channels, 1, 1, 1)


class Downsample(nn.Module):
    """Blur with the 3x3 binomial filter [1, 2, 1] (reflection-padded by 1), then stride 2:
    an even side halves."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("filt", _filter(3, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(padded, self.filt.to(x.dtype), stride=2, groups=self.channels)


class Upsample(nn.Module):
    """Transposed convolution with the 4x4 binomial filter [1, 3, 3, 1] (x4, replication-padded
    by 1), stride 2, cropped back: a side doubles."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("filt", _filter(4, channels, scale=4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        out = F.conv_transpose2d(
            padded, self.filt.to(x.dtype), stride=2, padding=2, groups=self.channels
        )
        return out[:, :, 1:-1, 1:-1]
