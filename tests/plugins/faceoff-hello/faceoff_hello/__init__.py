"""A tiny third-party faceoff plugin: the ``l2`` and ``masked-l2`` losses and an ``ellipse`` mask.

Cheap to import (no torch): the losses live in :mod:`faceoff_hello.losses`, imported by ``build``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faceoff.hookspecs import hookimpl


class L2Params(BaseModel):
    """Parameters of the squared-error losses."""

    model_config = ConfigDict(extra="forbid")
    reduction: Literal["mean", "sum"] = Field(
        "mean", description="How the squared errors are reduced: their mean or their sum."
    )


class EllipseParams(BaseModel):
    """Size of the centred ellipse."""

    model_config = ConfigDict(extra="forbid")
    scale: float = Field(
        0.6, gt=0, le=1, description="Semi-axes as a fraction of half the frame's width and height."
    )


def build_l2(params: L2Params) -> Any:
    """Mean squared error (or its sum); ignores masks."""
    from faceoff_hello.losses import L2Loss

    return L2Loss(params.reduction)


def build_masked_l2(params: L2Params) -> Any:
    """Squared error weighted by (mask + 1): the face counts twice as much as the background."""
    from faceoff_hello.losses import MaskedL2Loss

    return MaskedL2Loss(params.reduction)


def build_ellipse(params: EllipseParams) -> Any:
    """A filled ellipse centred in the frame: 1 inside, 0 outside."""
    from faceoff_hello.masks import EllipseMask

    return EllipseMask(params.scale)


@hookimpl
def register_losses(register: Any) -> None:
    register("l2", build_l2, params=L2Params, role="reconstruction")
    register("masked-l2", build_masked_l2, params=L2Params, role="reconstruction", needs_mask=True)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("ellipse", build_ellipse, params=EllipseParams)
