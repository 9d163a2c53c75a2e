"""Writing a data source's frames as image folders in the paper's layout."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

from faceoff.console import track
from faceoff.data.domain import DataSource, Domain, load_split
from faceoff.data.params_file import PARAMS_FILE, params_csv
from faceoff.io import check_new_folder


def _write_png(path: Path, frame) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(data.tobytes())


def export_source(
    source: DataSource, out: str | Path, size: int, who: str = "the data source"
) -> dict[str, int]:
    """Write ``out/{A,B}/{train,test}/*.png`` (+ ``params.csv`` where known); counts per folder.
    ``who`` names the source in errors (:func:`faceoff.data.source_label`).

    Everything is written under a temporary sibling folder that is renamed at the end, so an
    interrupted export never leaves a folder that looks complete.
    """
    out = check_new_folder(out)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    counts: dict[str, int] = {}
    splits: dict[str, list[tuple[str, Domain]]] = {"A": [], "B": []}
    try:
        for split in ("train", "test"):
            a, b = load_split(source, split, size, who)  # uint8 [N, size, size, 3], or refused
            for label, domain in (("A", a), ("B", b)):
                folder = tmp / label / split
                folder.mkdir(parents=True)
                jobs = [(folder / name, frame) for name, frame in zip(domain.names, domain.frames)]
                with ThreadPoolExecutor(max_workers=4) as pool:
                    work = pool.map(lambda job: _write_png(*job), jobs)
                    for _ in track(work, len(jobs), f"writing {label}/{split}"):
                        pass
                counts[f"{label}/{split}"] = len(domain)
                splits[label].append((split, domain))
        for label, rows in splits.items():
            if rows and rows[0][1].params:
                (tmp / label / PARAMS_FILE).write_text(params_csv(rows), encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return counts
