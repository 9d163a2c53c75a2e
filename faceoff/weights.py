"""Network files: reference checkpoints imported into safetensors, and networks loaded back.

A faceoff network file is a safetensors file holding one network's state_dict, with metadata
``format`` (``faceoff.network/1``), ``kind``, ``plugin``, ``params`` (JSON), ``channels`` (JSON:
the build's ``in_channels``/``out_channels``), ``source`` and ``source_sha256``. Nothing here
unpickles anything that is more than tensors: ``.pth`` files are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file
from torch import nn

from faceoff.aliases import ALIASES, read_prefixed, store_once
from faceoff.components import Component
from faceoff.errors import FaceoffError
from faceoff.io import atomic_path, check_new_file, refuse_inputs, regular_file
from faceoff.plugins import get_registry
from faceoff.pth import load_tensors, one_line, state_dict
from faceoff.spec import format_validation_error

FORMAT = "faceoff.network/1"
NETWORK_KINDS = ("generator", "discriminator")
_SHOWN = 3  # keys listed in a mismatch message, per category


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_reference` wrote."""

    dest: Path
    kind: str
    plugin: str
    params: dict[str, Any]
    tensors: int
    parameters: int
    source: str


def _channels(kind: str, in_channels: int, out_channels: int) -> dict[str, int]:
    if kind == "generator":
        return {"in_channels": in_channels, "out_channels": out_channels}
    return {"in_channels": in_channels}


def _component(kind: str, plugin: str) -> Component:
    if kind not in NETWORK_KINDS:
        raise FaceoffError(f"kind {kind!r}: expected one of {', '.join(NETWORK_KINDS)}")
    return get_registry().get(kind, plugin)


def _validate(component: Component, params: Mapping[str, Any] | None) -> BaseModel:
    try:
        return component.params.model_validate(dict(params or {}))
    except ValidationError as exc:
        message = format_validation_error(exc)
        raise FaceoffError(f"{component.kind} {component.name!r} params: {message}") from None


def read_reference(src: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` state_dict, read without running any code from the file.

    A ``module.`` prefix (saved from ``DataParallel``) is removed.
    """
    tensors = state_dict(load_tensors(src), str(src))
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def _fit_to(net: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the bookkeeping entries this network does not have (``num_batches_tracked``,
    instance norm's running statistics from old checkpoints); keep its own counters where the
    file has none, as the reference's loader does."""
    ours = net.state_dict()
    fitted = {}
    for key, value in tensors.items():
        if key not in ours and key.endswith(".num_batches_tracked"):
            continue
        if key not in ours and key.endswith((".running_mean", ".running_var")):
            try:
                owner = net.get_submodule(key.rsplit(".", 1)[0])
            except AttributeError:
                owner = None
            if isinstance(owner, nn.InstanceNorm2d | nn.Identity):
                continue
        fitted[key] = value
    for key, value in ours.items():
        if key.endswith(".num_batches_tracked") and key not in fitted:
            fitted[key] = value
    return fitted


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (", ..." if len(keys) > _SHOWN else "")


def _mismatch(net: nn.Module, tensors: dict[str, torch.Tensor]) -> str | None:
    ours = net.state_dict()
    missing = [k for k in ours if k not in tensors]
    unexpected = [k for k in tensors if k not in ours]
    shapes = [
        f"{k} {list(tensors[k].shape)} vs {list(v.shape)}"
        for k, v in ours.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} keys missing from the file ({_listed(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys ({_listed(unexpected)})")
    if shapes:
        parts.append(f"{len(shapes)} shapes differ (file vs network: {_listed(shapes)})")
    return "; ".join(parts) or None


def _fits(component: Component, params: BaseModel, shapes: dict[str, tuple[int, ...]]) -> bool:
    try:
        with torch.device("meta"):
            net = component.make(params)
    except Exception:  # a guess that cannot even be built does not fit
        return False
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    strip = ".num_batches_tracked"
    return {k: v for k, v in ours.items() if not k.endswith(strip)} == {
        k: v for k, v in shapes.items() if not k.endswith(strip)
    }


def _hint(component: Component, params: BaseModel, tensors: dict[str, torch.Tensor]) -> str:
    """What the file looks like it was made with, as --param options, when a guess fits."""
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    registry = get_registry()
    candidates = [component] + [
        c for c in registry.all() if c.kind == component.kind and c.name != component.name
    ]
    for candidate in candidates:
        guess = candidate.guess_params
        if guess is None:
            continue
        guessed = guess(shapes)
        if not guessed:
            continue
        base = params.model_dump() if candidate is component else {}
        try:
            fitted = candidate.params.model_validate({**base, **guessed})
            given = params if candidate is component else candidate.params.model_validate({})
        except ValidationError:
            continue
        if not _fits(candidate, fitted, shapes):
            continue
        changes = {k: v for k, v in guessed.items() if getattr(given, k, None) != v}
        options = " ".join(
            f"--param {k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in changes.items()
        )
        if candidate is component:
            return f"the file fits {component.name} with {options}"
        return f"the file fits {component.kind} {candidate.name!r}: --{component.kind} " + (
            f"{candidate.name} {options}".strip()
        )
    names = ", ".join(type(params).model_fields)
    return f"check the params ({names}) and the {component.kind}'s name"


def import_reference(
    src: str | Path,
    dest: str | Path,
    kind: str,
    plugin: str,
    params: Mapping[str, Any] | None = None,
    *,
    in_channels: int = 3,
    out_channels: int = 3,
) -> ImportSummary:
    """Convert a reference state_dict (``.pth``) into a faceoff network file.

    The network ``plugin`` of ``kind`` is built with ``params`` and must take the file's
    tensors exactly (``load_state_dict(strict=True)``); on any problem a one-line FaceoffError
    names the file and nothing is written.
    """
    src, dest = Path(src), Path(dest)
    component = _component(kind, plugin)
    validated = _validate(component, params)
    if dest.is_dir():
        raise FaceoffError(f"{dest}: is a folder; give the .safetensors file to write")
    refuse_inputs(dest, {"the source file": src})
    check_new_file(dest)
    raw = read_reference(src)
    channels = _channels(kind, in_channels, out_channels)
    with torch.device("meta"):  # keys and shapes first: no memory, no init
        skeleton = component.make(validated, **channels)
    problem = _mismatch(skeleton, _fit_to(skeleton, raw))
    if problem:
        raise FaceoffError(
            f"{src}: does not fit {kind} {plugin!r} with {json.dumps(validated.model_dump())}: "
            f"{problem}; {_hint(component, validated, raw)}"
        )
    with torch.device("cpu"):
        net = component.make(validated, **channels)
    tensors = _fit_to(net, raw)
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise FaceoffError(f"{src}: does not fit {kind} {plugin!r}: {one_line(str(exc))}") from None
    state, aliases = store_once({k: v.detach() for k, v in net.state_dict().items()})
    state = {k: v.contiguous().cpu() for k, v in state.items()}
    params_json = validated.model_dump(mode="json")
    metadata = {
        "format": FORMAT,
        "kind": kind,
        "plugin": plugin,
        "params": json.dumps(params_json),
        "channels": json.dumps(_channels(kind, in_channels, out_channels)),
        "source": src.name,
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
    } | ({ALIASES: json.dumps(aliases)} if aliases else {})
    with atomic_path(dest) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return ImportSummary(
        dest=dest,
        kind=kind,
        plugin=plugin,
        params=params_json,
        tensors=len(state) + len(aliases),
        parameters=sum(p.numel() for p in net.parameters()),
        source=str(src),
    )


def _metadata(path: Path) -> dict[str, str]:
    regular_file(path, "a network file or run checkpoint")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise FaceoffError(
            f"{path}: not a faceoff network file or run checkpoint ({one_line(str(exc), 120)})"
        ) from None


def build_network(
    path: Path,
    label: str,
    kind: str,
    plugin: str,
    params: Any,
    channels: dict[str, int],
    prefix: str,
) -> nn.Module:
    """The network ``plugin`` of ``kind`` built with ``params`` and ``channels``, holding the
    tensors of ``path`` under ``prefix``, in eval mode on the CPU."""
    component = _component(kind, plugin)
    validated = _validate(component, params)
    net = component.make(validated, **channels)
    try:
        state = read_prefixed(path, prefix)  # shared parts under every name
    except (SafetensorError, OSError) as exc:
        raise FaceoffError(f"{path}: not readable ({one_line(str(exc), 120)})") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FaceoffError(
            f"{path}: {label} does not fit {kind} {plugin!r} ({one_line(str(exc))})"
        ) from None
    return net.eval()


def load_network(path: str | Path, network: str | None = None) -> nn.Module:
    """The network in a faceoff network file or a run checkpoint, ready, in eval mode, on the CPU.

    ``network`` picks one of a run checkpoint's networks (default: its objective's first
    translation, CycleGAN's a2b generator; a chain of networks as one ``nn.Sequential``); a
    network file holds one network, takes none.
    """
    from faceoff.runs import FORMATS, Checkpoint

    path = Path(path)
    metadata = _metadata(path)
    fmt = metadata.get("format")
    try:
        if fmt == FORMAT:
            if network is not None:
                raise FaceoffError(
                    f"{path}: holds one {metadata.get('kind')}; network={network!r} is for run "
                    "checkpoints"
                )
            channels = json.loads(metadata.get("channels") or "{}")
            return build_network(
                path,
                "the network",
                metadata["kind"],
                metadata["plugin"],
                json.loads(metadata["params"]),
                channels or _channels(metadata["kind"], 3, 3),
                "",
            )
        if fmt in FORMATS:
            checkpoint = Checkpoint(path)
            if network is None:  # the first translation, its chain of networks as one
                return checkpoint.load_translation(next(iter(checkpoint.description.translations)))
            return checkpoint.load_network(network)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise FaceoffError(f"{path}: damaged metadata ({type(exc).__name__}: {exc})") from None
    raise FaceoffError(
        f"{path}: not a faceoff network file or run checkpoint (format {fmt!r}; expected "
        f"{FORMAT!r} from faceoff import-weights, or {FORMATS[0]!r} from faceoff run)"
    )
