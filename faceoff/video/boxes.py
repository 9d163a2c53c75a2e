"""Face boxes that ``faceoff extract --face`` wrote (``boxes.json``), read back for
``apply --paste-back --boxes``: no second detection when they describe the same video."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.errors import FaceoffError


def read_boxes(path: str | Path, source: Any) -> np.ndarray:
    """[N, 3] crop boxes (centre x, centre y, side) for every frame of ``source`` (an apply
    input), from an extract record of the same video: the frames it took keep their boxes,
    the others take boxes interpolated between them (held at the ends)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        video = Path(record["video"])
        frames = [f for split in ("train", "test") for f in record["frames"][split]]
        known = sorted((int(f["index"]), f["box"]) for f in frames if f.get("box") is not None)
        total = int(record["source_frames"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise FaceoffError(f"{path}: not a boxes.json from faceoff extract ({exc})") from None
    if (
        source.files is not None
        or not source.path.exists()
        or video.resolve() != source.path.resolve()
    ):
        raise FaceoffError(
            f"{path}: describes {video}, not {source.path}; extract --face that video, or leave "
            "--boxes out to find the faces again"
        )
    if source.count and source.count != total:
        raise FaceoffError(
            f"{path}: describes {total} frames of {video}, and it has {source.count} now"
        )
    if not known:
        raise FaceoffError(f"{path}: holds no face boxes (extract ran without --face)")
    index = np.array([i for i, _ in known], np.float64)
    values = np.array([b for _, b in known], np.float64)
    everything = np.arange(total)
    return np.stack([np.interp(everything, index, values[:, c]) for c in range(3)], axis=1)
