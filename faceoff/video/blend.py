"""Pasting a translated face back into its frame so that no seam shows: ``apply --paste-back``.

faceswap's users judge a face-off first by colour seams and hard edges, so the translated crop
is (1) colour-matched to the frame it goes into, inside the face mask: the mean colour
(faceswap's default), Reinhard's mean and spread in L*a*b*, or the histogram; (2) cut out by a
mask, an ellipse grown or shrunk by ``erode`` percent of the face size and feathered by ``blur``
percent; (3) blended in, by that mask's weights or by OpenCV's seamless (Poisson) clone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from faceoff.console import warn

ColorMatch = Literal["none", "mean", "reinhard", "histogram"]
COLOR_MATCHES = ("none", "mean", "reinhard", "histogram")


@dataclass(frozen=True)
class Blend:
    """How a face goes back into its frame (percentages of the crop's side)."""

    color: ColorMatch = "mean"
    erode: float = 0.0  # shrink the mask by this percent of the side (negative: grow it)
    blur: float = 8.0  # feather the mask's edge: Gaussian sigma in percent of the side
    seamless: bool = False  # OpenCV's seamless clone instead of the feathered mask


def face_mask(size: int, blend: Blend) -> tuple[np.ndarray, np.ndarray]:
    """(hard mask, feathered weights) in crop coordinates, float32 [size, size] in [0, 1]: the
    face ellipse (72% wide, 88% high) grown or shrunk, then blurred."""
    hard = np.zeros((size, size), np.float32)
    cv2.ellipse(
        hard, (size // 2, size // 2), (int(size * 0.36), int(size * 0.44)), 0, 0, 360, 1.0, -1
    )
    px = round(abs(blend.erode) * size / 100)
    if px:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
        hard = (cv2.erode if blend.erode > 0 else cv2.dilate)(hard, kernel)
    sigma = blend.blur * size / 100
    soft = cv2.GaussianBlur(hard, (0, 0), sigma) if sigma > 0 else hard.copy()
    return hard, soft


def _histogram_match(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``source`` values (one channel, 1-D) remapped so their distribution is ``reference``'s."""
    order = np.argsort(source)
    quantiles = np.linspace(0, 1, len(source))
    ref_sorted = np.sort(reference)
    matched = np.empty_like(source, dtype=np.float32)
    matched[order] = np.interp(quantiles, np.linspace(0, 1, len(ref_sorted)), ref_sorted)
    return matched


def match_color(
    face: np.ndarray, target: np.ndarray, inside: np.ndarray, how: ColorMatch
) -> np.ndarray:
    """``face`` (uint8 RGB crop) with its colours inside ``inside`` (bool mask) matched to
    ``target``'s (the frame's crop under it); the whole face is shifted alike."""
    if how == "none" or not inside.any():
        return face
    if how == "mean":
        shift = target[inside].astype(np.float32).mean(0) - face[inside].astype(np.float32).mean(0)
        return np.clip(face.astype(np.float32) + shift, 0, 255).round().astype(np.uint8)
    if how == "reinhard":
        f = cv2.cvtColor(face.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        t = cv2.cvtColor(target.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)
        fm, fs = f[inside].mean(0), f[inside].std(0) + 1e-6
        tm, ts = t[inside].mean(0), t[inside].std(0)
        out = cv2.cvtColor(((f - fm) / fs * ts + tm).astype(np.float32), cv2.COLOR_LAB2RGB)
        return np.clip(out * 255, 0, 255).round().astype(np.uint8)
    out = face.astype(np.float32)
    for c in range(3):  # histogram: inside the mask matched, outside shifted by the same map
        values = face[..., c][inside].astype(np.float32)
        matched = _histogram_match(values, target[..., c][inside].astype(np.float32))
        lookup = np.interp(np.arange(256), np.sort(values), np.sort(matched))
        out[..., c] = lookup[face[..., c]]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def _to_frame(box: np.ndarray, size: int) -> np.ndarray:
    """The affine map from crop coordinates to frame coordinates."""
    cx, cy, side = box
    s = side / size
    return np.array([[s, 0, cx - s * size / 2], [0, s, cy - s * size / 2]], np.float32)


def paste(
    frame: np.ndarray,
    face: np.ndarray,
    box: np.ndarray,
    blend: Blend | None = None,
    source: np.ndarray | None = None,
) -> np.ndarray:
    """``face`` (a crop made with ``box``) put back into ``frame``. ``source``, the crop the
    generator was given, is the colour reference (default: cut from ``frame``)."""
    from faceoff.video.faces import crop

    blend = blend or Blend()
    size = face.shape[0]
    hard, soft = face_mask(size, blend)
    reference = source if source is not None else crop(frame, box, size)
    face = match_color(face, reference, hard > 0.5, blend.color)
    matrix = _to_frame(box, size)
    h, w = frame.shape[:2]
    warped = cv2.warpAffine(face, matrix, (w, h), flags=cv2.INTER_CUBIC)
    if blend.seamless:
        region = cv2.warpAffine((hard > 0.5).astype(np.uint8) * 255, matrix, (w, h))
        ys, xs = np.nonzero(region)
        if len(xs):
            centre = (int((xs.min() + xs.max()) // 2), int((ys.min() + ys.max()) // 2))
            try:
                return cv2.seamlessClone(warped, frame, region, centre, cv2.NORMAL_CLONE)
            except cv2.error as exc:  # a face at the frame's edge: the feathered mask instead
                warn(f"seamless clone failed ({str(exc).splitlines()[0][:80]}); blended instead")
    alpha = cv2.warpAffine(soft, matrix, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    return (frame * (1 - alpha) + warped * alpha).round().clip(0, 255).astype(np.uint8)


def seam(image: np.ndarray, frame_mask: np.ndarray, width: int = 2) -> float:
    """Mean gradient magnitude of ``image`` along the border of a mask (bool, frame size): how
    visible the seam is."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    m = frame_mask.astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    border = (cv2.dilate(m, kernel) - cv2.erode(m, kernel)).astype(bool)
    return float(np.hypot(gx, gy)[border].mean()) if border.any() else 0.0
