"""Frames from a video for training and testing: ``OUT/train``, ``OUT/test`` and ``OUT/boxes.json``.

Which frames (for a video of N frames, F asked for, T of them test frames):

* test: the last T source frames of the video, N-T .. N-1, consecutive, so the generated test
  frames play back as a sequence at the source frame rate (and are never seen in training);
* train: the other F-T frames, evenly spaced over source frames 0 .. N-T-1
  (index ``i * (N - T) // (F - T)``), so they cover the whole rest of the clip; with ``clip``
  K > 1, as runs of K consecutive source frames (the last run may be shorter), the runs evenly
  spaced, for objectives that train on clips (Recycle-GAN's three frames).

Without ``face`` each frame is centre-cropped to a square (the middle of its longer side) and
resized, so faces keep their aspect ratio. With ``face`` the face is detected in each chosen
frame, the boxes are smoothed over time (train and test separately: ``smooth`` counts source
frames, so the train frames, spaced ``s`` apart, average about ``smooth / s`` neighbours), and
the square around each box is cropped and resized. The boxes are written to ``boxes.json`` so
that a face-off crop can be pasted back into the full frame.

Everything is written under a temporary sibling folder that is renamed at the end: an error
or an interruption never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.console import track, warn
from faceoff.data.images import resize_frames
from faceoff.errors import FaceoffError
from faceoff.io import check_new_folder, refuse_inputs
from faceoff.video.faces import crop, face_detector, locate, smooth_boxes
from faceoff.video.io import frames as decode
from faceoff.video.io import probe

BOXES_FILE = "boxes.json"


@dataclass
class ExtractSummary:
    """What ``extract`` wrote."""

    out: Path
    train: int
    test: int
    source_frames: int
    seconds: float
    face: bool
    faces_found: int = 0
    test_range: tuple[int, int] = (0, 0)
    names: dict[str, list[str]] = field(default_factory=dict)

    def line(self) -> str:
        first, last = self.test_range
        text = f"train {self.train}, test {self.test}"
        if self.test:
            text += f" (source frames {first}..{last})"
        text += f" of {self.source_frames} source frames"
        if self.face:
            text += f"; a face found in {self.faces_found} of {self.train + self.test} frames"
        return f"{text}; {self.seconds:.1f} s"


def choose_frames(total: int, count: int, test: int, clip: int = 1) -> tuple[list[int], list[int]]:
    """(train, test) source frame indices: test the last ``test`` frames, train evenly spaced
    over the rest, in runs of ``clip`` consecutive frames. ``total`` >= ``count`` > ``test``
    >= 0."""
    train_count = count - test
    rest = total - test
    if clip <= 1:
        train = [i * rest // train_count for i in range(train_count)]
        return train, list(range(rest, total))
    runs = -(-train_count // clip)
    gaps = rest - train_count  # spread between the runs, so they never overlap
    train = []
    for i in range(runs):
        start = i * clip + (i * gaps // (runs - 1) if runs > 1 else 0)
        train += range(start, start + min(clip, train_count - i * clip))
    return train, list(range(rest, total))


def frame_name(index: int) -> str:
    return f"frame_{index:06d}.png"


def center_square(frame: np.ndarray) -> np.ndarray:
    """The middle square of a frame (its shorter side long)."""
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return frame[top : top + side, left : left + side]


def _write_png(path: Path, frame: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(data.tobytes())


def _count_frames(video: Path) -> int:
    """Frames of a video whose header does not say: decode them all (grab only)."""
    capture = cv2.VideoCapture(str(video))
    try:
        count = 0
        while capture.grab():
            count += 1
        return count
    finally:
        capture.release()


def _decoded(video: Path, wanted: list[int], total: int, description: str):
    """(index, frame) for ``wanted`` (sorted), with a progress bar; an error if the video ends
    early (its header claimed more frames than it decodes to)."""
    got = 0
    for index, frame in track(decode(video, set(wanted)), len(wanted), description):
        got += 1
        yield index, frame
    if got < len(wanted):
        raise FaceoffError(
            f"{video}: decoding stopped before source frame {wanted[got]}, though its header says "
            f"{total} frames; try fewer --frames"
        )


def _detector_box(detector: Any, frame: np.ndarray, detect_size: int) -> Any:
    """The largest face's (left, top, right, bottom) in source px, looked for in the frame
    shrunk to ``detect_size`` px on its longer side (0: full size)."""
    h, w = frame.shape[:2]
    factor = detect_size / max(h, w) if detect_size else 1.0
    if factor >= 1.0:
        return locate(detector, frame)
    small = cv2.resize(frame, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)
    box = locate(detector, small)
    return None if box is None else tuple(v / factor for v in box)


def drop_outliers(found: list[Any], half: int) -> list[Any]:
    """Detections whose centre lies more than one face width from the median centre of the
    detections within ``half`` chosen frames either side become misses (None): a detector that
    picks a false face in a few frames (a badge, a face in a poster) must not yank the crop."""
    kept = list(found)
    have = [i for i, box in enumerate(found) if box is not None]
    if len(have) < 3:
        return kept
    boxes = np.array([found[i] for i in have], dtype=np.float64)
    centres = np.stack([boxes[:, [0, 2]].mean(1), boxes[:, [1, 3]].mean(1)], 1)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    positions = np.array(have)
    for k, i in enumerate(have):
        near = np.abs(positions - i) <= half
        centre = np.median(centres[near], 0)
        if np.linalg.norm(centres[k] - centre) > np.median(sides[near]):
            kept[i] = None
    return kept


def _smooth_split(
    found: list[Any], everything: list[Any], offset: int, scale: float, window: int
) -> np.ndarray:
    """Smoothed boxes of one split; a split without any detection borrows the nearest boxes of
    the other (interpolated over all chosen frames)."""
    if any(box is not None for box in found):
        return smooth_boxes(found, scale=scale, window=window)
    return smooth_boxes(everything, scale=scale, window=1)[offset : offset + len(found)]


def extract(
    video: str | Path,
    out: str | Path,
    *,
    frames: int = 2200,
    test: int = 200,
    size: int = 286,
    face: bool = False,
    detector: str = "dlib",
    params: dict[str, Any] | None = None,
    scale: float = 1.8,
    smooth: int = 15,
    detect_size: int = 640,
    clip: int = 1,
) -> ExtractSummary:
    """Write ``out/train/*.png``, ``out/test/*.png`` and ``out/boxes.json`` from a video."""
    started = time.perf_counter()
    video, out = Path(video), Path(out)
    if frames < 1:
        raise FaceoffError(f"--frames {frames}: must be at least 1")
    if not 0 <= test < frames:
        raise FaceoffError(
            f"--test {test}: must be fewer than --frames {frames} (some frames must be left to "
            "train on)"
        )
    if size < 1 or scale <= 0 or smooth < 1 or detect_size < 0:
        raise FaceoffError("--size, --scale and --smooth must be positive")
    if not 1 <= clip <= frames - test:
        raise FaceoffError(f"--clip {clip}: expected 1 to the {frames - test} train frames")
    refuse_inputs(out, {"VIDEO": video})
    check_new_folder(out)
    info = probe(video)
    total = info.frames if info.frames > 0 else _count_frames(video)
    if total < frames:
        raise FaceoffError(
            f"{video}: has {total} frames, fewer than the {frames} asked for; use "
            f"--frames {total} or fewer"
        )
    built = face_detector(detector, params) if face else None
    train_idx, test_idx = choose_frames(total, frames, test, clip)
    chosen = train_idx + test_idx  # sorted: the test frames come after every train frame
    split_of = {i: "train" for i in train_idx} | {i: "test" for i in test_idx}

    boxes: dict[int, list[float] | None] = {i: None for i in chosen}
    faces_found = 0
    if built is not None:
        found = [
            _detector_box(built, frame, detect_size)
            for _, frame in _decoded(video, chosen, total, "finding faces")
        ]
        detected = sum(box is not None for box in found)
        if not detected:
            raise FaceoffError(
                f"{video}: no face found in any of the {frames} chosen frames (detector "
                f"{detector}); check that the video shows a face, or look harder with "
                "--detect-size 0 or --param upsample=2"
            )
        found = drop_outliers(found, max(8, smooth))
        faces_found = sum(box is not None for box in found)
        if faces_found < len(chosen):
            dropped = detected - faces_found
            why = f" ({dropped} of them far from the face around them, dropped)" if dropped else ""
            warn(
                f"no face used in {len(chosen) - faces_found} of {len(chosen)} frames{why}; "
                "their boxes are interpolated from the neighbouring frames"
            )
        n_train = len(train_idx)
        stride = (total - test) / n_train
        train_boxes = _smooth_split(
            found[:n_train], found, 0, scale, max(1, round(smooth / stride))
        )
        test_boxes = _smooth_split(found[n_train:], found, n_train, scale, smooth)
        for index, box in zip(chosen, np.concatenate([train_boxes, test_boxes[: len(test_idx)]])):
            boxes[index] = [round(float(v), 2) for v in box]

    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for split in ("train", "test"):
            (tmp / split).mkdir(parents=True)
        for index, frame in _decoded(video, chosen, total, "writing frames"):
            box = boxes[index]
            if box is None:
                image = resize_frames(center_square(frame), size)
            else:
                image = crop(frame, np.asarray(box), size)
            _write_png(tmp / split_of[index] / frame_name(index), image)
        record = {
            "video": str(video.resolve()),
            "fps": info.fps,
            "width": info.width,
            "height": info.height,
            "size": size,
            "source_frames": total,
            "face": face,
            "scale": scale if face else None,
            "frames": {
                split: [
                    {"name": frame_name(i), "index": i, "box": boxes[i]}
                    for i in (train_idx if split == "train" else test_idx)
                ]
                for split in ("train", "test")
            },
        }
        (tmp / BOXES_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExtractSummary(
        out=out,
        train=len(train_idx),
        test=len(test_idx),
        source_frames=total,
        seconds=time.perf_counter() - started,
        face=face,
        faces_found=faces_found,
        test_range=(test_idx[0], test_idx[-1]) if test_idx else (0, 0),
        names={
            "train": [frame_name(i) for i in train_idx],
            "test": [frame_name(i) for i in test_idx],
        },
    )
