"""The reference CycleGAN networks, layer for layer (see shared/REFERENCE.md).

The sequential indices of every layer match the reference's, so its state-dict keys
(``model.1.weight``, ``model.10.conv_block.1.weight``, ``model.model.1.model.1.weight``, ...)
load unchanged. Normalisation follows the reference's ``--norm``: ``instance`` (no affine
parameters, no running statistics), ``batch`` (affine, running statistics) or ``none`` (an
identity that keeps the layer's index). Only with instance norm do the convolutions that are
followed by a norm layer carry a bias (the reference's ``use_bias`` rule).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.losses import weighted_members
from faceoff_cyclegan.antialias import Downsample, Upsample

NORMS = ("instance", "batch", "none")


class InstanceNorm2d(nn.InstanceNorm2d):
    """The reference's instance norm (no affine, no running statistics), computed on the CPU as
    group norm with one channel per group where that is faster.

    The maths is the same (per sample and channel, over H and W, biased variance, the same eps),
    but torch's ``instance_norm`` runs batch norm on a [1, N*C, H, W] view: on this project's
    CPU, fp32 forward + backward is 2-4x slower than ``group_norm`` for NCHW tensors. Channels-
    last tensors and CUDA keep ``instance_norm`` (group norm is slower there, or unmeasured).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and x.dim() == 4
            and x.is_contiguous()
            and not torch.onnx.is_in_onnx_export()  # exported as ONNX InstanceNormalization
        ):
            return F.group_norm(x, self.num_features, None, None, self.eps)
        return super().forward(x)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """The reference's normalisation layer for ``norm``."""
    if norm == "instance":
        return InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")


def uses_bias(norm: str) -> bool:
    """Convolutions before a norm layer have a bias only with instance norm (the reference's rule,
    under which 'none' also means no bias)."""
    return norm == "instance"


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's 'normal' init: conv and linear weights ~ N(0, gain), biases 0; batch-norm
    weights ~ N(1, gain), biases 0."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with a skip connection (dropout between them)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: bool = False) -> None:
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """The reference's ResNet generator (Johnson et al.), tanh output in [-1, 1].

    With ``antialias`` (``antialias_up``) each stride-2 convolution (transposed convolution) is a
    stride-1 convolution and a blurred down- (up-) sampling, as CUT's reference builds it. It can
    be tapped (:class:`faceoff.capabilities.FeatureTaps`): ``encode`` returns the outputs of
    chosen layers of ``model``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        antialias: bool = False,
        antialias_up: bool = False,
    ):
        super().__init__()
        bias = uses_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        self.down_convs: list[int] = []  # the layer index of each downsampling convolution
        for i in range(2):
            ch = ngf * 2**i
            self.down_convs.append(len(layers))
            stride = 1 if antialias else 2
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=stride, padding=1, bias=bias),
                norm_layer(norm, ch * 2),
                nn.ReLU(True),
                *([Downsample(ch * 2)] if antialias else []),
            ]
        self.blocks = list(range(len(layers), len(layers) + n_blocks))
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            ch = ngf * 2 ** (2 - i)
            if antialias_up:
                up = [Upsample(ch), nn.Conv2d(ch, ch // 2, 3, padding=1, bias=bias)]
            else:
                up = [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias)]
            layers += [*up, norm_layer(norm, ch // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @property
    def taps(self) -> range:
        """The layers ``encode`` can read: every layer of ``model``."""
        return range(len(self.model))

    @property
    def default_taps(self) -> tuple[int, ...]:
        """CUT's choice, by what the layers are: the padded input, the two downsampling
        convolutions (before their norm), the first and the middle residual block (CUT's
        0, 4, 8, 12, 16 for its anti-aliased 9-block generator)."""
        middle = self.blocks[(len(self.blocks) - 1) // 2]
        return tuple(dict.fromkeys([0, *self.down_convs, self.blocks[0], middle]))

    def encode(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """The outputs of ``model[i]`` for each ``i`` in ``layers`` (the input is not a layer:
        0 is the first padding's output); stops after the last one asked for."""
        wanted, last, out = set(layers), max(layers), {}
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in wanted:
                out[index] = x
            if index == last:
                break
        return [out[i] for i in layers]


class UnetBlock(nn.Module):
    """One level of the reference's U-Net: down, the inner levels, up, and the skip connection.

    A middle level is ``[LeakyReLU, down conv, norm, inner, ReLU, up conv, norm(, Dropout)]``
    and returns its input beside its output on the channel axis. (The reference's LeakyReLU
    runs in place, so its skip carries LeakyReLU(x); the ReLU that the enclosing level applies
    next makes that the same as x, so this one leaves its input alone.) The innermost level has
    no inner level and no norm after its down conv; the outermost has no activation before its
    down conv, ends in tanh and has no skip.
    """

    def __init__(
        self,
        outer: int,
        inner: int,
        in_channels: int | None = None,
        submodule: UnetBlock | None = None,
        *,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "instance",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = uses_bias(norm)
        in_channels = outer if in_channels is None else in_channels
        down = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=bias)
        layers: list[nn.Module]
        if outermost:
            assert submodule is not None
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            assert submodule is not None
            up = nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down, norm_layer(norm, inner), submodule]
            layers += [nn.ReLU(True), up, norm_layer(norm, outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """The reference's U-Net generator: ``num_downs`` stride-2 levels with skip connections."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "instance",
        dropout: bool = False,
    ):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, not {num_downs}")
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for outer, inner in ((ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)):
            block = UnetBlock(outer, inner, submodule=block, norm=norm)
        self.model = UnetBlock(
            out_channels, ngf, in_channels, submodule=block, outermost=True, norm=norm
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The reference's PatchGAN ("NLayer") discriminator: raw scores, no sigmoid."""

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        antialias: bool = False,
    ):
        super().__init__()
        bias = uses_bias(norm)
        stride = 1 if antialias else 2  # anti-aliased: stride 1, then a blurred subsampling
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=stride, padding=1),
            nn.LeakyReLU(0.2, True),
            *([Downsample(ndf)] if antialias else []),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
                *([Downsample(ndf * mult)] if antialias else []),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The reference's 1x1 PixelGAN: one real/fake score per pixel, raw (no sigmoid)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "instance"):
        super().__init__()
        bias = uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),  # the reference's last conv follows the rule too
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiDiscriminator(nn.Module):
    """Several discriminators whose adversarial losses are added with weights.

    Not called directly: an objective asks :meth:`weighted_members` (the
    :class:`faceoff.capabilities.WeightedMembers` protocol) and judges with each member as a
    discriminator of its own, so L = sum_i w_i L(D_i). Members that are themselves several are
    flattened, their weights multiplied.
    """

    def __init__(self, members: list[nn.Module], weights: list[float]) -> None:
        super().__init__()
        if len(members) != len(weights):
            raise ValueError("one weight per member")
        self.members = nn.ModuleList(members)
        self.weights = [float(w) for w in weights]

    def weighted_members(self) -> list[tuple[float, nn.Module]]:
        out: list[tuple[float, nn.Module]] = []
        for weight, member in zip(self.weights, self.members):
            out += [(weight * w, m) for w, m in weighted_members(member)]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(
            "a 'multi' discriminator is several discriminators with weights and has no single "
            "output; judge with each of weighted_members() (faceoff.losses.weighted_members)"
        )

    def extra_repr(self) -> str:
        return f"weights={self.weights}"
