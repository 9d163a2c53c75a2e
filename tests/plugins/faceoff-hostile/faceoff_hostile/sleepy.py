"""A plugin that sleeps at import for FACEOFF_HOSTILE_SLEEP seconds (default 0), as one waiting
on a network or a lock would; then registers the generator ``sleepy-net``."""

import os
import time
from typing import Any

from faceoff.hookspecs import hookimpl

time.sleep(float(os.environ.get("FACEOFF_HOSTILE_SLEEP", "0")))


def build_sleepy(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
    """Never built by the tests."""
    raise AssertionError("unreachable")


@hookimpl
def register_generators(register: Any) -> None:
    register("sleepy-net", build_sleepy)
