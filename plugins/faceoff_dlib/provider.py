"""The dlib mask provider: detector, 68-point predictor, and the face polygon drawn from them.

Imported when the provider is built; dlib itself is imported when a provider is constructed.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceoff.errors import FaceoffError

if TYPE_CHECKING:
    from faceoff_dlib import DlibParams

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
_DISTRIBUTION = "face-recognition-models"
_PACKAGE = "face_recognition_models"
_FIX = f"install it with `pip install {_DISTRIBUTION}` (or `pip install 'faceoff[dlib]'`), or pass "
_FIX += "the path of a 68-point predictor as the dlib provider's `predictor` param"

# Index ranges of dlib's 68-point layout (iBUG 300-W).
JAW = slice(0, 17)
BROWS = slice(17, 27)
LEFT_EYE = slice(36, 42)  # the subject's right eye, on the left of the image
RIGHT_EYE = slice(42, 48)
OUTER_LIP = slice(48, 60)
EYE_GROW = 0.2  # eye regions grow by this fraction of the eye's corner-to-corner width


def shipped_predictor_candidates() -> list[Path]:
    """Where ``face-recognition-models`` would have put the 68-point predictor.

    Found without importing the package: its ``__init__`` imports ``pkg_resources``, which
    setuptools >= 82 no longer has. ``find_spec`` of a top-level package does not execute it.
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is not None:
        for location in spec.submodule_search_locations or ():
            candidates.append(Path(location) / "models" / PREDICTOR_FILE)
    try:
        dist = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    else:
        located = Path(str(dist.locate_file(f"{_PACKAGE}/models/{PREDICTOR_FILE}")))
        if located not in candidates:
            candidates.append(located)
    return candidates


def find_predictor(predictor: str | None) -> Path:
    """The predictor file to load: the given path, or the one ``face-recognition-models`` ships."""
    if predictor is not None:
        path = Path(os.path.expanduser(predictor))
        if not path.is_file():
            raise FaceoffError(
                f"dlib shape predictor not found: {str(path)!r} is not a file; pass the path of "
                f"{PREDICTOR_FILE} as the dlib provider's `predictor` param, or leave it unset to "
                f"use the one {_DISTRIBUTION} ships"
            )
        return path
    candidates = shipped_predictor_candidates()
    for path in candidates:
        if path.is_file():
            return path
    if not candidates:
        raise FaceoffError(
            f"dlib shape predictor {PREDICTOR_FILE} not found: the {_DISTRIBUTION} package that "
            f"ships it is not installed; {_FIX}"
        )
    looked = ", ".join(repr(str(p)) for p in candidates)
    raise FaceoffError(
        f"dlib shape predictor not found: looked at {looked}; reinstall {_DISTRIBUTION} "
        f"(`pip install --force-reinstall {_DISTRIBUTION}`), or pass the path of a 68-point "
        "predictor as the dlib provider's `predictor` param"
    )


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise FaceoffError(
            f"the dlib mask provider needs dlib, which is not importable ({exc}); install the "
            "prebuilt wheel with `pip install dlib-bin` or `pip install 'faceoff[dlib]'`"
        ) from None
    return dlib


def _hull(mask: np.ndarray, points: np.ndarray) -> None:
    """Fill the convex hull of ``points`` ([N, 2] x, y px) into a uint8 mask with 1."""
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask, kernel)


def face_outline(points: np.ndarray, extended: bool = False, extend_by: float = 0.5) -> np.ndarray:
    """The 27 outline points (jaw 0-16, brows 17-26), brows raised when ``extended``.

    faceswap's 'extended' rule: each brow point moves away from the eye point below it by
    ``extend_by`` times their distance. Under brows 17-21: a point a quarter of the way from
    eye corner 36 to jaw point 0, then 36, 37, 38, 39; under 22-26: 42, 43, 44, 45, then a point a
    quarter of the way from 45 to 16.
    """
    pts = np.asarray(points, dtype=np.float32)
    outline = pts[:27].copy()
    if extended:
        outer_l = 0.75 * pts[36] + 0.25 * pts[0]
        outer_r = 0.75 * pts[45] + 0.25 * pts[16]
        below_l = np.stack([outer_l, pts[36], pts[37], pts[38], pts[39]])
        below_r = np.stack([pts[42], pts[43], pts[44], pts[45], outer_r])
        below = np.concatenate([below_l, below_r])
        outline[BROWS] = pts[BROWS] + extend_by * (pts[BROWS] - below)
    return outline


def render_mask(
    points: np.ndarray,
    shape: tuple[int, int],
    *,
    extended: bool = False,
    extend_by: float = 0.5,
    dilate: int = 0,
    feather: float = 0.0,
    eye_weight: float = 1.0,
    mouth_weight: float = 1.0,
) -> np.ndarray:
    """The weight map of one face's 68 landmarks: float32 [H, W], 0 background, 1 face.

    The face is the convex hull of the jaw line and brows, grown by ``dilate`` px, its edge
    blurred with a Gaussian of sigma ``feather`` px (values stay in [0, 1]; the polygon's edge
    lands near 0.5, the ramp spanning about 2 sigma each side, 0.02 to 0.98). Then, on the face
    (the grown polygon), the eyes get ``eye_weight`` and the mouth ``mouth_weight`` exactly.
    """
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(points, dtype=np.float32)
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks as [68, 2], got {pts.shape}")
    face = np.zeros((h, w), np.uint8)
    _hull(face, face_outline(pts, extended, extend_by))
    face = _grow(face, dilate)
    out = face.astype(np.float32)
    if feather > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=feather, sigmaY=feather)
        # The kernel's weights add up to 1 only within float32 rounding: snap the interior to 1.
        out[out > 1.0 - 1e-5] = 1.0
        out = np.clip(out, 0.0, 1.0)
    inside = face > 0
    if eye_weight > 1.0:
        eyes = np.zeros((h, w), np.uint8)
        for eye, (a, b) in ((LEFT_EYE, (36, 39)), (RIGHT_EYE, (42, 45))):
            one = np.zeros((h, w), np.uint8)
            _hull(one, pts[eye])
            eyes |= _grow(one, max(1, round(EYE_GROW * float(np.linalg.norm(pts[a] - pts[b])))))
        region = (eyes > 0) & inside
        out[region] = np.maximum(out[region], eye_weight)
    if mouth_weight > 1.0:
        mouth = np.zeros((h, w), np.uint8)
        _hull(mouth, pts[OUTER_LIP])
        region = (mouth > 0) & inside
        out[region] = np.maximum(out[region], mouth_weight)
    return out


@functools.lru_cache(maxsize=1)
def _detector() -> Any:
    """dlib's HOG frontal face detector (0.5 s to build), shared by the providers of a process."""
    return _import_dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=4)
def _load_predictor(path: str, mtime_ns: int, size: int) -> Any:
    """A 68-point shape predictor (1 s to load, ~100 MB), shared while the file is unchanged."""
    dlib = _import_dlib()
    try:
        predictor = dlib.shape_predictor(path)
    except RuntimeError as exc:
        raise FaceoffError(
            f"could not load the dlib shape predictor {path!r}: {exc}; it must be dlib's "
            f"{PREDICTOR_FILE}"
        ) from None
    # The predictor object does not say how many points it gives; one tiny run does.
    parts = predictor(np.zeros((32, 32), np.uint8), dlib.rectangle(0, 0, 31, 31)).num_parts
    if parts != 68:
        raise FaceoffError(
            f"the dlib shape predictor {path!r} gives {parts} points; the dlib mask provider "
            f"needs the 68-point one ({PREDICTOR_FILE})"
        )
    return predictor


class DlibMaskProvider:
    """dlib's HOG face detector and 68-point predictor, loaded once; callable on RGB frames.

    Providers of one process share the detector and, per unchanged file, the predictor.
    """

    def __init__(self, params: DlibParams) -> None:
        _import_dlib()
        self.params = params
        self.predictor_path = find_predictor(params.predictor)
        stat = self.predictor_path.stat()
        self._predictor = _load_predictor(
            str(self.predictor_path.resolve()), stat.st_mtime_ns, stat.st_size
        )
        self._detector = _detector()

    @staticmethod
    def _image(frame: np.ndarray) -> np.ndarray:
        image = np.asarray(frame)
        if image.dtype != np.uint8 or not (
            image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
        ):
            raise ValueError(
                f"expected a uint8 RGB frame [H, W, 3], got {image.dtype} {list(image.shape)}"
            )
        return np.ascontiguousarray(image)

    def _detect(self, image: np.ndarray) -> Any:
        rects, scores, _ = self._detector.run(image, self.params.upsample, self.params.threshold)
        if len(rects) == 0:
            return None
        best = max(range(len(rects)), key=lambda i: (rects[i].area(), scores[i]))
        return rects[best]

    def face_box(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """The largest detected face as (left, top, right, bottom) px, or None without one."""
        rect = self._detect(self._image(frame))
        return None if rect is None else (rect.left(), rect.top(), rect.right(), rect.bottom())

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None:
        """The 68 landmarks of the largest face: float32 [68, 2] as (x, y) px, or None."""
        image = self._image(frame)
        rect = self._detect(image)
        if rect is None:
            return None
        shape = self._predictor(image, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def mask_from_landmarks(self, points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The weight map, float32 [H, W] of ``shape``, of 68 landmarks, with this provider's
        params."""
        p = self.params
        return render_mask(
            points,
            shape,
            extended=p.extended,
            extend_by=p.extend_by,
            dilate=p.dilate,
            feather=p.feather,
            eye_weight=p.eye_weight,
            mouth_weight=p.mouth_weight,
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The weight map of one uint8 RGB frame [H, W, 3]: float32 [H, W], 0 background,
        1 face, ``eye_weight``/``mouth_weight`` in the eyes/mouth; None when no face is found."""
        points = self.landmarks(frame)
        if points is None:
            return None
        return self.mask_from_landmarks(points, np.asarray(frame).shape[:2])
