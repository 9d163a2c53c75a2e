"""Animating a photographed face by its 68 landmarks: a piecewise-affine warp per frame.

Each photo is first aligned to a canonical frame (eyes level, the eyes-to-chin distance a fixed
fraction of the frame). A frame's expression moves the canonical landmarks (mouth, eyes, smile,
brows, yaw); a fixed Delaunay triangulation of the neutral landmarks and a ring of anchors
around the face turns the moved points into one affine map per triangle (OpenCV's
``getAffineTransform``), which OpenCV rasterises (``fillConvexPoly``) into a dense inverse map;
the pose (roll, scale, position) is a similarity on top, and ``remap`` samples the photo once.
Outside the ring the photo only moves with the pose. An opened mouth is painted dark with a
strip of teeth where the lips part. Deterministic: a pure function of its arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from faceoff_synthetic.render import PARAM_NAMES, expression_trajectory, per_frame

_NEUTRAL: dict[str, float] = {**dict.fromkeys(PARAM_NAMES, 0.0), "eye_open": 1.0, "scale": 1.0}
_EYES_Y = 0.42  # canonical height of the eyes' midpoint, fraction of the frame
_RING = 20  # anchors around the face
_SHIFT = 4  # fractional bits of OpenCV's drawing
_TEETH = np.array([215.0, 210.0, 200.0], np.float32)
# Lower lip, inner lip and jaw follow the jaw drop by these weights; the upper lip rises a little.
_DROP = {
    **{48: 0.25, 54: 0.25, 55: 0.55, 56: 0.85, 57: 1.0, 58: 0.85, 59: 0.55},
    **{60: 0.25, 64: 0.25, 65: 0.8, 66: 1.0, 67: 0.8},
    **{3: 0.1, 4: 0.3, 5: 0.55, 6: 0.8, 7: 0.95, 8: 1.0, 9: 0.95, 10: 0.8, 11: 0.55, 12: 0.3},
    **{13: 0.1, 50: -0.08, 51: -0.08, 52: -0.08, 61: -0.08, 62: -0.08, 63: -0.08},
}
_SMILE = {48: (-1, 1.0), 60: (-1, 1.0), 54: (1, 1.0), 64: (1, 1.0)}
_SMILE |= {49: (-1, 0.4), 59: (-1, 0.4), 53: (1, 0.4), 55: (1, 0.4)}
_LIDS = ((37, 41), (38, 40), (43, 47), (44, 46))  # upper lid point, the lower one below it
_BROW_WEIGHTS = np.array([0.6, 0.75, 0.9, 1.0, 1.0, 1.0, 1.0, 0.9, 0.75, 0.6])


@dataclass(frozen=True)
class Puppet:
    """A photo prepared for frames rendered at ``side`` px (before the final resize)."""

    image: np.ndarray  # the photo, downscaled near the canonical resolution, RGB uint8
    to_photo: np.ndarray  # 2x3: canonical px -> px of ``image``
    points: np.ndarray  # [68 + _RING, 2] neutral control points, canonical px
    triangles: np.ndarray  # [T, 3] indices into points
    side: int
    centre: tuple[float, float]  # where the head turns and scales, canonical px
    height: float  # eyes-to-chin, canonical px
    half_width: float  # half the jaw's width, canonical px
    ring_x: float  # the ring's horizontal radius: yaw compresses up to it
    mouth: float  # jaw drop at mouth_open 1, fraction of ``height``
    cavity: np.ndarray  # colour of the open mouth, RGB float32


def _triangulate(points: np.ndarray, side: int) -> np.ndarray:
    """Delaunay triangles of ``points`` as index triples (OpenCV's Subdiv2D)."""
    low = points.min(0) - 2
    high = points.max(0) + 2
    subdiv = cv2.Subdiv2D(
        (int(low[0]), int(low[1]), int(high[0] - low[0]) + 2, int(high[1] - low[1]) + 2)
    )
    for x, y in points:
        subdiv.insert((float(x), float(y)))
    out = []
    for tri in subdiv.getTriangleList().reshape(-1, 3, 2):
        d = np.linalg.norm(points[None, :, :] - tri[:, None, :], axis=2)
        idx = d.argmin(1)
        if (d[np.arange(3), idx] < 1e-3).all() and len(set(idx.tolist())) == 3:
            out.append(idx)
    return np.asarray(out, np.int64)


def make_puppet(image: np.ndarray, landmarks: np.ndarray, side: int, face: float, mouth: float):
    """Align the photo's face to the canonical frame at ``side`` px and triangulate it."""
    pts = np.asarray(landmarks, np.float64)
    left, right = pts[36:42].mean(0), pts[42:48].mean(0)
    mid = (left + right) / 2
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    k = face * side / float(np.linalg.norm(pts[8] - mid))  # canonical px per photo px
    c, s = math.cos(-angle), math.sin(-angle)
    rot = k * np.array([[c, -s], [s, c]])
    shift = np.array([0.5 * side, _EYES_Y * side]) - rot @ mid
    canon = pts @ rot.T + shift
    # The photo downscaled to about 1.5x the canonical resolution, so zooms in keep detail.
    f = min(1.0, 1.5 * k)
    small = image
    if f < 1.0:
        size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        f = size[0] / image.shape[1]
    inverse = np.linalg.inv(rot)
    to_photo = f * np.hstack([inverse, (-inverse @ shift)[:, None]])
    height = face * side
    centre = (0.5 * side, _EYES_Y * side + 0.45 * height)
    rel = canon - centre
    ring_x = 1.4 * float(np.abs(rel[:, 0]).max())
    ring_y = 1.3 * float(np.abs(rel[:, 1]).max()) + mouth * height
    a = np.linspace(0, 2 * math.pi, _RING, endpoint=False)
    ring = np.stack([centre[0] + ring_x * np.cos(a), centre[1] + ring_y * np.sin(a)], 1)
    points = np.concatenate([canon, ring])
    lips = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(lips, np.round(pts[48:60]).astype(np.int32), 1)
    colour = image[lips > 0].mean(0) if lips.any() else np.array([150.0, 80.0, 80.0])
    return Puppet(
        image=small,
        to_photo=to_photo,
        points=points,
        triangles=_triangulate(points, side),
        side=side,
        centre=centre,
        height=height,
        half_width=float(canon[16, 0] - canon[0, 0]) / 2,
        ring_x=ring_x,
        mouth=mouth,
        cavity=(0.3 * colour).astype(np.float32),
    )


def _complete(params: Mapping[str, float]) -> dict[str, float]:
    unknown = set(params) - set(PARAM_NAMES)
    if unknown:
        raise KeyError(f"unknown parameters {sorted(unknown)}; expected some of {PARAM_NAMES}")
    return _NEUTRAL | {k: float(v) for k, v in params.items()}


def expression_points(puppet: Puppet, params: Mapping[str, float]) -> np.ndarray:
    """The control points moved by the expression and yaw (canonical px, before the pose)."""
    p = _complete(params)
    neutral = puppet.points[:68]
    out = puppet.points.copy()
    pts = out[:68]
    h = puppet.height
    closure = 0.92 * min(1.0, max(0.0, 1.0 - p["eye_open"]))
    for up, low in _LIDS:
        pts[up] += closure * (neutral[low] - neutral[up])
    pts[17:27, 1] -= 0.07 * h * p["brow"] * _BROW_WEIGHTS
    mouth_half = float(neutral[54, 0] - neutral[48, 0]) / 2
    for i, (side, weight) in _SMILE.items():
        pts[i, 0] += side * 0.15 * mouth_half * p["smile"] * weight
        pts[i, 1] -= 0.06 * h * p["smile"] * weight
    drop = puppet.mouth * max(0.0, p["mouth_open"]) * h
    for i, weight in _DROP.items():
        pts[i, 1] += drop * weight
    # Yaw: the features slide towards +x for yaw > 0, that side compressed, the other stretched;
    # the nose tip, nearer the camera, slides further.
    cx, radius = float(neutral[27:31, 0].mean()), puppet.ring_x
    slide = 0.3 * p["yaw"] * puppet.half_width
    rel = pts[:, 0] - cx
    scale = np.where(rel >= 0, (radius - slide) / radius, (radius + slide) / radius)
    pts[:, 0] = cx + slide + rel * scale
    pts[30:36, 0] += 0.12 * p["yaw"] * puppet.half_width
    return out


def _pose(puppet: Puppet, p: Mapping[str, float]) -> np.ndarray:
    """2x3: canonical px -> frame px (roll clockwise in degrees, scale, x and y shifts)."""
    rad = math.radians(p["roll"])
    c, s = math.cos(rad), math.sin(rad)
    rot = p["scale"] * np.array([[c, -s], [s, c]])
    centre = np.array(puppet.centre)
    move = centre + puppet.side * np.array([p["x"], p["y"]])
    return np.hstack([rot, (move - rot @ centre)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def frame_landmarks(puppet: Puppet, params: Mapping[str, float], size: int) -> np.ndarray:
    """The 68 landmarks of the frame ``render_frame`` draws, (x, y) px of a ``size`` frame."""
    p = _complete(params)
    moved = expression_points(puppet, p)[:68]
    return (_apply(_pose(puppet, p), moved) + 0.5) * (size / puppet.side) - 0.5


def _expression_displacement(puppet: Puppet, moved: np.ndarray) -> np.ndarray:
    """float32 [side, side, 2]: where each pixel of the expression-warped canonical image comes
    from, minus the pixel; zero outside the ring."""
    side = puppet.side
    ids = np.full((side, side), -1, np.int32)
    mats = np.zeros((len(puppet.triangles), 2, 3))
    for i, tri in enumerate(puppet.triangles):
        dst = moved[tri]
        (ux, uy), (vx, vy) = dst[1] - dst[0], dst[2] - dst[0]
        area = abs(ux * vy - uy * vx)
        if area < 1e-3:
            continue  # a collapsed triangle covers no pixel
        mats[i] = cv2.getAffineTransform(
            dst.astype(np.float32), puppet.points[tri].astype(np.float32)
        )
        corners = np.round(dst * (1 << _SHIFT)).astype(np.int32)
        cv2.fillConvexPoly(ids, corners, i, cv2.LINE_8, _SHIFT)
    ys, xs = np.nonzero(ids >= 0)
    m = mats[ids[ys, xs]]
    out = np.zeros((side, side, 2), np.float32)
    out[ys, xs, 0] = m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2] - xs
    out[ys, xs, 1] = m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2] - ys
    return out


def _fill(side: int, polygon: np.ndarray) -> np.ndarray:
    """An antialiased polygon mask in [0, 1], float32 [side, side]."""
    mask = np.zeros((side, side), np.uint8)
    cv2.fillPoly(
        mask, [np.round(polygon * (1 << _SHIFT)).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT
    )
    return mask.astype(np.float32) / 255.0


def render_frame(puppet: Puppet, params: Mapping[str, float], size: int) -> np.ndarray:
    """One frame, uint8 (size, size, 3) RGB; missing params take neutral values (mouth as
    photographed, eyes open, frontal, centred, scale 1)."""
    p = _complete(params)
    side = puppet.side
    moved = expression_points(puppet, p)
    pose = _pose(puppet, p)
    unpose = cv2.invertAffineTransform(pose)
    shift = cv2.warpAffine(
        _expression_displacement(puppet, moved),
        unpose,
        (side, side),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).astype(np.float64)
    canonical = _apply(unpose, grid) + shift
    photo = _apply(puppet.to_photo, canonical).astype(np.float32)
    img = cv2.remap(
        puppet.image,
        photo[..., 0],
        photo[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT101,
    ).astype(np.float32)
    drop = puppet.mouth * max(0.0, p["mouth_open"]) * puppet.height
    alpha = min(1.0, drop / (0.05 * puppet.height)) if puppet.height > 0 else 0.0
    if alpha > 0:
        lips = _apply(pose, moved[60:68])
        cavity = _fill(side, lips)[..., None] * alpha
        img = img * (1 - cavity) + puppet.cavity * cavity
        upper = moved[60:65]
        # Upper teeth show over a third of the gap: the lips' own (a smile's) and the drop.
        own = max(0.0, float(puppet.points[66, 1] - puppet.points[62, 1]))
        depth = min(0.35 * (drop + own), 0.07 * puppet.height)
        depth = depth * np.array([0.0, 0.8, 1.0, 0.8, 0.0])
        band = np.concatenate([upper, (upper + np.stack([0 * depth, depth], 1))[::-1]])
        teeth = (_fill(side, _apply(pose, band)) * _fill(side, lips))[..., None] * alpha
        img = img * (1 - teeth) + _TEETH * teeth
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def render_frames(puppet: Puppet, params: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    """uint8 [N, size, size, 3] RGB: the puppet drawn with each frame's ``params`` ([N] each)."""
    each = per_frame(params)
    frames = np.empty((len(each), size, size, 3), np.uint8)
    for i, one in enumerate(each):
        frames[i] = render_frame(puppet, one, size)
    return frames


def working_side(size: int) -> int:
    """The side frames are drawn at before the area resize to ``size``."""
    return max(128, 2 * size)


def trajectory(seed: int, index: int, n: int, ranges: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Person ``index``'s per-frame parameters: the synthetic source's trajectory for the same
    seed and person, scaled to the motion ranges (a range of 0 holds its parameter still)."""
    sub_seed = int(np.random.SeedSequence([seed, 0x7A, index]).generate_state(1)[0])
    t = expression_trajectory(sub_seed, n)
    out = {
        "mouth_open": t["mouth_open"] * (1.0 if ranges["mouth"] > 0 else 0.0),
        "smile": t["smile"] * ranges["smile"],
        "eye_open": t["eye_open"] if ranges["blink"] else np.ones(n),
        "brow": t["brow"] * ranges["brow"],
        "yaw": t["yaw"] * ranges["yaw"],
        "roll": t["roll"] / 15.0 * ranges["roll"],
        "x": t["x"] / 0.08 * ranges["shift"],
        "y": t["y"] / 0.08 * ranges["shift"],
        "scale": 1.0 + (t["scale"] - 1.0) / 0.15 * ranges["zoom"],
    }
    return {name: np.asarray(out[name], np.float32) for name in PARAM_NAMES}
