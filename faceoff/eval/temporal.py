"""How steady a translated sequence is compared with its input: one measure for apply and eval.

The temporal-stability ratio is the mean absolute frame-to-frame change of the outputs divided by
that of the inputs (both on a [0, 1] scale): 1.0 is as steady as the input, above 1 the generator
added flicker (the paper's "shaky and inconsistent between the frames").
"""

from __future__ import annotations

import numpy as np


class Stability:
    """Running frame-to-frame change of the inputs and of the outputs, one frame at a time (so
    ``apply`` can measure a video it streams)."""

    def __init__(self) -> None:
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.change_in = 0.0
        self.change_out = 0.0
        self.steps = 0

    def add(self, source: np.ndarray, result: np.ndarray) -> None:
        """One frame: the input the generator got and what it made of it (uint8, same size)."""
        current = (source.astype(np.float64) / 255.0, result.astype(np.float64) / 255.0)
        if self.previous is not None:
            self.change_in += float(np.abs(current[0] - self.previous[0]).mean())
            self.change_out += float(np.abs(current[1] - self.previous[1]).mean())
            self.steps += 1
        self.previous = current

    @property
    def ratio(self) -> float:
        """Output change over input change; NaN for fewer than two frames or a frozen input."""
        if self.steps == 0 or self.change_in == 0.0:
            return float("nan")
        return self.change_out / self.change_in

    def report(self) -> dict[str, object]:
        """The eval section: ratio and both mean changes, or why there is none."""
        if self.steps == 0:
            return {"computed": False, "reason": "needs at least 2 consecutive frames"}
        if self.change_in == 0.0:
            return {"computed": False, "reason": "the input frames do not change"}
        return {
            "computed": True,
            "ratio": self.ratio,
            "output_change": self.change_out / self.steps,
            "input_change": self.change_in / self.steps,
        }


def stability(inputs: np.ndarray, outputs: np.ndarray) -> dict[str, object]:
    """:meth:`Stability.report` of two uint8 sequences of the same shape ([N, H, W, C] or
    [N, C, H, W])."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    meter = Stability()
    for source, result in zip(inputs, outputs):
        meter.add(np.asarray(source), np.asarray(result))
    return meter.report()
