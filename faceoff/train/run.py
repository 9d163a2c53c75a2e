"""A whole training run: everything checked before anything is written, then the loop.

Run folder layout::

    spec.json            the resolved spec (every default filled in)
    plugins.json         which distribution and version provided each component
    metrics.jsonl        one line per logging interval
    losses.png           loss curves, kept current
    samples/step_N.png   sample grids of test frames
    checkpoints/step_N.safetensors
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import TextColumn
from torch.utils.data import DataLoader

from faceoff import __version__
from faceoff.console import info, progress, warn
from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff.io import write_json
from faceoff.masks import cache_root, compute_masks, spec_provider
from faceoff.spec import ResolvedSpec
from faceoff.train.batches import (
    GIB,
    DomainTensors,
    StepBatches,
    UnpairedBatches,
    batch_loader,
    center_crop,
    disk_frames,
    frames_key,
    move_batch,
    resolve_workers,
    to_float,
    to_uint8,
)
from faceoff.train.checkpoint import (
    TrainState,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    read_metadata,
)
from faceoff.train.checkpoint import save_checkpoint as write_checkpoint
from faceoff.train.cyclegan import CycleGAN, check_precision
from faceoff.train.distributed import Dist, ShardedBatches, rank_seed, setup
from faceoff.train.report import MetricsLog, plot_losses, sample_grid, write_png
from faceoff.train.schedule import lr_factor


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


def pick_device(choice: str, where: str = "train.device") -> torch.device:
    """'auto' -> CUDA when there is one, else the CPU; 'cuda' (or 'cuda:N') without one, or
    anything else, is an error naming ``where``."""
    if choice not in ("auto", "cpu", "cuda") and not choice.startswith("cuda:"):
        raise FaceoffError(f"{where} {choice!r}: expected auto, cpu or cuda")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise FaceoffError(
            f"{where} is {choice!r} but no CUDA device is available; use auto or cpu"
        )
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


@dataclass
class Data:
    train: tuple[DomainTensors, DomainTensors]
    test: tuple[torch.Tensor, torch.Tensor]


def _load_data(resolved: ResolvedSpec) -> Data:
    spec = resolved.spec
    source = resolved.build("data.source")
    size = spec.data.load_size
    train_a, train_b = source.load("train", size)
    for label, domain in (("A", train_a), ("B", train_b)):
        if len(domain) == 0:
            raise FaceoffError(f"data.source: the train split of {label} has no frames")
    test_a, test_b = source.load("test", size)
    if len(test_a) == 0 or len(test_b) == 0:
        warn("the data source has no test frames; sample grids show training frames")
        test_a, test_b = train_a, train_b
    masks: list[Any] = [None, None]
    if spec.mask is not None:
        provider, cache = spec_provider(resolved)
        done = [
            compute_masks(provider, d, label, cache=cache, no_face=spec.mask.no_face)
            for d, label in ((train_a, "A"), (train_b, "B"))
        ]
        (train_a, masks[0]), (train_b, masks[1]) = [(m.domain, m.masks) for m in done]
    n = spec.output.samples
    on_disk = [None, None]
    if _frames_on_disk(resolved, train_a, train_b):
        component, params = resolved.components["data.source"]
        source = {"plugin": component.name, "params": params.model_dump(mode="json")}
        folder = cache_root() / "frames"
        on_disk = [disk_frames(d, folder, frames_key(d, source, size)) for d in (train_a, train_b)]
    return Data(
        train=(
            DomainTensors.from_domain(train_a, masks[0], on_disk[0]),
            DomainTensors.from_domain(train_b, masks[1], on_disk[1]),
        ),
        test=(
            sample_frames(test_a, n, spec.data.crop_size),
            sample_frames(test_b, n, spec.data.crop_size),
        ),
    )


def _frames_on_disk(resolved: ResolvedSpec, a: Domain, b: Domain) -> bool:
    """``data.cache``: 'auto' keeps the train frames on disk above ``cache_auto_gib``."""
    data = resolved.spec.data
    if data.cache == "auto":
        return a.frames.nbytes + b.frames.nbytes > data.cache_auto_gib * GIB
    return data.cache == "disk"


def sample_frames(domain: Domain, n: int, crop: int) -> torch.Tensor:
    """``n`` frames spread evenly over the test split, centre-cropped to the training size."""
    picks = torch.linspace(0, len(domain) - 1, min(n, len(domain))).round().long()
    return center_crop(DomainTensors.from_domain(domain, None).images[picks], crop)


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


def _check_resume(resolved: ResolvedSpec, path: Path) -> None:
    """A resumed run must train the same thing; schedule, output, max_steps and the speed
    options (device, precision, channels_last, compile, cudnn_benchmark, fused_optimizer,
    workers, prefetch_factor, data.cache, data.cache_auto_gib) may change."""
    saved = json.loads(read_metadata(path)["spec"])
    now = resolved.to_dict()
    for spec in (saved, now):  # where frames are kept changes no batch (and older runs lack it)
        for key in _DATA_SPEED_OPTIONS:
            spec.get("data", {}).pop(key, None)
    differ = [k for k in now if k not in ("schedule", "output", "train") and now[k] != saved.get(k)]
    for key in ("batch_size", "seed", "pool_size"):
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
    """Train a CycleGAN as the spec says, writing everything under ``run_dir``.

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


def _train(
    resolved: ResolvedSpec,
    run_dir: Path,
    dist: Dist,
    resume: bool,
    overwrite: bool,
    show_progress: bool,
) -> RunResult:
    spec = resolved.spec
    device = dist.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = spec.train.cudnn_benchmark
    resume_from = check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    if resume_from is not None:
        _check_resume(resolved, resume_from)
    data = _load_data(resolved)  # the slow, failure-prone part: before anything is written
    dist.barrier()  # every rank has checked the run folder before rank 0 changes it
    if overwrite and run_dir.exists() and dist.is_main:
        shutil.rmtree(run_dir)

    seed = spec.train.seed
    torch.manual_seed(seed)
    # A per-rank stream for the image pools (rank 0's is one process's); the batches need none.
    pool_rng = torch.Generator().manual_seed(rank_seed(seed, dist.rank, 1))
    model = CycleGAN(resolved, device, pool_rng)
    if dist.active:
        dist.broadcast_parameters(model)
        model.grad_sync = dist.average_gradients
    state = TrainState(step=0, pool_rng=pool_rng)
    batches: UnpairedBatches = ShardedBatches(
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

    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    if resume_from is not None:
        load_checkpoint(resume_from, model, state)  # rank 0's RNG and pools, on every rank
        if not dist.is_main:  # a fresh pool stream: exact resume is for one process only
            pool_rng.manual_seed((rank_seed(seed, dist.rank, 1) + state.step) % 2**63)
        model.apply_optimizer_options()  # the speed options may change on resume
        if state.step >= total:
            raise FaceoffError(
                f"{run_dir}: the run is already at step {state.step} of {total}; "
                "raise schedule.epochs or train.max_steps to train further"
            )
        if dist.is_main:
            metrics.truncate_after(state.step)
            info(f"resuming {run_dir} from step {state.step} ({resume_from.name})")
    if dist.is_main:
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
    dist.barrier()

    loop = _Loop(
        resolved, run_dir, model, state, batches, data, metrics, steps_per_epoch, total, dist
    )
    with _stop_on_signal() as caught:
        return loop.run(show_progress, caught)


class _Loop:
    """The step loop with its logging, sampling and checkpointing cadence."""

    def __init__(
        self,
        resolved: ResolvedSpec,
        run_dir: Path,
        model: CycleGAN,
        state: TrainState,
        batches: UnpairedBatches,
        data: Data,
        metrics: MetricsLog,
        steps_per_epoch: int,
        total: int,
        dist: Dist | None = None,
    ) -> None:
        self.dist = dist or Dist()
        self.spec = resolved.spec
        self.spec_dict = resolved.to_dict()
        self.run_dir, self.model, self.state = run_dir, model, state
        self.batches, self.data, self.metrics = batches, data, metrics
        self.steps_per_epoch, self.total = steps_per_epoch, total
        self.samples: list[Path] = []
        self.checkpoint: Path | None = None

    def _lr(self, step: int) -> float:
        epoch = step // self.steps_per_epoch
        factor = lr_factor(epoch, self.spec.schedule.epochs, self.spec.schedule.decay_epochs)
        return self.spec.optimizer.lr * factor

    def _sample(self, step: int) -> None:
        test_a, test_b = self.data.test
        dev = self.model.device
        out = self.model.translate(to_float(test_a.to(dev)), to_float(test_b.to(dev)))
        path = self.run_dir / "samples" / f"step_{step:08d}.png"
        write_png(path, sample_grid({k: to_uint8(v) for k, v in out.items()}))
        self.samples.append(path)

    def _save(self, step: int) -> None:
        folder = self.run_dir / "checkpoints"
        self.checkpoint = checkpoint_path(folder, step)
        if not self.dist.is_main:
            return
        write_checkpoint(self.checkpoint, self.model, self.state, self.spec_dict)
        prune_checkpoints(folder, self.spec.output.keep_checkpoints)

    def _loader(self) -> DataLoader:
        """Batches from the current step on, made ahead by ``train.workers`` processes."""
        device = self.model.device
        return batch_loader(
            StepBatches(self.batches, self.state.step, self.total, self.steps_per_epoch),
            workers=resolve_workers(self.spec.train.workers, device),
            prefetch_factor=self.spec.train.prefetch_factor,
            pin_memory=device.type == "cuda",
        )

    def run(self, show_progress: bool, caught: list[int]) -> RunResult:
        batches = iter(self._loader())
        try:
            return self._run(batches, show_progress, caught)
        finally:
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:  # stop the workers now, not when the iterator is collected
                shutdown()

    def _run(
        self, batches: Iterator[dict[str, torch.Tensor]], show_progress: bool, caught: list[int]
    ) -> RunResult:
        out = self.spec.output
        sums: dict[str, torch.Tensor] = {}
        count = 0
        last: dict[str, float] = {}
        window_start, window_steps, rate = time.perf_counter(), 0, math.nan
        interrupted = False
        status = TextColumn("{task.fields[losses]}")
        bar = progress(status)
        if not show_progress or not self.dist.is_main:
            bar.disable = True
        with bar:
            task = bar.add_task("training", total=self.total, completed=self.state.step, losses="")
            while self.state.step < self.total:
                step = self.state.step
                lr = self._lr(step)
                self.model.set_lr(lr)
                try:
                    terms = self.model.train_step(move_batch(next(batches), self.model.device))
                except torch.cuda.OutOfMemoryError:
                    raise FaceoffError(
                        f"out of GPU memory at step {step + 1} with train.batch_size "
                        f"{self.spec.train.batch_size} and data.crop_size "
                        f"{self.spec.data.crop_size}; lower one of them (or ngf/ndf)"
                    ) from None
                for k, v in terms.items():
                    sums[k] = sums[k] + v if k in sums else v.clone()
                count += 1
                window_steps += 1
                self.state.step = step = step + 1
                finite = torch.stack(list(terms.values())).isfinite().all()
                # Decided once per step: a signal that lands later in this step (while rank 0
                # writes samples, say) counts from the next one, or the ranks would part ways.
                stop = bool(caught)
                if self.dist.active:  # every rank stops together (one small all-reduce)
                    flags = torch.stack([~finite, finite.new_tensor(stop)]).int()
                    any_bad, any_caught = self.dist.any(flags).tolist()
                    stop = bool(any_caught)
                    finite = finite.new_tensor(not any_bad)
                if not bool(finite):  # one sync
                    bad = next((k for k, v in terms.items() if not torch.isfinite(v)), None)
                    if bad is None:
                        raise FaceoffError(
                            f"step {step}: a loss is not finite in another process; training "
                            f"stopped (last good checkpoint: {self.checkpoint or 'none'}); "
                            "try a lower optimizer.lr"
                        )
                    raise FaceoffError(
                        f"step {step}: loss {bad} is {terms[bad].item()}; training stopped "
                        f"(last good checkpoint: {self.checkpoint or 'none'}); "
                        "try a lower optimizer.lr"
                    )
                if step % out.log_every == 0 or step == self.total:
                    rate = (time.perf_counter() - window_start) / window_steps
                    # The mean over the ranks (one all-reduce per logging interval).
                    means = self.dist.all_mean(torch.stack(list(sums.values()))).tolist()
                    last = {k: round(v / count, 6) for k, v in zip(sums, means)}
                    row = {
                        "step": step,
                        "epoch": step / self.steps_per_epoch,
                        **last,
                        "lr": lr,
                        "sec_per_step": round(rate, 5),
                    }
                    if self.dist.is_main:
                        self.metrics.append(row)
                    sums, count = {}, 0
                    window_start, window_steps = time.perf_counter(), 0
                    shown = " ".join(
                        f"{k} {last[k]:.3f}" for k in ("G", "D_A", "D_B", "cycle_A") if k in last
                    )
                    bar.update(task, losses=shown)
                if (step % out.sample_every == 0 or step == self.total) and self.dist.is_main:
                    self._sample(step)
                    plot_losses(self.metrics.rows(), self.run_dir / "losses.png", self.run_dir.name)
                if step % out.checkpoint_every == 0 or step == self.total or stop:
                    self._save(step)
                bar.update(task, completed=step)
                if stop:
                    interrupted = True
                    break
        return RunResult(
            run_dir=self.run_dir,
            steps=self.state.step,
            total_steps=self.total,
            seconds_per_step=rate,
            last_losses=last,
            checkpoint=self.checkpoint,
            samples=self.samples,
            interrupted=interrupted,
        )
