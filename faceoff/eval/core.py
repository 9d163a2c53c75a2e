"""Face-off quality of a run on its test frames: expression, identity, fidelity, stability, cycle.

:func:`evaluate` loads a run's latest checkpoint and data; :func:`measure` scores any outputs
(so a hand-made or ideal "generator" can be scored the same way). Every metric section has
``computed``; one that could not be computed has a ``reason`` instead of numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.errors import FaceoffError
from faceoff.eval import temporal
from faceoff.eval.data import EvalData, load_eval_data
from faceoff.eval.fidelity import fidelity as against_ideal
from faceoff.eval.fidelity import similarity
from faceoff.eval.judges import get_classifier, get_probe
from faceoff.eval.nets import JudgeConfig

READABLE = 0.5
"""A parameter counts as readable when the probe's normalised error on the target's held-out
real frames is below this: only those say anything about transfer."""

DIRECTIONS = {"a2b": 0, "b2a": 1}
"""direction -> the source domain it translates (0 = A, 1 = B)."""

SECTIONS = (
    "expression",
    "identity",
    "fidelity",
    "stability",
    "warping",
    "tof",
    "cycle",
    "landmarks",
)


def _skip(reason: str) -> dict[str, Any]:
    return {"computed": False, "reason": reason}


def _nhwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


def _nchw(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 [N, H, W, 3] frames, got {images.dtype} {images.shape}")
    return images.contiguous()


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def normalised_error(predicted: np.ndarray, truth: np.ndarray, mean: float) -> float | None:
    """MAE(predicted, truth) / MAE(mean, truth): 0 perfect, 1 no better than a constant."""
    base = float(np.abs(truth - mean).mean())
    if base <= 0:
        return None
    return float(np.abs(predicted - truth).mean()) / base


def expression(
    data: EvalData,
    source: int,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    seed: int = 0,
    config: JudgeConfig | None = None,
) -> dict[str, Any]:
    """How well the outputs carry the inputs' ground-truth parameters, read by the target probe."""
    target = 1 - source
    if not data.has_params:
        return _skip("the data source has no ground-truth parameters")
    probe = get_probe(data, target, seed, config)
    if probe is None:
        return _skip("no ground-truth parameter is shared by both people and varies in training")
    truth_x = {n: data.test_params[source][n][: len(inputs)] for n in probe.names}
    truth_t = {n: data.test_params[target][n] for n in probe.names}
    reads = {
        "translated": (probe.read(outputs), truth_x),
        "held_out": (probe.read(data.test[target]), truth_t),
        "untranslated": (probe.read(inputs), truth_x),
    }
    per_param: dict[str, dict[str, float | None]] = {}
    for i, name in enumerate(probe.names):
        mean = float(probe.mean[i])
        per_param[name] = {
            kind: normalised_error(read[name], truth[name], mean)
            for kind, (read, truth) in reads.items()
        }
    readable = [
        n for n, e in per_param.items() if e["held_out"] is not None and e["held_out"] < READABLE
    ]
    summary: dict[str, float | None] = {}
    for kind in reads:
        values = [per_param[n][kind] for n in readable]
        summary[kind] = _mean([v for v in values if v is not None])
    ratio = (
        summary["translated"] / summary["held_out"]
        if summary["translated"] is not None and summary["held_out"]
        else None
    )
    return {
        "computed": True,
        "readable": readable,
        "readable_below": READABLE,
        **summary,
        "ratio": ratio,
        "per_param": per_param,
        "probe": {"path": str(probe.path), "cached": probe.cached},
    }


def identity(
    data: EvalData,
    source: int,
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    seed: int = 0,
    config: JudgeConfig | None = None,
) -> dict[str, Any]:
    """Share of outputs the A-vs-B classifier takes for the target person, and its accuracy."""
    target = 1 - source
    classifier = get_classifier(data, seed, config)
    accuracy = [float((classifier.classes(data.test[d]) == d).mean()) for d in (0, 1)]
    return {
        "computed": True,
        "score": float((classifier.classes(outputs) == target).mean()),
        "untranslated": float((classifier.classes(inputs) == target).mean()),
        "real_accuracy": float(np.mean(accuracy)),
        "real_accuracy_a": accuracy[0],
        "real_accuracy_b": accuracy[1],
        "classifier": {"path": str(classifier.path), "cached": classifier.cached},
    }


def fidelity(data: EvalData, source: int, outputs: torch.Tensor) -> dict[str, Any]:
    """SSIM, PSNR and detail of the outputs against the true face-off, where the data source can
    draw it (:mod:`faceoff.eval.fidelity`)."""
    ideal = data.ideal(source)
    if isinstance(ideal, str):
        return _skip(ideal)
    return against_ideal(outputs, ideal[: len(outputs)])


def stability(inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
    """Frame-to-frame change of the outputs relative to the inputs' (1 = as steady)."""
    return temporal.stability(inputs.numpy(), outputs.numpy())


def over_time(inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
    """Stability, warping error and tOF (:mod:`faceoff.eval.temporal`) of the contiguous test
    sequence, in one pass."""
    return temporal.temporal(inputs.numpy(), outputs.numpy())


def cycle(inputs: torch.Tensor, cycled: torch.Tensor | None) -> dict[str, Any]:
    """PSNR (dB, mean over frames) and SSIM of the round trip against the inputs, on [0, 1]."""
    if cycled is None:
        return _skip("no backward generator given")
    psnr, value = similarity(inputs, cycled)
    return {"computed": True, "psnr": psnr, "ssim": value}


def landmarks(inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
    """Real-face landmark agreement from :mod:`faceoff.eval.landmarks`, when it can run."""
    try:
        from faceoff.eval.landmarks import landmark_consistency

        result = dict(landmark_consistency(_nhwc(inputs), _nhwc(outputs)))
    except ImportError as exc:
        return _skip(f"landmark detection is not available ({exc})")
    except FaceoffError as exc:
        return _skip(str(exc))
    reason = result.get("reason")
    return {**result, "computed": not reason, "reason": reason or None}


def measure(
    data: EvalData,
    direction: str,
    outputs: np.ndarray | torch.Tensor,
    cycled: np.ndarray | torch.Tensor | None = None,
    *,
    seed: int = 0,
    probe_config: JudgeConfig | None = None,
    classifier_config: JudgeConfig | None = None,
    with_landmarks: bool = True,
) -> dict[str, Any]:
    """Score ``outputs`` (uint8, [N, H, W, 3] or [N, 3, H, W]), the translation of the source's
    first N test frames, and ``cycled``, their round trip back, if any. ``with_landmarks=False``
    skips the (slow, real-face) landmark detection.

    Takes frames rather than a generator so that anything can be scored the same way: a run's
    generator, a baseline, or an ideal face-off rendered from ground truth.
    """
    if direction not in DIRECTIONS:
        raise FaceoffError(f"--direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
    source = DIRECTIONS[direction]
    out = _nchw(outputs)
    inputs = data.test[source][: len(out)]
    if out.shape != inputs.shape:
        raise ValueError(f"outputs {tuple(out.shape)} do not match inputs {tuple(inputs.shape)}")
    back = _nchw(cycled) if cycled is not None else None
    result: dict[str, Any] = {
        "direction": direction,
        "source": "AB"[source],
        "target": "AB"[1 - source],
        "frames": len(inputs),
        "crop_size": data.crop_size,
        "seed": seed,
        "expression": expression(data, source, inputs, out, seed, probe_config),
        "identity": identity(data, source, inputs, out, seed, classifier_config),
        "fidelity": fidelity(data, source, out),
        **over_time(inputs, out),
        "cycle": cycle(inputs, back),
        "landmarks": landmarks(inputs, out) if with_landmarks else _skip("not asked for"),
    }
    result["not_computed"] = {
        name: result[name]["reason"] for name in SECTIONS if not result[name]["computed"]
    }
    return result


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def evaluate(
    run_path: str | Path,
    direction: str = "a2b",
    frames: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate a run folder's latest checkpoint on its data source's test frames.

    ``frames`` limits the evaluation to the first N test frames (a contiguous stretch); ``seed``
    picks the judges (each trained once per data set and seed, then read from the cache). The
    round trip (cycle) is measured where the run's objective translates back.
    """
    from faceoff.runs import RunFolder
    from faceoff.translate import translate_tensor

    if direction not in DIRECTIONS:
        raise FaceoffError(f"--direction {direction!r}: expected one of {', '.join(DIRECTIONS)}")
    if frames is not None and frames < 1:
        raise FaceoffError(f"--frames {frames}: expected at least 1")
    run = RunFolder.open(run_path)
    checkpoint = run.latest()
    translation = checkpoint.translation(direction)
    data = load_eval_data(run.spec(), str(run.spec_path))
    source = translation.source_index
    available = len(data.test[source])
    if frames is not None and frames > available:
        raise FaceoffError(
            f"--frames {frames}: the test split of {'AB'[source]} has only {available} frames"
        )
    inputs = data.test[source][:frames]
    device = _device()
    outputs = translate_tensor(checkpoint.load_translation(direction), inputs, device)
    cycled = None
    if translation.inverse is not None:
        back = checkpoint.load_translation(translation.inverse)
        cycled = translate_tensor(back, _nchw(outputs), device)
    result = measure(data, direction, outputs, cycled, seed=seed)
    return {"run": str(run.path), "checkpoint": str(checkpoint.path), **result}
