"""Data source ``puppets``: two real face photographs animated into video-like sequences.

A second ground-truth set next to the synthetic cartoons: each photograph's 68 dlib landmarks
(found once, cached) drive a piecewise-affine warp that opens and closes the mouth, closes the
eyes, smiles, raises the brows, turns (yaw) and tilts (roll) the head, moves and scales it, so
every frame's expression and pose is known, under the synthetic set's parameter names, and
``faceoff eval`` measures transfer on real skin, hair and lighting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl


class PuppetsParams(BaseModel):
    """Which photographs, how many frames, and how far each motion goes."""

    model_config = ConfigDict(extra="forbid")
    seed: int = Field(
        0,
        ge=0,
        description="Draws the two motion sequences (the synthetic source's, for the same seed).",
    )
    frames: int = Field(2000, ge=1, le=100_000, description="Training frames per person.")
    test_frames: int = Field(
        200,
        ge=0,
        le=100_000,
        description="Test frames per person, the contiguous stretch after them.",
    )
    photos: list[str] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Two photo files, A's then B's, each with a face dlib finds (of several, "
        "the one its detector scores highest); paths relative to the working folder. "
        "Default: scikit-image's `astronaut` (A) and insightface's sample `t1.jpg` (B, the "
        "face at its centre).",
    )
    face: float = Field(
        0.34,
        ge=0.15,
        le=0.6,
        description="Eyes-to-chin distance of the neutral face, as a fraction of the frame "
        "height (the synthetic people: about 0.32).",
    )
    mouth: float = Field(
        0.25,
        ge=0.0,
        le=0.5,
        description="How far the jaw drops at mouth_open 1, as a fraction of the eyes-to-chin "
        "distance; 0: the mouth stays as photographed (mouth_open 0 throughout).",
    )
    blink: bool = Field(
        True,
        description="Eyes drift between 60% and fully open and blink every 2-5 s, as the "
        "synthetic people's; false: eye_open stays 1.",
    )
    smile: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="The largest |smile| (mouth corners out and up at +1, down at -1); 1: the "
        "synthetic people's range.",
    )
    brow: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="The largest |brow| (brows raised at +1, lowered at -1); 1: the synthetic "
        "people's range.",
    )
    yaw: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="The largest |yaw|: at yaw 1 the features slide by 0.3 of the half-face "
        "width towards +x and that side is compressed (an approximate turn; the synthetic "
        "people's units).",
    )
    roll: float = Field(
        15.0, ge=0.0, le=45.0, description="The largest head tilt, degrees (roll, clockwise)."
    )
    shift: float = Field(
        0.08,
        ge=0.0,
        le=0.25,
        description="The largest head move, as a fraction of the frame (x and y).",
    )
    zoom: float = Field(
        0.15,
        ge=0.0,
        le=0.5,
        description="The largest head scale change: scale stays in 1 +- zoom.",
    )


class PuppetsMaskParams(BaseModel):
    """Region weights of the puppets' ground-truth face masks (as the dlib provider's)."""

    model_config = ConfigDict(extra="forbid")
    extended: bool = Field(
        False, description="Extend the face up over the forehead (the dlib provider's option)."
    )
    eye_weight: float = Field(
        1.0, ge=1.0, le=16.0, description="Weight of the pixels inside the eyes; 1: none."
    )
    mouth_weight: float = Field(
        1.0,
        ge=1.0,
        le=16.0,
        description="Weight of the pixels inside the outer lips; 1: none. 2 gives a local "
        "discriminator its region.",
    )


def build_puppets(params: PuppetsParams) -> Any:
    """Two real face photos animated by their landmarks, expression and pose known per frame.

    Mouth, eyes, smile, brows, yaw, roll, position and scale, under the synthetic source's
    parameter names; needs the `[dlib]` extra.
    """
    from faceoff_puppets.source import PuppetsSource

    return PuppetsSource(params)


@hookimpl
def register_data_sources(register: Any) -> None:
    register("puppets", build_puppets, params=PuppetsParams, sequences=True)


def build_puppets_masks(params: PuppetsMaskParams) -> Any:
    """Each puppet frame's face mask from the landmarks it was drawn with (puppets source only)."""
    from faceoff_puppets.masks import PuppetsMaskProvider

    return PuppetsMaskProvider(params)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("puppets", build_puppets_masks, params=PuppetsMaskParams)
