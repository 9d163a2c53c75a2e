"""Reading folders of frames with OpenCV, skipping (and counting) unreadable files."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from faceoff.console import track, warn
from faceoff.data.domain import Domain
from faceoff.errors import FaceoffError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def resize_frames(frame: np.ndarray, size: int) -> np.ndarray:
    """Square resize: area averaging when shrinking, bicubic when growing (as the reference)."""
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame
    shrink = frame.shape[0] > size or frame.shape[1] > size
    return cv2.resize(
        frame, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )


def _read(path: Path, size: int) -> np.ndarray | None:
    data = np.fromfile(path, dtype=np.uint8)  # survives non-ASCII paths, unlike cv2.imread
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return None
    return resize_frames(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), size)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, in natural order (frame_2 before frame_10)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=_natural_key)


def read_image_folder(folder: str | Path, size: int, *, required: bool = True) -> Domain:
    """Decode every image in a folder to uint8 RGB at ``size`` x ``size``.

    Unreadable images are skipped with one warning that counts them; a missing folder, an empty
    one, or one where nothing decodes is a FaceoffError when ``required`` (else an empty Domain).
    """
    folder = Path(folder)
    empty = Domain(np.zeros((0, size, size, 3), np.uint8), [])
    if not folder.is_dir():
        if required:
            raise FaceoffError(f"{folder}: no such folder of frames")
        return empty
    files = list_images(folder)
    if not files:
        if required:
            raise FaceoffError(
                f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder"
            )
        return empty
    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(
            track(pool.map(lambda p: _read(p, size), files), len(files), f"reading {folder}")
        )
    bad = [p for p, image in zip(files, decoded) if image is None]
    if bad:
        if len(bad) == len(files):
            raise FaceoffError(f"{folder}: none of the {len(files)} images could be decoded")
        warn(
            f"{folder}: skipped {len(bad)} of {len(files)} images that could not be decoded "
            f"(first: {bad[0].name})"
        )
    kept = [(p, image) for p, image in zip(files, decoded) if image is not None]
    return Domain(np.stack([image for _, image in kept]), [p.name for p, _ in kept])
