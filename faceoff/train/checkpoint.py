"""Run checkpoints in safetensors (never pickle): networks, optimisers, pools, RNG, position.

Tensors are stored flat under prefixed names; everything else (step, optimiser hyper-parameters,
the resolved spec) goes into the safetensors metadata as JSON strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from faceoff.errors import FaceoffError
from faceoff.io import atomic_path
from faceoff.train.cyclegan import NETWORKS, CycleGAN

FORMAT = "faceoff.run-checkpoint/1"
_NAME = re.compile(r"^step_(\d+)\.safetensors$")


@dataclass
class TrainState:
    """Where training stands, beyond the model: the step and the pools' random generator.

    No data generator: a batch is a pure function of (seed, epoch, step, rank), see
    :mod:`faceoff.train.batches`.
    """

    step: int
    pool_rng: torch.Generator


def _optimizer_tensors(
    prefix: str, opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], str]:
    state = opt.state_dict()
    tensors = {
        f"{prefix}.{index}.{key}": value.detach().clone().contiguous()
        for index, entry in state["state"].items()
        for key, value in entry.items()
    }
    return tensors, json.dumps(state["param_groups"])


def _restore_optimizer(
    opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups: str
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": json.loads(groups)})


def save_checkpoint(path: Path, model: CycleGAN, state: TrainState, spec: dict[str, Any]) -> None:
    """Write one checkpoint atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for name in NETWORKS:
        for key, value in getattr(model, name).state_dict().items():
            tensors[f"net.{name}.{key}"] = value.detach().contiguous()
    opt_g, groups_g = _optimizer_tensors("opt_G", model.opt_G)
    opt_d, groups_d = _optimizer_tensors("opt_D", model.opt_D)
    tensors.update(opt_g)
    tensors.update(opt_d)
    for label, pool in (("A", model.pool_A), ("B", model.pool_B)):
        images = pool.state()
        if images is not None:
            tensors[f"pool.{label}"] = images.detach().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.pool"] = state.pool_rng.get_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    metadata = {
        "format": FORMAT,
        "step": str(state.step),
        "opt_G.param_groups": groups_g,
        "opt_D.param_groups": groups_d,
        "spec": json.dumps(spec),
    }
    with atomic_path(path) as tmp:
        save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def read_metadata(path: Path) -> dict[str, str]:
    """The checkpoint's metadata, or a FaceoffError naming the file if it is not one."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise FaceoffError(f"{path}: not a readable faceoff checkpoint ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise FaceoffError(
            f"{path}: not a faceoff run checkpoint (format {metadata.get('format')!r})"
        )
    return metadata


def load_checkpoint(path: Path, model: CycleGAN, state: TrainState) -> None:
    """Restore model, optimisers, pools, RNG and step from a checkpoint, in place."""
    metadata = read_metadata(path)
    try:
        tensors = load_file(str(path))
        for name in NETWORKS:
            prefix = f"net.{name}."
            weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            getattr(model, name).load_state_dict(weights)
        _restore_optimizer(model.opt_G, "opt_G", tensors, metadata["opt_G.param_groups"])
        _restore_optimizer(model.opt_D, "opt_D", tensors, metadata["opt_D.param_groups"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise FaceoffError(
            f"{path}: does not fit this spec's networks ({' '.join(str(exc).split())[:300]})"
        ) from None
    model.pool_A.load(tensors.get("pool.A"), model.device)
    model.pool_B.load(tensors.get("pool.B"), model.device)
    torch.set_rng_state(tensors["rng.torch"])
    # "rng.data", in checkpoints from before batches were a pure function of the step, is unused
    state.pool_rng.set_state(tensors["rng.pool"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    state.step = int(metadata["step"])


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints of a run folder, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:08d}.safetensors"


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recent checkpoints."""
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
