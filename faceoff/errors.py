"""The one exception type for problems a user can fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class FaceoffError(Exception):
    """A user-facing problem: bad spec, missing file, unknown plugin, refused checkpoint.

    The CLI prints the message as one line on stderr and exits with code 2; the message must
    name the thing at fault and what would be valid. Any other exception is a bug.
    """


def call_plugin(what: str, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, a plugin's code: what it raises, other than a FaceoffError, is the
    plugin's bug and becomes the one line ``{what} failed (TypeName: message)``."""
    try:
        return function(*args)
    except FaceoffError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise FaceoffError(f"{what} failed ({type(exc).__name__}: {detail})") from None
