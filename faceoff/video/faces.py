"""Following a face through a video: detected boxes, smoothed over time, square crops and back.

A crop box is (centre x, centre y, side) in source pixels. Boxes are smoothed with a centred
moving average so the crop does not jitter from frame to frame, and frames where the detector
finds nothing take the box interpolated from their neighbours.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceoff.capabilities import LocatesFace, locates_faces
from faceoff.errors import FaceoffError


def face_detector(name: str, params: dict[str, Any] | None = None) -> Any:
    """A mask provider that can also locate faces (:func:`faceoff.capabilities.locates_faces`),
    from the registry."""
    from faceoff.plugins import get_registry

    component = get_registry().get("mask_provider", name, where="--detector")
    built = component.make(params or {})
    if not locates_faces(built):
        raise FaceoffError(f"--detector {name}: this mask provider cannot locate faces; use dlib")
    return built


def locate(detector: Any, frame: np.ndarray) -> tuple[float, float, float, float] | None:
    """(left, top, right, bottom) of the largest face, or None."""
    if isinstance(detector, LocatesFace):
        box = detector.face_box(frame)
        return None if box is None else tuple(float(v) for v in box)
    faces = np.asarray(detector.faces(frame))
    if faces.size == 0:
        return None
    areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
    return tuple(float(v) for v in faces[int(np.argmax(areas)), :4])


def smooth_boxes(
    found: list[tuple[float, float, float, float] | None], *, scale: float = 1.8, window: int = 15
) -> np.ndarray:
    """[N, 3] square crop boxes from per-frame detections (None where nothing was found)."""
    have = [i for i, box in enumerate(found) if box is not None]
    if not have:
        raise FaceoffError("no face was found in any frame")
    raw = np.zeros((len(found), 3))
    for i in have:
        left, top, right, bottom = found[i]
        raw[i] = ((left + right) / 2, (top + bottom) / 2, scale * max(right - left, bottom - top))
    index = np.arange(len(found))
    for column in range(3):  # gaps: interpolated between neighbours, held at the ends
        raw[:, column] = np.interp(index, have, raw[have, column])
    if window > 1 and len(found) > 1:
        half = window // 2
        padded = np.pad(raw, ((half, half), (0, 0)), mode="edge")
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        raw = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(3)], 1)
    return raw


def crop(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The square ``box`` of ``frame`` resized to ``size``; outside the frame, edges repeat."""
    cx, cy, side = box
    s = size / side
    matrix = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    return cv2.warpAffine(
        frame,
        matrix,
        (size, size),
        flags=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
