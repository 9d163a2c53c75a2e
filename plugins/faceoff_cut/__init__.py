"""CUT and FastCUT (Park et al., ECCV 2020): one-sided translation by patchwise contrast.

One generator A -> B and no way back, so there is no cycle in which to hide A's details. Each
patch of the translation must be closer, in the generator's own features, to the patch of the
input at the same place than to the input's other patches (PatchNCE). Importing this module is
cheap: torch is imported when the objective is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Network, Translation


class CUTParams(BaseModel):
    """CUT's options (the reference's defaults: lambda_NCE 1 with the identity NCE on B)."""

    model_config = ConfigDict(extra="forbid")
    lambda_gan: float = Field(1.0, ge=0, description="Weight of the adversarial loss.")
    lambda_nce: float = Field(1.0, ge=0, description="Weight of the PatchNCE loss.")
    nce_idt: bool = Field(
        True, description="Also the NCE of B against G(B), the two averaged (CUT's identity)."
    )
    nce_layers: list[int] | None = Field(
        None,
        description="Generator layers whose features are compared; default: the generator's "
        "own taps (resnet: the padded input, both downsampling convolutions, the first and the "
        "middle residual block; CUT's 0,4,8,12,16 for its 9-block generator).",
    )
    num_patches: int = Field(256, ge=1, le=65536, description="Patches sampled per layer.")
    nce_t: float = Field(0.07, gt=0, le=10, description="Temperature of the contrastive loss.")
    netf_nc: int = Field(256, ge=1, le=4096, description="Width of the MLP head of each layer.")
    flip_equivariance: bool = Field(
        False,
        description="Flip the input horizontally half of the time, and its features back "
        "(FastCUT's).",
    )
    negatives_from_batch: bool = Field(
        False, description="Negatives from every image of the batch, not only the same image."
    )
    pool_size: int = Field(
        0, ge=0, description="Image pool of translations for the discriminator (CUT's: 0, none)."
    )


class FastCUTParams(CUTParams):
    """FastCUT: lambda_NCE 10, no identity NCE, flip equivariance (the reference's mode)."""

    lambda_nce: float = Field(10.0, ge=0, description="Weight of the PatchNCE loss.")
    nce_idt: bool = Field(False, description="Also the NCE of B against G(B), averaged.")
    flip_equivariance: bool = Field(
        True, description="Flip the input half of the time, and its features back."
    )


def describe_cut(params: CUTParams) -> Description:
    """The generator (which must be tappable), its discriminator; A -> B only."""
    return Description(
        networks={
            "G": Network("generator", "generator", needs=("FeatureTaps",)),
            "D": Network("discriminator", "discriminator"),
        },
        translations={"a2b": Translation("G", "A", "B")},
        panels={
            "generator": ("G", "G_GAN"),
            "PatchNCE": ("NCE", "NCE_Y"),
            "discriminator": ("D",),
        },
        curves={
            "G": Curve("generator loss", ("G",)),
            "D": Curve("discriminator loss", ("D",)),
            "NCE": Curve("PatchNCE loss", ("NCE",)),
        },
        shown=("G", "D", "NCE"),
    )


def check_cut(params: CUTParams, networks: dict[str, Any]) -> str | None:
    """``nce_layers`` must name layers the generator can tap (``FeatureTaps.taps``): another
    would fail only at build, deep inside ``encode``."""
    if not params.nce_layers:
        return None
    generator = networks["G"]
    taps = generator.taps
    wrong = [i for i in params.nce_layers if i not in taps]
    if not wrong:
        return None
    return (
        f"nce_layers: {wrong[0]} is not a layer of the spec's generator, which has layers "
        f"{taps.start} to {taps.stop - 1}; name layers in that range, or leave nce_layers "
        f"out for its default taps {list(generator.default_taps)}"
    )


def build_cut(params: CUTParams, networks: Any, context: Any) -> Any:
    """CUT (Park et al. 2020): a generator A -> B trained by PatchNCE and a GAN, no cycle."""
    from faceoff_cut.objective import CUT

    return CUT(params, networks, context)


def build_fastcut(params: FastCUTParams, networks: Any, context: Any) -> Any:
    """FastCUT: CUT with a stronger PatchNCE, flip equivariance and no identity NCE."""
    from faceoff_cut.objective import CUT

    return CUT(params, networks, context)


@hookimpl
def register_objectives(register: Any) -> None:
    options = {"describe": describe_cut, "check_networks": check_cut}
    register("cut", build_cut, params=CUTParams, **options)
    register("fastcut", build_fastcut, params=FastCUTParams, **options)
