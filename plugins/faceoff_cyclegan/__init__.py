"""The reference CycleGAN's networks and losses as faceoff plugins.

Importing this module is cheap: torch-heavy modules are imported when a component is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl


class ResnetParams(BaseModel):
    """Parameters of the reference's ResNet generator."""

    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=1, le=1024, description="Filters in the first convolution.")
    n_blocks: int = Field(
        9, ge=1, le=64, description="Residual blocks (reference: 9 at 256 px, 6 at 128 px)."
    )


class PatchganParams(BaseModel):
    """Parameters of the reference's PatchGAN (NLayer) discriminator."""

    model_config = ConfigDict(extra="forbid")
    ndf: int = Field(64, ge=1, le=1024, description="Filters in the first convolution.")
    n_layers: int = Field(
        3, ge=1, le=8, description="Stride-2 convolutions (3: the 70x70 PatchGAN)."
    )


def build_resnet(params: ResnetParams, in_channels: int = 3, out_channels: int = 3) -> Any:
    """ResNet generator: 7x7 stem, two stride-2 downsamplings, residual blocks, two upsamplings."""
    from faceoff_cyclegan.networks import ResnetGenerator

    return ResnetGenerator(in_channels, out_channels, ngf=params.ngf, n_blocks=params.n_blocks)


def check_resnet(params: ResnetParams, size: int) -> str | None:
    """Two stride-2 downsamplings and two 2x upsamplings keep the size only when 4 divides it."""
    if size % 4:
        lower = size - size % 4
        return f"needs an image size divisible by 4 (got {size}; try {lower} or {lower + 4})"
    return None


def build_patchgan(params: PatchganParams, in_channels: int = 3) -> Any:
    """PatchGAN discriminator: a map of real/fake scores, one per overlapping patch."""
    from faceoff_cyclegan.networks import PatchDiscriminator

    return PatchDiscriminator(in_channels, ndf=params.ndf, n_layers=params.n_layers)


def check_patchgan(params: PatchganParams, size: int) -> str | None:
    """Instance norm needs more than one value per channel at every normalised layer."""
    from faceoff_cyclegan.shapes import patchgan_smallest_size

    smallest = patchgan_smallest_size(params.n_layers)
    if size < smallest:
        return (
            f"with n_layers {params.n_layers} needs images of at least {smallest} px (got {size})"
        )
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
def register_generators(register: Any) -> None:
    register("resnet", build_resnet, params=ResnetParams, check_input=check_resnet)


@hookimpl
def register_discriminators(register: Any) -> None:
    register("patchgan", build_patchgan, params=PatchganParams, check_input=check_patchgan)


@hookimpl
def register_losses(register: Any) -> None:
    register("lsgan", build_lsgan, role="adversarial")
    register("l1", build_l1, role="reconstruction", weight=10.0)
