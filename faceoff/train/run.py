"""A whole training run: everything checked before anything is written, then the loop.

The run folder's layout is in :mod:`faceoff.runs`. Here: the checks, the data, the objective and
its engine (:mod:`faceoff.train.build`), the observers that write the folder
(:mod:`faceoff.train.observers` and the spec's loggers) and the loop (:mod:`faceoff.train.loop`).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from faceoff import __version__
from faceoff.console import info
from faceoff.devices import pick_device
from faceoff.errors import FaceoffError
from faceoff.io import write_json
from faceoff.observers import Observer, RunInfo
from faceoff.plugins import get_registry
from faceoff.runs import Checkpoint, list_checkpoints, network_records, read_metadata
from faceoff.spec import ResolvedSpec, resolve
from faceoff.train.batches import StepBatches, batch_loader, resolve_workers
from faceoff.train.build import Training, build_training
from faceoff.train.checkpoint import load_checkpoint, save_checkpoint
from faceoff.train.data import Data, load_data
from faceoff.train.distributed import Dist, ShardedBatches, rank_seed, setup
from faceoff.train.loop import Loop, LossNotFinite, OutOfMemory
from faceoff.train.observers import Checkpoints, LossPlot, MetricsFile, ProgressBar, SampleGrids
from faceoff.train.optim import check_precision
from faceoff.train.schedule import lr_factor

__all__ = ["RunResult", "check_run_dir", "pick_device", "train"]


@dataclass
class RunResult:
    """What a run wrote, and how it went."""

    run_dir: Path
    steps: int
    total_steps: int
    seconds_per_step: float
    last_losses: dict[str, float]
    checkpoint: Path | None
    samples: list[Path] = field(default_factory=list)
    interrupted: bool = False


def check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> Path | None:
    """Refuse to mix two runs in one folder; return the checkpoint to resume from, if any.

    Only checks: nothing is deleted or written here.
    """
    if resume and overwrite:
        raise FaceoffError("--resume and --overwrite exclude each other")
    if run_dir.exists() and not run_dir.is_dir():
        raise FaceoffError(f"{run_dir}: exists and is not a folder")
    if resume:
        found = list_checkpoints(run_dir / "checkpoints")
        if not found:
            raise FaceoffError(
                f"{run_dir}: no checkpoint to resume from (checkpoints/step_*.safetensors)"
            )
        try:
            read_metadata(found[-1])
        except FaceoffError as exc:
            offer = (
                f"the previous one is {found[-2]}: move the broken file away to resume from it"
                if len(found) > 1
                else "there is no earlier checkpoint; use --overwrite to start again"
            )
            raise FaceoffError(f"{exc}; {offer}") from None
        return found[-1]
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise FaceoffError(
            f"{run_dir}: already holds a run; use --resume to continue it, "
            "--overwrite to replace it, or --out for a new folder"
        )
    return None


_DATA_SPEED_OPTIONS = ("cache", "cache_auto_gib")


_DATA_SPEED_OPTIONS = ("cache", "cache_auto_gib")


def _check_resume(resolved: ResolvedSpec, path: Path) -> None:
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


@contextmanager
def _stop_on_signal() -> Iterator[list[int]]:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, checkpoints and stops."""
    caught: list[int] = []
    previous = {}

    def handler(signum: int, frame: Any) -> None:
        caught.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[sig] = signal.signal(sig, handler)
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def train(
    resolved: ResolvedSpec,
    run_dir: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> RunResult:
    """Train the spec's objective, writing everything under ``run_dir``.

    Under torchrun (WORLD_SIZE > 1) this is one rank of a data-parallel run (see
    :mod:`faceoff.train.distributed`): ``train.batch_size`` images per rank, gradients averaged,
    and only rank 0 writes to ``run_dir``.
    """
    spec = resolved.spec
    device = pick_device(spec.train.device)
    check_precision(spec.train.precision, device)
    dist = setup(device)  # several processes under torchrun; one otherwise
    try:
        result = _train(resolved, run_dir, dist, resume, overwrite, show_progress)
        dist.barrier()  # rank 0 has written its last files
        return result
    finally:
        dist.teardown()


def _prepare_folder(
    resolved: ResolvedSpec, run_dir: Path, dist: Dist, resume: bool, overwrite: bool
) -> tuple[Path | None, Data]:
    """The checks, then the data (the slow, failure-prone part) before anything is written."""
    if dist.device.type == "cuda":
        torch.backends.cudnn.benchmark = resolved.spec.train.cudnn_benchmark
    resume_from = check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    if resume_from is not None:
        _check_resume(resolved, resume_from)
    data = load_data(resolved)
    dist.barrier()  # every rank has checked the run folder before rank 0 changes it
    if overwrite and run_dir.exists() and dist.is_main:
        shutil.rmtree(run_dir)
    return resume_from, data


def _train(
    resolved: ResolvedSpec,
    run_dir: Path,
    dist: Dist,
    resume: bool,
    overwrite: bool,
    show_progress: bool,
) -> RunResult:
    spec = resolved.spec
    resume_from, data = _prepare_folder(resolved, run_dir, dist, resume, overwrite)
    seed = spec.train.seed
    torch.manual_seed(seed)
    # Per-rank random streams for the objective (rank 0's are one process's); batches need none.
    training = build_training(
        resolved, dist.device, stream_seed=lambda index: rank_seed(seed, dist.rank, index)
    )
    if dist.active:
        dist.broadcast_parameters(training.objective)
        training.engine.grad_sync = dist.average_gradients
    batches = ShardedBatches(
        *data.train,
        batch_size=spec.train.batch_size,
        crop_size=spec.data.crop_size,
        flip=spec.data.flip,
        seed=seed,
        rank=dist.rank,
        world=dist.world,
    )
    # Steps are global: one step trains on batch_size x world images over all ranks.
    steps_per_epoch = spec.schedule.steps_per_epoch or max(
        1, batches.epoch_size // (spec.train.batch_size * dist.world)
    )
    total = steps_per_epoch * (spec.schedule.epochs + spec.schedule.decay_epochs)
    if spec.train.max_steps is not None:
        total = min(total, spec.train.max_steps)
    start = 0
    if resume_from is not None:
        start = _resume(training, resume_from, dist, seed, total, run_dir)
    loggers = _loggers(resolved)
    _write_run_files(resolved, run_dir, dist)
    dist.barrier()
    return _run_loop(
        training,
        data,
        batches,
        run_dir,
        dist,
        start,
        total,
        steps_per_epoch,
        show_progress,
        loggers,
    )


def _resume(
    training: Training, path: Path, dist: Dist, seed: int, total: int, run_dir: Path
) -> int:
    step = load_checkpoint(path, training.objective, training.engine)  # rank 0's state
    if not dist.is_main:  # fresh streams: exact resume is for one process only
        training.engine.reseed_streams(step)
    training.engine.reapply_optimizer_options()  # the speed options may change on resume
    if step >= total:
        raise FaceoffError(
            f"{run_dir}: the run is already at step {step} of {total}; "
            "raise schedule.epochs or train.max_steps to train further"
        )
    if dist.is_main:
        info(f"resuming {run_dir} from step {step} ({path.name})")
    return step


def _write_run_files(resolved: ResolvedSpec, run_dir: Path, dist: Dist) -> None:
    spec = resolved.spec
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "spec.json", resolved.to_dict())
        write_json(
            run_dir / "plugins.json",
            {"faceoff": __version__, "components": resolved.plugin_versions()},
        )
    if dist.active and dist.is_main:
        info(
            f"{dist.world} processes, {spec.train.batch_size} images each: "
            f"{spec.train.batch_size * dist.world} per step"
        )
    if spec.train.compile and dist.is_main:
        info("train.compile: the first steps compile the networks (a minute or more)")


def _loader(
    batches: ShardedBatches, training: Training, start: int, total: int, steps_per_epoch: int
) -> DataLoader:
    """Batches from the current step on, made ahead by ``train.workers`` processes."""
    device = training.engine.device
    train = training.resolved.spec.train
    return batch_loader(
        StepBatches(batches, start, total, steps_per_epoch),
        workers=resolve_workers(train.workers, device),
        prefetch_factor=train.prefetch_factor,
        pin_memory=device.type == "cuda",
    )


def _loggers(resolved: ResolvedSpec) -> list[Observer]:
    """The spec's logger plugins, built (so a missing package fails before anything is
    written)."""
    loggers = []
    for i in range(len(resolved.spec.output.loggers)):
        logger = resolved.build(f"output.loggers.{i}")
        if not isinstance(logger, Observer):
            component = resolved.components[f"output.loggers.{i}"][0]
            raise FaceoffError(
                f"output.loggers.{i}: logger {component.name!r} ({component.plugin.distribution}) "
                f"built a {type(logger).__name__}, not a faceoff.observers.Observer"
            )
        loggers.append(logger)
    return loggers


def _run_loop(
    training: Training,
    data: Data,
    batches: ShardedBatches,
    run_dir: Path,
    dist: Dist,
    start: int,
    total: int,
    steps_per_epoch: int,
    show_progress: bool,
    loggers: list[Observer],
) -> RunResult:
    resolved = training.resolved
    spec, out = resolved.spec, resolved.spec.output
    spec_dict = resolved.to_dict()
    records = network_records(resolved, training.description)

    def save(path: Path, step: int) -> None:
        objective, engine = training.objective, training.engine
        save_checkpoint(path, objective, engine, step, spec_dict, training.description, records)

    def lr(step: int) -> float:
        epoch = step // steps_per_epoch
        return spec.optimizer.lr * lr_factor(
            epoch, spec.schedule.epochs, spec.schedule.decay_epochs
        )

    checkpoints = Checkpoints(out.checkpoint_every, out.keep_checkpoints, save)
    metrics, samples = run_dir / "metrics.jsonl", SampleGrids()
    builtin = [MetricsFile(metrics), samples, LossPlot(metrics), checkpoints]
    observers = [*builtin, ProgressBar(show_progress), *loggers]
    run = RunInfo(
        run_dir,
        spec_dict,
        training.description,
        start,
        total,
        steps_per_epoch,
        dist.is_main,
        training.objective,
        training.engine,
    )
    test = {"A": data.test[0], "B": data.test[1]}
    loop = Loop(training, run, observers, lr, test, out.log_every, out.sample_every, dist)
    for observer in observers:
        observer.on_start(run)
    try:
        with _stop_on_signal() as caught:
            batch_iter = iter(_loader(batches, training, start, total, steps_per_epoch))
            try:
                result = loop.run_steps(batch_iter, caught)
            finally:
                shutdown = getattr(batch_iter, "_shutdown_workers", None)
                if shutdown is not None:  # stop the workers now, not when collected
                    shutdown()
    except LossNotFinite as exc:
        where = (
            f"loss {exc.term} is {exc.value}"
            if exc.term
            else ("a loss is not finite in another process")
        )
        raise FaceoffError(
            f"step {exc.step}: {where}; training stopped (last good checkpoint: "
            f"{checkpoints.latest or 'none'}); try a lower optimizer.lr"
        ) from None
    except OutOfMemory as exc:
        raise FaceoffError(
            f"out of GPU memory at step {exc.step} with train.batch_size "
            f"{spec.train.batch_size} and data.crop_size {spec.data.crop_size}; lower one of "
            "them (or ngf/ndf)"
        ) from None
    finally:
        for observer in observers:
            observer.on_end(run, loop.step, loop.stopped)
    return RunResult(
        run_dir=run_dir,
        steps=result.steps,
        total_steps=total,
        seconds_per_step=result.seconds_per_step,
        last_losses=result.last_losses,
        checkpoint=checkpoints.latest,
        samples=samples.written,
        interrupted=result.interrupted,
    )
