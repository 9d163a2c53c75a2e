"""The mask-provider contract, and computing the masks of a domain's frames."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from faceoff.console import track
from faceoff.data import Domain
from faceoff.errors import FaceoffError


class MaskProvider(Protocol):
    """What a mask-provider plugin's ``build(params)`` returns."""

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The mask of one uint8 RGB frame [H, W, 3]: float32 [H, W] in [0, 1] (1 = face)."""
        ...


def compute_masks(provider: MaskProvider, domain: Domain, label: str) -> np.ndarray:
    """Masks of every frame of a domain as uint8 [N, H, W] (0..255), with a progress bar."""
    out = np.zeros(domain.frames.shape[:3], np.uint8)
    for i, frame in track(enumerate(domain.frames), len(domain), f"masks {label}"):
        mask = np.asarray(provider(frame), dtype=np.float32)
        if mask.shape != frame.shape[:2]:
            raise FaceoffError(
                f"mask provider returned shape {mask.shape} for frame {domain.names[i]!r} "
                f"of {label}; expected {frame.shape[:2]}"
            )
        out[i] = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out
