"""Expression consistency on real faces, which have no ground truth: dlib's 68 landmarks.

A generator that keeps the input's expression opens its output's mouth and eyes when the input's
open. So over a contiguous sequence, the mouth and eye aspect ratios of the output frames should
follow those of the input frames: their Pearson correlation measures it, and the mean absolute
difference stands in where the correlation is undefined (too few frames with faces, a constant
series).

Definitions, on dlib's 68-point layout (iBUG 300-W, 0-based indices):

- MAR, the mouth aspect ratio: the inner lips' opening, the mean of the distances 61-67, 62-66
  and 63-65, over the mouth's width, the outer corners 48-54. The eye aspect ratio's form
  applied to the inner lip, as in drowsiness (yawn) detection; the outer-corner width is
  steadier than the inner one (60-64), which moves with the opening.
- EAR, the eye aspect ratio (Soukupová & Čech, "Real-Time Eye Blink Detection using Facial
  Landmarks", CVWW 2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|), with p1..p6 the points 36..41 of
  one eye and 42..47 of the other; the mean of both eyes.

Both are ratios of distances, so they do not depend on the frame's size: small frames are
upscaled for the detector without rescaling the landmarks back.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceoff.console import track
from faceoff.errors import FaceoffError

MOUTH_OPENING = ((61, 67), (62, 66), (63, 65))  # inner lip, top point to the one below it
MOUTH_CORNERS = (48, 54)  # outer lip corners
EYES = (36, 42)  # first point (outer corner for 36, inner for 42) of each eye's 6
MIN_FRAMES = 10  # a correlation over fewer frames says little (4 frames read -0.66 by chance)


class LandmarksUnavailable(FaceoffError):
    """The dlib plugin, dlib or its 68-point predictor cannot be loaded."""


def build_provider() -> Any:
    """The dlib mask provider with default params (upsample 1), through the plugin registry.

    Through the registry, so the user's installed dlib plugin is what runs. Every way it can fail
    to load becomes a one-line :class:`LandmarksUnavailable`.
    """
    try:
        from faceoff.plugins import get_registry

        return get_registry().get("mask_provider", "dlib").make({})
    except (FaceoffError, ImportError, OSError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise LandmarksUnavailable(f"dlib landmarks unavailable: {reason}") from None


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """MAR of 68 landmarks [68, 2]: inner-lip opening (61-67, 62-66, 63-65) over width 48-54."""
    pts = np.asarray(points, dtype=np.float64)
    opening = np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in MOUTH_OPENING])
    width = np.linalg.norm(pts[MOUTH_CORNERS[0]] - pts[MOUTH_CORNERS[1]])
    return float(opening / width) if width > 0 else float("nan")


def eye_aspect_ratio(points: np.ndarray) -> float:
    """EAR of 68 landmarks [68, 2] (Soukupová & Čech 2016), the mean of both eyes."""
    pts = np.asarray(points, dtype=np.float64)
    ratios = []
    for o in EYES:
        p1, p2, p3, p4, p5, p6 = pts[o : o + 6]
        width = np.linalg.norm(p1 - p4)
        if width <= 0:
            return float("nan")
        ratios.append((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))
    return float(np.mean(ratios))


def _check_frames(frames: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
        raise ValueError(
            f"{name}: expected uint8 RGB frames [N, H, W, 3], got {array.dtype} {list(array.shape)}"
        )
    return array


def _upscale(frame: np.ndarray, detector_size: int) -> np.ndarray:
    """The frame with its larger side brought up to ``detector_size`` px (never down).

    dlib's HOG detector misses faces under ~40 px even with one upsampling, and a 64 px training
    frame holds a face of about that size. dlib's landmarks are whole pixels, too: on a 64 px
    frame a lip's opening moves in steps of a tenth of itself.
    """
    h, w = frame.shape[:2]
    side = max(h, w)
    if side >= detector_size or side == 0:
        return frame
    scale = detector_size / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)


def expression_series(
    frames: np.ndarray,
    *,
    detector_size: int = 256,
    provider: Any = None,
    description: str = "landmarks",
) -> dict[str, np.ndarray]:
    """Per-frame MAR and EAR of uint8 RGB frames [N, H, W, 3]: float64 "mouth" and "eye" [N].

    NaN where no face is found. Frames whose larger side is under ``detector_size`` px are
    upscaled (bicubic) first; 0 never upscales. ``provider``: anything with
    ``landmarks(frame) -> [68, 2] | None``; default: dlib's, built by :func:`build_provider`
    (raises :class:`LandmarksUnavailable`).
    """
    array = _check_frames(frames, "frames")
    if provider is None:
        provider = build_provider()
    n = len(array)
    mouth = np.full(n, np.nan)
    eye = np.full(n, np.nan)
    for i, frame in enumerate(track(array, n, description)):
        points = provider.landmarks(_upscale(frame, detector_size))
        if points is not None:
            mouth[i] = mouth_aspect_ratio(points)
            eye[i] = eye_aspect_ratio(points)
    return {"mouth": mouth, "eye": eye}


def _constant(values: np.ndarray) -> bool:
    return bool(np.std(values) <= 1e-12 * max(1.0, float(np.abs(values).mean())))


def _pearson(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float | None, str | None]:
    """Correlation of two series over the frames where both are known, or None and why."""
    known = np.isfinite(a) & np.isfinite(b)
    count = int(known.sum())
    if count < MIN_FRAMES:
        return None, (
            f"fewer than {MIN_FRAMES} frames with a face in both input and output ({count})"
        )
    x, y = a[known], b[known]
    constant = [side for side, v in (("input", x), ("output", y)) if _constant(v)]
    if constant:
        return None, (
            f"the {' and '.join(constant)} {what} aspect ratio is constant over the "
            f"{count} frames with a face in both"
        )
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0)), None


def _mae(a: np.ndarray, b: np.ndarray) -> float | None:
    known = np.isfinite(a) & np.isfinite(b)
    return float(np.abs(b[known] - a[known]).mean()) if known.any() else None


def landmark_consistency(inputs: np.ndarray, outputs: np.ndarray, **kw: Any) -> dict[str, Any]:
    """How well the outputs keep the inputs' expression: uint8 RGB [N, H, W, 3] each, same N.

    Returns "mouth_corr" and "eye_corr" (Pearson, over frames with a face in both; None with a
    "reason" when fewer than MIN_FRAMES such frames, a series is constant, or dlib is
    unavailable: an evaluation goes on without them), "mouth_mae" and "eye_mae" (mean
    |output - input| aspect ratio; None without a frame), "frames", "faces_in", "faces_out",
    "both" and "reason".
    ``kw`` goes to :func:`expression_series` (``detector_size``, ``provider``).
    """
    inputs = _check_frames(inputs, "inputs")
    outputs = _check_frames(outputs, "outputs")
    if len(inputs) != len(outputs):
        raise ValueError(f"inputs has {len(inputs)} frames, outputs {len(outputs)}")
    n = len(inputs)
    result: dict[str, Any] = {
        "mouth_corr": None,
        "eye_corr": None,
        "mouth_mae": None,
        "eye_mae": None,
        "frames": n,
        "faces_in": 0,
        "faces_out": 0,
        "both": 0,
        "reason": None,
    }
    kw = dict(kw)
    kw.pop("description", None)
    if kw.get("provider") is None:
        try:
            kw["provider"] = build_provider()
        except LandmarksUnavailable as exc:
            result["reason"] = str(exc)
            return result
    found = expression_series(inputs, description="landmarks (input)", **kw)
    made = expression_series(outputs, description="landmarks (output)", **kw)
    face_in = np.isfinite(found["mouth"]) | np.isfinite(found["eye"])
    face_out = np.isfinite(made["mouth"]) | np.isfinite(made["eye"])
    result["faces_in"] = int(face_in.sum())
    result["faces_out"] = int(face_out.sum())
    result["both"] = int((face_in & face_out).sum())
    reasons: dict[str, str] = {}
    for key in ("mouth", "eye"):
        corr, why = _pearson(found[key], made[key], key)
        result[f"{key}_corr"] = corr
        result[f"{key}_mae"] = _mae(found[key], made[key])
        if why is not None:
            reasons[key] = why
    if len(set(reasons.values())) == 1 and len(reasons) == 2:
        result["reason"] = next(iter(reasons.values()))
    elif reasons:
        result["reason"] = "; ".join(f"{key}: {why}" for key, why in reasons.items())
    return result
