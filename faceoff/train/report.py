"""What a person looks at during a run: metrics.jsonl, the loss-curve PNG, sample grids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.console import printable
from faceoff.io import atomic_path, write_bytes
from faceoff.runs import read_metrics


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logging interval, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        return read_metrics(self.path) if self.path.is_file() else []

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (a resumed run repeats them from its checkpoint)."""
        kept = [row for row in self.rows() if row["step"] <= step]
        write_bytes(self.path, "".join(json.dumps(row) + "\n" for row in kept).encode())

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def plot_losses(
    rows: list[dict[str, Any]], path: Path, title: str, panels: Mapping[str, tuple[str, ...]]
) -> None:
    """Loss curves against steps, one panel per group of terms that the run logs (CycleGAN:
    generator, discriminator, cycle and identity; the paper's Figure 7 per step).

    ``title`` (the run folder's name) and the terms are shown as plain text: printable (a byte
    that is not UTF-8 as ``\\udcff``) and never read as mathtext (``$``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logged = {k for row in rows for k in row}
    panels = {k: v for k, v in panels.items() if logged.intersection(v)} or {
        "losses": tuple(k for k in rows[0] if k not in _NOT_TERMS)
    }  # the panels of terms this run logs (an option off logs none)
    # A fixed layout: constrained layout doubled the time of a redraw (0.33 s against 0.18).
    fig, axes = plt.subplots(1, len(panels), figsize=(13 * len(panels) / 3, 3.6))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.14, top=0.85, wspace=0.2)
    steps = [row["step"] for row in rows]
    for ax, (label, terms) in zip(np.atleast_1d(axes), panels.items()):
        for term in terms:
            values = [row.get(term) for row in rows]
            if any(v is not None for v in values):
                plotted = [np.nan if v is None else v for v in values]
                ax.plot(steps, plotted, label=printable(term), lw=1.2)
        ax.set_title(f"{printable(label)} loss", parse_math=False)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            for text in ax.legend(fontsize=8).get_texts():
                text.set_parse_math(False)
    fig.suptitle(printable(title), fontsize=10, parse_math=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


_NOT_TERMS = ("step", "epoch", "lr", "sec_per_step")


def sample_grid(groups: list[dict[str, np.ndarray]], min_cell: int = 128) -> np.ndarray:
    """Rows of test frames; columns in labelled groups, a wider gap between groups (CycleGAN:
    real A | A->B | A->B->A, then real B | B->A | B->A->B).

    Each column is uint8 [N, H, W, 3]. Small images are enlarged (nearest neighbour, so pixels
    stay honest) to at least ``min_cell`` px.
    """
    columns = [(title, images) for group in groups for title, images in group.items()]
    starts = {sum(len(g) for g in groups[:i]) for i in range(1, len(groups))}
    n, h, w, _ = columns[0][1].shape
    zoom = max(1, -(-min_cell // h))
    ch, cw, gap = h * zoom, w * zoom, 4
    header = 22
    split = 3 * gap  # white space between groups
    width = len(columns) * (cw + gap) + gap + split * len(starts)
    grid = np.full((header + n * (ch + gap), width, 3), 255, np.uint8)
    x = gap - (cw + gap)
    for col, (title, images) in enumerate(columns):
        x += cw + gap + (split if col in starts else 0)
        cv2.putText(
            grid, title, (x + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA
        )
        for row in range(n):
            cell = cv2.resize(images[row], (cw, ch), interpolation=cv2.INTER_NEAREST)
            y = header + row * (ch + gap)
            grid[y : y + ch, x : x + cw] = cell
    return grid
