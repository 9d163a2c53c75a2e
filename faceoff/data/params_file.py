"""Per-frame ground truth beside frame folders: ``params.csv`` (split, name, one column each)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from faceoff.data.domain import Domain
from faceoff.errors import FaceoffError

PARAMS_FILE = "params.csv"


def params_csv(rows: list[tuple[str, Domain]]) -> str:
    """The CSV text for the (split, domain) pairs given; all must know the same parameters."""
    keys = sorted(rows[0][1].params or {})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["split", "name", *keys])
    for split, domain in rows:
        params = domain.params or {}
        for i, name in enumerate(domain.names):
            writer.writerow([split, name, *(f"{float(params[k][i]):.6g}" for k in keys)])
    return out.getvalue()


def read_params(folder: Path, split: str, names: list[str]) -> dict[str, np.ndarray] | None:
    """Ground truth for the named frames of a split, or None when there is no params file."""
    path = folder / PARAMS_FILE
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        keys = [k for k in reader.fieldnames or [] if k not in ("split", "name")]
        table = {row["name"]: row for row in reader if row.get("split") == split}
    missing = [n for n in names if n not in table]
    if missing:
        raise FaceoffError(
            f"{path}: no {split} row for frame {missing[0]!r} ({len(missing)} missing)"
        )
    try:
        return {k: np.array([float(table[n][k]) for n in names], np.float32) for k in keys}
    except (TypeError, ValueError) as exc:
        raise FaceoffError(f"{path}: a value is not a number ({exc})") from None
