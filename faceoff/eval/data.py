"""A run's frames as eval reads them: both splits, both people, centre-cropped, in order."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from faceoff.capabilities import RendersPeople
from faceoff.console import warn
from faceoff.data import Domain, frames_problem, load_split, source_label
from faceoff.errors import FaceoffError
from faceoff.frames import center_crop, to_tensor
from faceoff.masks import mask_out

Params = dict[str, np.ndarray]
Draw = Callable[[int, Params], torch.Tensor]
"""(person 0 or 1, per-frame params) -> that person drawn with them, prepared as eval's frames."""


@dataclass
class EvalData:
    """uint8 [N, 3, crop, crop] frames of A and B per split, with ground truth where known.

    The test split keeps the source's order, so it plays as the contiguous video the stability
    metric needs. ``source`` (plugin and params) identifies the data set in judge cache keys.
    ``draw`` redraws a person from ground truth, for :meth:`ideal`, or says why it cannot.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    train_params: tuple[Params | None, Params | None]
    test_params: tuple[Params | None, Params | None]
    source: dict[str, Any]
    load_size: int
    crop_size: int
    draw: Draw | str = "the data source cannot redraw its people"
    _digests: dict[int, str] = field(default_factory=dict, repr=False)
    _ideals: dict[int, torch.Tensor | str] = field(default_factory=dict, repr=False)

    def digest(self, domain: int) -> str:
        """A hash of one domain's train frames and params: a frames folder can change in place."""
        if domain not in self._digests:
            h = hashlib.blake2b(digest_size=16)
            h.update(self.train[domain].numpy().tobytes())
            for name, values in sorted((self.train_params[domain] or {}).items()):
                h.update(name.encode())
                h.update(np.ascontiguousarray(values, np.float32).tobytes())
            self._digests[domain] = h.hexdigest()
        return self._digests[domain]

    def ideal(self, source: int) -> torch.Tensor | str:
        """The true face-off of ``test[source]`` (the other person drawn with its ground truth,
        prepared as the test frames are), or why there is none. Drawn once."""
        if source not in self._ideals:
            params = self.test_params[source]
            if isinstance(self.draw, str):
                self._ideals[source] = self.draw
            elif not params:
                self._ideals[source] = "the data source has no ground-truth parameters"
            else:
                self._ideals[source] = self.draw(1 - source, params)
        return self._ideals[source]

    @property
    def has_params(self) -> bool:
        """Ground truth for every frame of both people in both splits."""
        return all(p for p in (*self.train_params, *self.test_params))


def _crop(domain: Domain, crop: int) -> torch.Tensor:
    if len(domain) == 0:
        return torch.empty((0, 3, crop, crop), dtype=torch.uint8)
    return center_crop(to_tensor(domain.frames), crop).contiguous()


def from_domains(
    train: tuple[Domain, Domain],
    test: tuple[Domain, Domain],
    crop_size: int,
    source: dict[str, Any],
    load_size: int,
    draw: Draw | str = "the data source cannot redraw its people",
) -> EvalData:
    """EvalData from loaded domains (frames at ``load_size``), centre-cropped to ``crop_size``."""
    return EvalData(
        train=(_crop(train[0], crop_size), _crop(train[1], crop_size)),
        test=(_crop(test[0], crop_size), _crop(test[1], crop_size)),
        train_params=(train[0].params, train[1].params),
        test_params=(test[0].params, test[1].params),
        source=source,
        load_size=load_size,
        crop_size=crop_size,
        draw=draw,
    )


def _drawer(resolved: Any, built: Any, who: str, test: tuple[Domain, Domain]) -> Draw | str:
    """How to draw a person from ground truth as eval's frames are made (rendered at the load
    size, masked out as a ``mask.mode`` crop run's frames, centre-cropped), or why not."""
    if not isinstance(built, RendersPeople):
        return f"{who} cannot redraw its people (it has no RendersPeople capability)"
    data = resolved.spec.data
    masked = resolved.spec.mask is not None and resolved.spec.mask.mode == "crop"

    def draw(person: int, params: Params) -> torch.Tensor:
        frames = built.render_person("AB"[person], params, data.load_size)
        count = len(next(iter(params.values())))
        problem = frames_problem(frames)
        if problem is None and frames.shape[:3] != (count, data.load_size, data.load_size):
            problem = f"gave {tuple(frames.shape)} for {count} frames at {data.load_size} px"
        if problem:
            raise FaceoffError(f"{who}: render_person({'AB'[person]!r}, ...): {problem}")
        names = [f"ideal_{i:05d}.png" for i in range(count)]
        domain = Domain(frames, names, params, test[person].truth)
        if masked:
            empty = Domain(np.zeros((0, *frames.shape[1:]), np.uint8), [])
            domain = mask_out(resolved, (domain, empty) if person == 0 else (empty, domain))[person]
        return _crop(domain, data.crop_size)

    return draw


_KEPT = 2  # data sets kept in memory
_cache: dict[str, EvalData] = {}


def _load(spec: dict[str, Any], where: str) -> EvalData:
    """The data of ``spec``, resolved with the run's own sections (its networks decide which
    crop sizes are valid: a default 3-layer PatchGAN would refuse the 16 px crop of a run with
    a 2-layer one), all but ``output`` (eval writes nothing)."""
    from faceoff.plugins import get_registry
    from faceoff.spec import resolve

    resolved = resolve({k: v for k, v in spec.items() if k != "output"}, get_registry(), where)
    data = resolved.spec.data
    built = resolved.build("data.source")
    who = source_label(resolved.components["data.source"][0])
    train = load_split(built, "train", data.load_size, who)
    test = load_split(built, "test", data.load_size, who)
    if len(test[0]) == 0 or len(test[1]) == 0:
        warn(f"{where}: the data source has no test frames; evaluating on its training frames")
        test = train
    for i, domain in enumerate(train):
        if len(domain) == 0:
            raise FaceoffError(f"{where}: the data source has no frames of {'AB'[i]}")
    if resolved.spec.mask is not None and resolved.spec.mask.mode == "crop":
        # Its generators never saw a background: judge them, and train the judges, on masked
        # frames (the judges' cache key follows the frames' content).
        train, test = mask_out(resolved, train), mask_out(resolved, test)
    source = resolved.to_dict()["data"]["source"]
    draw = _drawer(resolved, built, who, test)
    return from_domains(train, test, data.crop_size, source, data.load_size, draw)


def load_eval_data(spec: dict[str, Any], where: str) -> EvalData:
    """The run's data, rebuilt from its spec (the run's spec.json, or only its ``data`` and
    ``mask`` sections, the rest taking defaults) through the plugin registry.

    Kept in memory for the next call with the same data (evaluating many runs of one data set
    decodes or renders it once).
    """
    mask = spec.get("mask")
    crop = mask if isinstance(mask, dict) and mask.get("mode") == "crop" else None
    key = json.dumps({"data": spec.get("data", {}), "mask": crop}, sort_keys=True)
    if key not in _cache:
        while len(_cache) >= _KEPT:
            _cache.pop(next(iter(_cache)))
        _cache[key] = _load(spec, where)
    return _cache[key]
