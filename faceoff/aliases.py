"""Tensors that share memory, stored once in a safetensors file, and read back under every name.

Networks may share parts (a block tied between two decoders, an encoder held by two
translations), so one tensor can sit under several names of a checkpoint. safetensors refuses
to write that ("Some tensors share memory"), so a writer keeps the first name of each storage
and records the others in the metadata key ``aliases`` (JSON: alias -> stored name); a reader
puts them back. A file without sharing has no such key: it is written exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from faceoff.errors import FaceoffError

ALIASES = "aliases"


def _view(tensor: torch.Tensor) -> tuple[object, ...]:
    return (tensor.dtype, tensor.storage_offset(), tuple(tensor.shape), tensor.stride())


def store_once(
    tensors: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``tensors`` with each storage under one name, and the aliases (name -> stored name) of
    the others. A name viewing another's storage in another way (a slice of it) gets a copy."""
    kept: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    owners: dict[tuple[str, int], str] = {}  # (device, storage address) -> the name kept
    for name, tensor in tensors.items():
        storage = tensor.untyped_storage()
        if tensor.device.type == "meta" or storage.data_ptr() == 0 or storage.nbytes() == 0:
            kept[name] = tensor  # no memory to share (safetensors ignores these too)
            continue
        key = (str(tensor.device), storage.data_ptr())
        owner = owners.get(key)
        if owner is None:
            owners[key] = name
            kept[name] = tensor
        elif _view(kept[owner]) == _view(tensor):
            aliases[name] = owner
        else:
            kept[name] = tensor.clone()
    return kept, aliases


def read_aliases(metadata: Mapping[str, str], stored: set[str], path: Path) -> dict[str, str]:
    """The file's aliases, checked: each a new name for a tensor the file holds; else a
    FaceoffError naming the file."""
    text = metadata.get(ALIASES)
    if text is None:
        return {}
    try:
        aliases = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaceoffError(f"{path}: damaged metadata (aliases: {exc})") from None
    if not isinstance(aliases, dict):
        raise FaceoffError(f"{path}: damaged metadata (aliases: not a JSON object)")
    for alias, name in aliases.items():
        if not isinstance(name, str) or name not in stored or alias in stored:
            raise FaceoffError(
                f"{path}: damaged metadata (alias {alias[:80]!r} -> {str(name)[:80]!r}: aliases "
                "name a tensor the file holds, under a name it does not)"
            )
    return aliases


def with_aliases(
    tensors: dict[str, torch.Tensor], metadata: Mapping[str, str], path: Path
) -> dict[str, torch.Tensor]:
    """``tensors`` (a whole file's) with each alias back, sharing the stored tensor."""
    for alias, name in read_aliases(metadata, set(tensors), path).items():
        tensors[alias] = tensors[name]
    return tensors


def read_prefixed(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` whose names start with ``prefix`` (one network of a checkpoint),
    without it, aliases included; only these are read."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        names = set(handle.keys())
        aliases = read_aliases(handle.metadata() or {}, names, path)
        wanted = {k: k for k in names if k.startswith(prefix)}
        wanted |= {alias: name for alias, name in aliases.items() if alias.startswith(prefix)}
        read: dict[str, torch.Tensor] = {}
        for name in set(wanted.values()):
            read[name] = handle.get_tensor(name)
    return {key[len(prefix) :]: read[name] for key, name in sorted(wanted.items())}
