"""The expression probe and the identity classifier, trained once per data set and seed.

A judge's cache file is named by a hash of everything its weights depend on: the data source
(plugin and params), load and crop size, which domain(s) it learnt, a digest of those frames and
their ground truth, the seed, the training config and :data:`faceoff.eval.nets.VERSION`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from faceoff.console import info
from faceoff.eval.data import EvalData
from faceoff.eval.nets import (
    CLASSIFIER_CONFIG,
    PROBE_CONFIG,
    JudgeConfig,
    SmallCNN,
    cache_key,
    fit,
    judges_dir,
    load_judge,
    predict,
    save_judge,
)

_MIN_STD = 1e-6  # a parameter that never changes in training cannot be learnt (or scored)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Probe:
    """Reads ground-truth parameters off frames of one person (its ``domain``)."""

    net: SmallCNN
    names: list[str]
    mean: torch.Tensor  # per parameter, over the domain's train frames
    std: torch.Tensor
    path: Path
    cached: bool

    def read(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Parameter estimates for uint8 [N, 3, H, W] frames, in the parameters' own units."""
        values = predict(self.net, images) * self.std + self.mean
        return {name: values[:, i].numpy() for i, name in enumerate(self.names)}


@dataclass
class Classifier:
    """Tells person A (class 0) from person B (class 1)."""

    net: SmallCNN
    path: Path
    cached: bool

    def classes(self, images: torch.Tensor) -> np.ndarray:
        """0 (A) or 1 (B) per uint8 [N, 3, H, W] frame."""
        return predict(self.net, images).argmax(1).numpy()


def probe_names(data: EvalData, domain: int) -> list[str]:
    """The parameters a probe for ``domain`` can learn: known in every split, and varying."""
    known = [p for p in (*data.train_params, *data.test_params) if p is not None]
    if len(known) < 4:
        return []
    shared = set.intersection(*(set(p) for p in known))
    train = data.train_params[domain] or {}
    return sorted(n for n in shared if float(np.std(train[n])) > _MIN_STD)


def _key(data: EvalData, what: str, domains: tuple[int, ...], seed: int, config: JudgeConfig):
    return cache_key(
        {
            "judge": what,
            "source": data.source,
            "load_size": data.load_size,
            "crop_size": data.crop_size,
            "domains": list(domains),
            "frames": [data.digest(d) for d in domains],
            "seed": seed,
            "config": asdict(config),
        }
    )


def get_probe(
    data: EvalData, domain: int, seed: int = 0, config: JudgeConfig | None = None
) -> Probe | None:
    """The probe for ``domain`` from the cache, trained first if needed; None without params."""
    config = config or PROBE_CONFIG
    names = probe_names(data, domain)
    if not names:
        return None
    path = judges_dir() / f"probe-{_key(data, 'probe', (domain,), seed, config)}.safetensors"
    found = load_judge(path, len(names), config)
    if found is not None:
        net, extra = found
        return Probe(net, names, extra["mean"], extra["std"], path, cached=True)
    train = data.train_params[domain]
    assert train is not None
    values = torch.from_numpy(np.stack([train[n] for n in names], 1).astype(np.float32))
    mean, std = values.mean(0), values.std(0)
    info(f"training the expression probe on {'AB'[domain]}'s train frames (cached afterwards)")
    net = fit(
        data.train[domain],
        (values - mean) / std,
        "l1",
        seed=seed,
        config=config,
        description=f"probe {'AB'[domain]}",
        device=_device(),
    )
    meta = {"judge": "probe", "names": json.dumps(names), "domain": "AB"[domain]}
    save_judge(path, net, {"mean": mean, "std": std}, meta)
    return Probe(net, names, mean, std, path, cached=False)


def get_classifier(data: EvalData, seed: int = 0, config: JudgeConfig | None = None) -> Classifier:
    """The A-vs-B classifier from the cache, trained on both train splits first if needed."""
    config = config or CLASSIFIER_CONFIG
    path = judges_dir() / f"identity-{_key(data, 'identity', (0, 1), seed, config)}.safetensors"
    found = load_judge(path, 2, config)
    if found is not None:
        return Classifier(found[0], path, cached=True)
    images = torch.cat(data.train)
    labels = torch.cat(
        [torch.full((len(t),), i, dtype=torch.long) for i, t in enumerate(data.train)]
    )
    info("training the A-vs-B identity classifier on both train splits (cached afterwards)")
    net = fit(
        images, labels, "ce", seed=seed, config=config, description="identity", device=_device()
    )
    save_judge(path, net, {}, {"judge": "identity"})
    return Classifier(net, path, cached=False)
