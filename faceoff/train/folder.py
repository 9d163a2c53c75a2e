"""The run folder as training sees it: one run at a time (a lock), refuse a folder holding the
run's inputs or the user's files, refuse to mix two runs, check a resume, clear what a killed
run left (only faceoff's files: :mod:`faceoff.train.owned`), write the files of a run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from faceoff import __version__
from faceoff.console import info
from faceoff.errors import FaceoffError
from faceoff.io import Inputs, refuse_inputs, write_json
from faceoff.masks import cache_root
from faceoff.plugins import get_registry
from faceoff.runs import LOCK, PLUGINS_FILE, SPEC_FILE, Checkpoint, list_checkpoints
from faceoff.spec import ResolvedSpec, resolve
from faceoff.train.data import Data, load_data
from faceoff.train.distributed import Dist
from faceoff.train.owned import (
    CORE,
    describe,
    inventory,
    logger_patterns,
    owned_patterns,
    read_manifest,
    remove,
    write_manifest,
)


def check_run_dir(
    run_dir: Path, *, resume: bool, overwrite: bool, inputs: Inputs = ()
) -> Path | None:
    """Refuse a folder that holds an input of the run (in every mode), a folder that holds files
    faceoff did not write (unless resuming: nothing is deleted then), and mixing two runs;
    return the checkpoint to resume from, if any. Only checks: nothing is deleted or written."""
    if resume and overwrite:
        raise FaceoffError("--resume and --overwrite exclude each other")
    if run_dir.exists() and not run_dir.is_dir():
        raise FaceoffError(f"{run_dir}: exists and is not a folder")
    refuse_inputs(run_dir, inputs)
    if resume:
        return _resume_from(run_dir)
    if not run_dir.is_dir():
        return None
    patterns = owned_patterns(run_dir, get_registry())
    found = inventory(run_dir, patterns or ())
    if found.foreign:
        foreign = describe(found.foreign, run_dir)
        raise FaceoffError(
            f"{run_dir}: holds files that faceoff did not write ({foreign}); give --out another "
            "folder, or move them out of this one"
        )
    if any(p.name != LOCK for p in found.owned) and not overwrite and not failed_start(run_dir):
        raise FaceoffError(
            f"{run_dir}: already holds a run; use --resume to continue it, "
            "--overwrite to replace it, or --out for a new folder"
        )
    return None


def _resume_from(run_dir: Path) -> Path:
    """The latest checkpoint, checked to be whole; a broken one names the one before it."""
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        raise FaceoffError(
            f"{run_dir}: no checkpoint to resume from (checkpoints/step_*.safetensors)"
        )
    try:
        checkpoint = Checkpoint(found[-1])
        checkpoint.check_step()
    except FaceoffError as exc:
        offer = (
            f"the previous one is {found[-2]}: move the broken file away to resume from it"
            if len(found) > 1
            else "there is no earlier checkpoint; use --overwrite to start again"
        )
        raise FaceoffError(f"{exc}; {offer}") from None
    return found[-1]


def failed_start(run_dir: Path) -> bool:
    """A run folder whose run stopped before its first checkpoint (it failed, or was killed):
    it has a spec.json but nothing to resume, so running it again loses no model."""
    return (run_dir / SPEC_FILE).is_file() and not list_checkpoints(run_dir / "checkpoints")


def run_inputs(resolved: ResolvedSpec) -> list[tuple[str, Path]]:
    """What a run reads that a run folder could hold: the spec file, every file or folder a
    component's params name (frames, model files), the frame and mask cache."""
    found = [("the spec file", resolved.path)] if resolved.path is not None else []
    for slot, (_, params) in resolved.components.items():
        if slot.startswith("output."):
            continue  # loggers' params name what they write, not what the run reads
        for key, value in _strings(params.model_dump(mode="json")):
            with contextlib.suppress(OSError, ValueError):
                if Path(value).exists():
                    found.append((f"{slot}.params.{key}", Path(value)))
    with contextlib.suppress(FaceoffError):  # no home folder: no cache to hold either
        if cache_root().exists():
            found.append(("the frame and mask cache", cache_root()))
    return found


def _strings(data: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(data, str) and data:
        yield prefix, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, f"{prefix}.{i}" if prefix else str(i))


@contextlib.contextmanager
def lock_run_dir(run_dir: Path, is_main: bool) -> Iterator[None]:
    """Hold the run folder for this run: a second ``faceoff run`` on it (to resume, overwrite or
    start it again) is refused while this one lives. The lock is the kernel's (flock), so a
    killed run holds none (its lock file stays, and is taken over). The lock file is removed at
    the end, and a folder made here and still empty with it."""
    if not is_main:
        yield
        return
    made = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / LOCK, "a")  # noqa: SIM115 (held for the whole run)
    except OSError as exc:
        raise FaceoffError(f"{run_dir}: cannot be used as a run folder ({exc.strerror})") from None
    try:
        _flock(handle, run_dir)
    except BaseException:
        handle.close()
        raise
    try:
        yield
    finally:
        (run_dir / LOCK).unlink(missing_ok=True)  # still held: no run can be in between
        handle.close()
        if made and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _flock(handle: Any, run_dir: Path) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no lock, as before
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FaceoffError(
            f"{run_dir}: in use by another faceoff run; wait for it to finish, or give --out "
            "another folder"
        ) from None


def clear_stale(run_dir: Path) -> list[Path]:
    """Remove the hidden temporaries (``.name.XXXX.tmp.ext``) that a killed write left beside
    the run's files: only ever called while this run holds the folder's lock."""
    found = inventory(run_dir, owned_patterns(run_dir, get_registry()) or CORE)
    stale = [p for p in found.owned if p.name.startswith(".") and ".tmp" in p.name]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _clear(run_dir: Path) -> None:
    """Remove the files an earlier run wrote here, and only those (the lock stays)."""
    patterns = owned_patterns(run_dir, get_registry())
    if patterns is not None:
        remove(inventory(run_dir, patterns))


_DATA_SPEED_OPTIONS = ("cache", "cache_auto_gib")


def check_resume(resolved: ResolvedSpec, path: Path) -> None:
    """A resumed run must train the same thing; schedule, output, max_steps and the speed
    options (device, precision, channels_last, compile, cudnn_benchmark, fused_optimizer,
    workers, prefetch_factor, data.cache, data.cache_auto_gib) may change. The checkpoint's spec
    is resolved as today's (a 0.1 run's is in 0.1's form)."""
    registry = resolved.registry or get_registry()
    try:
        saved = resolve(Checkpoint(path).spec, registry, source=f"{path} (its spec)").to_dict()
    except FaceoffError as exc:
        raise FaceoffError(f"cannot resume: {exc}") from None
    now = resolved.to_dict()
    for spec in (saved, now):  # where frames are kept changes no batch (and older runs lack it)
        for key in _DATA_SPEED_OPTIONS:
            spec.get("data", {}).pop(key, None)
    differ = [k for k in now if k not in ("schedule", "output", "train") and now[k] != saved.get(k)]
    for key in ("batch_size", "seed"):
        if now["train"][key] != saved.get("train", {}).get(key):
            differ.append(f"train.{key}")
    if differ:
        raise FaceoffError(
            f"{path}: cannot resume with a different {', '.join(differ)} than the checkpoint's run"
        )


def prepare_folder(
    resolved: ResolvedSpec, run_dir: Path, dist: Dist, resume: bool, overwrite: bool
) -> tuple[Path | None, Data]:
    """The checks, then the data (the slow, failure-prone part) before anything is written."""
    if dist.device.type == "cuda":
        torch.backends.cudnn.benchmark = resolved.spec.train.cudnn_benchmark
    resume_from = check_run_dir(
        run_dir, resume=resume, overwrite=overwrite, inputs=run_inputs(resolved)
    )
    if resume_from is not None:
        check_resume(resolved, resume_from)
    data = load_data(resolved)
    dist.barrier()  # every rank has checked the run folder before rank 0 changes it
    return resume_from, data


def write_run_files(resolved: ResolvedSpec, run_dir: Path, dist: Dist, resume: bool) -> None:
    """Clear the folder (``--overwrite``, or a start that failed) or a resumed run's stale
    temporaries, then write spec.json and plugins.json: only once the networks are built, so a
    run refused before then leaves the folder as it was."""
    spec = resolved.spec
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        claims = [*CORE, *logger_patterns(resolved.to_dict(), resolved.registry or get_registry())]
        if resume:
            stale = clear_stale(run_dir)
            if stale:
                info(f"removed {len(stale)} temporary file(s) a killed write left in {run_dir}")
            claims += read_manifest(run_dir) or []
        elif any(p.name != LOCK for p in run_dir.iterdir()):
            if failed_start(run_dir):
                info(f"{run_dir}: its run stopped before its first checkpoint; starting it again")
            _clear(run_dir)
        write_manifest(run_dir, claims)  # before anything else is written
        write_json(run_dir / SPEC_FILE, resolved.to_dict())
        write_json(
            run_dir / PLUGINS_FILE,
            {"faceoff": __version__, "components": resolved.plugin_versions()},
        )
    if dist.active and dist.is_main:
        info(
            f"{dist.world} processes, {spec.train.batch_size} images each: "
            f"{spec.train.batch_size * dist.world} per step"
        )
    if spec.train.compile and dist.is_main:
        info("train.compile: the first steps compile the networks (a minute or more)")
