"""The data-source contract: a source hands the trainer decoded frames of domains A and B."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from faceoff.errors import FaceoffError
from faceoff.spec_file import one_line

Split = Literal["train", "test"]
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


class DomainError(ValueError):
    """A :class:`Domain` built against the data-source contract (frames, names, segments);
    :func:`load_split` turns it into a FaceoffError naming the data source."""


def frames_problem(frames: Any) -> str | None:
    """What is wrong with a domain's frames, if anything: they must be a uint8 NumPy array
    [N, H, W, 3] (RGB). Floats are refused whatever their range, [0, 255] or [0, 1]."""
    if not isinstance(frames, np.ndarray):
        return f"frames must be a uint8 NumPy array [N, H, W, 3], got a {type(frames).__name__}"
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        problem = f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {tuple(frames.shape)}"
        if frames.dtype.kind == "f":
            problem += (
                " (floats are refused, in [0, 255] or [0, 1] alike: convert before returning, "
                "np.clip(np.rint(x), 0, 255).astype(np.uint8), scaling [0, 1] by 255 first)"
            )
        return problem
    return None


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
        problem = frames_problem(self.frames)
        if problem:
            raise DomainError(problem)
        if len(self.names) != len(self.frames):
            raise DomainError(
                f"one name per frame is needed, got {len(self.names)} names for "
                f"{len(self.frames)} frames"
            )
        if self.segments is not None:
            self.segments = np.asarray(self.segments, dtype=np.int64)
            if self.segments.shape != (len(self.frames),):
                raise DomainError("one segment number per frame is needed")

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


def source_label(component: Any) -> str:
    """How messages name a data-source component: ``data source 'frames' (faceoff)``."""
    return f"data source {component.name!r} ({component.plugin.distribution})"


def load_split(source: DataSource, split: Split, size: int, who: str) -> tuple[Domain, Domain]:
    """``source.load(split, size)``, checked against the contract wherever domains come from a
    source (a run, ``faceoff eval``, ``faceoff data``): two domains, A and B, whose frames are
    uint8 RGB [N, size, size, 3]. Anything else, frames of floats included, is a one-line
    FaceoffError naming the source, ``who`` (:func:`source_label`)."""
    try:
        found = source.load(split, size)
    except DomainError as exc:  # a Domain the source built against the contract
        raise FaceoffError(f"{who}: the {split} split: {_one_line(exc)}") from None
    if not (
        isinstance(found, tuple | list)
        and len(found) == 2
        and all(isinstance(d, Domain) for d in found)
    ):
        what = type(found).__name__
        if isinstance(found, tuple | list):
            what += " of " + ", ".join(type(d).__name__ for d in found[:4])
            what += ", ..." if len(found) > 4 else ""
        raise FaceoffError(
            f"{who}: load({split!r}, {size}) returned a {what}, not a pair of "
            "faceoff.data.Domain (A, B)"
        )
    for label, domain in zip("AB", found):
        problem = frames_problem(domain.frames)  # frames replaced after the Domain was made
        if problem is None and len(domain) and domain.frames.shape[1:3] != (size, size):
            height, width = domain.frames.shape[1:3]
            problem = f"frames are {height} x {width} px; they must be resized to {size} x {size}"
        if problem is None and len(domain.names) != len(domain):
            problem = f"{len(domain.names)} names for {len(domain)} frames; one per frame"
        if problem:
            raise FaceoffError(f"{who}: the {split} split of {label}: {problem}")
    return found[0], found[1]


def _one_line(exc: Exception) -> str:
    return one_line(" ".join(str(exc).split()))
