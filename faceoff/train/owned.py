"""What in a run folder faceoff wrote, so that it deletes only that.

A run records the files it writes as glob patterns in ``.faceoff-run.json`` before it writes
anything else: faceoff's own (:data:`CORE`) and those its loggers declare (``writes=`` at
registration). Restarting a failed start and ``--overwrite`` remove only files that match, and
the folders those patterns made once they are empty. Everything else in the folder is the user's:
a folder holding any of it is refused before any work (``docs/cli.md``, "What faceoff deletes").
A run folder of an earlier faceoff (no record, but its ``spec.json`` and ``plugins.json``) owns
:data:`CORE` and its loggers' patterns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Any

from faceoff.errors import FaceoffError
from faceoff.io import write_json
from faceoff.runs import LOCK, MANIFEST, PLUGINS_FILE, SPEC_FILE

FORMAT = "faceoff.run-folder/1"
CORE = (
    SPEC_FILE,
    PLUGINS_FILE,
    "metrics.jsonl",
    "losses.png",
    "index.html",
    "samples/step_*.png",
    "samples/latest.png",
    "checkpoints/step_*.safetensors",
)
"""The files every run writes (see :mod:`faceoff.runs` for what they are)."""
_ALWAYS = (LOCK, MANIFEST)
_GLOB = set("*?[")


def pattern_problem(pattern: object) -> str | None:
    """Why ``pattern`` cannot name files a run writes, or None: a relative POSIX path with no
    ``..``, whose first part is a plain name (a pattern never claims the folder's top level
    wholesale: ``*.png`` would claim a user's pictures)."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty string"
    parts = pattern.split("/")
    if pattern.startswith("/") or "\\" in pattern or any(p in ("", ".", "..") for p in parts):
        return "must be a relative path with no '.', '..' or empty parts"
    if _GLOB.intersection(parts[0]):
        return "its first part must be a plain name, not a glob"
    return None


def temporary(pattern: str) -> str:
    """The pattern of the hidden temporaries :func:`faceoff.io.atomic_path` writes beside a file
    of ``pattern`` (``samples/step_*.png`` -> ``samples/.step_*.*.tmp.png``)."""
    path = PurePosixPath(pattern)
    return str(path.with_name(f".{path.stem}.*.tmp{path.suffix}"))


def _matches(parts: tuple[str, ...], pattern: str) -> bool:
    wanted = pattern.split("/")
    return len(parts) == len(wanted) and all(map(fnmatchcase, parts, wanted))


@dataclass(frozen=True)
class Inventory:
    """A run folder's entries: ``owned`` files (faceoff's, deepest last), the folders the
    patterns name, and ``foreign`` entries (the user's), each at the highest level it appears."""

    owned: list[Path]
    folders: list[Path]
    foreign: list[Path]


def inventory(run_dir: Path, patterns: Iterable[str]) -> Inventory:
    """Sort every entry under ``run_dir`` into faceoff's and the user's; symbolic links are never
    followed (a link matching a pattern is faceoff's to unlink, a linked folder is foreign)."""
    files = [*_ALWAYS]
    for pattern in patterns:
        files += [pattern, temporary(pattern)]
    folders = {tuple(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    owned: list[Path] = []
    foreign: list[Path] = []
    for top, dirs, names in os.walk(run_dir):
        here = Path(top)
        rel = here.relative_to(run_dir).parts
        for name in sorted(names):
            target = owned if any(_matches((*rel, name), p) for p in files) else foreign
            target.append(here / name)
        for name in sorted(dirs):
            if (*rel, name) not in folders or (here / name).is_symlink():
                foreign.append(here / name)
        dirs[:] = [d for d in dirs if (*rel, d) in folders and not (here / d).is_symlink()]
    made = sorted((run_dir.joinpath(*f) for f in folders), key=lambda p: -len(p.parts))
    return Inventory(owned, made, foreign)


def read_manifest(run_dir: Path) -> list[str] | None:
    """The patterns a run recorded, or None for a folder with no record. A damaged record is
    an error: without it faceoff cannot tell its files from the user's."""
    path = run_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaceoffError(f"{path}: cannot read the run's record of its files ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FaceoffError(f"{path}: not a faceoff run record (format {FORMAT} expected)")
    patterns = data.get("writes")
    if not isinstance(patterns, list):
        raise FaceoffError(f"{path}: 'writes' must be a list of file patterns")
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            raise FaceoffError(f"{path}: file pattern {pattern!r} {problem}")
    return patterns


def write_manifest(run_dir: Path, patterns: Iterable[str]) -> None:
    write_json(run_dir / MANIFEST, {"format": FORMAT, "writes": sorted(set(patterns))})


def logger_patterns(spec: Any, registry: Any) -> list[str]:
    """The patterns the loggers of ``spec`` (spec.json's data) declare, as far as the installed
    plugins tell; a logger they cannot explain claims nothing (its files stay the user's)."""
    output = spec.get("output")
    loggers = output.get("loggers") if isinstance(output, dict) else None
    found: list[str] = []
    for logger in loggers if isinstance(loggers, list) else []:
        try:
            component = registry.get("logger", logger["plugin"])
            if component.writes is not None:
                found += component.writes(component.validate(logger.get("params")))
        except Exception:  # an unknown or changed logger claims nothing
            continue
    return [p for p in found if pattern_problem(p) is None]


def owned_patterns(run_dir: Path, registry: Any) -> list[str] | None:
    """What a run in ``run_dir`` wrote, or None if no faceoff run has used the folder."""
    recorded = read_manifest(run_dir)
    if recorded is not None:
        return [*CORE, *recorded]
    spec, plugins = _json_object(run_dir / SPEC_FILE), _json_object(run_dir / PLUGINS_FILE)
    if spec is None or plugins is None or not {"faceoff", "components"} <= plugins.keys():
        return None  # not both files as an earlier faceoff run wrote them
    return [*CORE, *logger_patterns(spec, registry)]


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove(found: Inventory) -> None:
    """Delete faceoff's files, then the folders its patterns made, once empty."""
    for path in found.owned:
        if path.name != LOCK:
            path.unlink(missing_ok=True)
    for folder in found.folders:
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()


def describe(paths: list[Path], root: Path, limit: int = 4) -> str:
    """``notes.txt, data/, spec.json and 2 more``: a few of ``paths``, relative to ``root``."""
    names = [
        str(p.relative_to(root)) + ("/" if p.is_dir() and not p.is_symlink() else "")
        for p in paths[:limit]
    ]
    more = len(paths) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")
