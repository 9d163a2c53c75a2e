"""The eval result as a table a person reads: grouped by metric, each with what good looks like."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.markup import escape
from rich.table import Table

_HINTS = {
    "expression": "probe error on translated frames; near held-out = ideal, near 1 = nothing moved",
    "identity": "share of outputs the A-vs-B classifier takes for the target; 1 = looks like them",
    "fidelity": "against the true face-off (the target redrawn with the source's ground truth); "
    "SSIM 1 = the same image",
    "stability": "output frame-to-frame change / input's; > 1 flickers, far below 1 = blur or "
    "a frozen output",
    "warping": "output t warped back by the input's optical flow against output t - 1; near "
    "the input's own figure = as consistent as the input, far above = flicker",
    "tof": "difference of the output's and the input's optical flow (TecoGAN's tOF); 0 = the "
    "output moves as the input does",
    "cycle": "round trip back to the source; higher PSNR/SSIM = more of the input kept",
    "landmarks": "real-face landmark agreement between input and output (dlib)",
}


_SECTIONS = tuple(_HINTS)
"""The sections in the table's order (``faceoff.eval.core.SECTIONS``, without importing torch)."""


def to_json(result: dict[str, Any]) -> str:
    """The result as strict JSON (RFC 8259 has no NaN or infinity): a non-finite number, a
    metric that could not be measured, is null, as a metric not computed is."""

    def finite(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [finite(v) for v in value]
        return value

    return json.dumps(finite(result), indent=2, allow_nan=False)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(result: dict[str, Any]) -> Table:
    """One row group per metric; sections that could not be computed say why."""
    title = f"faceoff eval {result['direction']}: {result['source']} -> {result['target']}"
    caption = f"{result['frames']} test frames, {result['crop_size']} px"
    if "checkpoint" in result:
        caption = f"{result['checkpoint']}, {caption}"
    out = Table(title=title, caption=caption, show_lines=False)
    out.add_column("metric", style="bold")
    out.add_column("measure")
    out.add_column("value", justify="right")
    out.add_column("reading", style="dim", overflow="fold")
    for name in _SECTIONS:
        section = result[name]
        if not section["computed"]:
            out.add_row(name, "not computed", "-", escape(section["reason"]), end_section=True)
            continue
        out.add_row(name, "", "", escape(_HINTS[name]))
        rows = list(_rows(name, section)) or [("computed", "yes", "")]
        for i, (label, value, note) in enumerate(rows):
            out.add_row("", escape(label), value, escape(note), end_section=i == len(rows) - 1)
    return out


def _rows(name: str, s: dict[str, Any]):
    if name == "expression":
        yield (
            "readable params",
            ", ".join(s["readable"]) or "none",
            (f"held-out error < {s['readable_below']}"),
        )
        yield "translated", _fmt(s["translated"]), "0 = perfect transfer, 1 = none"
        yield "held-out real", _fmt(s["held_out"]), "the best the probe can read"
        yield "untranslated", _fmt(s["untranslated"]), "the input as is: no-transfer reference"
        yield "translated / held-out", _fmt(s["ratio"]), "1 = as readable as real target frames"
        for param, errors in s["per_param"].items():
            mark = "" if param in s["readable"] else " (unreadable)"
            values = " / ".join(
                _fmt(errors[k], 2) for k in ("translated", "held_out", "untranslated")
            )
            yield f"  {param}", values, f"translated / held-out / untranslated{mark}"
    elif name == "identity":
        yield "identity", _fmt(s["score"]), "1 = every output taken for the target"
        yield "untranslated", _fmt(s["untranslated"]), "the input as is (should be ~0)"
        yield "classifier accuracy", _fmt(s["real_accuracy"]), "on real test frames of A and B"
    elif name == "fidelity":
        yield "SSIM", _fmt(s["ssim"]), "1 = the ideal face-off itself"
        yield "PSNR (dB)", _fmt(s["psnr"], 2), "against the ideal, on [0, 1]; 100 = identical"
        yield "detail", _fmt(s["detail"], 2), "high-frequency energy / the ideal's: < 1 blurred, "
        "> 1 speckled"
    elif name == "stability":
        yield "ratio", _fmt(s["ratio"]), ""
        yield "output change", _fmt(s["output_change"], 4), "mean |Y[t+1] - Y[t]| on [0, 1]"
        yield "input change", _fmt(s["input_change"], 4), "mean |X[t+1] - X[t]| on [0, 1]"
    elif name == "warping":
        yield "output", _fmt(s["output"], 5), "mean squared error on [0, 1], non-occluded pixels"
        yield "input", _fmt(s["input"], 5), "the same for the input itself"
        yield "output / input", _fmt(s["ratio"], 2), "1 = as consistent as the input"
    elif name == "tof":
        yield "output", _fmt(s["output"], 3), "px per pixel"
        yield "input motion", _fmt(s["input_motion"], 3), "the input's mean flow, px (scale)"
    elif name == "cycle":
        yield "PSNR (dB)", _fmt(s["psnr"], 2), ""
        yield "SSIM", _fmt(s["ssim"]), "1 = identical"
    else:
        for key, value in s.items():
            if key not in ("computed", "reason"):
                yield key, _fmt(value), ""
