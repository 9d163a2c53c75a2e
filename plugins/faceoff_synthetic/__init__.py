"""Data source ``synthetic``: two cartoon people with video-like expressions, drawn from a seed.

The embedded default data set: no download, deterministic, and every frame's ground-truth
expression and pose is known (mouth, smile, eyes, brows, yaw, roll, position, scale).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl


class SyntheticParams(BaseModel):
    """Which pair of people, and how many frames (the paper: 2,000 train + 200 test)."""

    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, description="Draws the two people and their expression sequences.")
    frames: int = Field(2000, ge=1, le=100_000, description="Training frames per person.")
    test_frames: int = Field(
        200,
        ge=0,
        le=100_000,
        description="Test frames per person, the contiguous stretch after them.",
    )


class SyntheticMaskParams(BaseModel):
    """Region weights of the ground-truth face mask (1: none; faceswap uses eyes 3, mouth 2)."""

    model_config = ConfigDict(extra="forbid")
    eye_weight: float = Field(
        1.0,
        ge=1.0,
        le=16.0,
        description="Weight of the pixels inside the eyes; 1: none. At most 16, the most the "
        "mask cache's 16-bit PNGs hold.",
    )
    mouth_weight: float = Field(
        1.0,
        ge=1.0,
        le=16.0,
        description="Weight of the pixels inside the mouth; 1: none. At most 16, as `eye_weight`.",
    )


def build_synthetic(params: SyntheticParams) -> Any:
    """Two synthetic people (skin, hair, eyes, glasses or beard) with smooth expression and pose."""
    from faceoff_synthetic.source import SyntheticSource

    return SyntheticSource(params)


@hookimpl
def register_data_sources(register: Any) -> None:
    register("synthetic", build_synthetic, params=SyntheticParams, sequences=True)


def build_synthetic_masks(params: SyntheticMaskParams) -> Any:
    """The true face outline of each synthetic frame (works with the synthetic source only)."""
    from faceoff_synthetic.masks import SyntheticMaskProvider

    return SyntheticMaskProvider(params)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("synthetic", build_synthetic_masks, params=SyntheticMaskParams)
