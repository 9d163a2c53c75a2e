"""The device a command runs on: one rule for training, apply and eval."""

from __future__ import annotations

import torch

from faceoff.errors import FaceoffError


def pick_device(choice: str, where: str = "train.device") -> torch.device:
    """'auto' -> CUDA when there is one, else the CPU; 'cuda' (or 'cuda:N') without one, or
    anything else, is an error naming ``where``."""
    if choice not in ("auto", "cpu", "cuda") and not choice.startswith("cuda:"):
        raise FaceoffError(f"{where} {choice!r}: expected auto, cpu or cuda")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise FaceoffError(
            f"{where} is {choice!r} but no CUDA device is available; use auto or cpu"
        )
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory: CUDA's OutOfMemoryError, the CPU
    allocator's RuntimeError (``DefaultCPUAllocator: can't allocate memory``), or MemoryError."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )
