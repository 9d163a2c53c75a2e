"""The step loop: batches in, the objective's step, the checks, the observers called.

It knows no objective and writes no file: the observers do that (:mod:`faceoff.train.observers`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from faceoff.devices import out_of_memory
from faceoff.frames import to_uint8
from faceoff.observers import Observer, RunInfo, StepInfo
from faceoff.train.batches import move_batch
from faceoff.train.build import Training
from faceoff.train.distributed import Dist
from faceoff.train.report import sample_grid


class LossNotFinite(Exception):
    """A loss term became NaN or infinite at ``step`` (``term`` None: in another process)."""

    def __init__(self, step: int, term: str | None, value: float | None) -> None:
        super().__init__(step, term, value)
        self.step, self.term, self.value = step, term, value


class OutOfMemory(Exception):
    """``device`` ran out of memory at ``step`` (a GPU's, or the CPU's: RAM)."""

    def __init__(self, step: int, device: torch.device) -> None:
        super().__init__(step, device)
        self.step, self.device = step, device


@dataclass
class LoopResult:
    steps: int
    seconds_per_step: float
    last_losses: dict[str, float]
    interrupted: bool


@dataclass
class Loop:
    """Train ``training`` from ``run.start_step`` to ``run.total_steps``.

    ``lr(step)`` is the learning rate of a step; ``test`` the uint8 test frames of sample grids;
    ``caught`` collects the signals that ask the run to stop after its current step.
    """

    training: Training
    run: RunInfo
    observers: Sequence[Observer]
    lr: Callable[[int], float]
    test: Mapping[str, torch.Tensor]
    log_every: int
    sample_every: int
    dist: Dist
    step: int = 0  # steps done so far
    stopped: bool = False  # a signal stopped the run

    def _emit(self, method: str, *args: object) -> None:
        for observer in self.observers:
            getattr(observer, method)(self.run, *args)

    def samples(self, step: int) -> None:
        columns = grid_columns(self.training.sample(self.test))
        self._emit("on_samples", step, sample_grid(columns), columns)

    def _check(self, step: int, terms: Mapping[str, torch.Tensor], caught: list[int]) -> bool:
        """Raise on a non-finite loss (in any process); whether to stop after this step."""
        finite = torch.stack(list(terms.values())).isfinite().all()
        # Decided once per step: a signal that lands later in this step (while rank 0 writes
        # samples, say) counts from the next one, or the ranks would part ways.
        stop = bool(caught)
        if self.dist.active:  # every rank stops together (one small all-reduce)
            flags = torch.stack([~finite, finite.new_tensor(stop)]).int()
            any_bad, any_caught = self.dist.any(flags).tolist()
            stop = bool(any_caught)
            finite = finite.new_tensor(not any_bad)
        if not bool(finite):  # one sync
            bad = next((k for k, v in terms.items() if not torch.isfinite(v)), None)
            raise LossNotFinite(step, bad, None if bad is None else terms[bad].item())
        return stop

    def run_steps(
        self, batches: Iterator[dict[str, torch.Tensor]], caught: list[int]
    ) -> LoopResult:
        engine = self.training.engine
        total = self.run.total_steps
        sums: dict[str, torch.Tensor] = {}
        count = 0
        last: dict[str, float] = {}
        window_start, window_steps, rate = time.perf_counter(), 0, math.nan
        step = self.step = self.run.start_step
        stop = False
        while step < total:
            lr = self.lr(step)
            engine.set_lr(lr)
            try:
                terms = self.training.step(move_batch(next(batches), engine.device))
            except (RuntimeError, MemoryError) as exc:
                if out_of_memory(exc):  # CUDA's, or the CPU allocator's RuntimeError
                    raise OutOfMemory(step + 1, engine.device) from None
                raise
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            window_steps += 1
            step = self.step = step + 1
            stop = self.stopped = self._check(step, terms, caught)
            if step % self.log_every == 0 or step == total:
                rate = (time.perf_counter() - window_start) / window_steps
                # The mean over the ranks (one all-reduce per logging interval).
                means = self.dist.all_mean(torch.stack(list(sums.values()))).tolist()
                last = {k: round(v / count, 6) for k, v in zip(sums, means)}
                row = {
                    "step": step,
                    "epoch": step / self.run.steps_per_epoch,
                    **last,
                    "lr": lr,
                    "sec_per_step": round(rate, 5),
                }
                self._emit("on_log", step, row)
                sums, count = {}, 0
                window_start, window_steps = time.perf_counter(), 0
            if (step % self.sample_every == 0 or step == total) and self.dist.is_main:
                self.samples(step)
            self._emit("on_step", StepInfo(step, lr, terms, step == total, stop))
            if stop:
                break
        return LoopResult(step, rate, last, stop)


def grid_columns(groups: list[dict[str, torch.Tensor]]) -> list[dict[str, np.ndarray]]:
    """Sample-grid columns as uint8 pictures."""
    return [{k: to_uint8(v) for k, v in group.items()} for group in groups]
