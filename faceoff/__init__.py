"""faceoff: a plugin-based CycleGAN toolkit for face-off videos."""

from __future__ import annotations

from typing import Any

from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl

__version__ = "0.2.0"
__all__ = ["FaceoffError", "__version__", "hookimpl", "load_network"]


def __getattr__(name: str) -> Any:
    """``faceoff.load_network`` is imported on first use, so ``import faceoff`` stays torch-free."""
    if name == "load_network":
        from faceoff.weights import load_network

        return load_network
    raise AttributeError(f"module 'faceoff' has no attribute {name!r}")
