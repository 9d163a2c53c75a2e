"""Face masks: the mask-provider contract, and masks for a domain's frames, cached on disk.

A mask is a float32 weight map the size of its frame: 0 background, 1 face, and above 1 where a
provider weights a region more (eyes, mouth). Masks are computed once per frame and cached by the
frame's content hash, the provider, its parameters and its plugin's version, so later runs (and
`faceoff masks`) re-use them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from faceoff.capabilities import GroundTruthMasks
from faceoff.components import Component
from faceoff.console import info, track
from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff.io import write_bytes
from faceoff.spec_file import shown

NoFace = Literal["empty", "previous", "skip"]
CACHE_ENV = "FACEOFF_CACHE"
MAX_WEIGHT = 16.0
"""The largest weight a mask may hold: the most the mask cache's 16-bit PNGs store."""
_SCALE = 4096.0  # cached as 16-bit PNG in steps of 1/4096: code = round(value * 4096)
_TOP = 65535  # the largest code, read back as MAX_WEIGHT (16 * 4096 is one more than it holds)
_NO_FACE = b"no face\n"


class MaskProvider(Protocol):
    """What a mask-provider plugin's ``build(params)`` returns.

    A provider that knows the masks from the data source's ground truth (no detection) may
    instead implement :class:`faceoff.capabilities.GroundTruthMasks`: it is then called once
    per domain, and its masks are not cached (redrawing them is as cheap as reading them). One
    that can find faces itself implements :class:`faceoff.capabilities.LocatesFace` (or
    ``LocatesFaces``), for ``extract --face`` and ``apply --paste-back``.
    """

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The mask of one uint8 RGB frame [H, W, 3]: float32 [H, W] >= 0, or None (no face)."""
        ...


def cache_root() -> Path:
    """``$FACEOFF_CACHE``, else ``$XDG_CACHE_HOME/faceoff``, else ``~/.cache/faceoff``; a
    FaceoffError when there is no home folder either (HOME unset and none in the password
    database, as in some containers), instead of a cache in a folder named ``~``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec: a relative path is ignored
        return Path(xdg) / "faceoff"
    home = os.path.expanduser("~")
    if not os.path.isabs(home):
        raise FaceoffError(
            "no folder for faceoff's caches: HOME is not set and this user has no home folder "
            f"in the password database; set {CACHE_ENV} (or XDG_CACHE_HOME) to a folder"
        )
    return Path(home) / ".cache" / "faceoff"


def _file_stamps(params: dict[str, Any]) -> dict[str, list[int]]:
    """Size and modification time of every file a param names (model weights, predictors), so
    replacing a file at the same path does not re-use masks made with the old one."""
    stamps = {}
    for name, value in params.items():
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            if path.is_file():
                stat = path.stat()
                stamps[name] = [stat.st_size, stat.st_mtime_ns]
    return stamps


class MaskCache:
    """One folder per provider configuration; one 16-bit PNG (or a no-face marker) per frame.

    A provider may register ``cache_ignore=(...)``: params that do not change its masks (a
    device, a thread count), left out of the key so they do not force a recompute.
    """

    def __init__(self, component: Component, params: dict[str, Any], root: Path | None = None):
        ignored = set(component.cache_ignore)
        key = json.dumps(
            {
                "plugin": component.name,
                "params": {k: v for k, v in params.items() if k not in ignored},
                "files": _file_stamps(params),
                "dist": component.plugin.distribution,
                "version": component.plugin.version,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.folder = (root or cache_root()) / "masks" / f"{component.name}-{digest}"

    @staticmethod
    def frame_key(frame: np.ndarray) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(frame).tobytes())
        digest.update(str(frame.shape).encode())
        return digest.hexdigest()[:32]

    def get(self, key: str) -> tuple[bool, np.ndarray | None]:
        """(hit, mask); a hit with mask None is a frame known to have no face."""
        png, none = self.folder / f"{key}.png", self.folder / f"{key}.none"
        if none.is_file():
            return True, None
        if png.is_file():
            data = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
            if data is not None and data.dtype == np.uint16:
                return True, _decode(data)
        return False, None

    def put(self, key: str, mask: np.ndarray | None) -> None:
        if mask is None:
            write_bytes(self.folder / f"{key}.none", _NO_FACE)
            return
        ok, data = cv2.imencode(".png", _encode(mask))
        if ok:
            write_bytes(self.folder / f"{key}.png", data.tobytes())


def _encode(mask: np.ndarray) -> np.ndarray:
    """Weights in [0, 16] as 16-bit codes in steps of 1/4096; 16 itself is the top code."""
    return np.clip(np.rint(mask * _SCALE), 0, _TOP).astype(np.uint16)


def _decode(data: np.ndarray) -> np.ndarray:
    """The weights of :func:`_encode`'s codes: code / 4096, and the top code 16 exactly (so a
    weight of 16 survives the cache; 65535 / 4096 = 15.99976 is read as 16, the nearest)."""
    values = data.astype(np.float32) / _SCALE
    values[data == _TOP] = MAX_WEIGHT
    return values


@dataclass
class DomainMasks:
    """The frames that are kept and their masks, float16 [N, H, W]."""

    domain: Domain
    masks: np.ndarray
    found: int
    total: int
    cached: int


def provider_label(component: Component) -> str:
    """How messages name a mask-provider component: ``mask provider 'dlib' (faceoff)``."""
    return f"mask provider {component.name!r} ({component.plugin.distribution})"


def check_mask(
    mask: Any, frame: np.ndarray, name: str, label: str, who: str = "mask provider"
) -> np.ndarray | None:
    """A provider's answer as float32 [H, W], or a one-line FaceoffError naming the provider
    (``who``, :func:`provider_label`) and the frame: a map of another size than the frame, or
    weights that are negative, not finite, or above :data:`MAX_WEIGHT`."""
    if mask is None:
        return None
    where = f"for frame {name!r} of {shown(label)}"
    try:
        mask = np.asarray(mask, dtype=np.float32)
    except (TypeError, ValueError):
        raise FaceoffError(
            f"{who} returned a {type(mask).__name__} {where}, not a float32 weight map [H, W] "
            "or None"
        ) from None
    if mask.shape != frame.shape[:2]:
        raise FaceoffError(f"{who} returned shape {mask.shape} {where}; expected {frame.shape[:2]}")
    if mask.size == 0:
        return mask
    if not np.isfinite(mask).all():
        raise FaceoffError(
            f"{who} returned non-finite weights (NaN or infinity) {where}; weights are finite, "
            f"0 to {MAX_WEIGHT:g}"
        )
    low, high = float(mask.min()), float(mask.max())
    if low < 0:
        raise FaceoffError(
            f"{who} returned negative weights (min {low:g}) {where}; weights are 0 to "
            f"{MAX_WEIGHT:g}"
        )
    if high > MAX_WEIGHT:
        raise FaceoffError(
            f"{who} returned weights above {MAX_WEIGHT:g} (max {high:g}) {where}; a weight is "
            f"at most {MAX_WEIGHT:g}, the most the mask cache's 16-bit PNGs hold"
        )
    return mask


def _provider_masks(
    provider: MaskProvider, domain: Domain, label: str, cache: MaskCache | None, who: str
) -> tuple[list[np.ndarray | None], int]:
    """Each frame's mask, checked: from the cache, the provider per frame, or its ground truth."""
    if isinstance(provider, GroundTruthMasks):
        answers = provider.domain_masks(domain)
        count = len(answers) if isinstance(answers, list | tuple) else None
        if count != len(domain):
            got = f"{count} masks" if count is not None else f"a {type(answers).__name__}"
            raise FaceoffError(
                f"{who} returned {got} for the {len(domain)} frames of {label}; domain_masks "
                "returns a list of one mask (or None) per frame"
            )
        pairs = zip(answers, domain.frames, domain.names)
        return [check_mask(mask, frame, name, label, who) for mask, frame, name in pairs], 0
    masks: list[np.ndarray | None] = []
    cached = 0
    for i, frame in track(enumerate(domain.frames), len(domain), f"masks {label}"):
        key = MaskCache.frame_key(frame) if cache else ""
        hit, mask = cache.get(key) if cache else (False, None)
        if hit:
            cached += 1
        else:
            mask = check_mask(provider(frame), frame, domain.names[i], label, who)
            if cache:
                cache.put(key, mask)
        masks.append(mask)
    return masks, cached


def compute_masks(
    provider: MaskProvider,
    domain: Domain,
    label: str,
    *,
    cache: MaskCache | None = None,
    no_face: NoFace = "empty",
    who: str = "mask provider",
) -> DomainMasks:
    """Masks of every frame, with a progress bar, the cache, and the no-face policy applied.

    ``no_face``: ``empty`` gives such frames an all-zero mask, ``previous`` the last mask found
    before them (frames are a sequence; empty until one is found), ``skip`` drops the frames.
    ``who`` is how errors name the provider (:func:`provider_label`).
    """
    masks, cached = _provider_masks(provider, domain, label, cache, who)
    found = sum(m is not None for m in masks)
    keep = [i for i, m in enumerate(masks) if m is not None or no_face != "skip"]
    if not keep:
        raise FaceoffError(f"masks {label}: no face found in any of the {len(domain)} frames")
    out = np.zeros((len(keep), *domain.frames.shape[1:3]), np.float16)
    last: np.ndarray | None = None
    for row, i in enumerate(keep):
        mask = masks[i]
        if mask is not None:
            last = mask
        elif no_face == "previous" and last is not None:
            mask = last
        if mask is not None:
            out[row] = mask
    if found < len(domain):
        info(f"masks {label}: no face in {len(domain) - found} of {len(domain)} frames ({no_face})")
    return DomainMasks(domain.subset(keep), out, found, len(domain), cached)


def spec_provider(resolved: Any) -> tuple[MaskProvider, MaskCache | None]:
    """The mask provider a resolved spec names, and its cache unless ``mask.cache`` is off."""
    provider = resolved.build("mask.provider")
    component, params = resolved.components["mask.provider"]
    use = resolved.spec.mask.cache
    return provider, MaskCache(component, params.model_dump(mode="json")) if use else None


def mask_out(resolved: Any, domains: tuple[Domain, Domain]) -> tuple[Domain, Domain]:
    """Frames times their masks (clipped to [0, 1]): what a ``mask.mode`` crop run's networks see.

    For figures and evaluation of such a run; frames without a face become black (their policy
    is ``empty`` here whatever the spec says, so a test sequence keeps every frame).
    """
    provider, cache = spec_provider(resolved)
    who = provider_label(resolved.components["mask.provider"][0])
    out = []
    for domain, label in zip(domains, "AB"):
        if len(domain) == 0:
            out.append(domain)
            continue
        done = compute_masks(provider, domain, label, cache=cache, no_face="empty", who=who)
        weight = np.clip(done.masks.astype(np.float32), 0.0, 1.0)[..., None]
        frames = np.round(domain.frames.astype(np.float32) * weight).astype(np.uint8)
        out.append(Domain(frames, domain.names, domain.params, domain.truth, domain.segments))
    return out[0], out[1]
