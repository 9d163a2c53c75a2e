"""Run observers: the side work around the training loop, and the contract of logger plugins.

The loop trains; everything a person reads or keeps from a run (``metrics.jsonl``, the loss plot,
sample grids, the progress bar, checkpoints, TensorBoard) is an :class:`Observer` it calls at fixed
points. An observer reads what it is given and changes nothing the training computes, so adding
one changes no number. A logger plugin registers one (``register_loggers``; ``build(params) ->
Observer``) and a spec switches it on in ``output.loggers``.

Observers are called in every process of a multi-process run; only the one with ``run.is_main``
should write files. The order of the calls within a step: :meth:`Observer.on_log` (every
``output.log_every`` steps), :meth:`Observer.on_samples` (every ``output.sample_every`` steps),
then :meth:`Observer.on_step`; after the last step, :meth:`Observer.on_end`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from faceoff.objective import Description, Engine, Objective


@dataclass(frozen=True)
class RunInfo:
    """The run being observed.

    ``spec``: the resolved spec as JSON data; ``start_step``: 0, or the step a resumed run
    continues from; ``total_steps``: where it ends; ``objective`` and ``engine``: read-only
    access for observers that look at the networks (previews, weight histograms).
    """

    run_dir: Path
    spec: Mapping[str, Any]
    description: Description
    start_step: int
    total_steps: int
    steps_per_epoch: int
    is_main: bool
    objective: Objective
    engine: Engine


@dataclass(frozen=True)
class StepInfo:
    """One finished step: its number (1 after the first), learning rate and loss terms
    (detached tensors, on the device: call ``float()`` only when needed, each is a sync);
    ``last`` on the run's final step, ``stopping`` when a signal ends the run after it."""

    step: int
    lr: float
    terms: Mapping[str, torch.Tensor]
    last: bool
    stopping: bool


class Observer:
    """Base of every observer; override what you need. Every method does nothing here."""

    def on_start(self, run: RunInfo) -> None:
        """Before the first step (of this process's run: after a resume, ``run.start_step``)."""

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        """A logging interval ended: ``row`` holds ``step``, ``epoch``, each loss term's mean over
        the interval (over all processes), ``lr`` and ``sec_per_step``."""

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        """A sample grid was made of the test frames: ``grid`` uint8 [H, W, 3] as written to
        ``samples/``, ``columns`` the labelled images (uint8 [N, h, w, 3]) it shows."""

    def on_step(self, run: RunInfo, step: StepInfo) -> None:
        """After every step; keep it cheap."""

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        """The run stopped after ``steps`` steps (``interrupted``: by a signal); also called when
        it failed, before the error propagates, so files can be closed."""
