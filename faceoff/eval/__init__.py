"""Measuring a trained run's face-off: ``faceoff eval`` and :func:`evaluate`."""

from __future__ import annotations

from typing import Any

__all__ = ["READABLE", "evaluate", "measure"]


def __getattr__(name: str) -> Any:
    """Lazy: the CLI imports this package at start-up, torch and the judges only when used."""
    if name in __all__:
        from faceoff.eval import core as module

        return getattr(module, name)
    raise AttributeError(f"module 'faceoff.eval' has no attribute {name!r}")
