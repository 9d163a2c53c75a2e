"""The run folder and its checkpoints, as every reader sees them: one module knows the layout.

A run folder (written by ``faceoff run``)::

    .faceoff-run.json    which files the run writes (glob patterns): all that faceoff deletes
    spec.json            the resolved spec (every default filled in)
    plugins.json         which distribution and version provided each component
    metrics.jsonl        one line per logging interval
    losses.png           loss curves, kept current
    samples/step_N.png   sample grids of test frames
    checkpoints/step_N.safetensors

A checkpoint explains itself: its metadata holds the resolved spec, the objective's description
(networks, translations, loss curves) and each network's kind, plugin, params and channels, so
``apply``, ``eval``, ``compare``, ``plot`` and ``load_network`` need nothing but the file. A
translation may be a chain of networks (:meth:`Checkpoint.load_translation` runs it as one);
networks may share tensors, stored once (:mod:`faceoff.aliases`). A checkpoint of faceoff 0.1
(format ``/1``, always CycleGAN) has only the spec: its description is rebuilt from the spec
through the installed plugins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faceoff.console import warn
from faceoff.errors import FaceoffError
from faceoff.io import regular_file
from faceoff.objective import Description, Translation

if TYPE_CHECKING:
    from torch import nn

SPEC_FILE = "spec.json"
PLUGINS_FILE = "plugins.json"
MANIFEST = ".faceoff-run.json"
LOCK = ".faceoff.lock"  # held (flock) by the run training in the folder

FORMAT = "faceoff.run-checkpoint/2"
FORMAT_V1 = "faceoff.run-checkpoint/1"
FORMATS = (FORMAT, FORMAT_V1)
_NAME = re.compile(r"^step_(\d+)\.safetensors$")


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints of a run's ``checkpoints`` folder, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:08d}.safetensors"


def read_metadata(path: Path) -> dict[str, str]:
    """The checkpoint's metadata, or a FaceoffError naming the file if it is not one."""
    from safetensors import SafetensorError, safe_open

    regular_file(path, "a faceoff checkpoint (.safetensors)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise FaceoffError(f"{path}: not a readable faceoff checkpoint ({exc})") from None
    if metadata.get("format") not in FORMATS:
        raise FaceoffError(
            f"{path}: not a faceoff run checkpoint (format {metadata.get('format')!r})"
        )
    return metadata


def network_records(resolved: Any, description: Description) -> dict[str, dict[str, Any]]:
    """Each network's kind, plugin, params and channels: what builds it again."""
    records = {}
    for name, network in description.networks.items():
        component, params = resolved.components[network.slot]
        records[name] = {
            "kind": network.kind,
            "plugin": component.name,
            "params": params.model_dump(mode="json"),
            "channels": network.channels(),
        }
    return records


@dataclass
class Checkpoint:
    """One checkpoint file, read lazily: metadata first, tensors only when asked."""

    path: Path

    @cached_property
    def metadata(self) -> dict[str, str]:
        return read_metadata(self.path)

    @property
    def legacy(self) -> bool:
        """Written by faceoff 0.1 (format /1)."""
        return self.metadata["format"] == FORMAT_V1

    @property
    def step(self) -> int:
        """The steps it was trained for: a whole number, 1 or more (checked, as it decides
        which checkpoints a resumed run writes over)."""
        text = self.metadata.get("step")
        if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,12}", text) or int(text) < 1:
            raise FaceoffError(
                f"{self.path}: damaged metadata (step {text!r}; expected a whole number >= 1)"
            )
        return int(text)

    def check_step(self) -> int:
        """:attr:`step`, checked against the file's name (``step_N.safetensors``): a resumed run
        continues from the step its name promises, or not at all."""
        named = _NAME.match(self.path.name)
        if named and int(named.group(1)) != self.step:
            raise FaceoffError(
                f"{self.path}: damaged metadata (step {self.step}, but the file is named for "
                f"step {int(named.group(1))})"
            )
        return self.step

    def _json(self, key: str) -> Any:
        try:
            return json.loads(self.metadata[key])
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise FaceoffError(
                f"{self.path}: damaged metadata ({type(exc).__name__}: {exc})"
            ) from None

    @property
    def spec(self) -> dict[str, Any]:
        """The spec it was trained with, as stored (0.1's form for a legacy checkpoint)."""
        return self._json("spec")

    @cached_property
    def _rebuilt(self) -> tuple[Description, dict[str, dict[str, Any]]]:
        """A legacy checkpoint's description and networks, from its spec and the plugins."""
        from faceoff.plugins import get_registry
        from faceoff.spec import resolve

        resolved = resolve(self.spec, get_registry(), source=f"{self.path} (its spec)")
        description = resolved.description
        return description, network_records(resolved, description)

    @cached_property
    def description(self) -> Description:
        if self.legacy:
            return self._rebuilt[0]
        try:
            return Description.from_json(self._json("description"))
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceoffError(f"{self.path}: damaged description ({exc})") from None

    @cached_property
    def networks(self) -> dict[str, dict[str, Any]]:
        """name -> {kind, plugin, params, channels}."""
        return self._rebuilt[1] if self.legacy else self._json("networks")

    @property
    def crop_size(self) -> int:
        """The square size it was trained at (``data.crop_size``)."""
        try:
            size = int(self.spec["data"]["crop_size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FaceoffError(
                f"{self.path}: damaged metadata ({type(exc).__name__}: {exc})"
            ) from None
        if size < 1:
            raise FaceoffError(f"{self.path}: damaged metadata (crop_size {size})")
        return size

    def translation(self, direction: str) -> Translation:
        """The objective's translation ``direction``, or an error naming those it has."""
        return find_translation(self.description, direction, str(self.path))

    def load_translation(self, direction: str) -> nn.Module:
        """The translation ``direction`` as one module, in eval mode, on the CPU: its network,
        or for a chain an ``nn.Sequential`` of its networks under their names (a network named
        twice is loaded once and run twice). What every reader runs: apply, eval, export,
        compare."""
        from collections import OrderedDict

        from torch import nn

        chain = self.translation(direction).chain
        loaded = {name: self.load_network(name) for name in dict.fromkeys(chain)}
        if len(chain) == 1:
            return loaded[chain[0]]
        keys = [name if name not in chain[:i] else f"{name}_{i}" for i, name in enumerate(chain)]
        return nn.Sequential(OrderedDict(zip(keys, (loaded[n] for n in chain)))).eval()

    def load_network(self, name: str) -> Any:
        """Network ``name`` rebuilt from its record and weights, in eval mode, on the CPU."""
        from faceoff.weights import build_network

        if name not in self.networks:
            raise FaceoffError(
                f"network {name!r}: a run checkpoint holds {', '.join(self.networks)}"
            )
        record = self.networks[name]
        return build_network(
            self.path,
            name,
            record["kind"],
            record["plugin"],
            record.get("params", {}),
            record.get("channels") or {},
            f"net.{name}.",
        )


def find_translation(description: Description, direction: str, where: str) -> Translation:
    """``description``'s translation ``direction``, or one line saying which it has."""
    offered = description.translations
    if direction in offered:
        return offered[direction]
    if len(offered) == 1:
        only = next(iter(offered))
        raise FaceoffError(
            f"--direction {direction}: {where} translates one way only, {only}; "
            f"use --direction {only}"
        )
    raise FaceoffError(f"--direction {direction!r}: expected one of {', '.join(offered)}")


@dataclass(frozen=True)
class RunFolder:
    """A run folder, checked to exist and to hold a spec."""

    path: Path

    @classmethod
    def open(cls, path: str | Path) -> RunFolder:
        path = Path(path)
        if not path.exists():
            raise FaceoffError(f"{path}: no such run folder")
        if not path.is_dir():
            raise FaceoffError(f"{path}: is not a folder; expected a run folder from faceoff run")
        if not (path / "spec.json").is_file():
            raise FaceoffError(
                f"{path}: not a run folder (no spec.json); expected one from faceoff run"
            )
        return cls(path)

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def spec(self) -> dict[str, Any]:
        """spec.json as written (0.1's form for a run of 0.1)."""
        try:
            data = json.loads(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FaceoffError(f"{self.spec_path}: cannot read the run's spec ({exc})") from None
        if not isinstance(data, dict):
            raise FaceoffError(f"{self.spec_path}: not a spec (a JSON object)")
        return data

    def checkpoints(self) -> list[Path]:
        return list_checkpoints(self.path / "checkpoints")

    def latest(self, hint: str = "train it with faceoff run first") -> Checkpoint:
        found = self.checkpoints()
        if not found:
            raise FaceoffError(
                f"{self.path}: no checkpoints in {self.path / 'checkpoints'} "
                f"(step_*.safetensors); {hint}"
            )
        return Checkpoint(found[-1])

    def description(self) -> Description:
        """The objective's description: the latest checkpoint's, else rebuilt from the spec."""
        if self.checkpoints():
            return self.latest().description
        from faceoff.plugins import get_registry
        from faceoff.spec import resolve

        return resolve(self.spec(), get_registry(), source=str(self.spec_path)).description

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.jsonl, checked to be a run's metrics."""
        if not self.metrics_path.is_file():
            raise FaceoffError(f"{self.path}: no metrics.jsonl; the run has not logged a step yet")
        rows = read_metrics(self.metrics_path)
        if not rows:
            raise FaceoffError(f"{self.metrics_path}: no rows; the run has not logged a step yet")
        if not all(isinstance(r, dict) and "step" in r and "epoch" in r for r in rows):
            raise FaceoffError(f"{self.metrics_path}: rows without 'step' and 'epoch'")
        return rows


def read_metrics(path: Path) -> list[Any]:
    """The rows of a metrics.jsonl. It is appended to, so a crash or a full disk can leave its
    last line torn: that line is dropped with a warning (a resumed run writes it again). A bad
    line anywhere else is an error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FaceoffError(f"{path}: cannot read ({exc})") from None
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    rows = []
    for i, line in numbered:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if i != numbered[-1][0]:
                raise FaceoffError(f"{path}: line {i} is not JSON ({exc})") from None
            warn(f"{path}: its last line (line {i}) is torn, as by a crash or a full disk; dropped")
    return rows
