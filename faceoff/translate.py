"""Frames through a trained network: the one function that apply, eval and the figures share."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from faceoff.devices import out_of_memory
from faceoff.errors import FaceoffError
from faceoff.frames import to_float, to_tensor, to_uint8


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 [N, H, W, 3] -> [N, size, size, 3]: area when shrinking, else bilinear."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    shrink = size < frames.shape[2]
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack(
        [cv2.resize(np.ascontiguousarray(f), (size, size), interpolation=method) for f in frames]
    )


@torch.no_grad()
def translate(
    net: torch.nn.Module,
    frames: np.ndarray,
    device: torch.device | None = None,
    *,
    batch: int = 32,
    size: int | None = None,
) -> np.ndarray:
    """uint8 [N, H, W, 3] frames through ``net`` (in eval mode, on ``device``, default the
    network's), ``batch`` at a time, resized to ``size`` first if given: uint8 [N, S, S, 3], as
    a training sample grid makes them. Out of memory and inputs the network cannot take are
    one-line errors."""
    if size is not None:
        frames = resize(frames, size)
    if device is None:
        device = next(net.parameters(), torch.empty(0)).device
    net = net.to(device).eval()
    _check_weights(net)
    parts = []
    for start in range(0, len(frames), batch):
        images = to_float(to_tensor(frames[start : start + batch]).to(device))
        try:
            out = net(images)
        except RuntimeError as exc:
            if out_of_memory(exc):
                raise FaceoffError(
                    f"out of memory on {device}; use a smaller --batch or --size"
                ) from None
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            raise FaceoffError(
                f"the generator cannot take {frames.shape[1]} px frames ({first}); "
                "try another --size"
            ) from None
        if not torch.isfinite(out).all():
            raise FaceoffError(
                "the generator outputs non-finite values (NaN or infinity) for frames "
                f"{start} to {start + len(images) - 1}; its weights or inputs are broken"
            )
        parts.append(to_uint8(out))
    return np.concatenate(parts) if parts else np.zeros((0, *frames.shape[1:]), np.uint8)


def _check_weights(net: torch.nn.Module) -> None:
    """A network with NaN or infinite weights makes black frames that would read as perfectly
    steady; refuse it instead, naming the first bad tensor."""
    for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise FaceoffError(
                f"the generator's {name} holds non-finite values (NaN or infinity): it outputs "
                "non-finite values; train it again or take an earlier checkpoint"
            )


def translate_tensor(
    net: torch.nn.Module, images: torch.Tensor, device: torch.device | None = None, **kwargs
) -> np.ndarray:
    """:func:`translate` for uint8 [N, 3, H, W] tensors (the eval and figure frames)."""
    return translate(net, images.permute(0, 2, 3, 1).numpy(), device, **kwargs)
