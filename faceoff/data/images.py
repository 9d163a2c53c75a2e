"""Reading folders of frames with OpenCV, skipping (and counting) unreadable files.

A frame's size is read from its header (Pillow reads no pixels for it) before OpenCV decodes
it: a small file can announce a huge image (a 1.4 MB PNG of 25000 x 25000 px decodes to 1.9 GB),
so frames above :data:`MAX_PIXELS` are refused before any is decoded.
"""

from __future__ import annotations

import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceoff.console import track, warn
from faceoff.data.domain import Domain
from faceoff.errors import FaceoffError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MAX_PIXELS = 8192 * 8192  # the largest frame faceoff decodes: 64 Mpx, 192 MiB as RGB


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


def header_pixels(path: Path) -> tuple[int, int] | tuple[int] | None:
    """(width, height) from an image file's header, without decoding it; (pixels,) when the
    header announces more than Pillow opens at all; None when it is no image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return (int(found.group(1)) if found else 2**63,)
    except Exception:  # Pillow's many ways of saying "not an image I know"
        return None


def check_frame_size(
    path: Path, width: int, height: int | None = None, max_pixels: int = MAX_PIXELS
) -> None:
    """A FaceoffError when a frame of ``path`` has more than ``max_pixels`` (``height`` None:
    ``width`` is the pixel count)."""
    pixels = width if height is None else width * height
    if pixels > max_pixels:
        size = f"{pixels:,} pixels"
        if height is not None:
            size = f"{width}x{height} px ({size})"
        raise FaceoffError(
            f"{path}: {size} is more than the {max_pixels:,} pixels a frame may have "
            "(faceoff.data.images.MAX_PIXELS); shrink it first"
        )


def check_pixels(path: Path, max_pixels: int = MAX_PIXELS) -> bool:
    """Whether ``path``'s header names an image (False: not one, OpenCV will not be asked);
    a FaceoffError when it has more than ``max_pixels``."""
    size = header_pixels(path)
    if size is not None:
        check_frame_size(path, *size, max_pixels=max_pixels)
    return size is not None


def _decode(path: Path) -> np.ndarray | None:
    data = np.fromfile(path, dtype=np.uint8)  # survives non-ASCII paths, unlike cv2.imread
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """An image file as uint8 RGB at its own size; None when it cannot be decoded; a
    FaceoffError, before decoding, when it has more than ``max_pixels``."""
    return _decode(path) if check_pixels(path, max_pixels) else None


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, in natural order (frame_2 before frame_10)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=_natural_key)


def read_image_folder(
    folder: str | Path, size: int, *, required: bool = True, max_pixels: int = MAX_PIXELS
) -> Domain:
    """Decode every image in a folder to uint8 RGB at ``size`` x ``size``.

    Unreadable images are skipped with one warning that counts them; a missing folder, an empty
    one, or one where nothing decodes is a FaceoffError when ``required`` (else an empty Domain),
    and so is an image of more than ``max_pixels``, found from the headers before any decoding.
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
    readable = {p for p in files if check_pixels(p, max_pixels)}  # every header, first

    def read(path: Path) -> np.ndarray | None:
        image = _decode(path) if path in readable else None
        return None if image is None else resize_frames(image, size)

    with ThreadPoolExecutor(max_workers=4) as pool:
        decoded = list(track(pool.map(read, files), len(files), f"reading {folder}"))
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
