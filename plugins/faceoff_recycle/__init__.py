"""Recycle-GAN (Bansal et al., ECCV 2018): unpaired video retargeting with time in the loss.

Each domain also gets a temporal predictor P that guesses frame t+2 from frames t and t+1. The
translation must survive a detour through the other domain's future: A's frames t, t+1 are
translated to B, B's predictor guesses t+2 there, and translated back it must be A's frame t+2
(the recycle loss). Trains on clips of three consecutive frames. Importing this module is cheap.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Layout, Network, Translation
from faceoff.spec import GeneratorSpec
from faceoff_cyclegan.local_params import (
    LOCAL_TERMS,
    LocalParams,
    local_networks,
    wants_local,
)


def _unet_256() -> GeneratorSpec:
    return GeneratorSpec(plugin="unet", params={"num_downs": 8, "ngf": 64})


class RecycleGANParams(LocalParams):
    """Recycle-GAN's options; the recycle and recurrent losses are the spec's `losses.cycle`
    (default L1 x 10, the reference's lambda_A = lambda_B = 10)."""

    model_config = ConfigDict(extra="forbid")
    predictor: GeneratorSpec = Field(
        default_factory=_unet_256,
        description="The temporal predictors P_A, P_B: a generator fed two frames (6 channels); "
        "the reference's unet_256 (8 levels: 256 px; 6 for 64 px).",
    )
    identity: float = Field(
        0.0,
        ge=0,
        description="Identity term weight relative to the loss weights; 0 as in the reference, "
        "whose identity loss is hard-wired to 0.",
    )
    pool_size: int = Field(
        0,
        ge=0,
        description="Image pool of generated frames for the discriminators; 0 as in the "
        "reference's published training script (its code's default is 50).",
    )
    adversarial_p: bool = Field(
        False,
        description="Also an adversarial term on each predictor's own prediction (the "
        "reference's --adversarial_loss_p).",
    )


def describe_recycle(params: RecycleGANParams) -> Description:
    """Two generators, two temporal predictors, two discriminators; clips of 3 frames."""
    return Description(
        networks={
            "G_AB": Network("generator", "generator"),
            "G_BA": Network("generator", "generator"),
            "D_A": Network("discriminator", "discriminator"),
            "D_B": Network("discriminator", "discriminator"),
            "P_A": Network("generator", "objective.params.predictor", in_channels=6),
            "P_B": Network("generator", "objective.params.predictor", in_channels=6),
            **local_networks(params),
        },
        translations={
            "a2b": Translation("G_AB", "A", "B", inverse="b2a"),
            "b2a": Translation("G_BA", "B", "A", inverse="a2b"),
        },
        layout=Layout(frames=3),
        panels={
            "generator": ("G", "G_AB", "G_BA"),
            "discriminator": ("D_A", "D_B"),
            "recycle and recurrent": ("recycle_A", "recycle_B", "recurrent_A", "recurrent_B"),
            **({"local discriminators": LOCAL_TERMS} if wants_local(params) else {}),
        },
        curves={
            "G": Curve("generator loss", ("G",)),
            "D": Curve("discriminator loss", ("D_A", "D_B")),
            "recycle": Curve("recycle loss", ("recycle_A", "recycle_B")),
        },
        shown=("G", "D_A", "D_B", "recycle_A"),
        needs_masks=wants_local(params),
    )


def build_recycle(params: RecycleGANParams, networks: Any, context: Any) -> Any:
    """Recycle-GAN (Bansal et al. 2018): CycleGAN's networks plus temporal predictors."""
    from faceoff_recycle.objective import RecycleGAN

    return RecycleGAN(params, networks, context)


@hookimpl
def register_objectives(register: Any) -> None:
    register("recycle-gan", build_recycle, params=RecycleGANParams, describe=describe_recycle)
