"""The TensorBoard observer (imports TensorBoard through torch.utils.tensorboard)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from faceoff.errors import FaceoffError
from faceoff.observers import Observer, RunInfo

_NOT_LOSSES = ("step", "epoch", "lr", "sec_per_step")


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise FaceoffError(
            f"output.loggers: the tensorboard logger needs the tensorboard package ({exc}); "
            "pip install 'faceoff[tensorboard]'"
        ) from None
    return SummaryWriter


class TensorboardLogger(Observer):
    """``loss/<term>`` and ``train/lr``, ``train/sec_per_step`` at every logged step, the sample
    grids as the image ``samples``, the resolved spec as the text ``spec``. A resumed run first
    drops events past its checkpoint, as ``metrics.jsonl`` does."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.writer_class = _summary_writer()  # a missing package fails before the run starts
        self.writer: Any = None

    def on_start(self, run: RunInfo) -> None:
        if not run.is_main:
            return
        purge = run.start_step + 1 if run.start_step else None
        self.writer = self.writer_class(
            log_dir=str(run.run_dir / self.params.dir),
            purge_step=purge,
            flush_secs=self.params.flush_secs,
        )
        spec = json.dumps(dict(run.spec), indent=2)
        self.writer.add_text("spec", f"```json\n{spec}\n```", global_step=run.start_step)

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key not in _NOT_LOSSES:
                self.writer.add_scalar(f"loss/{key}", value, step)
        self.writer.add_scalar("train/lr", row["lr"], step)
        self.writer.add_scalar("train/sec_per_step", row["sec_per_step"], step)
        self.writer.add_scalar("train/epoch", row["epoch"], step)

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        if self.writer is not None:
            self.writer.add_image("samples", grid, step, dataformats="HWC")

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
