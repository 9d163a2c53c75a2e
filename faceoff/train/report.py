"""What a person looks at during a run: metrics.jsonl, the loss-curve PNG, sample grids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.io import atomic_path, write_bytes

GENERATOR_TERMS = ("G", "G_AB", "G_BA")
DISCRIMINATOR_TERMS = ("D_A", "D_B")
RECONSTRUCTION_TERMS = ("cycle_A", "cycle_B", "idt_A", "idt_B")


class MetricsLog:
    """``metrics.jsonl``: one JSON object per logging interval, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (a resumed run repeats them from its checkpoint)."""
        kept = [row for row in self.rows() if row["step"] <= step]
        write_bytes(self.path, "".join(json.dumps(row) + "\n" for row in kept).encode())

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def plot_losses(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Generator, discriminator and reconstruction losses against steps (the paper's Figure 7)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("generator", GENERATOR_TERMS),
        ("discriminator", DISCRIMINATOR_TERMS),
        ("cycle and identity", RECONSTRUCTION_TERMS),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    steps = [row["step"] for row in rows]
    for ax, (label, terms) in zip(axes, panels):
        for term in terms:
            values = [row.get(term) for row in rows]
            if any(v is not None for v in values):
                ax.plot(steps, [np.nan if v is None else v for v in values], label=term, lw=1.2)
        ax.set_title(f"{label} loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


COLUMNS = ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B")
HEADERS = ("real A", "A->B", "A->B->A", "real B", "B->A", "B->A->B")


def sample_grid(images: dict[str, np.ndarray], min_cell: int = 128) -> np.ndarray:
    """Rows of test frames; columns real A | fake B | rec A | real B | fake A | rec B, labelled.

    ``images`` maps each of COLUMNS to uint8 [N, H, W, 3]. Small images are enlarged (nearest
    neighbour, so pixels stay honest) to at least ``min_cell`` px.
    """
    n, h, w, _ = images["real_A"].shape
    zoom = max(1, -(-min_cell // h))
    ch, cw, gap = h * zoom, w * zoom, 4
    header = 22
    split = 3 * gap  # white space between the A-to-B and the B-to-A halves
    grid = np.full(
        (header + n * (ch + gap), len(COLUMNS) * (cw + gap) + gap + split, 3), 255, np.uint8
    )
    for col, (key, title) in enumerate(zip(COLUMNS, HEADERS)):
        x = gap + col * (cw + gap) + (split if col >= 3 else 0)
        cv2.putText(
            grid, title, (x + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA
        )
        for row in range(n):
            cell = cv2.resize(images[key][row], (cw, ch), interpolation=cv2.INTER_NEAREST)
            y = header + row * (ch + gap)
            grid[y : y + ch, x : x + cw] = cell
    return grid


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, atomically."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    write_bytes(path, data.tobytes())
