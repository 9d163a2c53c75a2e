"""Reading spec files and applying ``--set dotted.key=value`` overrides, with clear errors.

Hostile input is refused with a one-line :class:`FaceoffError`, never a traceback or a hang:

* a spec file is read only if it is a regular file of at most :data:`MAX_SPEC_BYTES` (a pipe,
  a FIFO or a device such as ``/dev/zero`` is refused without reading from it: write it to a
  file first), and must be UTF-8 text (a byte-order mark is allowed);
* JSON, in files and in ``--set`` values, may nest at most :data:`MAX_DEPTH` levels, hold
  integers of at most :data:`MAX_INT_DIGITS` digits and finite numbers only (``NaN``,
  ``Infinity``, ``-Infinity`` and numbers beyond a float's range such as ``1e999`` are refused);
* user text quoted in a message (file names, keys, values) is escaped where it holds control
  characters or line breaks (:func:`shown`), so every message stays one line.
"""

from __future__ import annotations

import copy
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError

LEGACY_KEYS = {
    "losses.identity": "objective.params.identity",
    "train.pool_size": "objective.params.pool_size",
}
"""faceoff 0.1's keys of what is now the cyclegan objective's, and where they live now."""

MAX_SPEC_BYTES = 16 * 1024 * 1024
"""The largest spec file read (16 MiB; a spec is a few kB)."""

MAX_DEPTH = 64
"""The deepest nesting of objects and lists in a spec (a spec nests about 6 deep)."""

MAX_INT_DIGITS = 100
"""The most digits of an integer in a spec's JSON (below Python's int conversion limit)."""


def shown(text: Any) -> str:
    """``text`` as a message may quote it: as it is when printable, else as Python's repr, with
    control characters and line breaks escaped, so that the message stays one line."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def one_line(text: str) -> str:
    """``text`` with every control character and line break escaped (``\\n``), no quotes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Refused(Exception):
    """A JSON number that a spec may not hold; the message says what and why."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are allowed")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        number = text if len(text) <= 24 else f"{text[:20]}..."
        raise _Refused(
            f"the number {number} is beyond the largest float (about 1.8e308); numbers must "
            "be finite"
        )
    return value


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not allowed: numbers must be finite")


def _depth(value: Any, stop: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests objects and lists (0 for a scalar), without recursion; counting
    stops past ``stop``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > stop:
                break
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def parse_json(text: str) -> Any:
    """``text`` as JSON, refusing what a spec may not hold (see the module's docstring).

    Raises :class:`json.JSONDecodeError` for text that is not JSON, :class:`ValueError` (with a
    message to quote) for JSON that is refused.
    """
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels of objects and lists") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels of objects and lists")
    return value


_KINDS = {
    stat.S_ISFIFO: "a pipe (FIFO)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a spec file as JSON, with one-line errors for whatever is wrong with it.

    Only a regular file is read (a pipe, FIFO or device is refused, and opening one does not
    block), at most :data:`MAX_SPEC_BYTES` of it; the JSON is checked as :func:`parse_json`
    says.
    """
    path = Path(path)
    name = shown(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FaceoffError(f"{name}: no such spec file") from None
    except (IsADirectoryError, PermissionError) as exc:
        if path.is_dir():
            raise FaceoffError(f"{name}: is a folder, expected a spec .json file") from None
        raise FaceoffError(f"{name}: cannot read spec file ({exc.strerror})") from None
    except ValueError:  # an embedded NUL byte
        raise FaceoffError(f"{name}: not a valid file name (it holds a NUL byte)") from None
    except OSError as exc:
        raise FaceoffError(f"{name}: cannot read spec file ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as file:
        try:
            mode = os.fstat(file.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise FaceoffError(f"{name}: is a folder, expected a spec .json file")
            if not stat.S_ISREG(mode):
                kind = next((k for test, k in _KINDS.items() if test(mode)), "not a regular file")
                raise FaceoffError(
                    f"{name}: is {kind}, not a file; a spec is read only from a regular .json "
                    "file (write it to one first)"
                )
            data = file.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            raise FaceoffError(f"{name}: cannot read spec file ({exc.strerror or exc})") from None
    if len(data) > MAX_SPEC_BYTES:
        raise FaceoffError(
            f"{name}: larger than {MAX_SPEC_BYTES // 2**20} MiB, the most a spec file may be"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise FaceoffError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column "
            f"{column}); a spec file is JSON in UTF-8"
        ) from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise FaceoffError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise FaceoffError(f"{name}: {exc}") from None


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


def apply_overrides(
    raw: dict[str, Any], overrides: list[str], option: str = "--set"
) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides; values are JSON where they parse, else strings.

    0.1's keys (:data:`LEGACY_KEYS`) set today's: ``--set train.pool_size=0`` still works.
    JSON that a spec may not hold (:func:`parse_json`: ``NaN``, ``1e999``, a 5,000-digit
    integer, deep nesting) is refused, not taken as a string; write ``'"NaN"'`` for the string.
    ``option`` names the option in messages (``--param`` for a component's params).
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        where = f"{option} {_quoted(item)}"
        if not sep or not key.strip():
            example = "train.batch_size=4" if option == "--set" else "NAME=4, a parameter's name"
            raise FaceoffError(f"{where}: expected KEY=VALUE, e.g. {example}")
        try:
            value = parse_json(text)
        except json.JSONDecodeError:
            value = text
        except ValueError as exc:
            raise FaceoffError(f"{where}: {exc}") from None
        key = key.strip()
        if key.count(".") + 1 + _depth(value) > MAX_DEPTH:
            raise FaceoffError(
                f"{where}: the key and value nest deeper than {MAX_DEPTH} levels of objects and "
                "lists"
            )
        if key in LEGACY_KEYS and isinstance(raw, dict) and "objective" not in raw:
            raw["objective"] = {"plugin": "cyclegan"}
        _set_path(raw, LEGACY_KEYS.get(key, key), value, where)
    return raw


def _quoted(item: str, limit: int = 100) -> str:
    """An override as its messages quote it: repr (one line), cut short when long."""
    return repr(item) if len(item) <= limit else f"{item[: limit - 20]!r}..."


def _set_path(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    parts = key.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        at = shown(".".join(parts[:i]))
        if isinstance(node, list):
            index = int(part) if part.isascii() and part.isdigit() and len(part) < 10 else None
            if index is None or index >= len(node):
                raise FaceoffError(
                    f"{where}: {at or 'spec'} is a list of {len(node)}; "
                    f"use an index 0..{len(node) - 1}"
                )
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
            raise FaceoffError(f"{where}: {at} is a value, not a section")
