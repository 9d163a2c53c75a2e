"""A whole training run: everything checked before anything is written, then the loop.

The run folder's layout is in :mod:`faceoff.runs`. Here: the checks (:mod:`faceoff.train.folder`),
the data, the objective and its engine (:mod:`faceoff.train.build`), the observers that write the
folder (:mod:`faceoff.train.observers` and the spec's loggers) and the loop
(:mod:`faceoff.train.loop`).
"""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from faceoff.console import info, progress_bars
from faceoff.devices import pick_device
from faceoff.errors import FaceoffError
from faceoff.observers import Observer, RunInfo
from faceoff.runs import network_records
from faceoff.spec import ResolvedSpec
from faceoff.train.batches import StepBatches, batch_loader, resolve_workers
from faceoff.train.build import Training, build_training
from faceoff.train.checkpoint import load_checkpoint, save_checkpoint
from faceoff.train.data import Data
from faceoff.train.distributed import Dist, ShardedBatches, rank_seed, setup
from faceoff.train.folder import check_run_dir, lock_run_dir, prepare_folder, write_run_files
from faceoff.train.loop import Loop, LossNotFinite, OutOfMemory
from faceoff.train.observers import Checkpoints, LossPlot, MetricsFile, ProgressBar, SampleGrids
from faceoff.train.optim import check_precision
from faceoff.train.page import RunPage
from faceoff.train.precision import Precision, choose
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


@dataclass
class Plan:
    """Where a run's steps come from and how many there are (steps are global: one trains on
    ``batch_size`` x processes images)."""

    batches: ShardedBatches
    steps_per_epoch: int
    start: int
    total: int

    def lr(self, resolved: ResolvedSpec, step: int) -> float:
        """The reference's schedule: constant, then linear decay, per epoch."""
        schedule = resolved.spec.schedule
        factor = lr_factor(step // self.steps_per_epoch, schedule.epochs, schedule.decay_epochs)
        return resolved.spec.optimizer.lr * factor


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
    precision = choose(spec.train.precision, device)
    check_precision(precision.name, device)
    dist = setup(device)  # several processes under torchrun; one otherwise
    try:
        # show_progress=False silences every bar of the run, the mask bars included.
        with lock_run_dir(run_dir, dist.is_main), progress_bars(show_progress):
            result = _train(resolved, run_dir, dist, resume, overwrite, show_progress, precision)
        dist.barrier()  # rank 0 has written its last files
        return result
    finally:
        dist.teardown()


def _train(
    resolved: ResolvedSpec,
    run_dir: Path,
    dist: Dist,
    resume: bool,
    overwrite: bool,
    show_progress: bool,
    precision: Precision,
) -> RunResult:
    resume_from, data = prepare_folder(resolved, run_dir, dist, resume, overwrite)
    seed = resolved.spec.train.seed
    torch.manual_seed(seed)
    # Per-rank random streams for the objective (rank 0's are one process's); batches need none.
    training = build_training(
        resolved,
        dist.device,
        stream_seed=lambda index: rank_seed(seed, dist.rank, index),
        precision=precision.name,
    )
    if dist.is_main:
        threads = torch.get_num_threads()
        info(
            f"training on {dist.device} ({threads} threads) in {precision.name}: {precision.reason}"
        )
    if dist.active:
        dist.broadcast_parameters(training.objective)
        training.engine.grad_sync = dist.average_gradients
    plan = _plan(training, data, dist)
    if resume_from is not None:
        plan.start = _resume(training, resume_from, dist, plan.total, run_dir)
    loggers = _loggers(resolved)
    write_run_files(resolved, run_dir, dist, resume_from is not None)
    dist.barrier()
    return _run_loop(training, data, plan, run_dir, dist, show_progress, loggers)


def _plan(training: Training, data: Data, dist: Dist) -> Plan:
    spec = training.resolved.spec
    batches = ShardedBatches(
        *data.train,
        batch_size=spec.train.batch_size,
        crop_size=spec.data.crop_size,
        flip=spec.data.flip,
        seed=spec.train.seed,
        rank=dist.rank,
        world=dist.world,
        clip=training.description.layout.frames,
    )
    steps_per_epoch = spec.schedule.steps_per_epoch or max(
        1, batches.epoch_size // (spec.train.batch_size * dist.world)
    )
    total = steps_per_epoch * (spec.schedule.epochs + spec.schedule.decay_epochs)
    if spec.train.max_steps is not None:
        total = min(total, spec.train.max_steps)
    return Plan(batches, steps_per_epoch, 0, total)


def _resume(training: Training, path: Path, dist: Dist, total: int, run_dir: Path) -> int:
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


def _loader(training: Training, plan: Plan) -> DataLoader:
    """Batches from the current step on, made ahead by ``train.workers`` processes."""
    device = training.engine.device
    train = training.resolved.spec.train
    return batch_loader(
        StepBatches(plan.batches, plan.start, plan.total, plan.steps_per_epoch),
        workers=resolve_workers(train.workers, device),
        prefetch_factor=train.prefetch_factor,
        pin_memory=device.type == "cuda",
    )


def _checkpoints(training: Training) -> Checkpoints:
    """The observer that writes checkpoints, each with the run's spec and description."""
    resolved = training.resolved
    spec, out = resolved.to_dict(), resolved.spec.output
    records = network_records(resolved, training.description)

    def save(path: Path, step: int) -> None:
        objective, engine = training.objective, training.engine
        save_checkpoint(path, objective, engine, step, spec, training.description, records)

    return Checkpoints(out.checkpoint_every, out.keep_checkpoints, save)


@contextmanager
def _one_line_errors(resolved: ResolvedSpec, checkpoints: Checkpoints) -> Iterator[None]:
    """The loop's failures as one-line errors that say what to change."""
    spec = resolved.spec
    try:
        yield
    except LossNotFinite as exc:
        what = f"loss {exc.term} is {exc.value}" if exc.term else "a loss is not finite"
        where = "" if exc.term else " in another process"
        raise FaceoffError(
            f"step {exc.step}: {what}{where}; training stopped (last good checkpoint: "
            f"{checkpoints.latest or 'none'}); try a lower optimizer.lr"
        ) from None
    except OutOfMemory as exc:
        memory = "GPU memory" if exc.device.type == "cuda" else f"memory on {exc.device} (RAM)"
        raise FaceoffError(
            f"out of {memory} at step {exc.step} with train.batch_size "
            f"{spec.train.batch_size} and data.crop_size {spec.data.crop_size}; lower one of "
            "them (or ngf/ndf)"
        ) from None


def _run_loop(
    training: Training,
    data: Data,
    plan: Plan,
    run_dir: Path,
    dist: Dist,
    show_progress: bool,
    loggers: list[Observer],
) -> RunResult:
    resolved, out = training.resolved, training.resolved.spec.output
    checkpoints = _checkpoints(training)
    metrics, samples = run_dir / "metrics.jsonl", SampleGrids()
    observers = [MetricsFile(metrics), samples, LossPlot(metrics), RunPage(), checkpoints]
    observers += [ProgressBar(show_progress), *loggers]
    run = RunInfo(
        run_dir, resolved.to_dict(), training.description, plan.start, plan.total,
        plan.steps_per_epoch, dist.is_main, training.objective, training.engine,
    )  # fmt: skip
    test = {"A": data.test[0], "B": data.test[1]}
    lr = functools.partial(plan.lr, resolved)
    loop = Loop(training, run, observers, lr, test, out.log_every, out.sample_every, dist)
    for observer in observers:
        observer.on_start(run)
    try:
        with _one_line_errors(resolved, checkpoints), _stop_on_signal() as caught:
            batches = iter(_loader(training, plan))
            try:
                result = loop.run_steps(batches, caught)
            finally:
                shutdown = getattr(batches, "_shutdown_workers", None)
                if shutdown is not None:  # stop the workers now, not when collected
                    shutdown()
    finally:
        for observer in observers:
            observer.on_end(run, loop.step, loop.stopped)
    return RunResult(
        run_dir, result.steps, plan.total, result.seconds_per_step, result.last_losses,
        checkpoints.latest, samples.written, result.interrupted,
    )  # fmt: skip
