"""Which arithmetic a run trains in: ``train.precision`` 'auto' picks bf16 only where the
hardware runs it natively, since emulated bf16 is far slower than fp32 (measured on a 2-core
AVX2 EPYC: an eleventh of fp32's speed, 0.3 GFLOP/s of matmul against 98.6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faceoff.console import warn


@dataclass(frozen=True)
class Precision:
    """The precision chosen for a run and why, in words for the run's first line."""

    name: str
    reason: str


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and what says so (as torch reports it)."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ok, "the GPU supports bf16" if ok else "this GPU has no native bf16"
    found = []
    for name, probe in (
        ("AVX-512 BF16", "_is_avx512_bf16_supported"),
        ("AMX", "_is_amx_tile_supported"),
    ):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                found.append(name)
        except RuntimeError:
            pass
    if found:
        return True, f"the CPU has {' and '.join(found)}"
    return False, "the CPU has neither AVX-512 BF16 nor AMX (bf16 would be emulated, ~10x slower)"


def choose(setting: str, device: torch.device) -> Precision:
    """``train.precision`` made concrete: 'auto' is bf16 where native, else fp32; an explicit
    bf16 without native support runs, with one warning."""
    if setting == "auto":
        native, why = native_bf16(device)
        return Precision("bf16" if native else "fp32", f"auto: {why}")
    if setting == "bf16":
        native, why = native_bf16(device)
        if not native:
            warn(f"train.precision bf16: {why}; 'auto' or 'fp32' trains faster here")
        return Precision("bf16", "as the spec says")
    return Precision(setting, "as the spec says")
