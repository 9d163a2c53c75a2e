"""Mask provider plugin (insightface): SCRFD face detection and 106-point landmarks.

Importing this module is cheap: insightface, onnxruntime and OpenCV are imported when the provider
is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faceoff.hookspecs import hookimpl


class InsightfaceParams(BaseModel):
    """Parameters of the insightface mask provider."""

    model_config = ConfigDict(extra="forbid")
    root: str = Field(
        "~/.insightface",
        min_length=1,
        description="insightface's model root; the pack is read from ROOT/models/PACK/*.onnx. "
        "Nothing is downloaded: put the pack there yourself.",
    )
    pack: str = Field(
        "buffalo_l",
        min_length=1,
        description="Model pack: a folder name under ROOT/models. It needs a SCRFD face detector "
        "(buffalo_l: det_10g.onnx) and the 106-point landmark model (2d106det.onnx); insightface "
        "tells them apart by their inputs and outputs, other files are ignored.",
    )
    det_size: int = Field(
        640,
        ge=32,
        le=2048,
        multiple_of=32,
        description="Detector input size (px, square); frames are scaled to fit it. Smaller is "
        "faster and misses small faces.",
    )
    det_thresh: float = Field(
        0.5, gt=0, lt=1, description="Detector score a face needs; below it, no face."
    )
    eye_weight: float = Field(
        1.0,
        ge=1,
        le=10,
        description="Weight of the eye regions (hull of each eye's 10 landmarks); 1 = off, "
        "faceswap uses 3.",
    )
    mouth_weight: float = Field(
        1.0,
        ge=1,
        le=10,
        description="Weight of the mouth region (hull of its 20 landmarks); 1 = off, faceswap "
        "uses 2.",
    )
    region_dilate: int = Field(
        2, ge=0, le=64, description="Grow the eye and mouth regions by this many pixels."
    )
    dilate: int = Field(
        0,
        ge=-64,
        le=64,
        description="Grow the face outline by this many pixels (negative: shrink it).",
    )
    feather: float = Field(
        0.0,
        ge=0,
        le=64,
        description="Soften every edge with a Gaussian blur of this sigma in pixels; 0 = hard.",
    )
    forehead: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Extend the outline above the brows by this fraction of the brow-to-chin "
        "height (faceswap's 'extended' mask: about 0.3-0.5); 0 = the brow line.",
    )
    threads: int = Field(
        0,
        ge=0,
        le=256,
        description="onnxruntime threads per model; 0 = onnxruntime's default (one per core).",
    )

    @field_validator("pack")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError(f"a folder name under ROOT/models, not a path (got {value!r})")
        return value


def build_insightface(params: InsightfaceParams) -> Any:
    """Face outline from insightface's SCRFD detector and 106 landmarks, eyes/mouth weighted."""
    from faceoff_insightface.provider import InsightfaceMasks, Settings, load_models

    detector, landmarker, files = load_models(params.root, params.pack, params.threads)
    settings = Settings(
        eye_weight=params.eye_weight,
        mouth_weight=params.mouth_weight,
        dilate=params.dilate,
        feather=params.feather,
        forehead=params.forehead,
        region_dilate=params.region_dilate,
    )
    return InsightfaceMasks(
        detector,
        landmarker,
        files,
        det_size=params.det_size,
        det_thresh=params.det_thresh,
        settings=settings,
    )


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("insightface", build_insightface, params=InsightfaceParams, cache_ignore=("threads",))
