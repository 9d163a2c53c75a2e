"""The puppets' photographs: where the default ones are, reading them, and their landmarks.

Landmarks come from the dlib mask provider (its detector and the 68-point predictor that
``face-recognition-models`` ships, never downloaded), once per photo: they are cached under
``$FACEOFF_CACHE/puppets`` by the photo's content and the predictor file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceoff.console import warn
from faceoff.errors import FaceoffError
from faceoff.io import write_bytes
from faceoff.masks import cache_root

THRESHOLD = 0.3  # the detector's score threshold: drops weak false faces (astronaut's flag patch)
_VERSION = 4  # of the cached landmarks' meaning
DETECT_SIDE = 1600  # photos larger than this are downscaled to it to find the face
Box = tuple[int, int, int, int]  # left, top, right, bottom px
DEFAULTS: tuple[tuple[str, str, str, Box | None], ...] = (
    ("skimage", "data/astronaut.png", "scikit-image's astronaut", None),
    # A group photo: the face looked for in this box is the one with open eyes, frontal.
    ("insightface", "data/images/t1.jpg", "insightface's t1.jpg", (380, 220, 630, 480)),
)


@dataclass(frozen=True)
class Photo:
    """One photograph, RGB uint8, with its face's 68 landmarks (x, y px) and where it is from."""

    image: np.ndarray
    landmarks: np.ndarray
    label: str


def _package_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(location) / relative
        if path.is_file():
            return path
    return None


def default_photos() -> list[tuple[Path, str, Box | None]]:
    """(path, label, box where the face is looked for) of the default A and B photos; a
    FaceoffError if one is not installed."""
    found = []
    for package, relative, label, box in DEFAULTS:
        path = _package_file(package, relative)
        if path is None:
            raise FaceoffError(
                f"data source puppets: the default photo {label} is not installed ({package} "
                f"missing: `pip install 'faceoff[all,dev]'`); or pass two photo files as the "
                "param `photos`"
            )
        found.append((path, label, box))
    return found


def read_photo(path: Path, param: str) -> np.ndarray:
    """The photo at ``path`` as RGB uint8; FaceoffError naming ``param`` when it is missing or
    not an image."""
    if not path.is_file():
        raise FaceoffError(f"data source puppets: {param} {str(path)!r}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FaceoffError(
            f"data source puppets: {param} {str(path)!r}: not an image OpenCV can read"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _provider():
    from faceoff_dlib import DlibParams
    from faceoff_dlib.provider import DlibMaskProvider

    return DlibMaskProvider(DlibParams(upsample=1, threshold=THRESHOLD))


def _clearest_face(image: np.ndarray) -> np.ndarray | None:
    """The 68 landmarks of the face dlib's detector scores highest (in a group photo the most
    frontal one, not the nearest), by the dlib mask provider's detector and predictor."""
    provider = _provider()
    # A phone photo is looked at downscaled: the upsampled detector would take seconds and GBs.
    factor = min(1.0, DETECT_SIDE / max(image.shape[:2]))
    if factor < 1.0:
        size = (round(image.shape[1] * factor), round(image.shape[0] * factor))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(image)
    rects, scores, _ = provider._detector.run(image, 1, THRESHOLD)
    if len(rects) == 0:
        return None
    best = max(range(len(rects)), key=lambda i: (scores[i], rects[i].area()))
    shape = provider._predictor(image, rects[best])
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32) / factor


def _cache_path(path: Path, box: Box | None) -> Path:
    from faceoff_dlib.provider import find_predictor

    predictor = find_predictor(None).stat()
    h = hashlib.blake2b(digest_size=16)
    h.update(path.read_bytes())
    h.update(
        json.dumps([_VERSION, THRESHOLD, box, predictor.st_size, predictor.st_mtime_ns]).encode()
    )
    return cache_root() / "puppets" / f"{h.hexdigest()}.json"


def plausible(points: np.ndarray, shape: tuple[int, ...]) -> bool:
    """68 finite (x, y) points on the photo, or near it: dlib may place a cut-off chin a little
    past the edge, so a margin of a quarter of the photo's size is allowed on every side."""
    if points.shape != (68, 2) or not np.isfinite(points).all():
        return False
    height, width = shape[:2]
    low = -0.25 * np.array([width, height])
    return bool(((points >= low) & (points <= -5 * low)).all())


def _read_cached(cached: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The landmarks of a cache file if it holds plausible ones for a photo of ``shape``; a
    damaged file is found again, one that holds NaN or points far off the photo with a
    warning (they would warp the puppet into nonsense)."""
    if not cached.is_file():
        return None
    try:
        points = np.asarray(json.loads(cached.read_bytes())["landmarks"], np.float64)
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return None  # unreadable or not landmarks: found again
    if plausible(points, shape):
        return points.astype(np.float32)
    warn(
        f"data source puppets: the cached landmarks {cached} are not 68 finite points on the "
        "photo; finding them again"
    )
    return None


def find_landmarks(image: np.ndarray, path: Path, box: Box | None = None) -> np.ndarray:
    """The 68 landmarks of the clearest face of the photo at ``path`` (float32 [68, 2]), in
    ``box`` if given, from the cache or found now and cached; FaceoffError naming the file
    without a face."""
    cached = _cache_path(path, box)
    points = _read_cached(cached, image.shape)
    if points is not None:
        return points
    left, top = (0, 0) if box is None else box[:2]
    points = _clearest_face(image if box is None else image[box[1] : box[3], box[0] : box[2]])
    if points is not None:
        points = points + np.array([left, top], np.float32)
    if points is None:
        raise FaceoffError(
            f"data source puppets: no face found in {str(path)!r} (dlib's detector); pass a "
            "photo with one clear, roughly frontal face"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(cached, json.dumps({"landmarks": points.tolist(), "photo": str(path)}).encode())
    return points


def load_photos(photos: list[str] | None) -> tuple[Photo, Photo]:
    """A's and B's photos with landmarks: the given files, or the defaults."""
    if photos is None:
        where = default_photos()
        params = ["default photo"] * 2
    else:
        where = [(Path(os.path.expanduser(p)), Path(p).name, None) for p in photos]
        params = [f"param photos[{i}]" for i in range(len(photos))]
    out = []
    for (path, label, box), param in zip(where, params):
        image = read_photo(path, param)
        out.append(Photo(image, find_landmarks(image, path, box), label))
    return out[0], out[1]
