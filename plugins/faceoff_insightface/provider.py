"""The insightface mask provider: SCRFD face detection, 106-point landmarks, a filled face outline.

Models are loaded by insightface's own model zoo (``insightface.model_zoo.get_model`` on each
``.onnx`` file of the pack folder, as ``insightface.app.FaceAnalysis`` does for a legacy pack),
which recognises a model by its inputs and outputs. A direct ``.onnx`` path never downloads
anything; a missing pack is a FaceoffError naming the files and where they go.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.errors import FaceoffError
from faceoff_insightface import layout

DETECTION = "detection"
LANDMARKS = "landmark_2d_106"
KIND_WORDS = {
    DETECTION: "a SCRFD face detector (e.g. det_10g.onnx)",
    LANDMARKS: "the 106-point 2D landmark model (2d106det.onnx)",
}
# The two files this provider needs from the packs it names in its messages.
PACK_FILES = {"buffalo_l": {DETECTION: "det_10g.onnx", LANDMARKS: "2d106det.onnx"}}
RELEASES = "https://github.com/deepinsight/insightface/releases"
_SUBPIXEL = 4  # bits of sub-pixel precision for cv2 polygon filling


@dataclass(frozen=True)
class Settings:
    """What shapes the mask, given the landmarks (a plain copy of the relevant params)."""

    eye_weight: float = 1.0
    mouth_weight: float = 1.0
    dilate: int = 0
    feather: float = 0.0
    forehead: float = 0.0
    region_dilate: int = 2


def pack_folder(root: str, pack: str) -> Path:
    """``<root>/models/<pack>``, the folder insightface's FaceAnalysis reads a pack from."""
    return Path(os.path.expanduser(root)) / "models" / pack


def _candidates(folder: Path) -> list[Path]:
    """The pack's .onnx files, likely detector and landmark files first (then by name).

    Loading stops once both models are found, so buffalo_l's 166 MB recognition model is not
    opened for nothing.
    """
    files = sorted(p for p in folder.glob("*.onnx") if p.is_file())

    def likely(p: Path) -> int:
        name = p.name.lower()
        return 0 if "2d106" in name or name.startswith(("det_", "scrfd")) else 1

    return sorted(files, key=likely)


def _where_from(folder: Path, pack: str) -> str:
    if pack in PACK_FILES:
        return f"unzip {pack}.zip from {RELEASES} (v0.7) into {folder.parent}"
    return f"insightface's packs are at {RELEASES}"


def _missing(folder: Path, pack: str, kinds: Sequence[str], named: bool = True) -> str:
    """What to put where, for the model kinds a pack lacks (``named``: say what they are)."""
    files = PACK_FILES.get(pack, {})
    if all(kind in files for kind in kinds):
        return " and ".join(str(folder / files[kind]) for kind in kinds)
    if not named:
        return f"{'it' if len(kinds) == 1 else 'them'} in {folder}"
    return f"{' and '.join(KIND_WORDS[kind] for kind in kinds)} in {folder}"


def _missing_pack(folder: Path, pack: str) -> FaceoffError:
    return FaceoffError(
        f"insightface model pack {pack!r} not found: no folder {folder}. Put "
        f"{_missing(folder, pack, (DETECTION, LANDMARKS))} ({_where_from(folder, pack)}), or "
        "point the params root and pack at a copy; faceoff never downloads models"
    )


def load_models(root: str, pack: str, threads: int = 0) -> tuple[Any, Any, dict[str, Path]]:
    """(detector, landmark model, {kind: file}) from a pack folder, or a FaceoffError.

    ``threads``: onnxruntime intra-op threads per session (0: its default).
    """
    try:
        import onnxruntime
        from insightface.model_zoo import model_zoo
    except ImportError as exc:
        raise FaceoffError(
            f"mask provider 'insightface' needs insightface and onnxruntime ({exc}); "
            "install them with: pip install 'faceoff[insightface]'"
        ) from exc
    folder = pack_folder(root, pack)
    if not folder.is_dir():
        raise _missing_pack(folder, pack)
    onnxruntime.set_default_logger_severity(3)  # errors only, as insightface's FaceAnalysis does
    found: dict[str, tuple[Any, Path]] = {}
    seen: list[str] = []
    for path in _candidates(folder):
        kwargs: dict[str, Any] = {"providers": ["CPUExecutionProvider"]}
        if threads:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            kwargs["sess_options"] = options
        try:
            model = model_zoo.get_model(str(path), **kwargs)
        except Exception as exc:  # onnxruntime or onnx refusing the file
            seen.append(f"{path.name} (unreadable: {' '.join(str(exc).split())[:200]})")
            continue
        task = getattr(model, "taskname", None)
        seen.append(f"{path.name} ({task or 'not recognised'})")
        if task in (DETECTION, LANDMARKS) and task not in found:
            found[task] = (model, path)
        if len(found) == 2:
            break
    missing = [kind for kind in (DETECTION, LANDMARKS) if kind not in found]
    if missing:
        lacking = " and ".join(KIND_WORDS[kind] for kind in missing)
        put = _missing(folder, pack, missing, named=False)
        raise FaceoffError(
            f"insightface model pack {pack!r} lacks {lacking}: put {put} "
            f"({_where_from(folder, pack)}). Found: {', '.join(seen) or 'no .onnx files'}; "
            "faceoff never downloads models"
        )
    return found[DETECTION][0], found[LANDMARKS][0], {k: p for k, (_, p) in found.items()}


def _hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of points as fixed-point int32 for cv2 (``_SUBPIXEL`` fraction bits)."""
    hull = cv2.convexHull(np.asarray(points, np.float32))
    return np.round(hull.reshape(-1, 2) * (1 << _SUBPIXEL)).astype(np.int32)


def _fill(shape: tuple[int, int], polygons: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    for polygon in polygons:
        cv2.fillConvexPoly(out, _hull(polygon), 1, lineType=cv2.LINE_8, shift=_SUBPIXEL)
    return out


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate (pixels > 0) or erode (< 0) a 0/1 mask with a disc."""
    if pixels == 0:
        return mask
    size = 2 * abs(pixels) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return (cv2.dilate if pixels > 0 else cv2.erode)(mask, kernel)


def _soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    out = mask.astype(np.float32)
    return cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0 else out


def face_outline(landmarks: np.ndarray, forehead: float = 0.0) -> np.ndarray:
    """The points whose convex hull is the face: contour and brows, optionally raised brows.

    ``forehead`` adds the brows again, moved up (from the mouth towards the eyes) by that fraction
    of the brow-to-chin height, like faceswap's "extended" mask.
    """
    points = np.asarray(landmarks, np.float32)
    outline = points[list(layout.CONTOUR + layout.BROWS)]
    if forehead <= 0:
        return outline
    eyes = points[list(layout.EYE_A + layout.EYE_B)].mean(0)
    up = eyes - points[list(layout.MOUTH)].mean(0)
    norm = float(np.linalg.norm(up))
    if norm < 1e-6:
        return outline
    up /= norm
    brows = points[list(layout.BROWS)]
    height = float(((brows.mean(0) - points[list(layout.CONTOUR)]) @ up).max())
    return np.concatenate([outline, brows + up * (forehead * max(height, 0.0))])


def mask_from_landmarks(
    landmarks: np.ndarray, shape: tuple[int, int], settings: Settings | None = None
) -> np.ndarray:
    """The weight map [H, W] float32 of one face's 106 landmarks (pixels, x then y).

    0 outside the face, 1 on it, ``eye_weight`` on the eyes and ``mouth_weight`` on the mouth
    (each region the hull of its landmarks, grown by ``region_dilate`` px). ``dilate`` grows (or,
    negative, shrinks) the face; ``feather`` blurs every edge with a Gaussian of that sigma (px).
    """
    s = settings or Settings()
    points = np.asarray(landmarks, np.float32)
    if points.shape != (layout.NUM_POINTS, 2):
        raise ValueError(f"expected landmarks [106, 2], got {points.shape}")
    height, width = int(shape[0]), int(shape[1])
    face = _grow(_fill((height, width), [face_outline(points, s.forehead)]), s.dilate)
    weights = _soften(face, s.feather)
    regions = (
        (s.eye_weight, [points[list(eye)] for eye in layout.EYES]),
        (s.mouth_weight, [points[list(layout.MOUTH)]]),
    )
    for weight, polygons in regions:
        if weight != 1.0:
            region = _grow(_fill((height, width), polygons), s.region_dilate)
            weights += (weight - 1.0) * _soften(region, s.feather)
    return weights


class InsightfaceMasks:
    """The built provider: ``provider(frame)`` is the weight map of the largest face, or None.

    ``landmarks(frame)`` gives that face's 106 points ([106, 2] float32 pixels, x then y), or
    None. Frames are uint8 RGB [H, W, 3].
    """

    def __init__(
        self,
        detector: Any,
        landmarker: Any,
        files: dict[str, Path],
        *,
        det_size: int = 640,
        det_thresh: float = 0.5,
        settings: Settings | None = None,
    ) -> None:
        self.detector = detector
        self.landmarker = landmarker
        self.files = files
        self.settings = settings or Settings()
        # ctx_id >= 0 keeps the providers the sessions were built with (ctx_id < 0 would make
        # insightface rebuild them as CPU sessions, which they already are).
        self.detector.prepare(0, input_size=(det_size, det_size), det_thresh=det_thresh)

    @staticmethod
    def _bgr(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise FaceoffError(
                f"mask provider 'insightface' takes uint8 RGB frames [H, W, 3], "
                f"got {frame.dtype} {list(frame.shape)}"
            )
        return np.ascontiguousarray(frame[..., ::-1])  # insightface works on BGR, as cv2 reads

    def faces(self, frame: np.ndarray) -> np.ndarray:
        """Detected faces as [N, 5] float32 (x1, y1, x2, y2, score), best score first."""
        boxes, _ = self.detector.detect(self._bgr(frame), max_num=0)
        return np.asarray(boxes, np.float32).reshape(-1, 5)

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """The largest face's 106 landmarks, [106, 2] float32 pixels (x, y), or None."""
        from insightface.app.common import Face

        bgr = self._bgr(frame)
        boxes, kpss = self.detector.detect(bgr, max_num=0)
        if len(boxes) == 0:
            return None
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        i = int(np.argmax(areas))
        face = Face(bbox=boxes[i, :4], kps=None if kpss is None else kpss[i], det_score=boxes[i, 4])
        points = self.landmarker.get(bgr, face)
        return np.asarray(points, np.float32)[:, :2].reshape(layout.NUM_POINTS, 2)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        points = self.landmarks(frame)
        if points is None:
            return None
        return mask_from_landmarks(points, frame.shape[:2], self.settings)
