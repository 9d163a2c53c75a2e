"""The paper's Figure 6 from run folders: test frames, and each run's translation of them.

``compare`` rebuilds the first run's test frames from its ``spec.json`` and puts each run's output
next to them (Figure 7, the losses, is :mod:`faceoff.video.plot`). Everything is checked before
anything is written, and the PNG is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from faceoff.console import warn
from faceoff.errors import FaceoffError
from faceoff.frames import sample_frames
from faceoff.io import check_new_file, refuse_inputs, write_png
from faceoff.runs import RunFolder
from faceoff.translate import translate_tensor

MIN_CELL = 128  # grid cells are enlarged (nearest neighbour) to at least this many pixels
GAP = 4  # white space around cells
HEADER = 22  # the label row
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45


@dataclass(frozen=True)
class Run:
    """A run folder with the label it has in a figure."""

    folder: RunFolder
    label: str


def _labels(paths: Sequence[Path]) -> list[str]:
    """The run folders' names; the whole path where two runs share a name."""
    names = [p.resolve().name or str(p) for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names)]


def open_runs(runs: Sequence[str | Path]) -> list[Run]:
    """Check that every RUN is a run folder (a folder with spec.json)."""
    if not runs:
        raise FaceoffError("no RUN given; name one or more run folders (written by faceoff run)")
    folders = [RunFolder.open(r) for r in runs]
    return [Run(f, label) for f, label in zip(folders, _labels([f.path for f in folders]))]


def check_out(out: str | Path, runs: Sequence[str | Path] = ()) -> Path:
    """The output file: its folder must exist already, it must not be a folder, nor any RUN."""
    path = Path(out)
    refuse_inputs(path, [("RUN", run) for run in runs])
    if path.is_dir():
        raise FaceoffError(f"--out {path}: is a folder; give a file name such as grid.png")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FaceoffError(f"--out {path}: the folder {parent} does not exist")
    return check_new_file(path)


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
    from faceoff.data import load_split, source_label
    from faceoff.masks import mask_out
    from faceoff.plugins import get_registry
    from faceoff.spec import resolve

    resolved = resolve(spec, get_registry(), source=where)
    data = resolved.spec.data
    source = resolved.build("data.source")
    who = source_label(resolved.components["data.source"][0])
    split = load_split(source, "test", data.load_size, who)
    if len(split[0]) == 0 or len(split[1]) == 0:
        warn(f"{where}: the data source has no test frames; using its training frames")
        split = load_split(source, "train", data.load_size, who)
    if resolved.spec.mask is not None and resolved.spec.mask.mode == "crop":
        split = mask_out(resolved, split)
    chosen = split[domain]
    if len(chosen) == 0:
        raise FaceoffError(f"{where}: the data source has no frames of {'AB'[domain]}")
    return sample_frames(chosen, frames, data.crop_size)


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
    """Figure 6: test frames of the first run's data, and every run's translation of them."""
    if direction not in ("a2b", "b2a"):
        raise FaceoffError(f"--direction {direction!r}: expected one of a2b, b2a")
    if frames < 1:
        raise FaceoffError(f"--frames {frames}: expected at least 1")
    opened = open_runs(runs)
    out_path = check_out(out, runs)
    latest = {run.label: run.folder.latest() for run in opened}
    translations = {label: c.translation(direction) for label, c in latest.items()}
    domain = next(iter(translations.values())).source_index
    first = opened[0].folder
    inputs = test_frames(first.spec(), frames, domain, str(first.spec_path))
    outputs: dict[str, np.ndarray] = {}
    for run, (label, checkpoint) in zip(opened, latest.items()):
        net = checkpoint.load_translation(direction)
        mask = run.folder.spec().get("mask")
        if isinstance(mask, dict) and mask.get("mode") == "crop":  # it saw only masked faces
            where = str(run.folder.spec_path)
            seen = test_frames({**first.spec(), "mask": mask}, frames, domain, where)
        else:
            seen = inputs
        outputs[label] = translate_tensor(net, seen, batch=8, size=checkpoint.crop_size)
    shown = inputs.permute(0, 2, 3, 1).numpy()
    cell = cell_size([shown.shape[1], *(o.shape[1] for o in outputs.values())])
    header = "Input A" if domain == 0 else "Input B"
    grid = compose_grid({header: shown, **outputs}, cell)
    write_png(out_path, grid)
    return Comparison(shown, outputs, {k: c.path for k, c in latest.items()}, grid)
