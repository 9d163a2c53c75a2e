"""faceoff-hello's ellipse mask provider (numpy only)."""

from __future__ import annotations

import numpy as np


class EllipseMask:
    """A filled ellipse centred in the frame, semi-axes ``scale`` x half the width and height."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        ys = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / (self.scale * height / 2)
        xs = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / (self.scale * width / 2)
        inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
        return inside.astype(np.float32)
