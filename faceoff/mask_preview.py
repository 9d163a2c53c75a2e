"""`faceoff masks`: a provider's masks for a folder of frames or a video, to look at first."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.components import Component
from faceoff.console import track
from faceoff.data import Domain, read_image_folder, resize_frames
from faceoff.errors import FaceoffError
from faceoff.io import check_new_folder, refuse_inputs, write_bytes
from faceoff.masks import MaskCache, check_mask, provider_label
from faceoff.video.io import VIDEO_EXTENSIONS, check_decoded, is_video, probe
from faceoff.video.io import frames as video_frames


@dataclass
class PreviewSummary:
    frames: int
    faces: int
    seconds_per_frame: float
    cached: int

    def line(self) -> str:
        return (
            f"frames {self.frames}, faces found {self.faces}, "
            f"{self.seconds_per_frame:.3f} s per frame ({self.cached} from the cache)"
        )


def read_video(path: Path, size: int) -> Domain:
    """Every frame of a video, resized to ``size`` x ``size``."""
    info = probe(path)  # a clear error for a missing or undecodable file
    decoded = [resize_frames(frame, size) for _, frame in video_frames(path)]
    if not decoded:
        raise FaceoffError(f"{path}: no frame could be decoded")
    check_decoded(path, len(decoded), info.frames)
    return Domain(np.stack(decoded), [f"frame_{i:06d}.png" for i in range(len(decoded))])


def read_input(path: Path, size: int) -> Domain:
    """A folder of images or a video file."""
    if path.is_dir():
        return read_image_folder(path, size)
    if is_video(path) and path.is_file():
        return read_video(path, size)
    if not path.exists():
        raise FaceoffError(f"{path}: no such folder or video")
    raise FaceoffError(f"{path}: not a folder of images or a video ({', '.join(VIDEO_EXTENSIONS)})")


def _png(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    if not ok:
        raise OSError(f"could not encode {path}")
    write_bytes(path, data.tobytes())


def overlay(frame: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The frame with the mask tinted red over it (weights above 1 tint more strongly)."""
    if mask is None:
        return (frame * 0.5).astype(np.uint8)  # darkened: no face found
    alpha = (np.clip(mask, 0, 3) / 3 * 0.6 + (mask > 0) * 0.2)[..., None]
    red = np.zeros_like(frame)
    red[..., 0] = 255
    return (frame * (1 - alpha) + red * alpha).astype(np.uint8)


def preview_masks(
    component: Component, params: Any, source: Path, out: Path, size: int, use_cache: bool = True
) -> PreviewSummary:
    """Write ``out/masks/*.png`` (8-bit, 255 = weight 1 or more) and ``out/overlay/*.png``.

    Written under a temporary sibling folder renamed at the end: an interrupted or failed
    command leaves no folder that looks complete.
    """
    refuse_inputs(out, {"SOURCE": source})
    check_new_folder(out)
    domain = read_input(source, size)
    provider = component.make(params)
    final, out = out, out.parent / f".{out.name}.partial"
    shutil.rmtree(out, ignore_errors=True)
    try:
        summary = _write(provider, component, params, domain, source, out, use_cache)
        if final.exists():
            final.rmdir()
        out.rename(final)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return summary


def _write(
    provider: Any,
    component: Component,
    params: Any,
    domain: Domain,
    source: Path,
    out: Path,
    use_cache: bool,
) -> PreviewSummary:
    cache = MaskCache(component, params.model_dump(mode="json")) if use_cache else None
    faces = cached = 0
    spent = 0.0
    for name, frame in track(zip(domain.names, domain.frames), len(domain), "masks"):
        key = MaskCache.frame_key(frame) if cache else ""
        hit, mask = cache.get(key) if cache else (False, None)
        if hit:
            cached += 1
        else:
            start = time.perf_counter()
            mask = check_mask(provider(frame), frame, name, str(source), provider_label(component))
            spent += time.perf_counter() - start
            if cache:
                cache.put(key, mask)
        faces += mask is not None
        stem = Path(name).stem
        gray = np.zeros(frame.shape[:2], np.uint8) if mask is None else np.clip(mask * 255, 0, 255)
        _png(out / "masks" / f"{stem}.png", gray.astype(np.uint8))
        _png(out / "overlay" / f"{stem}.png", overlay(frame, mask))
    computed = len(domain) - cached
    return PreviewSummary(len(domain), faces, spent / computed if computed else 0.0, cached)
