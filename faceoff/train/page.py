"""``index.html`` in the run folder: the run at a glance in any browser, no server.

The loss curves and every sample grid, newest first, with the step, the objective and the last
logged losses; redrawn with each sample grid, and reloading itself every minute while the run
trains. A small script marks any picture that does not load (and counts those that do, in the
body's ``data-loaded``).

Every name on the page (the run folder's, a sample file's, a loss term's) is escaped for HTML
and made printable (a byte of a name that is not UTF-8 shows as ``\\udcff``); an image's
address is percent-encoded from the file name's bytes; the script writes names as text nodes.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from urllib.parse import quote

import numpy as np

from faceoff.console import printable
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
    let name = image.getAttribute("src");
    try { name = decodeURIComponent(name); } catch (e) {}  // bytes that are not UTF-8
    const note = document.createElement("p");
    note.className = "missing";
    note.textContent = "missing: " + name;
    image.after(note);
  }
  document.body.dataset.loaded = loaded;
});
</script>"""


def _text(value: object) -> str:
    """``value`` as HTML text or an attribute's value: printable, then escaped."""
    return html.escape(printable(value))


def _address(path: PurePath) -> str:
    """A relative path as an ``src`` value: its bytes percent-encoded, so that the browser
    loads the file of that name whatever its characters."""
    return quote(os.fsencode(path.as_posix()))


def render(run: RunInfo, grids: list[Path], row: Mapping[str, float] | None, done: bool) -> str:
    """The page's HTML for the grids written so far (paths inside the run folder)."""
    name = _text(run.run_dir.name)
    objective = _text(run.spec.get("objective", {}).get("plugin", ""))
    step = int(row["step"]) if row else run.start_step
    refresh = "" if done else '<meta http-equiv="refresh" content="60">'
    losses = "".join(
        f"<tr><td>{_text(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in (row or {}).items()
        if k not in ("step", "epoch", "lr", "sec_per_step")
    )
    figures = "".join(
        f'<figure><img src="{_address(p.relative_to(run.run_dir))}" '
        f'alt="samples at step {_text(p.stem)}"><figcaption>{_text(p.stem)}'
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
            write_bytes(run.run_dir / "index.html", page.encode("utf-8", "backslashreplace"))

    def on_log(self, run: RunInfo, step: int, row: Mapping[str, float]) -> None:
        self.row = dict(row)

    def on_samples(
        self, run: RunInfo, step: int, grid: np.ndarray, columns: list[dict[str, np.ndarray]]
    ) -> None:
        self._write(run, done=False)

    def on_end(self, run: RunInfo, steps: int, interrupted: bool) -> None:
        self._write(run, done=True)
