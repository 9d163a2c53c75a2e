"""Data source ``frames``: two folders of images, A and B, each with ``train/`` and ``test/``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faceoff.hookspecs import hookimpl


class FramesParams(BaseModel):
    """Where the frames are: ``root`` holding ``A/`` and ``B/``, or the folders ``a`` and ``b``."""

    model_config = ConfigDict(extra="forbid")
    root: str | None = Field(
        None, description="Folder holding A/ and B/ (as `faceoff data` writes)."
    )
    a: str | None = Field(None, description="Folder of person A, holding train/ and test/.")
    b: str | None = Field(None, description="Folder of person B, holding train/ and test/.")

    @model_validator(mode="after")
    def _one_way(self) -> FramesParams:
        if (self.root is None) == (self.a is None and self.b is None) or (self.a is None) != (
            self.b is None
        ):
            raise ValueError("give either 'root', or both 'a' and 'b'")
        return self


def build_frames(params: FramesParams) -> Any:
    """Frames decoded from image folders (PNG, JPEG, ...); unreadable files skipped and counted."""
    from faceoff_frames.source import FramesSource

    return FramesSource(params)


@hookimpl
def register_data_sources(register: Any) -> None:
    register("frames", build_frames, params=FramesParams, sequences=True)
