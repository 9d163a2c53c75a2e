"""CPU speed-ups the engine applies to every network, exact up to rounding: padding layers that
keep their input's dtype under autocast and a faster reflection-padding backward; and which
networks may see several of a step's inputs as one batch."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.capabilities import MixesBatch


def fold_reflection(grad: torch.Tensor, p: int) -> torch.Tensor:
    """The gradient of reflection padding by ``p`` on H and W: the border rows and columns of
    ``grad`` added, mirrored, onto the ones they were copied from, then the interior.

    Equals torch's ``reflection_pad2d_backward`` (to rounding) in a few sliced adds; that kernel
    took 7% of a bf16 CPU step and ran 1.5-3.8x slower than this on the project's CPU.
    """
    h, w = grad.shape[-2] - 2 * p, grad.shape[-1] - 2 * p
    cols = grad[..., :, p : p + w].clone()
    cols[..., :, 1 : p + 1] += grad[..., :, :p].flip(-1)
    cols[..., :, w - p - 1 : w - 1] += grad[..., :, p + w :].flip(-1)
    out = cols[..., p : p + h, :].clone()
    out[..., 1 : p + 1, :] += cols[..., :p, :].flip(-2)
    out[..., h - p - 1 : h - 1, :] += cols[..., p + h :, :].flip(-2)
    return out


class _ReflectPad(torch.autograd.Function):
    """Reflection padding (the same on all four sides) whose backward is :func:`fold_reflection`."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: int) -> torch.Tensor:
        ctx.p = p
        return F.pad(x, (p, p, p, p), mode="reflect")

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return fold_reflection(grad, ctx.p), None


class _ReflectionPad2d(nn.ReflectionPad2d):
    """Reflection padding in the dtype of its input, with a faster backward on the CPU.

    CPU autocast runs padding in fp32, which turns every padded bf16 activation into an fp32 copy
    that the next convolution casts back: two copies and twice the bytes for an operation that
    only moves values. The backward is :func:`fold_reflection` where the padding is even.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            p = self.padding[0]
            if x.device.type == "cpu" and x.dim() == 4 and all(q == p for q in self.padding):
                return _ReflectPad.apply(x, p)
            return super().forward(x)


class _ReplicationPad2d(nn.ReplicationPad2d):
    """Replication padding in the dtype of its input (see :class:`_ReflectionPad2d`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


_PADS = {nn.ReflectionPad2d: _ReflectionPad2d, nn.ReplicationPad2d: _ReplicationPad2d}


def fast_padding(net: nn.Module) -> None:
    """Make the padding layers of ``net`` keep their input's dtype under autocast and, for
    reflection on the CPU, use the faster backward (both exact up to rounding: padding only
    copies values). In place; parameters and state-dict keys are unchanged."""
    for module in net.modules():
        if type(module) in _PADS:
            module.__class__ = _PADS[type(module)]


def per_sample(net: nn.Module) -> bool:
    """Whether a batch through ``net`` gives each image's output as if it went alone: no batch
    statistics (batch norm) and no dropout (whose random masks depend on the batch layout). Only
    such networks see several of the step's inputs as one batch. A plugin network whose outputs
    depend on the other images of its batch in another way sets ``mixes_batch = True``
    (:class:`faceoff.capabilities.MixesBatch`)."""
    mixing = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.Dropout)
    mixes = isinstance(net, MixesBatch) and bool(net.mixes_batch)
    return not mixes and not any(isinstance(m, mixing) for m in net.modules())
