"""Deterministic cartoon "talking head" videos for an unsupervised face-off data set.

Two distinct people A and B are drawn from one seed. Each gets its own smooth, video-like
trajectory of expression and pose parameters, and the ground truth of every frame is returned
so that expression transfer can be measured later. Everything is a pure function of its
arguments: no global random state, byte-identical output for identical calls.

Colours are RGB tuples and frames are RGB: OpenCV only draws numbers, so drawing straight in
RGB spares a channel swap per frame.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

PARAM_NAMES: tuple[str, ...] = (
    "mouth_open",
    "smile",
    "eye_open",
    "brow",
    "yaw",
    "roll",
    "x",
    "y",
    "scale",
)

RGB = tuple[int, int, int]
Pt = tuple[float, float]
HairStyle = Literal["short", "long", "curly"]

_HAIR_STYLES: tuple[HairStyle, ...] = ("short", "long", "curly")


def _palette(hexes: str) -> tuple[RGB, ...]:
    return tuple(_rgb(bytes.fromhex(h)) for h in hexes.split())


def _rgb(values: Iterable[float]) -> RGB:
    r, g, b = (int(min(255, max(0, round(v)))) for v in values)
    return r, g, b


# Skin tones light to dark; hair black, browns, auburn, blonde, grey; brown/blue/green/hazel eyes.
_SKINS = _palette("ffe0c4 f1c2a0 e0ac7d c6865a a16640 6e462d")
_HAIRS = _palette("1e1919 553723 8c5a32 aa4623 e6c36e afafaf")
_IRISES = _palette("5a3c1e 3c6eb4 468250 826e3c")
_NEUTRAL: dict[str, float] = {**dict.fromkeys(PARAM_NAMES, 0.0), "eye_open": 1.0, "scale": 1.0}
_SHIFT = 4  # fractional bits for cv2 drawing: sub-pixel positions keep motion smooth
_DARK: RGB = (35, 25, 25)
_WHITE: RGB = (250, 250, 245)


@dataclass(frozen=True)
class Identity:
    """Everything that makes a person recognisable; constant over their whole video."""

    face_aspect: float  # head half-width / half-height
    skin: RGB
    hair: RGB
    hair_style: HairStyle
    iris: RGB
    eye_spacing: float  # eye centre distance from the midline, in head half-widths
    eye_size: float
    nose_size: float
    mouth_width: float  # mouth half-width, in head half-widths
    glasses: bool
    beard: bool
    frame_colour: RGB  # glasses frame
    shirt: RGB
    bg_top: RGB
    bg_bottom: RGB
    offset_x: float  # mean head position, fraction of image size (A and B are not aligned)
    offset_y: float
    scale: float  # mean head scale


def _shade(rgb: RGB, factor: float) -> RGB:
    return _rgb(c * factor for c in rgb)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return _rgb(x + (y - x) * t for x, y in zip(a, b, strict=True))


def _hsv(h: float, s: float, v: float) -> RGB:
    return _rgb(255 * c for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _distance(a: RGB, b: RGB) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def _pick_skins(rng: np.random.Generator) -> tuple[RGB, RGB]:
    """Two palette tones at least two steps apart, so A and B never share a complexion."""
    i = int(rng.integers(len(_SKINS)))
    j = int(rng.choice([k for k in range(len(_SKINS)) if abs(k - i) >= 2]))
    jitter = rng.integers(-8, 9, size=(2, 3))
    return _rgb(_SKINS[i] + jitter[0]), _rgb(_SKINS[j] + jitter[1])


def _pick_hairs(rng: np.random.Generator, skins: tuple[RGB, RGB]) -> tuple[RGB, RGB]:
    """Distinct hair colours, each contrasting with its own skin so hair and beard show."""
    order = [_HAIRS[k] for k in rng.permutation(len(_HAIRS))]
    hair_a = next(h for h in order if _distance(h, skins[0]) >= 120)
    hair_b = next(h for h in order if h != hair_a and _distance(h, skins[1]) >= 120)
    return hair_a, hair_b


def make_identities(seed: int) -> tuple[Identity, Identity]:
    """Two clearly distinct people from one seed (seed >= 0).

    Exactly one wears glasses and the other has a beard; skin tones, hair colour and style,
    face shape and background tint differ, and so do their mean head position and scale, so
    the two domains are not aligned (as in the paper).
    """
    rng = _rng(seed, 0xFACE)
    skins = _pick_skins(rng)
    hairs = _pick_hairs(rng, skins)
    styles = rng.permutation(len(_HAIR_STYLES))[:2]
    irises = rng.permutation(len(_IRISES))[:2]
    aspects = rng.permutation([rng.uniform(0.68, 0.75), rng.uniform(0.80, 0.87)])
    glasses_first = bool(rng.random() < 0.5)
    hue = rng.random()
    hues = (hue, hue + rng.uniform(1 / 3, 2 / 3))
    signs = rng.choice([-1.0, 1.0], size=3)
    people = []
    for k in range(2):
        sign = 1.0 if k == 0 else -1.0
        bg_s, bg_v = rng.uniform(0.2, 0.35), rng.uniform(0.82, 0.95)
        people.append(
            Identity(
                face_aspect=float(aspects[k]),
                skin=skins[k],
                hair=hairs[k],
                hair_style=_HAIR_STYLES[int(styles[k])],
                iris=_IRISES[int(irises[k])],
                eye_spacing=float(rng.uniform(0.36, 0.46)),
                eye_size=float(rng.uniform(0.9, 1.15)),
                nose_size=float(rng.uniform(0.8, 1.25)),
                mouth_width=float(rng.uniform(0.32, 0.42)),
                glasses=glasses_first == (k == 0),
                beard=glasses_first != (k == 0),
                frame_colour=_hsv(rng.random(), 0.5, rng.uniform(0.15, 0.4)),
                shirt=_hsv(rng.random(), rng.uniform(0.45, 0.7), rng.uniform(0.4, 0.7)),
                bg_top=_hsv(hues[k], bg_s, bg_v),
                bg_bottom=_hsv(hues[k], bg_s, bg_v * 0.8),
                offset_x=float(sign * signs[0] * rng.uniform(0.025, 0.05)),
                offset_y=float(sign * signs[1] * rng.uniform(0.015, 0.035)),
                scale=float(1.0 + sign * signs[2] * rng.uniform(0.05, 0.09)),
            )
        )
    return people[0], people[1]


def _waves(rng: np.random.Generator, n: int, periods: tuple[float, float]) -> np.ndarray:
    """Sum of a few random sinusoids with roughly unit variance: smooth and never repeating."""
    count = 3
    period = rng.uniform(*periods, size=count)
    phase = rng.uniform(0.0, 2 * math.pi, size=count)
    amp = rng.uniform(0.5, 1.0, size=count)
    t = np.arange(n, dtype=np.float64)[:, None]
    z = np.sin(2 * math.pi * t / period + phase) @ amp
    return z / math.sqrt(float(amp @ amp) / 2.0)


def _blinks(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-frame eye openness factor: 1, dropping to 0 for a few frames every 2-5 s."""
    factor = np.ones(n)
    start = rng.uniform(5, 90)
    while start < n:
        length = int(rng.integers(4, 7))
        closure = np.clip(1.6 * np.sin(math.pi * (np.arange(length) + 0.5) / length), 0, 1)
        first = int(start)
        stop = min(n, first + length)
        factor[first:stop] = 1.0 - closure[: stop - first]
        start += length + rng.uniform(45, 130)
    return factor


def expression_trajectory(seed: int, n_frames: int) -> dict[str, np.ndarray]:
    """Smooth, video-like per-frame parameters, float32 arrays keyed by PARAM_NAMES.

    Each parameter has its own random stream, so a trajectory of n frames is a prefix of a
    longer one from the same seed. The mouth moves fastest (talking), pose slowest.
    """
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(PARAM_NAMES))]
    r = dict(zip(PARAM_NAMES, rngs, strict=True))
    n = n_frames
    out = {
        "mouth_open": np.clip(0.35 + 0.45 * _waves(r["mouth_open"], n, (14, 50)), 0.0, 1.0),
        "smile": np.tanh(0.8 * _waves(r["smile"], n, (60, 220))),
        "eye_open": np.clip(0.85 + 0.12 * _waves(r["eye_open"], n, (80, 260)), 0.6, 1.0)
        * _blinks(r["eye_open"], n),
        "brow": np.tanh(0.7 * _waves(r["brow"], n, (50, 200))),
        "yaw": np.tanh(0.7 * _waves(r["yaw"], n, (80, 300))),
        "roll": 15.0 * np.tanh(0.6 * _waves(r["roll"], n, (80, 300))),
        "x": 0.08 * np.tanh(0.6 * _waves(r["x"], n, (100, 400))),
        "y": 0.08 * np.tanh(0.6 * _waves(r["y"], n, (100, 400))),
        "scale": 1.0 + 0.15 * np.tanh(0.6 * _waves(r["scale"], n, (100, 400))),
    }
    return {name: out[name].astype(np.float32) for name in PARAM_NAMES}


class _Pen:
    """Draws in head-local units (head half-height = 1, y down), rotated by `roll` degrees."""

    def __init__(self, img: np.ndarray, centre: tuple[float, float], unit: float, roll: float):
        self.img, self.centre, self.unit, self.roll = img, centre, unit, roll
        rad = math.radians(roll)
        self._rot = np.array([[math.cos(rad), math.sin(rad)], [-math.sin(rad), math.cos(rad)]])

    def pts(self, xy: np.ndarray | list) -> np.ndarray:
        canvas = np.asarray(xy, dtype=np.float64) @ self._rot * self.unit + self.centre
        return np.round(canvas * (1 << _SHIFT)).astype(np.int32)

    def width(self, w: float) -> int:
        return max(1, round(w * self.unit))

    def ellipse(self, c: Pt, axes: Pt, colour: RGB, thick: float = -1, arc: Pt = (0, 360)) -> None:
        cx, cy = self.pts([c])[0].tolist()
        ax = tuple(max(0, round(a * self.unit * (1 << _SHIFT))) for a in axes)
        th = -1 if thick < 0 else self.width(thick)
        cv2.ellipse(self.img, (cx, cy), ax, self.roll, *arc, colour, th, cv2.LINE_AA, _SHIFT)

    def poly(self, xy: np.ndarray | list, colour: RGB) -> None:
        cv2.fillPoly(self.img, [self.pts(xy)], colour, cv2.LINE_AA, _SHIFT)

    def line(self, xy: np.ndarray | list, colour: RGB, thickness: float) -> None:
        cv2.polylines(
            self.img, [self.pts(xy)], False, colour, self.width(thickness), cv2.LINE_AA, _SHIFT
        )


@functools.lru_cache(maxsize=8)
def _background(identity: Identity, side: int) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, side)[:, None, None]
    top, bottom = np.array(identity.bg_top), np.array(identity.bg_bottom)
    column = np.round(top + (bottom - top) * ramp).astype(np.uint8)
    img = np.ascontiguousarray(np.broadcast_to(column, (side, side, 3)))
    img.setflags(write=False)
    return img


def _draw_body(pen: _Pen, ident: Identity) -> None:
    w = ident.face_aspect
    pen.poly(
        [(-0.3 * w, 0.5), (0.3 * w, 0.5), (0.34 * w, 1.5), (-0.34 * w, 1.5)],
        _shade(ident.skin, 0.85),
    )
    pen.ellipse((0.0, 2.25), (2.3 * w, 0.9), ident.shirt)
    pen.ellipse((0.0, 1.38), (0.34 * w, 0.12), _shade(ident.skin, 0.85), arc=(0, 180))


def _draw_hair_back(pen: _Pen, ident: Identity, w: float) -> None:
    back = _shade(ident.hair, 0.85)
    if ident.hair_style == "long":
        pen.ellipse((0.0, -0.15), (1.22 * w, 1.05), back)
        pen.poly([(-1.22 * w, -0.15), (1.22 * w, -0.15), (1.15 * w, 1.1), (-1.15 * w, 1.1)], back)
        pen.ellipse((0.0, 1.1), (1.15 * w, 0.12), back)
    elif ident.hair_style == "curly":
        for a in np.linspace(math.pi * 1.05, math.pi * 1.95, 7):
            pen.ellipse((1.02 * w * math.cos(a), -0.3 + 0.8 * math.sin(a)), (0.3, 0.3), back)
        for side in (-1, 1):
            pen.ellipse((side * 1.05 * w, -0.05), (0.24, 0.3), back)


def _draw_hair_front(pen: _Pen, ident: Identity, w: float, yaw: float) -> None:
    dx = 0.06 * yaw * w
    pen.ellipse((dx, -0.46), (1.06 * w, 0.62), ident.hair, arc=(180, 360))
    if ident.hair_style == "long":  # side parting: a fringe sweeping across the forehead
        fringe = [(-1.0 * w, -0.46), (-0.2 * w, -0.62), (0.9 * w, -0.3), (1.0 * w, -0.46)]
        pen.poly([(x + dx, y) for x, y in fringe], ident.hair)
    elif ident.hair_style == "short":  # sideburns
        for side in (-1, 1):
            x = side * 0.99 * w
            pen.poly(
                [(x, -0.46), (x - side * 0.14, -0.46), (x - side * 0.08, -0.05), (x, -0.05)],
                ident.hair,
            )


def _draw_ears(pen: _Pen, ident: Identity, w: float, yaw: float) -> None:
    for side in (-1, 1):
        width = 0.12 * max(0.2, 1.0 - 0.8 * yaw * side)
        pen.ellipse((side * 0.97 * w, -0.02), (width, 0.2), _shade(ident.skin, 0.92))


def _draw_beard(pen: _Pen, ident: Identity, w: float, dx: float) -> None:
    beard = _shade(ident.hair, 0.8)
    pen.ellipse((0.0, 0.05), (1.0 * w, 1.0), beard, arc=(0, 180))
    pen.ellipse((dx, 0.42), (0.6 * w, 0.33), ident.skin)  # keeps the mouth readable
    pen.ellipse((dx, 0.33), (0.34 * w, 0.045), beard)  # moustache


def _eye_centres(ident: Identity, w: float, yaw: float, dx: float) -> list[tuple[float, float]]:
    """(x, half-width) of each eye; the eye turned away from the viewer foreshortens."""
    size = 0.16 * ident.eye_size
    return [
        (dx + side * ident.eye_spacing * w, size * (1.0 - 0.35 * max(0.0, yaw * side)))
        for side in (-1, 1)
    ]


def _draw_eyes(pen: _Pen, ident: Identity, p: Mapping[str, float], w: float, dx: float) -> None:
    ey, brow = -0.1, p["brow"]
    brow_colour = _shade(ident.hair, 0.7)
    for side, (ex, ew) in zip((-1, 1), _eye_centres(ident, w, p["yaw"], dx), strict=True):
        eh = 0.65 * ew * p["eye_open"]
        if eh < 0.012:
            pen.ellipse((ex, ey), (ew, 0.03), _DARK, 0.025, arc=(0, 180))
        else:
            pen.ellipse((ex, ey), (ew, eh), _WHITE)
            ix = ex + 0.25 * p["yaw"] * ew
            pen.ellipse((ix, ey), (0.55 * ew, min(0.55 * ew, eh)), ident.iris)
            pen.ellipse((ix, ey), (0.25 * ew, min(0.25 * ew, eh)), _DARK)
            pen.ellipse((ex, ey), (ew, eh), _DARK, 0.022)
        yb = -0.34 - 0.08 * brow  # raised by brow > 0, inner end more than outer
        outer, inner = (
            (ex + side * 1.15 * ew, yb + 0.03 * brow + 0.02),
            (ex - side * 0.95 * ew, yb - 0.05 * brow + 0.01),
        )
        pen.line([outer, (ex, yb - 0.025), inner], brow_colour, 0.055)


def _draw_nose(pen: _Pen, ident: Identity, yaw: float, w: float) -> None:
    nx, ns = 0.42 * yaw * w, ident.nose_size
    shadow = _shade(ident.skin, 0.8)
    pen.line([(nx - 0.02, -0.02), (nx + 0.02 * ns, 0.14 * ns)], shadow, 0.025)
    pen.ellipse((nx, 0.2), (0.085 * ns, 0.06 * ns), _shade(ident.skin, 0.9))
    nostril = _shade(ident.skin, 0.55)
    for side in (-1, 1):
        pen.ellipse((nx + side * 0.045 * ns, 0.23), (0.02 * ns, 0.012 * ns), nostril)


def _mouth_curves(
    ident: Identity, p: Mapping[str, float], w: float, dx: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, upper-lip y, lower-lip y and their gap along the mouth (17 points), in head units."""
    t = np.linspace(-1.0, 1.0, 17)
    x = dx + ident.mouth_width * w * (1.0 + 0.2 * p["smile"]) * t
    base = 0.47 - 0.2 * p["smile"] * (t * t - 0.3)
    gap = 0.24 * p["mouth_open"] * (1.0 - t * t)
    return x, base - 0.3 * gap, base + 0.7 * gap, gap


def _draw_mouth(pen: _Pen, ident: Identity, p: Mapping[str, float], w: float, dx: float) -> None:
    x, upper, lower, gap = _mouth_curves(ident, p, w, dx)
    lip = _mix(_shade(ident.skin, 0.4), (160, 40, 50), 0.35)
    if p["mouth_open"] > 0.02:
        pen.poly(np.stack([np.r_[x, x[::-1]], np.r_[upper, lower[::-1]]], axis=1), (70, 20, 25))
        teeth = upper + 0.35 * gap
        pen.poly(np.stack([np.r_[x, x[::-1]], np.r_[upper, teeth[::-1]]], axis=1), _WHITE)
    pen.line(np.stack([x, upper], axis=1), lip, 0.045)
    pen.line(np.stack([x, lower + 0.015], axis=1), lip, 0.065)


def _draw_glasses(pen: _Pen, ident: Identity, w: float, yaw: float, dx: float) -> None:
    ey, frame = -0.1, ident.frame_colour
    (lx, lw), (rx, rw) = _eye_centres(ident, w, yaw, dx)
    lw, rw = 1.5 * lw, 1.5 * rw
    for ex, ew in ((lx, lw), (rx, rw)):
        pen.ellipse((ex, ey), (ew, 0.17), frame, 0.035)
    pen.line([(lx + lw, ey - 0.02), ((lx + rx) / 2, ey - 0.05), (rx - rw, ey - 0.02)], frame, 0.035)
    pen.line([(lx - lw, ey - 0.03), (-0.98 * w, ey - 0.06)], frame, 0.035)
    pen.line([(rx + rw, ey - 0.03), (0.98 * w, ey - 0.06)], frame, 0.035)


def _draw_head(pen: _Pen, ident: Identity, p: Mapping[str, float]) -> None:
    yaw = p["yaw"]
    w = ident.face_aspect * (1.0 - 0.08 * abs(yaw))  # turning narrows the visible head
    dx = 0.3 * yaw * w  # features slide towards the side the head turns to
    _draw_hair_back(pen, ident, w)
    _draw_ears(pen, ident, w, yaw)
    pen.ellipse((0.0, 0.0), (w, 1.0), ident.skin)
    if ident.beard:
        _draw_beard(pen, ident, w, dx)
    _draw_hair_front(pen, ident, w, yaw)
    _draw_eyes(pen, ident, p, w, dx)
    _draw_nose(pen, ident, yaw, w)
    _draw_mouth(pen, ident, p, w, dx)
    if ident.glasses:
        _draw_glasses(pen, ident, w, yaw, dx)


def _complete(params: Mapping[str, float]) -> dict[str, float]:
    unknown = set(params) - set(PARAM_NAMES)
    if unknown:
        raise KeyError(f"unknown parameters {sorted(unknown)}; expected some of {PARAM_NAMES}")
    return _NEUTRAL | {k: float(v) for k, v in params.items()}


def render_frame(identity: Identity, params: Mapping[str, float], size: int) -> np.ndarray:
    """One frame, uint8 (size, size, 3), RGB.

    Missing params take neutral values (mouth shut, eyes open, frontal, centred, scale 1).
    Drawn supersampled and area-downsampled so even tiny frames have smooth edges.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    p = _complete(params)
    side = size * (4 if size < 96 else 2)
    img = _background(identity, side).copy()
    centre = (side * (0.5 + p["x"] + identity.offset_x), side * (0.47 + p["y"] + identity.offset_y))
    unit = 0.29 * side * p["scale"] * identity.scale  # face 58% of the frame height
    _draw_body(_Pen(img, centre, unit, 0.0), identity)
    _draw_head(_Pen(img, centre, unit, p["roll"]), identity, p)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def render_mask(
    identity: Identity,
    params: Mapping[str, float],
    size: int,
    *,
    eye_weight: float = 1.0,
    mouth_weight: float = 1.0,
) -> np.ndarray:
    """The ground-truth face mask of the frame ``render_frame`` draws: float32 (size, size).

    0 background, 1 on the face (the skin ellipse, from chin to the hairline it hides), edges
    antialiased like the frame's; inside the eyes and the mouth, ``eye_weight`` and
    ``mouth_weight`` (1: no region weight). Geometry is shared with ``render_frame``.
    """
    p = _complete(params)
    side = size * (4 if size < 96 else 2)
    centre = (side * (0.5 + p["x"] + identity.offset_x), side * (0.47 + p["y"] + identity.offset_y))
    unit = 0.29 * side * p["scale"] * identity.scale
    yaw = p["yaw"]
    w = identity.face_aspect * (1.0 - 0.08 * abs(yaw))
    dx = 0.3 * yaw * w

    def layer(draw: Callable[[_Pen], None]) -> np.ndarray:
        img = np.zeros((side, side), np.uint8)
        draw(_Pen(img, centre, unit, p["roll"]))
        small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) / 255.0

    mask = layer(lambda pen: pen.ellipse((0.0, 0.0), (w, 1.0), (255,)))
    if eye_weight != 1.0:

        def eyes(pen: _Pen) -> None:
            for ex, ew in _eye_centres(identity, w, yaw, dx):
                pen.ellipse((ex, -0.1), (1.2 * ew, max(0.78 * ew * p["eye_open"], 0.04)), (255,))

        mask *= 1.0 + (eye_weight - 1.0) * layer(eyes)
    if mouth_weight != 1.0:

        def mouth(pen: _Pen) -> None:
            x, upper, lower, _ = _mouth_curves(identity, p, w, dx)
            outline = np.r_[upper - 0.04, lower[::-1] + 0.06]
            pen.poly(np.stack([np.r_[x, x[::-1]], outline], axis=1), (255,))

        mask *= 1.0 + (mouth_weight - 1.0) * layer(mouth)
    return mask


def render_sequence(
    seed: int, person: Literal["A", "B"], n_frames: int, size: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(frames uint8 [n, size, size, 3] RGB, params float32 [n] each) for person A or B.

    The params are the person-independent ones of expression_trajectory (identity offsets
    not applied), so they mean the same for A and B. A and B get independent trajectories.
    """
    if person not in ("A", "B"):
        raise ValueError(f"person must be 'A' or 'B', got {person!r}")
    index = 0 if person == "A" else 1
    identity = make_identities(seed)[index]
    sub_seed = int(np.random.SeedSequence([seed, 0x7A, index]).generate_state(1)[0])
    params = expression_trajectory(sub_seed, n_frames)
    return render_frames(identity, params, size), params


def per_frame(params: Mapping[str, np.ndarray]) -> list[dict[str, float]]:
    """Per-frame parameter arrays (name -> [N], as ``Domain.params``) as N dicts of floats."""
    lengths = {len(values) for values in params.values()}
    if len(lengths) != 1:
        raise ValueError(f"expected parameter arrays of one length, got lengths {sorted(lengths)}")
    return [{k: float(v[i]) for k, v in params.items()} for i in range(lengths.pop())]


def render_frames(identity: Identity, params: Mapping[str, np.ndarray], size: int) -> np.ndarray:
    """uint8 [N, size, size, 3] RGB: ``identity`` drawn with each frame's ``params`` ([N] each)."""
    each = per_frame(params)
    frames = np.empty((len(each), size, size, 3), dtype=np.uint8)
    for i, one in enumerate(each):
        frames[i] = render_frame(identity, one, size)
    return frames
