"""The reference CycleGAN as faceoff plugins: its objective, networks and losses.

Importing this module is cheap: torch-heavy modules are imported when a component is built.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Network, Translation
from faceoff.spec import ComponentSpec
from faceoff_cyclegan import guess
from faceoff_cyclegan.local_params import (
    LOCAL_TERMS,
    LocalParams,
    local_networks,
    wants_local,
)

Norm = Literal["instance", "batch", "none"]
_NORM = (
    "The reference's --norm: 'instance' (no affine parameters or running statistics; the "
    "CycleGAN default), 'batch' (affine, running statistics; pix2pix's default) or 'none'. "
    "Convolutions before a norm layer have a bias only with 'instance'."
)


class ResnetParams(BaseModel):
    """Parameters of the reference's ResNet generator."""

    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=1, le=1024, description="Filters in the first convolution.")
    n_blocks: int = Field(
        9, ge=1, le=64, description="Residual blocks (reference: 9 at 256 px, 6 at 128 px)."
    )
    dropout: bool = Field(
        False,
        description="Dropout 0.5 between the two convolutions of each residual block "
        "(the reference's CycleGAN: off). Moves the second conv from conv_block.5 to 6.",
    )
    norm: Norm = Field("instance", description=_NORM)
    antialias: bool = Field(
        False,
        description="Downsample by a stride-1 convolution and a blurred subsampling (CUT's "
        "default; --no_antialias turns it off there) instead of a stride-2 convolution.",
    )
    antialias_up: bool = Field(
        False,
        description="Upsample by a blurred upsampling and a convolution (CUT's default; "
        "--no_antialias_up) instead of a transposed convolution.",
    )


class UnetParams(BaseModel):
    """Parameters of the reference's U-Net generator."""

    model_config = ConfigDict(extra="forbid")
    num_downs: int = Field(
        8,
        ge=5,
        le=12,
        description="Stride-2 levels; the image size must be a multiple of 2**num_downs "
        "(reference: 7 for 128 px, 8 for 256 px).",
    )
    ngf: int = Field(64, ge=1, le=1024, description="Filters in the outermost level.")
    dropout: bool = Field(
        False, description="Dropout 0.5 in the middle 8*ngf levels (num_downs - 5 of them)."
    )
    norm: Norm = Field("instance", description=_NORM)


class PatchganParams(BaseModel):
    """Parameters of the reference's PatchGAN (NLayer) discriminator."""

    model_config = ConfigDict(extra="forbid")
    ndf: int = Field(64, ge=1, le=1024, description="Filters in the first convolution.")
    n_layers: int = Field(
        3, ge=1, le=8, description="Stride-2 convolutions (3: the 70x70 PatchGAN)."
    )
    norm: Norm = Field("instance", description=_NORM)
    antialias: bool = Field(
        False,
        description="Each stride-2 convolution a stride-1 one and a blurred subsampling (CUT's "
        "default discriminator).",
    )


class PixelParams(BaseModel):
    """Parameters of the reference's 1x1 PixelGAN discriminator."""

    model_config = ConfigDict(extra="forbid")
    ndf: int = Field(64, ge=1, le=1024, description="Filters in the first convolution.")
    norm: Norm = Field("instance", description=_NORM)


class MemberSpec(ComponentSpec):
    """One discriminator of several: a discriminator by registry name, its params and weight."""

    weight: float | None = Field(
        None,
        gt=0,
        description="Multiplier of this member's adversarial losses; default 1/n, an equal "
        "share of n members. Weights need not add up to 1.",
    )


class MultiParams(BaseModel):
    """The discriminators of a `multi` discriminator: each a `{plugin, params, weight}`."""

    model_config = ConfigDict(extra="forbid")
    members: list[MemberSpec] = Field(
        min_length=2,
        description="Two or more discriminators, each {plugin, params, weight}; the adversarial "
        "loss is sum_i weight_i L(D_i), an unset weight being 1/n. The paper's two "
        "discriminators: patchgan n_layers 3 and 5, weight 0.5 each.",
    )

    @model_validator(mode="after")
    def _equal_shares(self) -> MultiParams:
        for member in self.members:
            if member.weight is None:
                member.weight = 1.0 / len(self.members)
        return self


class CycleGANParams(LocalParams):
    """The CycleGAN objective's options (the reference's defaults). The cycle losses and their
    weight (lambda) are the spec's `losses.cycle`."""

    model_config = ConfigDict(extra="forbid")
    identity: float = Field(
        0.5,
        ge=0,
        description="Identity term weight relative to the cycle weights (reference: 0.5); "
        "0 turns it off. faceoff 0.1: losses.identity.",
    )
    pool_size: int = Field(
        50,
        ge=0,
        description="Image pool of generated images shown to the discriminators (0: no pool). "
        "faceoff 0.1: train.pool_size.",
    )
    cycle_noise: float = Field(
        0.0,
        ge=0,
        le=2,
        description="Std of Gaussian noise added to each translation before it is translated "
        "back (images in [-1, 1]): a faint signal hidden in the translation no longer survives "
        "the cycle (Chu et al. 2017). 0: off.",
    )
    pseudo: float = Field(
        0.0,
        ge=0,
        description="Weight, relative to the cycle losses, of Wang et al.'s pseudo-supervision: "
        "the translation warped by a random smooth flow, plus noise, must translate back to the "
        "source warped alike (1 with the default L1 x 10: their lambda 10). 0: off.",
    )
    spatial: float = Field(
        0.0,
        ge=0,
        description="Weight, relative to the cycle losses, of their spatial term: translating a "
        "warped source must give the warped translation (G(W(x) + n) = W(G(x))). 0: off.",
    )
    flow_motion: float = Field(
        8 / 256,
        ge=0,
        le=1,
        description="Std of the random flow's motion, in image sides (the reference's 8 px at "
        "256 px).",
    )
    flow_shift: float = Field(
        10 / 256,
        ge=0,
        le=1,
        description="Largest global shift of the random flow, in image sides (10 px at 256).",
    )
    flow_noise: float = Field(
        0.001,
        ge=0,
        le=1,
        description="Noise added to each warped input: std flow_noise x (1 + U[0, 1)), as the "
        "reference.",
    )


def describe_cyclegan(params: CycleGANParams) -> Description:
    """Two generators and two discriminators from the spec's one generator and discriminator."""
    return Description(
        networks={
            "G_AB": Network("generator", "generator"),
            "G_BA": Network("generator", "generator"),
            "D_A": Network("discriminator", "discriminator"),
            "D_B": Network("discriminator", "discriminator"),
            **local_networks(params),
        },
        translations={
            "a2b": Translation("G_AB", "A", "B", inverse="b2a"),
            "b2a": Translation("G_BA", "B", "A", inverse="a2b"),
        },
        panels={
            "generator": ("G", "G_AB", "G_BA"),
            "discriminator": ("D_A", "D_B"),
            "cycle and identity": ("cycle_A", "cycle_B", "idt_A", "idt_B"),
            "pseudo-supervision": ("pseudo_A", "pseudo_B", "spatial_A", "spatial_B"),
            **({"local discriminators": LOCAL_TERMS} if wants_local(params) else {}),
        },
        curves={
            "G": Curve("generator loss", ("G",)),
            "D": Curve("discriminator loss", ("D_A", "D_B")),
            "cycle": Curve("cycle-consistency loss", ("cycle_A", "cycle_B")),
        },
        shown=("G", "D_A", "D_B", "cycle_A"),
        needs_masks=wants_local(params),
        masks_to_losses=True,  # cycle and identity terms get each domain's masks
    )


def build_cyclegan(params: CycleGANParams, networks: Any, context: Any) -> Any:
    """CycleGAN (Zhu et al. 2017): two generators, two discriminators, cycle consistency."""
    from faceoff_cyclegan.objective import CycleGAN

    return CycleGAN(params, networks, context)


def build_resnet(params: ResnetParams, in_channels: int = 3, out_channels: int = 3) -> Any:
    """ResNet generator: 7x7 stem, two stride-2 downsamplings, residual blocks, two upsamplings."""
    from faceoff_cyclegan.networks import ResnetGenerator

    return ResnetGenerator(
        in_channels,
        out_channels,
        ngf=params.ngf,
        n_blocks=params.n_blocks,
        norm=params.norm,
        dropout=params.dropout,
        antialias=params.antialias,
        antialias_up=params.antialias_up,
    )


def check_resnet(params: ResnetParams, size: int) -> str | None:
    """Two stride-2 downsamplings and two 2x upsamplings keep the size only when 4 divides it."""
    if size % 4:
        lower = size - size % 4
        return f"needs an image size divisible by 4 (got {size}; try {lower} or {lower + 4})"
    return None


def build_unet(params: UnetParams, in_channels: int = 3, out_channels: int = 3) -> Any:
    """U-Net generator: nested stride-2 levels down to 1x1 and back, with skip connections."""
    from faceoff_cyclegan.networks import UnetGenerator

    return UnetGenerator(
        in_channels,
        out_channels,
        num_downs=params.num_downs,
        ngf=params.ngf,
        norm=params.norm,
        dropout=params.dropout,
    )


def check_unet(params: UnetParams, size: int) -> str | None:
    """Each of the num_downs levels halves the size and its skip connection must line up, so
    the size must be a multiple of 2**num_downs (256 for 8, 128 for 7)."""
    from faceoff_cyclegan.shapes import unet_fits, unet_levels_for

    if unet_fits(size, params.num_downs):
        return None
    step = 2**params.num_downs
    lower = size - size % step
    sizes = " or ".join(str(s) for s in (lower, lower + step) if s >= step)
    levels = unet_levels_for(size)
    if levels:
        other = f", or num_downs {levels} for {size} px"
    else:  # the fewest levels, at the nearest size that suits them
        near = max(32, round(size / 32) * 32)
        other = f", or num_downs 5 with {near} px" if params.num_downs > 5 else ""
    return (
        f"with num_downs {params.num_downs} needs an image size divisible by {step} "
        f"(got {size}; try {sizes}{other})"
    )


def build_patchgan(params: PatchganParams, in_channels: int = 3) -> Any:
    """PatchGAN discriminator: a map of real/fake scores, one per overlapping patch."""
    from faceoff_cyclegan.networks import PatchDiscriminator

    return PatchDiscriminator(
        in_channels,
        ndf=params.ndf,
        n_layers=params.n_layers,
        norm=params.norm,
        antialias=params.antialias,
    )


def check_patchgan(params: PatchganParams, size: int) -> str | None:
    """Instance or batch norm needs more than one value per channel at every normalised layer
    (at batch 1), and the score map at least one value."""
    from faceoff_cyclegan.shapes import patchgan_smallest_size

    smallest = patchgan_smallest_size(
        params.n_layers, normed=params.norm != "none", antialias=params.antialias
    )
    if size < smallest:
        return (
            f"with n_layers {params.n_layers} needs images of at least {smallest} px (got {size})"
        )
    return None


def build_pixel(params: PixelParams, in_channels: int = 3) -> Any:
    """PixelGAN discriminator (1x1 convolutions): one real/fake score per pixel."""
    from faceoff_cyclegan.networks import PixelDiscriminator

    return PixelDiscriminator(in_channels, ndf=params.ndf, norm=params.norm)


def build_multi(params: MultiParams, in_channels: int = 3, *, registry: Any) -> Any:
    """Several discriminators whose adversarial losses are added with weights."""
    from faceoff_cyclegan.networks import MultiDiscriminator

    members = [
        registry.get("discriminator", m.plugin, where=f"members.{i}.plugin").make(
            m.params, in_channels=in_channels
        )
        for i, m in enumerate(params.members)
    ]
    weights = [1.0 / len(members) if m.weight is None else m.weight for m in params.members]
    return MultiDiscriminator(members, weights)


def check_multi(params: MultiParams, size: int, *, registry: Any) -> str | None:
    """Each member's own rule."""
    for i, member in enumerate(params.members):
        try:
            component = registry.get("discriminator", member.plugin)
            problem = component.input_problem(component.params.model_validate(member.params), size)
        except (FaceoffError, ValidationError):
            continue  # reported where the member itself is resolved
        if problem:
            return f"member {i} ({member.plugin}) {problem}"
    return None


def build_lsgan(params: BaseModel) -> Any:
    """Least-squares GAN loss (MSE against 1 for real, 0 for fake), the reference's default."""
    from faceoff_cyclegan.losses import LSGANLoss

    return LSGANLoss()


def build_l1(params: BaseModel) -> Any:
    """Mean absolute error, the reference's cycle and identity loss."""
    from faceoff_cyclegan.losses import L1Loss

    return L1Loss()


@hookimpl
def register_objectives(register: Any) -> None:
    register("cyclegan", build_cyclegan, params=CycleGANParams, describe=describe_cyclegan)


@hookimpl
def register_generators(register: Any) -> None:
    register(
        "resnet",
        build_resnet,
        params=ResnetParams,
        check_input=check_resnet,
        guess_params=guess.resnet,
    )
    register("unet", build_unet, params=UnetParams, check_input=check_unet, guess_params=guess.unet)


@hookimpl
def register_discriminators(register: Any) -> None:
    register(
        "patchgan",
        build_patchgan,
        params=PatchganParams,
        check_input=check_patchgan,
        guess_params=guess.patchgan,
    )
    register("pixel", build_pixel, params=PixelParams, guess_params=guess.pixel)
    register("multi", build_multi, params=MultiParams, check_input=check_multi, composite=True)


@hookimpl
def register_losses(register: Any) -> None:
    register("lsgan", build_lsgan, role="adversarial")
    register("l1", build_l1, role="reconstruction", weight=10.0)
