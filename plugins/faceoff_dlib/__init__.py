"""Face masks from dlib's frontal face detector and 68-point shape predictor.

Importing this module is cheap: dlib and OpenCV are imported when the provider is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl

_PX = (
    " In pixels of the frame, so it does not scale with the image size: halve it for "
    "half-size frames."
)


class DlibParams(BaseModel):
    """Parameters of the dlib mask provider."""

    model_config = ConfigDict(extra="forbid")
    predictor: str | None = Field(
        None,
        description="Path of dlib's 68-point shape predictor "
        "(`shape_predictor_68_face_landmarks.dat`); default: the file the "
        "`face-recognition-models` package ships. Never downloaded.",
    )
    upsample: int = Field(
        1,
        ge=0,
        le=3,
        description="Times the detector upsamples the frame 2x before looking for faces; each "
        "finds smaller faces (about 80 px wide with 0, 40 px with 1) at about 4x the time.",
    )
    threshold: float = Field(
        0.0,
        ge=-2.0,
        le=3.0,
        description="The detector's score threshold adjustment: higher drops weak detections "
        "(false faces in clutter), lower finds more faces. Of several faces the largest is used.",
    )
    extended: bool = Field(
        False,
        description="Extend the mask up towards the forehead as faceswap's 'extended' mask "
        "does: each brow point moves away from the eye point below it by `extend_by` times "
        "their distance (brows 17-21 from 0.75*p36+0.25*p0, 36, 37, 38, 39; brows 22-26 from "
        "42, 43, 44, 45, 0.75*p45+0.25*p16).",
    )
    extend_by: float = Field(
        0.5,
        gt=0.0,
        le=4.0,
        description="With `extended`: how far the brow points move, as a fraction of the "
        "eye-to-brow distance (faceswap: 0.5).",
    )
    dilate: int = Field(
        0, ge=0, le=256, description="Grow the face polygon by this many px (elliptic)." + _PX
    )
    feather: float = Field(
        0.0,
        ge=0.0,
        le=256.0,
        description="Gaussian blur sigma in px of the face mask's edge; values stay in [0, 1], "
        "the polygon's edge near 0.5, the ramp about 2 sigma each side; 0: a hard edge." + _PX,
    )
    eye_weight: float = Field(
        1.0,
        ge=1.0,
        le=16.0,
        description="Weight of the pixels inside the eyes (hulls of points 36-41 and 42-47, "
        "grown by a fifth of the eye's width); 1: no region weight (faceswap: 3). At most 16, "
        "the most the mask cache's 16-bit PNGs hold.",
    )
    mouth_weight: float = Field(
        1.0,
        ge=1.0,
        le=16.0,
        description="Weight of the pixels inside the mouth (hull of the outer lip, points "
        "48-59); 1: no region weight (faceswap: 2). At most 16, as `eye_weight`.",
    )


def build_dlib(params: DlibParams) -> Any:
    """Face polygon of dlib's 68 landmarks (jaw closed over the brows), eye and mouth weights."""
    from faceoff_dlib.provider import DlibMaskProvider

    return DlibMaskProvider(params)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("dlib", build_dlib, params=DlibParams)
