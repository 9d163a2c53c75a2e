"""Which params a reference state_dict was made with, from its key names and shapes alone.

Used to turn a key mismatch on import into a hint (``--param n_blocks=6``). Torch-free: each
guesser takes ``{key: shape}`` and returns the params it can tell, or ``{}`` if the keys are
not of its network at all.
"""

from __future__ import annotations

import re
from typing import Any

Shapes = dict[str, tuple[int, ...]]


def _norm(shapes: Shapes, biased_key: str) -> str:
    if any(k.endswith(".running_mean") for k in shapes):
        return "batch"
    return "instance" if biased_key in shapes else "none"


def resnet(shapes: Shapes) -> dict[str, Any]:
    stem = shapes.get("model.1.weight")
    if stem is None or len(stem) != 4:
        return {}
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
    if not blocks:
        return {}
    filters = {int(m.group(1)) for k in shapes if (m := re.fullmatch(r"model\.(\d+)\.filt", k))}
    return {
        "ngf": stem[0],
        "n_blocks": len(blocks),
        "dropout": any(".conv_block.6." in k for k in shapes),
        "norm": _norm(shapes, "model.1.bias"),
        "antialias": any(i < min(blocks) for i in filters),
        "antialias_up": any(i > max(blocks) for i in filters),
    }


def unet(shapes: Shapes) -> dict[str, Any]:
    stem = shapes.get("model.model.0.weight")
    if stem is None or len(stem) != 4:
        return {}
    inner = [
        k for k in shapes if re.fullmatch(r"model\.model\.1(\.model\.3)*\.model\.1\.weight", k)
    ]
    if not inner:
        return {}
    # dropout has no weights, so the keys cannot tell it
    return {
        "ngf": stem[0],
        "num_downs": len(inner) + 1,
        "norm": _norm(shapes, "model.model.0.bias"),
    }


def patchgan(shapes: Shapes) -> dict[str, Any]:
    first = shapes.get("model.0.weight")
    if first is None or len(first) != 4:
        return {}
    convs = [k for k, s in shapes.items() if re.fullmatch(r"model\.\d+\.weight", k) and len(s) == 4]
    if len(convs) < 3:
        return {}
    antialias = "model.2.filt" in shapes  # the first subsampling, right after conv and LeakyReLU
    norm = _norm(shapes, "model.3.bias" if antialias else "model.2.bias")
    return {"ndf": first[0], "n_layers": len(convs) - 2, "norm": norm, "antialias": antialias}


def pixel(shapes: Shapes) -> dict[str, Any]:
    first = shapes.get("net.0.weight")
    if first is None or len(first) != 4 or "net.2.weight" not in shapes:
        return {}
    return {"ndf": first[0], "norm": _norm(shapes, "net.2.bias")}
