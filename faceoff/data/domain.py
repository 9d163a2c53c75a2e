"""The data-source contract: a source hands the trainer decoded frames of domains A and B."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Split = Literal["train", "test"]


@dataclass
class Domain:
    """Frames of one person, decoded once and kept as uint8 RGB, [N, size, size, 3].

    ``params`` holds per-frame ground truth (expression, pose) where the source knows it;
    ``truth`` what the source knows of the domain as a whole (the synthetic source: its seed and
    person), so a ground-truth mask provider can redraw each frame's face.
    """

    frames: np.ndarray
    names: list[str]
    params: dict[str, np.ndarray] | None = None
    truth: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.frames.dtype != np.uint8 or self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(
                f"frames must be uint8 [N, H, W, 3], got {self.frames.dtype} "
                f"{tuple(self.frames.shape)}"
            )
        if len(self.names) != len(self.frames):
            raise ValueError("one name per frame is needed")

    def __len__(self) -> int:
        return len(self.frames)


class DataSource(Protocol):
    """What a data-source plugin's ``build(params)`` returns."""

    def load(self, split: Split, size: int) -> tuple[Domain, Domain]:
        """Frames of A and B for a split, resized to ``size`` x ``size``.

        The test split may be empty; a missing or unusable train split raises FaceoffError.
        """
        ...
