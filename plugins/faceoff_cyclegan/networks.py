"""The reference CycleGAN networks, layer for layer (see shared/REFERENCE.md).

The sequential indices of every layer match the reference's, so its state-dict keys
(``model.1.weight``, ``model.10.conv_block.1.weight``, ...) load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


def norm_layer(channels: int) -> nn.Module:
    """Instance norm without affine parameters or running statistics, as the reference uses."""
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's 'normal' init: conv and linear weights ~ N(0, gain), biases 0."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            norm_layer(channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            norm_layer(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The reference's ResNet generator (Johnson et al.), tanh output in [-1, 1]."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=True),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            ch = ngf * 2**i
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=True),
                norm_layer(ch * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4) for _ in range(n_blocks)]
        for i in range(2):
            ch = ngf * 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=True
                ),
                norm_layer(ch // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The reference's PatchGAN ("NLayer") discriminator: raw scores, no sigmoid."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
            norm_layer(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
