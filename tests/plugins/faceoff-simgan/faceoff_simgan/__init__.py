"""SimGAN (Shrivastava et al. 2017) as a faceoff objective: cheap to import, no torch here."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Network, Translation


class SimGANParams(BaseModel):
    """The refiner's self-regularization weight and the discriminator's history buffer."""

    model_config = ConfigDict(extra="forbid")
    self_regularization: float = Field(
        1.0, ge=0, description="Weight of L1(refined, input): how close the refiner stays."
    )
    pool_size: int = Field(
        50, ge=0, description="Refined images kept to show the discriminator (0: none)."
    )


def describe_simgan(params: SimGANParams) -> Description:
    """One refiner (the spec's generator) and one discriminator; A -> B only."""
    return Description(
        networks={
            "R": Network("generator", "generator"),
            "D": Network("discriminator", "discriminator"),
        },
        translations={"a2b": Translation("R", "A", "B")},
        panels={"refiner": ("R", "R_adv", "R_reg"), "discriminator": ("D",)},
        curves={"R": Curve("refiner loss", ("R",)), "D": Curve("discriminator loss", ("D",))},
        shown=("R", "D"),
    )


def build_simgan(params: SimGANParams, networks: Any, context: Any) -> Any:
    """SimGAN: refine A towards B, adversarially, staying close to the input."""
    from faceoff_simgan.objective import SimGAN  # torch is imported only here

    return SimGAN(params, networks, context)


@hookimpl
def register_objectives(register: Any) -> None:
    register("simgan", build_simgan, params=SimGANParams, describe=describe_simgan)
