"""The paper's figures from run folders: test frames side by side (Figure 6), losses per epoch (7).

``compare`` rebuilds the first run's test frames from its ``spec.json`` and puts each run's
generator output next to them; ``plot`` draws generator, discriminator and cycle-consistency loss
per epoch from each run's ``metrics.jsonl``. Everything is checked before anything is written, and
the PNG is written atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from faceoff.console import warn
from faceoff.errors import FaceoffError
from faceoff.io import atomic_path
from faceoff.train.batches import to_float, to_uint8
from faceoff.train.checkpoint import list_checkpoints, read_metadata
from faceoff.train.report import MetricsLog, write_png

DIRECTIONS = {"a2b": ("G_AB", 0), "b2a": ("G_BA", 1)}
"""direction -> (generator in the run checkpoint, test domain it reads: 0 = A, 1 = B)."""

MIN_CELL = 128  # grid cells are enlarged (nearest neighbour) to at least this many pixels
GAP = 4  # white space around cells
HEADER = 22  # the label row
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45

SERIES = ("G", "D", "cycle")
"""The three loss curves: G; D = D_A + D_B; cycle = cycle_A + cycle_B."""
_TERMS = {"G": ("G",), "D": ("D_A", "D_B"), "cycle": ("cycle_A", "cycle_B")}
_TITLES = {
    "G": "generator loss (G)",
    "D": "discriminator loss (D_A + D_B)",
    "cycle": "cycle-consistency loss (cycle_A + cycle_B)",
}
_EPS = 1e-9


@dataclass(frozen=True)
class Run:
    """A run folder, checked to hold what a figure needs."""

    path: Path
    label: str

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def spec(self) -> dict[str, Any]:
        try:
            data = json.loads(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FaceoffError(f"{self.spec_path}: cannot read the run's spec ({exc})") from None
        if not isinstance(data, dict):
            raise FaceoffError(f"{self.spec_path}: not a spec (a JSON object)")
        return data

    def latest_checkpoint(self) -> Path:
        found = list_checkpoints(self.path / "checkpoints")
        if not found:
            raise FaceoffError(
                f"{self.path}: no checkpoint (checkpoints/step_*.safetensors); "
                "train it with faceoff run first"
            )
        return found[-1]


def _labels(paths: Sequence[Path]) -> list[str]:
    """The run folders' names; the whole path where two runs share a name."""
    names = [p.resolve().name or str(p) for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names)]


def open_runs(runs: Sequence[str | Path]) -> list[Run]:
    """Check that every RUN is a run folder (a folder with spec.json)."""
    if not runs:
        raise FaceoffError("no RUN given; name one or more run folders (written by faceoff run)")
    paths = [Path(r) for r in runs]
    for path in paths:
        if not path.exists():
            raise FaceoffError(f"{path}: no such run folder")
        if not path.is_dir():
            raise FaceoffError(f"{path}: is not a folder; expected a run folder from faceoff run")
        if not (path / "spec.json").is_file():
            raise FaceoffError(
                f"{path}: not a run folder (no spec.json); expected one from faceoff run"
            )
    return [Run(p, label) for p, label in zip(paths, _labels(paths))]


def check_out(out: str | Path) -> Path:
    """The output file: its folder must exist already, and it must not be a folder."""
    path = Path(out)
    if path.is_dir():
        raise FaceoffError(f"--out {path}: is a folder; give a file name such as grid.png")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FaceoffError(f"--out {path}: the folder {parent} does not exist")
    return path


# --- Figure 6: compare -----------------------------------------------------------------------


@dataclass
class Comparison:
    """What ``compare`` drew: test frames (uint8 [N, H, W, 3]) and each run's output on them."""

    inputs: np.ndarray
    outputs: dict[str, np.ndarray]
    checkpoints: dict[str, Path]
    grid: np.ndarray


def test_frames(spec: dict[str, Any], frames: int, domain: int, where: str) -> torch.Tensor:
    """``frames`` test frames spread evenly over the spec's test split, centre-cropped.

    The data source is rebuilt from the spec through the plugin registry; frames are loaded at
    ``data.load_size`` and centre-cropped to ``data.crop_size``, as training's sample grids are.
    Returns uint8 [N, 3, crop, crop]. A source without test frames falls back to its training
    frames (with a warning), as training does.
    """
    from faceoff.masks import mask_out
    from faceoff.plugins import get_registry
    from faceoff.spec import resolve
    from faceoff.train.run import sample_frames

    resolved = resolve(spec, get_registry(), source=where)
    data = resolved.spec.data
    source = resolved.build("data.source")
    split = source.load("test", data.load_size)
    if len(split[0]) == 0 or len(split[1]) == 0:
        warn(f"{where}: the data source has no test frames; using its training frames")
        split = source.load("train", data.load_size)
    if resolved.spec.mask is not None and resolved.spec.mask.mode == "crop":
        split = mask_out(resolved, split)
    chosen = split[domain]
    if len(chosen) == 0:
        raise FaceoffError(f"{where}: the data source has no frames of {'AB'[domain]}")
    return sample_frames(chosen, frames, data.crop_size)


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> uint8 [N, 3, size, size] (area when shrinking, else bilinear)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    shrink = size < images.shape[-1]
    out = [
        cv2.resize(
            np.ascontiguousarray(im.permute(1, 2, 0).numpy()),
            (size, size),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )
        for im in images
    ]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def generate(net: torch.nn.Module, images: torch.Tensor, size: int, batch: int = 8) -> np.ndarray:
    """A generator's output on uint8 [N, 3, H, W] frames resized to ``size``: uint8 [N, s, s, 3]."""
    images = _resize(images, size)
    parts = [to_uint8(net(to_float(images[i : i + batch]))) for i in range(0, len(images), batch)]
    return np.concatenate(parts)


def crop_size(checkpoint: Path) -> int:
    """The crop size a run checkpoint was trained at (from the spec in its metadata)."""
    try:
        return int(json.loads(read_metadata(checkpoint)["spec"])["data"]["crop_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FaceoffError(
            f"{checkpoint}: damaged metadata ({type(exc).__name__}: {exc})"
        ) from None


def cell_size(sizes: Sequence[int], min_cell: int = MIN_CELL) -> int:
    """One display size for every cell: the largest image, enlarged by a whole factor to >= min."""
    largest = max(sizes)
    return largest * max(1, -(-min_cell // largest))


def _fit_label(text: str, width: int) -> tuple[str, float]:
    """The label and a font scale that fit ``width`` px (smaller type, then '...')."""
    scale = FONT_SCALE
    while scale > 0.3 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        scale -= 0.05
    while len(text) > 1 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        text = text[:-4] + "..." if len(text) > 4 else text[:-1]
    return text, scale


def grid_shape(rows: int, columns: int, cell: int) -> tuple[int, int]:
    """(height, width) in px of a grid of ``rows`` x ``columns`` cells of ``cell`` px."""
    return HEADER + rows * (cell + GAP), GAP + columns * (cell + GAP)


def cell_origin(row: int, column: int, cell: int) -> tuple[int, int]:
    """(y, x) of a cell's top-left pixel."""
    return HEADER + row * (cell + GAP), GAP + column * (cell + GAP)


def compose_grid(columns: dict[str, np.ndarray], cell: int) -> np.ndarray:
    """Columns of images (uint8 [N, h, w, 3] each), labelled, every cell enlarged to ``cell``."""
    rows = len(next(iter(columns.values())))
    height, width = grid_shape(rows, len(columns), cell)
    grid = np.full((height, width, 3), 255, np.uint8)
    for col, (title, images) in enumerate(columns.items()):
        _, x = cell_origin(0, col, cell)
        text, scale = _fit_label(title, cell - 4)
        cv2.putText(grid, text, (x + 2, 16), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        for row, image in enumerate(images):
            y, _ = cell_origin(row, col, cell)
            grid[y : y + cell, x : x + cell] = cv2.resize(
                image, (cell, cell), interpolation=cv2.INTER_NEAREST
            )
    return grid


def compare(
    runs: Sequence[str | Path], out: str | Path, frames: int = 4, direction: str = "a2b"
) -> Comparison:
    """Figure 6: test frames of the first run's data, and every run's generator on them."""
    from faceoff.weights import load_network

    if direction not in DIRECTIONS:
        raise FaceoffError(f"--direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
    if frames < 1:
        raise FaceoffError(f"--frames {frames}: expected at least 1")
    opened = open_runs(runs)
    out_path = check_out(out)
    checkpoints = {run.label: run.latest_checkpoint() for run in opened}
    network, domain = DIRECTIONS[direction]
    first = opened[0]
    inputs = test_frames(first.spec(), frames, domain, str(first.spec_path))
    outputs: dict[str, np.ndarray] = {}
    for run, (label, checkpoint) in zip(opened, checkpoints.items()):
        net = load_network(checkpoint, network)
        mask = run.spec().get("mask")
        if isinstance(mask, dict) and mask.get("mode") == "crop":  # it saw only masked faces
            seen = test_frames({**first.spec(), "mask": mask}, frames, domain, str(run.spec_path))
        else:
            seen = inputs
        outputs[label] = generate(net, seen, crop_size(checkpoint))
    shown = inputs.permute(0, 2, 3, 1).numpy()
    cell = cell_size([shown.shape[1], *(o.shape[1] for o in outputs.values())])
    header = "Input A" if domain == 0 else "Input B"
    grid = compose_grid({header: shown, **outputs}, cell)
    write_png(out_path, grid)
    return Comparison(shown, outputs, checkpoints, grid)


# --- Figure 7: plot --------------------------------------------------------------------------


def epoch_index(epoch: float) -> int:
    """The 1-based epoch a metrics row belongs to: ceil(epoch), so epoch 1 holds steps 1..E.

    A row's ``epoch`` is step / steps_per_epoch at the end of its logging interval; the row at
    exactly 1.0 is the last of epoch 1, the row at 1.25 is in epoch 2.
    """
    return max(1, math.ceil(epoch - _EPS))


def epoch_series(rows: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Per-epoch G, D (= D_A + D_B) and cycle (= cycle_A + cycle_B) losses from metrics rows.

    Rows are binned by :func:`epoch_index`; within an epoch, each row's value (itself the mean over
    its logging interval) is weighted by the steps it covers (its step minus the previous row's),
    so the result is the mean over the epoch's steps; with evenly spaced rows that is the plain
    mean of the rows. A row missing a term leaves that series out for the row.
    """
    sums: dict[str, dict[int, list[float]]] = {name: {} for name in SERIES}
    previous = 0
    for row in sorted(rows, key=lambda r: r["step"]):
        step = int(row["step"])
        weight = max(1, step - previous)
        previous = step
        index = epoch_index(float(row["epoch"]))
        for name, terms in _TERMS.items():
            values = [row.get(term) for term in terms]
            if any(v is None for v in values):
                continue
            acc = sums[name].setdefault(index, [0.0, 0.0])
            acc[0] += weight * float(sum(values))
            acc[1] += weight
    return {
        name: (sorted(by_epoch), [by_epoch[e][0] / by_epoch[e][1] for e in sorted(by_epoch)])
        for name, by_epoch in sums.items()
    }


def step_series(rows: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """G, D and cycle losses at every logged step (each row already a mean over its interval):
    for short runs, where a per-epoch curve would have two or three points."""
    out: dict[str, tuple[list[int], list[float]]] = {name: ([], []) for name in SERIES}
    for row in sorted(rows, key=lambda r: r["step"]):
        for name, terms in _TERMS.items():
            values = [row.get(term) for term in terms]
            if all(v is not None for v in values):
                out[name][0].append(int(row["step"]))
                out[name][1].append(float(sum(values)))
    return out


def plot(
    runs: Sequence[str | Path], out: str | Path, by: str = "epoch"
) -> dict[str, dict[str, Any]]:
    """Figure 7: three panels (G, D, cycle) of loss per epoch (or per logged step, ``by="step"``),
    one line per run."""
    if by not in ("epoch", "step"):
        raise FaceoffError(f"--by {by!r}: expected epoch or step")
    opened = open_runs(runs)
    out_path = check_out(out)
    series: dict[str, dict[str, Any]] = {}
    for run in opened:
        if not run.metrics_path.is_file():
            raise FaceoffError(f"{run.path}: no metrics.jsonl; the run has not logged a step yet")
        try:
            rows = MetricsLog(run.metrics_path).rows()
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FaceoffError(f"{run.metrics_path}: cannot read ({exc})") from None
        if not rows:
            raise FaceoffError(f"{run.metrics_path}: no rows; the run has not logged a step yet")
        if not all(isinstance(r, dict) and "step" in r and "epoch" in r for r in rows):
            raise FaceoffError(f"{run.metrics_path}: rows without 'step' and 'epoch'")
        series[run.label] = epoch_series(rows) if by == "epoch" else step_series(rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    try:
        for ax, name in zip(axes, SERIES):
            for label, per_run in series.items():
                epochs, values = per_run[name]
                if epochs:
                    marker = "o" if by == "epoch" else None
                    ax.plot(epochs, values, marker=marker, ms=3, lw=1.4, label=label)
            ax.set_title(_TITLES[name], fontsize=10)
            ax.set_xlabel(by)
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        with atomic_path(out_path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return series
