"""``index.html`` in the run folder: the run at a glance in any browser, no server.

The loss curves and every sample grid, newest first, with the step, the objective and the last
logged losses; redrawn with each sample grid, and reloading itself every minute while the run
trains. A small script marks any picture that does not load (and counts those that do, in the
body's ``data-loaded``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from faceoff.io import write_bytes
from faceoff.observers import Observer, RunInfo

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}"
    "figure{margin:0 0 1.5em}figcaption{font-size:.9em;color:#555}.missing{color:#b00}"
    "table{border-collapse:collapse}td{padding:0 1em 0 0}"
)
_SCRIPT = """<script>
addEventListener("load", () => {
  let loaded = 0;
  for (const image of document.images) {
    if (image.complete && image.naturalWidth > 0) { loaded++; continue; }
    image.insertAdjacentHTML("afterend",
      '<p class="missing">missing: ' + image.getAttribute("src") + "</p>");
  }
  document.body.dataset.loaded = loaded;
});
</script>"""


def render(run: RunInfo, grids: list[Path], row: Mapping[str, float] | None, done: bool) -> str:
    """The page's HTML for the grids written so far (paths inside the run folder)."""
    name = html.escape(run.run_dir.name)
    objective = html.escape(str(run.spec.get("objective", {}).get("plugin", "")))
    step = int(row["step"]) if row else run.start_step
    refresh = "" if done else '<meta http-equiv="refresh" content="60">'
    losses = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in (row or {}).items()
        if k not in ("step", "epoch", "lr", "sec_per_step")
    )
    figures = "".join(
        f'<figure><img src="{html.escape(p.relative_to(run.run_dir).as_posix())}" '
        f'alt="samples at step {html.escape(p.stem)}"><figcaption>{html.escape(p.stem)}'
        f"{' (latest)' if i == 0 else ''}</figcaption></figure>"
        for i, p in enumerate(reversed(grids))
    )
    state = "finished" if done else "training"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}'
        f"<title>faceoff: {name}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{name}</h1><p>objective {objective}; step {step} of {run.total_steps} "
        f"({state})</p><table>{losses}</table><h2>Losses</h2>"
        f'<img src="losses.png" alt="loss curves"><h2>Samples</h2>{figures}{_SCRIPT}'
        "</body></html>\n"
    )


class RunPage(Observer):
    """Writes ``index.html`` whenever a sample grid is made, and once more at the end; it shows
    every grid in ``samples/``, a resumed run's earlier ones too."""

    def __init__(self) -> None:
        self.row: Mapping[str, float] | None = None

    def _write(self, run: RunInfo, done: bool) -> None:
        grids = sorted((run.run_dir / "samples").glob("step_*.png"))
        if run.is_main and grids:
            page = render(run, grids, self.row, done)
            write_bytes(run.run_dir / "index.html", page.encode("utf-8"))

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        self.row = dict(row)

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        self._write(run, done=False)

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        self._write(run, done=True)
