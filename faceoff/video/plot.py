"""The paper's Figure 7 from run folders: each run's loss curves per epoch (or logged step).

The curves are the ones each run's objective describes (CycleGAN: generator G, discriminator
D_A + D_B, cycle consistency cycle_A + cycle_B), read from its ``metrics.jsonl``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from faceoff.errors import FaceoffError
from faceoff.io import atomic_path
from faceoff.objective import Curve
from faceoff.video.figures import check_out, open_runs

_EPS = 1e-9
Series = dict[str, tuple[list[int], list[float]]]


def epoch_index(epoch: float) -> int:
    """The 1-based epoch a metrics row belongs to: ceil(epoch), so epoch 1 holds steps 1..E.

    A row's ``epoch`` is step / steps_per_epoch at the end of its logging interval; the row at
    exactly 1.0 is the last of epoch 1, the row at 1.25 is in epoch 2.
    """
    return max(1, math.ceil(epoch - _EPS))


def epoch_series(rows: Sequence[dict[str, Any]], curves: Mapping[str, Curve]) -> Series:
    """Per-epoch values of each curve (the sum of its terms) from metrics rows.

    Rows are binned by :func:`epoch_index`; within an epoch, each row's value (itself the mean over
    its logging interval) is weighted by the steps it covers (its step minus the previous row's),
    so the result is the mean over the epoch's steps; with evenly spaced rows that is the plain
    mean of the rows. A row missing a term leaves that curve out for the row.
    """
    sums: dict[str, dict[int, list[float]]] = {name: {} for name in curves}
    previous = 0
    for row in sorted(rows, key=lambda r: r["step"]):
        step = int(row["step"])
        weight = max(1, step - previous)
        previous = step
        index = epoch_index(float(row["epoch"]))
        for name, curve in curves.items():
            values = [row.get(term) for term in curve.terms]
            if any(v is None for v in values):
                continue
            acc = sums[name].setdefault(index, [0.0, 0.0])
            acc[0] += weight * float(sum(values))
            acc[1] += weight
    return {
        name: (sorted(by_epoch), [by_epoch[e][0] / by_epoch[e][1] for e in sorted(by_epoch)])
        for name, by_epoch in sums.items()
    }


def step_series(rows: Sequence[dict[str, Any]], curves: Mapping[str, Curve]) -> Series:
    """Each curve at every logged step (each row already a mean over its interval): for short
    runs, where a per-epoch curve would have two or three points."""
    out: Series = {name: ([], []) for name in curves}
    for row in sorted(rows, key=lambda r: r["step"]):
        for name, curve in curves.items():
            values = [row.get(term) for term in curve.terms]
            if all(v is not None for v in values):
                out[name][0].append(int(row["step"]))
                out[name][1].append(float(sum(values)))
    return out


def plot(runs: Sequence[str | Path], out: str | Path, by: str = "epoch") -> dict[str, Series]:
    """Figure 7: a panel per loss curve of the runs' objectives (CycleGAN: G, D, cycle), per
    epoch (or per logged step, ``by="step"``), one line per run."""
    if by not in ("epoch", "step"):
        raise FaceoffError(f"--by {by!r}: expected epoch or step")
    opened = open_runs(runs)
    out_path = check_out(out, runs)
    series: dict[str, Series] = {}
    curves: dict[str, Curve] = {}
    for run in opened:
        rows = run.folder.metrics()
        own = run.folder.description().curves
        curves.update({k: v for k, v in own.items() if k not in curves})
        series[run.label] = epoch_series(rows, own) if by == "epoch" else step_series(rows, own)
    if not curves:
        raise FaceoffError(f"{opened[0].folder.path}: its objective describes no loss curves")
    _draw(series, curves, by, out_path)
    return series


def _draw(series: dict[str, Series], curves: Mapping[str, Curve], by: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(curves), figsize=(13 * len(curves) / 3, 3.8), constrained_layout=True, squeeze=False
    )
    try:
        for ax, (name, curve) in zip(axes[0], curves.items()):
            for label, per_run in series.items():
                epochs, values = per_run.get(name, ([], []))
                if epochs:
                    marker = "o" if by == "epoch" else None
                    ax.plot(epochs, values, marker=marker, ms=3, lw=1.4, label=label)
            ax.set_title(curve.title, fontsize=10)
            ax.set_xlabel(by)
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
