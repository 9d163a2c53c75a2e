"""Reading a ``.pth``/``.pt`` file that may hold anything: tensors only, never code, and every
way it can be broken (random bytes, a truncated zip, a pickle of objects) one FaceoffError.

``torch.load(weights_only=True)`` refuses to run code, but what it raises on a bad file varies
(UnpicklingError, RuntimeError, IndexError, UnicodeDecodeError, struct.error, EOFError, ...) and
its message advises ``weights_only=False``, which would run the file's code: that advice is
never passed on.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from faceoff.errors import FaceoffError
from faceoff.io import regular_file

_SAVE_HINT = "save one with torch.save(model.state_dict(), path)"


def one_line(text: str, limit: int = 200) -> str:
    """``text`` without colour codes or line breaks, cut to ``limit`` characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_tensors(path: Path, what: str | None = None) -> Any:
    """What the file holds, read with ``weights_only=True``; ``what`` names it in messages."""
    what = what or str(path)
    regular_file(path, "a .pth state_dict", what)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_reason(exc)
        if not re.search(r"global|class|reduce|build", reason, re.I):  # broken bytes, no code
            raise FaceoffError(f"{what}: not a PyTorch state_dict file ({reason})") from None
        raise FaceoffError(
            f"{what}: refused: it holds more than tensors ({reason}); nothing "
            f"in the file was executed. Only plain state_dicts of tensors are read; {_SAVE_HINT}"
        ) from None
    except EOFError:
        raise FaceoffError(f"{what}: empty or truncated; expected a .pth state_dict") from None
    except MemoryError:
        raise FaceoffError(f"{what}: too large to read into memory") from None
    except Exception as exc:
        reason = one_line(_without_advice(str(exc)), 120) or type(exc).__name__
        raise FaceoffError(f"{what}: not a PyTorch state_dict file ({reason})") from None


def state_dict(data: Any, what: str) -> dict[str, torch.Tensor]:
    """``data`` as a plain mapping of names to tensors, or a FaceoffError saying what it is."""
    if not isinstance(data, Mapping):
        raise FaceoffError(
            f"{what}: holds a {type(data).__name__}, not a state_dict (a mapping of names to "
            f"tensors); {_SAVE_HINT}"
        )
    stray = [str(k) for k, v in data.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if stray or not data:
        shown = ", ".join(one_line(k, 40) for k in stray[:3])
        found = f"{len(stray)} entries are not tensors ({shown})" if stray else "it is empty"
        raise FaceoffError(f"{what}: not a plain state_dict: {found}; {_SAVE_HINT}")
    return dict(data)


def _unpickler_reason(exc: BaseException) -> str:
    """What the weights-only unpickler found ("Unsupported global: GLOBAL datetime.date ..."),
    its first sentence only: the rest is advice on how to load the file anyway."""
    detail = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\. |\n|$)", detail, re.S)
    return one_line(found.group(1) if found else _without_advice(detail), 120)


def _without_advice(text: str) -> str:
    """PyTorch's message minus its sentences on ``weights_only=False`` and allow-listing."""
    sentences = re.split(r"(?<=\.)\s+|\n+", text)
    kept = [s for s in sentences if not re.search(r"weights_only|safe_globals|trust", s)]
    return " ".join(kept).strip()
