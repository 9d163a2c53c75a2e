"""The paper's FCN person mask: torchvision's FCN semantic segmentation, person class, as a mask.

Importing this module is cheap: torch and torchvision are imported when the provider is built
(``faceoff_fcn.provider``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl

# Pascal VOC's 21 classes, as torchvision's COCO_WITH_VOC_LABELS weights use them.
PERSON_CLASS = 15
NUM_CLASSES = 21


class FcnParams(BaseModel):
    """Backbone, weights, the person-probability threshold and the shape of the mask."""

    model_config = ConfigDict(extra="forbid")
    backbone: Literal["resnet50", "resnet101"] = Field(
        "resnet50",
        description="torchvision's fcn_resnet50 (35M parameters) or fcn_resnet101 (54M; "
        "slower, a little more accurate: mIoU 63.7 vs 60.5 on COCO val with VOC labels).",
    )
    weights: str | None = Field(
        None,
        description="A state_dict file of the chosen backbone's FCN with 21 VOC classes "
        "(`.pth`/`.pt`, read with torch.load(weights_only=True), or `.safetensors`). "
        "null: torchvision's pretrained COCO_WITH_VOC_LABELS_V1 weights, taken only from "
        "torchvision's cache (TORCH_HOME/hub/checkpoints/); never downloaded at run time.",
    )
    threshold: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="A pixel is person when its person probability (softmax over the 21 "
        "classes) exceeds this.",
    )
    size: int | None = Field(
        520,
        ge=32,
        le=2048,
        description="The frame's shorter side is resized to this before inference "
        "(torchvision's reference transforms: 520); the mask comes back at the frame's size. "
        "null: the frame's own size (faster, off the weights' training scale).",
    )
    dilate: int = Field(
        0,
        ge=-128,
        le=128,
        description="Grow (positive) or shrink (negative) the thresholded mask by this many "
        "pixels of the frame, with an elliptical kernel.",
    )
    feather: float = Field(
        0.0,
        ge=0.0,
        le=128.0,
        description="Sigma in frame pixels of a Gaussian blur that softens the mask's edge "
        "(0: a hard 0/1 mask). In pixels of the frame, as `dilate`: halve both for half-size "
        "frames.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the network runs; auto: cuda when available, else cpu."
    )


def build_fcn(params: FcnParams) -> Any:
    """FCN person segmentation (torchvision, ResNet-50/101): the paper's FCN person mask."""
    try:
        from faceoff_fcn.provider import FcnMaskProvider
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        raise FaceoffError(
            "mask provider fcn needs torchvision: pip install 'faceoff[fcn]'"
        ) from exc
    return FcnMaskProvider(params)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("fcn", build_fcn, params=FcnParams, cache_ignore=("device",))
