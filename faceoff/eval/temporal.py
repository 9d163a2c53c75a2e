"""How steady a translated sequence is compared with its input: one measure for apply and eval.

The temporal-stability ratio is the mean absolute frame-to-frame change of the outputs divided by
that of the inputs (both on a [0, 1] scale): 1.0 is as steady as the input, above 1 the generator
added flicker (the paper's "shaky and inconsistent between the frames").

The warping error needs OpenCV's DIS optical flow, which refuses frames under 12 px and crashes
(a segmentation fault) on some under 16 px; on frames smaller than :data:`FLOW_MIN_SIZE` it is
not computed, and its report says why.
"""

from __future__ import annotations

import numpy as np

FLOW_MIN_SIZE = 16  # the smallest side, in px, that the warping error's DIS flow is run on


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


# --- flow-based measures, on the input sequence's optical flow ---------------------------------


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    frame = np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[-1] != 3:  # [3, H, W]
        frame = np.ascontiguousarray(frame.transpose(1, 2, 0))
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _hwc(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[-1] != 3:
        frame = frame.transpose(1, 2, 0)
    return np.ascontiguousarray(frame).astype(np.float32) / 255.0


def dis_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense optical flow [H, W, 2] (pixels) from ``first`` to ``second`` (uint8 RGB), by
    OpenCV's DIS (medium preset): second(x + flow(x)) ~ first(x)."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_gray(first), _gray(second), None)


def farneback_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Farneback flow with TecoGAN's tOF settings (0.5, 3, 15, 3, 5, 1.2, 0)."""
    import cv2

    return cv2.calcOpticalFlowFarneback(_gray(first), _gray(second), None, 0.5, 3, 15, 3, 5, 1.2, 0)


def backward_warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + flow(x) (bilinear, borders repeated): frame t seen from t - 1."""
    import cv2

    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # fmt: skip


def non_occluded(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels (bool [H, W]) where the forward flow is trusted: the backward flow, read where the
    forward one points, undoes it (|F + B(x + F)|^2 <= 0.01 (|F|^2 + |B(x + F)|^2) + 0.5), and
    no motion boundary (|grad F|^2 <= 0.01 |F|^2 + 0.002): fast_blind_video_consistency's
    rule."""
    back = backward_warp(backward, forward)
    squared = lambda v: (v**2).sum(-1)  # noqa: E731
    occluded = squared(forward + back) > 0.01 * (squared(forward) + squared(back)) + 0.5
    du = np.zeros_like(forward)
    dv = np.zeros_like(forward)
    du[:, :-1] = forward[:, :-1] - forward[:, 1:]
    dv[:-1] = forward[:-1] - forward[1:]
    boundary = squared(du) + squared(dv) > 0.01 * squared(forward) + 0.002
    return ~(occluded | boundary)


class WarpingError:
    """The warping error of a sequence (Lai et al. 2018), frame by frame: each output frame t is
    warped back onto t - 1 by the *input's* optical flow, and the mean squared difference to
    output t - 1 over the non-occluded pixels ([0, 1] images) is averaged over the sequence. The
    same figure for the input itself is kept beside it: what a perfectly steady output scores."""

    def __init__(self) -> None:
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.output_sum = self.input_sum = 0.0
        self.steps = 0
        self.too_small: tuple[int, ...] | None = None  # the shape of a frame below the minimum

    def add(self, source: np.ndarray, result: np.ndarray) -> None:
        """One frame: the generator's input and its output (uint8, the same size)."""
        chw = source.ndim == 3 and source.shape[0] == 3 and source.shape[-1] != 3
        height, width = source.shape[1:] if chw else source.shape[:2]
        if min(height, width) < FLOW_MIN_SIZE:
            self.too_small, self.previous = (width, height), None
            return
        if self.previous is not None:
            before_in, before_out = self.previous
            forward = dis_flow(before_in, source)
            backward = dis_flow(source, before_in)
            keep = non_occluded(forward, backward)[..., None]
            count = max(float(keep.sum()) * 3, 1.0)
            for now, before, name in ((result, before_out, "output"), (source, before_in, "input")):
                warped = backward_warp(_hwc(now), forward)
                error = float((((warped - _hwc(before)) * keep) ** 2).sum()) / count
                setattr(self, f"{name}_sum", getattr(self, f"{name}_sum") + error)
            self.steps += 1
        self.previous = (source, result)

    def report(self) -> dict[str, object]:
        if self.too_small is not None:
            width, height = self.too_small
            return {
                "computed": False,
                "reason": f"frames of {width}x{height} px; the optical flow needs "
                f"{FLOW_MIN_SIZE} px or more on each side",
            }
        if self.steps == 0:
            return {"computed": False, "reason": "needs at least 2 consecutive frames"}
        output, inputs = self.output_sum / self.steps, self.input_sum / self.steps
        return {
            "computed": True,
            "output": output,
            "input": inputs,
            "ratio": output / inputs if inputs > 0 else None,
        }


class TemporalFlow:
    """tOF (TecoGAN, Chu et al. 2020): the mean per-pixel distance between the Farneback flow of
    consecutive output frames and that of the input frames (the reference sequence here, as a
    face-off has no ground-truth target). The input scores 0; ``input_motion``, the mean flow
    magnitude of the input, gives the scale."""

    def __init__(self) -> None:
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.total = self.motion = 0.0
        self.steps = 0

    def add(self, source: np.ndarray, result: np.ndarray) -> None:
        if self.previous is not None:
            wanted = farneback_flow(self.previous[0], source)
            made = farneback_flow(self.previous[1], result)
            self.total += float(np.linalg.norm(wanted - made, axis=-1).mean())
            self.motion += float(np.linalg.norm(wanted, axis=-1).mean())
            self.steps += 1
        self.previous = (source, result)

    def report(self) -> dict[str, object]:
        if self.steps == 0:
            return {"computed": False, "reason": "needs at least 2 consecutive frames"}
        return {
            "computed": True,
            "output": self.total / self.steps,
            "input": 0.0,
            "input_motion": self.motion / self.steps,
        }


def temporal(inputs: np.ndarray, outputs: np.ndarray) -> dict[str, dict[str, object]]:
    """Stability, warping error and tOF of two uint8 sequences of the same shape ([N, H, W, 3]
    or [N, 3, H, W]), in one pass."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} input frames but {len(outputs)} output frames")
    meters = {"stability": Stability(), "warping": WarpingError(), "tof": TemporalFlow()}
    for source, result in zip(inputs, outputs):
        for meter in meters.values():
            meter.add(np.asarray(source), np.asarray(result))
    return {name: meter.report() for name, meter in meters.items()}
