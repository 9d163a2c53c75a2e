"""Reading spec files and applying ``--set dotted.key=value`` overrides, with clear errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError

LEGACY_KEYS = {
    "losses.identity": "objective.params.identity",
    "train.pool_size": "objective.params.pool_size",
}
"""faceoff 0.1's keys of what is now the cyclegan objective's, and where they live now."""


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a spec file as JSON, with clear errors for missing files and bad JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FaceoffError(f"{path}: no such spec file") from None
    except IsADirectoryError:
        raise FaceoffError(f"{path}: is a folder, expected a spec .json file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FaceoffError(f"{path}: cannot read spec file ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaceoffError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    return data


def migrate(raw: Any, source: str = "spec") -> tuple[Any, dict[str, str]]:
    """A 0.1 spec in today's form: each of :data:`LEGACY_KEYS` moved into ``objective.params``
    (the objective defaulting to cyclegan); also which keys moved (new -> old). A copy; a spec
    with neither key is returned as it is. Both forms of one key with different values are an
    error."""
    found = [
        (old, new)
        for old, new in LEGACY_KEYS.items()
        if isinstance(raw, dict)
        and isinstance(raw.get(old.split(".")[0]), dict)
        and old.split(".")[1] in raw[old.split(".")[0]]
    ]
    if not found:
        return raw, {}
    raw = copy.deepcopy(raw)
    objective = raw.setdefault("objective", {"plugin": "cyclegan"})
    if not isinstance(objective, dict) or not isinstance(objective.setdefault("params", {}), dict):
        return raw, {}  # not a component spec: validation says so
    moved = {}
    for old, new in found:
        section, key = old.split(".")
        value = raw[section].pop(key)
        name = new.rsplit(".", 1)[1]
        if name in objective["params"] and objective["params"][name] != value:
            raise FaceoffError(
                f"{source}: {old} is {json.dumps(value)} and {new} is "
                f"{json.dumps(objective['params'][name])}; {old} is faceoff 0.1's name of "
                f"{new}: keep one"
            )
        objective["params"][name] = value
        moved[new] = old
    return raw, moved


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides; values are JSON where they parse, else strings.

    0.1's keys (:data:`LEGACY_KEYS`) set today's: ``--set train.pool_size=0`` still works.
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise FaceoffError(f"--set {item!r}: expected KEY=VALUE, e.g. train.batch_size=4")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        key = key.strip()
        if key in LEGACY_KEYS and isinstance(raw, dict) and "objective" not in raw:
            raw["objective"] = {"plugin": "cyclegan"}
        _set_path(raw, LEGACY_KEYS.get(key, key), value, item)
    return raw


def _set_path(raw: dict[str, Any], key: str, value: Any, item: str) -> None:
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise FaceoffError(
                    f"--set {item!r}: {'.'.join(parts[:i]) or 'spec'} is a list of {len(node)}; "
                    f"use an index 0..{len(node) - 1}"
                )
            index = int(part)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise FaceoffError(f"--set {item!r}: {'.'.join(parts[:i])} is a value, not a section")
