"""The observers every run has: metrics.jsonl, sample grids, the loss plot, checkpoints, the
progress bar (see :mod:`faceoff.observers` for the interface and the order of the calls)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import TextColumn

from faceoff.console import progress
from faceoff.io import write_png
from faceoff.observers import Observer, RunInfo, StepInfo
from faceoff.runs import checkpoint_path
from faceoff.train.checkpoint import prune_checkpoints
from faceoff.train.report import MetricsLog, plot_losses


class MetricsFile(Observer):
    """``metrics.jsonl``: one row per logging interval; a resumed run first drops the rows past
    its checkpoint (it repeats those steps)."""

    def __init__(self, path: Path) -> None:
        self.log = MetricsLog(path)

    def on_start(self, run: RunInfo) -> None:
        if run.is_main and run.start_step > 0:
            self.log.truncate_after(run.start_step)

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        if run.is_main:
            self.log.append(dict(row))


class SampleGrids(Observer):
    """``samples/step_N.png``: each sample grid as it is made; ``samples/latest.png``: the
    newest, to keep open in an image viewer while the run trains."""

    def __init__(self) -> None:
        self.written: list[Path] = []

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        if not run.is_main:
            return
        path = run.run_dir / "samples" / f"step_{step:08d}.png"
        write_png(path, grid)
        write_png(path.with_name("latest.png"), grid)
        self.written.append(path)


class LossPlot(Observer):
    """``losses.png``: the loss curves, redrawn with every sample grid."""

    def __init__(self, metrics: Path) -> None:
        self.log = MetricsLog(metrics)

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        rows = self.log.rows() if run.is_main else []
        if rows:
            plot_losses(rows, run.run_dir / "losses.png", run.run_dir.name, run.description.panels)


class Checkpoints(Observer):
    """``checkpoints/step_N.safetensors`` every ``every`` steps, at the end and when a signal
    stops the run; the ``keep`` most recent are kept. ``save(path)`` writes one."""

    def __init__(self, every: int, keep: int, save: Callable[[Path, int], None]) -> None:
        self.every, self.keep, self.save = every, keep, save
        self.latest: Path | None = None

    def on_step(self, run: RunInfo, step: StepInfo) -> None:
        if not (step.step % self.every == 0 or step.last or step.stopping):
            return
        folder = run.run_dir / "checkpoints"
        self.latest = checkpoint_path(folder, step.step)
        if run.is_main:
            self.save(self.latest, step.step)
            prune_checkpoints(folder, self.keep)


class ProgressBar(Observer):
    """The progress bar with the objective's headline losses (``description.shown``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def on_start(self, run: RunInfo) -> None:
        self.bar = progress(TextColumn("{task.fields[losses]}"))
        self.bar.disable = self.bar.disable or not (self.enabled and run.is_main)
        self.bar.start()
        self.task = self.bar.add_task(
            "training", total=run.total_steps, completed=run.start_step, losses=""
        )

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        shown = " ".join(f"{k} {row[k]:.3f}" for k in run.description.shown if k in row)
        self.bar.update(self.task, losses=shown)

    def on_step(self, run: RunInfo, step: StepInfo) -> None:
        self.bar.update(self.task, completed=step.step)

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        if self.bar is not None:
            self.bar.stop()
