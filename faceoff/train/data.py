"""The frames a run trains on: decoded once, masked, in memory or the disk cache; the test
frames of its sample grids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from faceoff.console import warn
from faceoff.data import Domain, load_split, source_label
from faceoff.errors import FaceoffError
from faceoff.frames import sample_frames
from faceoff.masks import cache_root, compute_masks, provider_label, spec_provider
from faceoff.spec import ResolvedSpec
from faceoff.train.batches import GIB, DomainTensors, disk_frames, frames_key


@dataclass
class Data:
    """Train frames (and masks) of A and B, ready to batch; uint8 test frames for samples."""

    train: tuple[DomainTensors, DomainTensors]
    test: tuple[torch.Tensor, torch.Tensor]


def load_data(resolved: ResolvedSpec) -> Data:
    spec = resolved.spec
    source = resolved.build("data.source")
    who = source_label(resolved.components["data.source"][0])
    size = spec.data.load_size
    train_a, train_b = load_split(source, "train", size, who)
    for label, domain in (("A", train_a), ("B", train_b)):
        if len(domain) == 0:
            raise FaceoffError(f"data.source: the train split of {label} has no frames")
    test_a, test_b = load_split(source, "test", size, who)
    if len(test_a) == 0 or len(test_b) == 0:
        warn("the data source has no test frames; sample grids show training frames")
        test_a, test_b = train_a, train_b
    masks: list[Any] = [None, None]
    if spec.mask is not None:
        provider, cache = spec_provider(resolved)
        masker = provider_label(resolved.components["mask.provider"][0])
        done = [
            compute_masks(provider, d, label, cache=cache, no_face=spec.mask.no_face, who=masker)
            for d, label in ((train_a, "A"), (train_b, "B"))
        ]
        (train_a, masks[0]), (train_b, masks[1]) = [(m.domain, m.masks) for m in done]
    n = spec.output.samples
    on_disk = [None, None]
    if frames_on_disk(resolved, train_a, train_b):
        component, params = resolved.components["data.source"]
        source = {"plugin": component.name, "params": params.model_dump(mode="json")}
        folder = cache_root() / "frames"
        on_disk = [disk_frames(d, folder, frames_key(d, source, size)) for d in (train_a, train_b)]
    return Data(
        train=(
            DomainTensors.from_domain(train_a, masks[0], on_disk[0]),
            DomainTensors.from_domain(train_b, masks[1], on_disk[1]),
        ),
        test=(
            sample_frames(test_a, n, spec.data.crop_size),
            sample_frames(test_b, n, spec.data.crop_size),
        ),
    )


def frames_on_disk(resolved: ResolvedSpec, a: Domain, b: Domain) -> bool:
    """``data.cache``: 'auto' keeps the train frames on disk above ``cache_auto_gib``."""
    data = resolved.spec.data
    if data.cache == "auto":
        return a.frames.nbytes + b.frames.nbytes > data.cache_auto_gib * GIB
    return data.cache == "disk"
