"""The data-source contract: a source hands the trainer decoded frames of domains A and B."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Split = Literal["train", "test"]
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


@dataclass
class Domain:
    """Frames of one person, decoded once and kept as uint8 RGB, [N, size, size, 3].

    ``params`` holds per-frame ground truth (expression, pose) where the source knows it;
    ``truth`` what the source knows of the domain as a whole (the synthetic source: its seed and
    person), so a ground-truth mask provider can redraw each frame's face. ``segments`` says which
    frames are consecutive in time: an int per frame, equal for neighbours that follow each other
    directly (a new value wherever time jumps); None when the source does not know the order.
    """

    frames: np.ndarray
    names: list[str]
    params: dict[str, np.ndarray] | None = None
    truth: dict[str, Any] | None = None
    segments: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.frames.dtype != np.uint8 or self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(
                f"frames must be uint8 [N, H, W, 3], got {self.frames.dtype} "
                f"{tuple(self.frames.shape)}"
            )
        if len(self.names) != len(self.frames):
            raise ValueError("one name per frame is needed")
        if self.segments is not None:
            self.segments = np.asarray(self.segments, dtype=np.int64)
            if self.segments.shape != (len(self.frames),):
                raise ValueError("one segment number per frame is needed")

    def __len__(self) -> int:
        return len(self.frames)

    def clip_starts(self, length: int) -> np.ndarray:
        """The frames that begin ``length`` consecutive frames of one segment (all frames for
        ``length`` 1; none when the order is unknown and ``length`` > 1)."""
        if length <= 1:
            return np.arange(len(self))
        if self.segments is None or len(self) < length:
            return np.zeros(0, np.int64)
        same = self.segments[1:] == self.segments[:-1]  # frame i and i + 1 are consecutive
        runs = np.lib.stride_tricks.sliding_window_view(same, length - 1).all(axis=1)
        return np.flatnonzero(runs)

    def subset(self, keep: Sequence[int]) -> Domain:
        """The frames ``keep`` (in order); a frame left out between two kept ones breaks their
        segment, so clips never join frames across a gap."""
        keep = np.asarray(keep, dtype=np.int64)
        segments = None
        if self.segments is not None:
            jumps = (np.diff(keep) != 1) | (np.diff(self.segments[keep]) != 0)
            segments = np.concatenate([[0], np.cumsum(jumps)]) if len(keep) else keep
        return Domain(
            frames=self.frames[keep],
            names=[self.names[i] for i in keep],
            params={k: v[keep] for k, v in self.params.items()} if self.params else None,
            truth=self.truth,
            segments=segments,
        )


def segments_from_names(names: Sequence[str]) -> np.ndarray | None:
    """Segments from frame names that end in their frame number (``frame_000123.png``, as
    ``faceoff extract`` writes them; ``A_00012.png``): consecutive numbers with the same prefix
    are consecutive frames. None when a name has no number."""
    keys = []
    for name in names:
        match = _TRAILING_NUMBER.match(name.rsplit(".", 1)[0])
        if match is None:
            return None
        keys.append((match.group(1), int(match.group(2))))
    out = np.zeros(len(keys), np.int64)
    for i in range(1, len(keys)):
        follows = keys[i][0] == keys[i - 1][0] and keys[i][1] == keys[i - 1][1] + 1
        out[i] = out[i - 1] + (0 if follows else 1)
    return out


class DataSource(Protocol):
    """What a data-source plugin's ``build(params)`` returns."""

    def load(self, split: Split, size: int) -> tuple[Domain, Domain]:
        """Frames of A and B for a split, resized to ``size`` x ``size``.

        The test split may be empty; a missing or unusable train split raises FaceoffError.
        """
        ...
