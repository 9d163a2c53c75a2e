"""The TensorBoard observer (imports TensorBoard through torch.utils.tensorboard)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
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
    drops events past its checkpoint, as ``metrics.jsonl`` does. A write that fails (a full
    disk) is one line naming the event file, not a traceback from TensorBoard's writer thread."""

    def __init__(self, params: Any) -> None:
        self.params = params
        self.writer_class = _summary_writer()  # a missing package fails before the run starts
        self.writer: Any = None
        self.folder: Path | None = None
        self._hook: Any = None

    def on_start(self, run: RunInfo) -> None:
        if not run.is_main:
            return
        purge = run.start_step + 1 if run.start_step else None
        self.folder = run.run_dir / self.params.dir
        self._hook = threading.excepthook
        threading.excepthook = self._thread_failed
        with self._writing():
            self.writer = self.writer_class(
                log_dir=str(self.folder), purge_step=purge, flush_secs=self.params.flush_secs
            )
            spec = json.dumps(dict(run.spec), indent=2)
            self.writer.add_text("spec", f"```json\n{spec}\n```", global_step=run.start_step)

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        if self.writer is None:
            return
        with self._writing():
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
            with self._writing():
                self.writer.add_image("samples", grid, step, dataformats="HWC")

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        try:
            if self.writer is not None:
                writer, self.writer = self.writer, None
                with self._writing():
                    writer.close()
        finally:
            if self._hook is not None:
                threading.excepthook, self._hook = self._hook, None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """TensorBoard's errors (OSError, or what its writer thread raised) as one line."""
        try:
            yield
        except OSError as exc:
            events = sorted(self.folder.glob("events.out.tfevents.*")) if self.folder else []
            where = events[-1] if events else self.folder
            reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
            raise FaceoffError(f"{where}: cannot write TensorBoard events ({reason})") from None

    def _thread_failed(self, args: Any) -> None:
        """TensorBoard's writer thread failed: the next write raises its error, as one line
        (:meth:`_writing`), so its traceback is not printed; other threads' are."""
        if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(
            args.exc_value, OSError
        ):
            return
        self._hook(args)
