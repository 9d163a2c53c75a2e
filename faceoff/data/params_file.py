"""Per-frame ground truth beside frame folders: ``params.csv`` (split, name, one column each)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from faceoff.data.domain import Domain
from faceoff.errors import FaceoffError

PARAMS_FILE = "params.csv"
HOW = "params.csv is CSV text: a first line 'split,name,PARAM,...', then one row per frame"
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    """Ground truth for the named frames of a split, or None when there is no params file.

    Every value must be a finite number a float32 holds: NaN or an infinity would poison the
    eval's probe and make its ``--json`` output invalid, so they are refused here, naming the
    file, the line and the column."""
    path = folder / PARAMS_FILE
    if not path.is_file():
        return None
    keys, table = _read_table(path, split)
    missing = [n for n in names if n not in table]
    if missing:
        raise FaceoffError(
            f"{path}: no {split!r} row for frame {missing[0]!r} ({len(missing)} missing); it "
            "needs a row (split, name, values) for every frame"
        )
    values = {k: np.empty(len(names), np.float32) for k in keys}
    for i, name in enumerate(names):
        line, row = table[name]
        for key in keys:
            values[key][i] = _number(row.get(key), f"{path}: line {line} (frame {name!r})", key)
    return values


def _read_table(path: Path, split: str) -> tuple[list[str], dict[str, tuple[int, dict]]]:
    """The parameter columns and, per frame name of ``split``, (line, row) of a params.csv."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise FaceoffError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise FaceoffError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); {HOW}"
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    table: dict[str, tuple[int, dict]] = {}
    try:
        for row in reader:
            if row.get("split") == split and row.get("name") is not None:
                table[row["name"]] = (reader.line_num, row)
    except csv.Error as exc:
        raise FaceoffError(f"{path}: line {reader.line_num}: not CSV ({exc}); {HOW}") from None
    fields = reader.fieldnames or []
    if "split" not in fields or "name" not in fields:
        raise FaceoffError(f"{path}: its first line has no 'split' and 'name' columns; {HOW}")
    return [k for k in fields if k not in ("split", "name")], table


def _number(text: str | None, where: str, key: str) -> float:
    """One cell as a finite float32, or a FaceoffError naming ``where`` and the column."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        shown = "nothing" if text is None else repr(text[:40])
        raise FaceoffError(f"{where}, column {key!r}: {shown} is not a number; {HOW}") from None
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise FaceoffError(
            f"{where}, column {key!r}: {text.strip()[:40]!r} is not a finite number (ground "
            f"truth must be finite, at most {FLOAT32_MAX:.3g} either way); {HOW}"
        )
    return value
