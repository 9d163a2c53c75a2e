"""The options of a local discriminator, shared by the cyclegan and recycle-gan objectives.

A local discriminator judges only a region of the face (the mouth, where the full-frame
discriminator sees too few pixels to care what it shows), cut out where the face mask weights
the frame above 1. Importing this module is cheap (no torch).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from faceoff.objective import Network
from faceoff.spec import DiscriminatorSpec

LOCAL_NETWORKS = ("D_A_local", "D_B_local")
LOCAL_TERMS = ("G_AB_local", "G_BA_local", "D_A_local", "D_B_local")


class LocalParams(BaseModel):
    """A discriminator per domain on the region the face masks weight above 1."""

    model_config = ConfigDict(extra="forbid")
    local_discriminator: DiscriminatorSpec | None = Field(
        None,
        description="A discriminator per domain that judges only the region the face mask "
        "weights above 1 (with the synthetic or insightface provider's mouth_weight 2: the "
        "mouth), a local_size square around its centre. Needs a mask section in weight mode. "
        "null: none.",
    )
    local_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the local discriminators' adversarial terms, relative to the "
        "full-frame ones.",
    )
    local_size: int = Field(
        24,
        ge=8,
        le=1024,
        description="Side in pixels (at the crop size) of the square region the local "
        "discriminators see.",
    )


def wants_local(params: LocalParams | None) -> bool:
    """Whether the params ask for local discriminators (None, as some readers pass: no)."""
    return getattr(params, "local_discriminator", None) is not None


def local_networks(params: LocalParams | None) -> dict[str, Network]:
    """The two local discriminators, when the params ask for them."""
    if params is None or params.local_discriminator is None:
        return {}
    slot = "objective.params.local_discriminator"
    return {name: Network("discriminator", slot, size=params.local_size) for name in LOCAL_NETWORKS}
