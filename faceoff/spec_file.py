"""Reading spec files and applying ``--set dotted.key=value`` overrides, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError


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


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides; values are JSON where they parse, else strings."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise FaceoffError(f"--set {item!r}: expected KEY=VALUE, e.g. train.batch_size=4")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        _set_path(raw, key.strip(), value, item)
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
