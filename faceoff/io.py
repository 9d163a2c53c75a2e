"""Atomic writes: a temporary name in the same folder, fsync, then rename; never over a device."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError


def _target(path: Path) -> Path | None:
    """Where a write to ``path`` goes: the file a symlink points to (the link is kept), or None
    for a character device (/dev/null, a terminal) or a FIFO (a pipe, /dev/stdout), written
    through. A folder, socket or block device is refused: replacing it would destroy it."""
    try:
        info = path.stat()  # follows symlinks
    except FileNotFoundError:
        info = None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path through a file, ...
        raise FaceoffError(f"{path}: cannot be written ({_reason(exc)})") from None
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        return None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "folder" if stat.S_ISDIR(info.st_mode) else "socket or block device"
        raise FaceoffError(f"{path}: is a {kind}, not a file; give the name of a file to write")
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise FaceoffError(f"{path}: cannot be written ({_reason(exc)})") from None


def _copy_into(source: Path, device: Path) -> None:
    """Copy into a device or FIFO; a FIFO that no process reads is an error, not a hang."""
    try:
        fd = os.open(device, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise FaceoffError(f"{device}: a FIFO that no process reads; nothing written") from None
        raise
    os.set_blocking(fd, True)
    with open(source, "rb") as src, open(fd, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed into place.

    An interrupted write leaves no file under the final name, so a half file never looks whole;
    a failed one (no space, no permission, an I/O error) is a FaceoffError naming the file, and
    leaves nothing behind. A symlink is followed (the file it points to is replaced, the link
    kept); a character device (/dev/null) or a FIFO (/dev/stdout in a pipe) is written through,
    after the work is done; a folder, socket or block device is refused, never replaced.
    """
    path = Path(path)
    target = _target(path)
    folder = None if target is None else target.parent  # a device's: the system's temp folder
    try:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        stem = (target or path).stem
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{path.suffix}", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise FaceoffError(f"{path}: cannot be written ({_reason(exc)})") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if target is None:  # a device or FIFO: written through, never replaced
            _copy_into(tmp_path, path)
            return
        os.chmod(tmp_path, 0o666 & ~umask())  # mkstemp makes 0600; honour the umask instead
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
    except _write_errors() as exc:
        raise FaceoffError(f"{path}: cannot be written ({_reason(exc)})") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _write_errors() -> tuple[type[Exception], ...]:
    """The errors of a write that failed (a full disk, a file size limit, no permission):
    OSError, and OSError wrapped in a writer's own type (safetensors' SafetensorError)."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover (a core dependency)
        return (OSError,)
    return (OSError, SafetensorError)


def umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, data: Any) -> None:
    """Write pretty JSON atomically."""
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def write_png(path: str | Path, image: Any) -> None:
    """Write an RGB uint8 image [H, W, 3] as PNG, atomically."""
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    write_bytes(path, data.tobytes())


Inputs = Mapping[str, "str | Path | None"] | Iterable[tuple[str, "str | Path | None"]]


def refuse_inputs(output: str | Path, inputs: Inputs) -> None:
    """A FaceoffError before any work if ``output`` is, or resolves to, one of ``inputs`` (a
    label for each, e.g. ``{"INPUT": "in.mp4"}``), a folder holding one, or a file that a
    folder input is read for (a run's checkpoint, a folder's frame): writing there would replace
    the very thing being read."""
    out = _resolved(output)
    pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
    for label, given in pairs:
        if given is None:
            continue
        source = _resolved(given)
        same = out == source
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(out, source)  # hard links, bind mounts
        if same:
            raise FaceoffError(f"{output}: is {label} ({given}); give another output")
        if source.is_dir() and out.is_file() and _reads(source, out):
            raise FaceoffError(f"{output}: is read from {label} ({given}); give another output")
        if source.is_relative_to(out) and out != Path(out.anchor):
            raise FaceoffError(
                f"{output}: holds {label} ({given}); writing there could replace it; "
                "give another output"
            )


RUN_FILES = ("spec.json", "plugins.json", "metrics.jsonl")


def _reads(folder: Path, file: Path) -> bool:
    """Whether a command reading ``folder`` (a run folder, a folder of frames) reads ``file``:
    a run's spec, metrics and checkpoints, or a frame; a new report beside them is fine."""
    if not file.is_relative_to(folder):
        return False
    inside = file.relative_to(folder)
    if (folder / "spec.json").is_file():  # a run folder
        return inside.parts[0] == "checkpoints" or str(inside) in RUN_FILES
    from faceoff.data.images import IMAGE_EXTENSIONS  # not at the top: data imports io

    return file.suffix.lower() in IMAGE_EXTENSIONS


def _resolved(path: str | Path) -> Path:
    try:
        return Path(path).resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise FaceoffError(f"{path}: cannot be resolved ({_reason(exc)})") from None


def regular_file(path: Path, expected: str, name: str | None = None) -> Path:
    """``path`` if it is a regular file (a symbolic link to one is fine); else a FaceoffError
    saying what it is instead, naming it ``name`` (default: the path). Reading a FIFO would wait
    for a writer forever, a device (/dev/zero) would never end."""
    name = name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FaceoffError(f"{name}: no such file; expected {expected}") from None
    except (OSError, RuntimeError) as exc:
        raise FaceoffError(f"{name}: cannot be read ({_reason(exc)})") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or socket"
        raise FaceoffError(f"{name}: is {what}, not a regular file; expected {expected}")
    return path


def check_new_file(path: str | Path) -> Path:
    """A file to write, refused in one line before any work: a path through a file, a symlink
    loop, a folder or socket in its place, or a folder that cannot be written in (/proc, a
    read-only mount); a device or FIFO passes (it is written through)."""
    path = Path(path)
    _through_file(path)
    target = _target(path)
    if target is None:
        return path
    existing = next(p for p in [target.parent, *target.parent.parents] if p.exists())
    _probe(existing, path)
    return path


def _through_file(path: Path) -> None:
    through = next((p for p in reversed(path.parents) if p.is_file()), None)
    if through is not None:
        raise FaceoffError(f"{through}: is a file, not a folder, so {path} cannot be made")


def _probe(folder: Path, path: Path) -> None:
    """Make and remove a temporary in ``folder``: the only sure test that one can write there."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".probe", dir=folder))
    except OSError as exc:
        raise FaceoffError(f"{path}: cannot be written in {folder} ({_reason(exc)})") from None


def check_new_folder(out: str | Path) -> Path:
    """An output folder to create (or an empty one to fill), refused in one line before any
    work: a file or device in its place, a non-empty folder, or a parent that is missing or is
    not a folder, each named as it is (the nearest part of the path that is wrong)."""
    out = Path(out)
    _through_file(out)
    try:
        info = out.stat()
    except FileNotFoundError:
        info = None
    except (OSError, RuntimeError) as exc:  # a symlink loop, ...
        raise FaceoffError(f"{out}: cannot be used as a folder ({_reason(exc)})") from None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        kind = "a file" if stat.S_ISREG(info.st_mode) else "a device, FIFO or socket"
        raise FaceoffError(f"{out}: is {kind}, not a folder; choose a new folder")
    if info is not None and any(out.iterdir()):
        raise FaceoffError(f"{out}: already exists and is not empty; choose a new folder")
    if out.is_symlink() and info is None:
        raise FaceoffError(f"{out}: is a symbolic link to nothing; choose a new folder")
    if not out.parent.is_dir():
        raise FaceoffError(f"{out.parent}: no such folder to write {out.name} into; make it first")
    _probe(out.parent, out)
    return out
