"""Writing and restoring run checkpoints (safetensors, never pickle).

Tensors, flat under prefixed names: ``net.<network>.<key>`` (each network's state dict),
``opt_<group>.<index>.<key>`` (optimiser state), ``objective.<key>`` (the objective's extra state:
image pools), ``rng.torch``, ``rng.cuda.<i>`` and ``rng.<stream>`` (named random streams). The
metadata holds JSON strings: the step, each optimiser's hyper-parameters, the resolved spec, the
objective's description and each network's record (see :mod:`faceoff.runs`, which reads them).
Networks may share parts: each storage is written once, the other names are ``aliases`` in the
metadata (:mod:`faceoff.aliases`), and every name is restored on loading.
faceoff 0.1's checkpoints (format /1) load too: their extra state had no prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from faceoff import __version__
from faceoff.aliases import ALIASES, store_once, with_aliases
from faceoff.errors import FaceoffError
from faceoff.io import atomic_path
from faceoff.objective import Description, Objective
from faceoff.runs import FORMAT, Checkpoint, list_checkpoints
from faceoff.train.engine import Engine

_CORE_PREFIXES = ("net.", "opt_", "rng.")


def save_checkpoint(
    path: Path,
    objective: Objective,
    engine: Engine,
    step: int,
    spec: Mapping[str, Any],
    description: Description,
    networks: Mapping[str, Any],
) -> None:
    """Write one checkpoint atomically; ``networks`` are the records of
    :func:`faceoff.runs.network_records`."""
    tensors: dict[str, torch.Tensor] = {}
    for name, net in objective.networks.items():
        for key, value in net.state_dict().items():
            tensors[f"net.{name}.{key}"] = value.detach()  # made contiguous once stored once
    optimizer_tensors, metadata = engine.state()
    tensors.update(optimizer_tensors)
    for key, value in objective.extra_state().items():
        tensors[f"objective.{key}"] = value.detach().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    metadata.update(
        format=FORMAT,
        step=str(step),
        faceoff=__version__,
        spec=json.dumps(spec),
        description=json.dumps(description.to_json()),
        networks=json.dumps(networks),
    )
    tensors, aliases = store_once(tensors)
    if aliases:  # shared parts; a checkpoint without them is written as before
        metadata[ALIASES] = json.dumps(aliases)
    with atomic_path(path) as tmp:
        save_file(
            {k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata
        )


def _extra_state(checkpoint: Checkpoint, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    if checkpoint.legacy:  # 0.1 kept the objective's state without a prefix
        return {k: v for k, v in tensors.items() if not k.startswith(_CORE_PREFIXES)}
    return {
        k.removeprefix("objective."): v for k, v in tensors.items() if k.startswith("objective.")
    }


def load_checkpoint(path: Path, objective: Objective, engine: Engine) -> int:
    """Restore networks, optimisers, extra state and random state in place; the step. Every
    part is checked before it is used, so a damaged file is one line naming it, never a run
    that trains on (or writes over its checkpoints) from a state it cannot hold."""
    checkpoint = Checkpoint(path)
    step = checkpoint.check_step()
    metadata = checkpoint.metadata
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise FaceoffError(f"{path}: not a readable faceoff checkpoint ({exc})") from None
    tensors = with_aliases(tensors, metadata, path)
    rng = _random_state(path, tensors, "rng.torch")
    try:
        for name, net in objective.networks.items():
            prefix = f"net.{name}."
            weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            net.load_state_dict(weights)
        engine.load_state(tensors, metadata)
        objective.load_extra_state(_extra_state(checkpoint, tensors))
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise FaceoffError(
            f"{path}: does not fit this spec's run ({' '.join(str(exc).split())[:300]})"
        ) from None
    torch.set_rng_state(rng)
    # "rng.data", in checkpoints from before batches were a pure function of the step, is unused
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return step


def _random_state(path: Path, tensors: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    """A random generator's state from the checkpoint, checked to be one (uint8, whole)."""
    state, like = tensors.get(key), torch.get_rng_state()
    if state is None or state.dtype != like.dtype or state.shape != like.shape:
        found = "missing" if state is None else f"{state.dtype} {list(state.shape)}"
        raise FaceoffError(
            f"{path}: damaged random state {key} ({found}; expected uint8 [{like.numel()}])"
        )
    return state


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recent checkpoints."""
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
