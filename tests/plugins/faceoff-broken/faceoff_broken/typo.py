"""A plugin with a misspelled hook (``register_generator``, no trailing s)."""

from __future__ import annotations

from typing import Any

from faceoff.hookspecs import hookimpl


def build_nothing(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
    """Never built: the hook that would register it is misspelled."""
    raise AssertionError("unreachable")


@hookimpl
def register_generator(register: Any) -> None:
    register("typo-net", build_nothing)
