"""A TensorBoard logger for faceoff runs: loss scalars, sample grids and the resolved spec.

Switched on in a spec with ``"output": {"loggers": [{"plugin": "tensorboard"}]}``; needs the
``tensorboard`` package (``pip install faceoff[tensorboard]``). Then ``tensorboard --logdir
runs/NAME/tensorboard``. Importing this module is cheap: TensorBoard is imported when a run
starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faceoff.hookspecs import hookimpl


class TensorboardParams(BaseModel):
    """Where the event files go and how often they are written to disk."""

    model_config = ConfigDict(extra="forbid")
    dir: str = Field(
        "tensorboard",
        min_length=1,
        description="Folder for the event files, relative to the run folder (and inside it).",
    )
    flush_secs: int = Field(
        30, ge=1, le=3600, description="Seconds between writes of pending events to disk."
    )

    @field_validator("dir")
    @classmethod
    def _inside(cls, value: str) -> str:
        """Event files stay in the run folder: faceoff cleans up only there."""
        parts = value.replace("\\", "/").split("/")
        if value.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts):
            raise ValueError("must be a relative path inside the run folder, without '.' or '..'")
        return value


def writes(params: TensorboardParams) -> list[str]:
    """The event files, so that --overwrite may remove them again."""
    return [f"{params.dir}/events.out.tfevents.*"]


def build_tensorboard(params: TensorboardParams) -> Any:
    """TensorBoard event files: each logged loss, the sample grids, the resolved spec."""
    from faceoff_tensorboard.logger import TensorboardLogger

    return TensorboardLogger(params)


@hookimpl
def register_loggers(register: Any) -> None:
    register("tensorboard", build_tensorboard, params=TensorboardParams, writes=writes)
