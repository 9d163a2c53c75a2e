"""A plugin that parses ``sys.argv`` at import (options only), then registers the loss
``argv-l1``; ``SEEN`` is what its parser saw."""

import argparse
import sys
from typing import Any

from faceoff.hookspecs import hookimpl

parser = argparse.ArgumentParser(description="a plugin's own command line")
parser.add_argument("--scale", type=float, default=1.0)
ARGS = parser.parse_args()
SEEN = list(sys.argv)


def build_argv_l1(params: Any) -> Any:
    """L1 loss from a plugin that parsed sys.argv at import."""
    from faceoff_hostile.nets import L1

    return L1()


@hookimpl
def register_losses(register: Any) -> None:
    register("argv-l1", build_argv_l1, role="reconstruction")
