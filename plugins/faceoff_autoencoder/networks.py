"""The autoencoder's networks: encoder, inter (df or liae) and decoder, chained by the objective.

Layer for layer the shapes of DeepFaceLab's ``DeepFakeArchi`` (no ``-u``/``-d``/``-t`` options):
5x5 stride-2 convolutions down, a dense bottleneck, 3x3 convolutions with pixel shuffle up,
leaky ReLU of slope 0.1 throughout. faceoff's images are in [-1, 1], so the image comes out of a
tanh where DFL and faceswap use a sigmoid; the learned mask keeps the sigmoid ([0, 1]).
"""

from __future__ import annotations

import torch
from torch import nn

SLOPE = 0.1  # DFL's and faceswap's leaky ReLU


def _init(module: nn.Module) -> None:
    """He-uniform weights for the leaky ReLUs, zero biases (faceswap: he_uniform)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=SLOPE, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def downscale(in_ch: int, out_ch: int) -> nn.Sequential:
    """A 5x5 stride-2 convolution and a leaky ReLU: half the side."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 5, stride=2, padding=2), nn.LeakyReLU(SLOPE))


def upscale(in_ch: int, out_ch: int) -> nn.Sequential:
    """A 3x3 convolution to 4x the channels, a leaky ReLU, a pixel shuffle: twice the side."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch * 4, 3, padding=1), nn.LeakyReLU(SLOPE), nn.PixelShuffle(2)
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions added to the input (DFL's, leaky slope 0.2)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class Encoder(nn.Module):
    """Image [n, 3, s, s] -> map [n, out_channels, s / 2^n_downs, s / 2^n_downs]."""

    def __init__(self, in_channels: int, out_channels: int, ch: int, n_downs: int) -> None:
        super().__init__()
        widths = [ch * min(2**i, 8) for i in range(n_downs - 1)] + [out_channels]
        layers, last = [], in_channels
        for width in widths:
            layers.append(downscale(last, width))
            last = width
        self.model = nn.Sequential(*layers)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Inter(nn.Module):
    """Map [n, in_channels, m, m] -> dense code of ``ae_dims`` -> map [n, out_channels, 2m, 2m].

    The two dense layers have no activation between them, as in DFL and faceswap."""

    def __init__(self, in_channels: int, out_channels: int, ae_dims: int, map_size: int) -> None:
        super().__init__()
        self.shape = (out_channels, map_size, map_size)
        self.dense1 = nn.Linear(in_channels * map_size * map_size, ae_dims)
        self.dense2 = nn.Linear(ae_dims, out_channels * map_size * map_size)
        self.up = upscale(out_channels, out_channels)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.dense2(self.dense1(x.flatten(1)))
        return self.up(code.view(-1, *self.shape))


class LiaeInter(nn.Module):
    """DFL's liae bottleneck: ``inter_AB`` for both people and ``inter_A`` for A only (DFL's
    ``inter_B``, named there for its dst, the driving person: faceoff's A).

    ``forward(x)`` is the code a swap decodes, the both-people half doubled,
    ``cat(inter_AB(x), inter_AB(x))`` (how B's own faces are trained too); ``forward(x,
    own=True)`` is A's own code, ``cat(inter_A(x), inter_AB(x))``. One method with a flag keeps
    both under ``torch.compile`` (the engine compiles ``forward``)."""

    def __init__(self, in_channels: int, out_channels: int, ae_dims: int, map_size: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.inter_AB = Inter(in_channels, half, ae_dims, map_size)
        self.inter_A = Inter(in_channels, half, ae_dims, map_size)

    def forward(self, x: torch.Tensor, own: bool = False) -> torch.Tensor:
        shared = self.inter_AB(x)
        return torch.cat([self.inter_A(x) if own else shared, shared], dim=1)


class Decoder(nn.Module):
    """Code map [n, in_channels, c, c] -> image [n, out_channels, c 2^n_ups, ...] in [-1, 1].

    With ``mask_ch`` a second branch of upscales gives a mask in [0, 1]: ``forward(code,
    mask=True)`` returns ``(image, mask)``; ``forward(code)`` the image alone, what a chain of
    networks (apply, eval, export) runs."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ch: int,
        n_ups: int,
        res_blocks: bool,
        mask_ch: int,
    ) -> None:
        super().__init__()
        widths = [ch * 2 ** (n_ups - i) for i in range(n_ups)]
        layers, last = [], in_channels
        for width in widths:
            layers.append(upscale(last, width))
            if res_blocks:
                layers.append(ResidualBlock(width))
            last = width
        self.model = nn.Sequential(*layers, nn.Conv2d(last, out_channels, 1), nn.Tanh())
        self.has_mask = mask_ch > 0
        if self.has_mask:
            masks, last = [], in_channels
            for width in (mask_ch * 2 ** (n_ups - i) for i in range(n_ups)):
                masks.append(upscale(last, width))
                last = width
            self.mask = nn.Sequential(*masks, nn.Conv2d(last, 1, 1), nn.Sigmoid())
        _init(self)

    def forward(
        self, code: torch.Tensor, mask: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        image = self.model(code)
        if not mask:
            return image
        if not self.has_mask:
            raise ValueError("this decoder has no mask branch (mask_ch 0)")
        return image, self.mask(code)
