"""A trained generator applied to a video or a folder of frames: `faceoff apply`.

Frames stream through in source order, in batches, under ``torch.no_grad()``; the output is an
H.264 ``.mp4`` (through :class:`faceoff.video.io.VideoWriter`) or a folder of PNGs, written under a
temporary name and renamed at the end, so a failure leaves nothing half-written.

With ``paste_back`` the face is located in every frame, its box smoothed over time, the square
crop run through the generator and blended back into the whole original frame.

The temporal-stability figure is :mod:`faceoff.eval.temporal`'s: the mean absolute frame-to-frame
change of the generated crops over that of the input crops (1.0 is as steady as the input).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceoff.console import progress, warn
from faceoff.data.images import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    check_pixels,
    list_images,
    read_image,
    resize_frames,
)
from faceoff.devices import pick_device
from faceoff.errors import FaceoffError
from faceoff.eval.temporal import Stability, TemporalFlow, WarpingError
from faceoff.io import (
    atomic_path,
    check_new_file,
    check_new_folder,
    refuse_inputs,
    umask,
)
from faceoff.translate import translate
from faceoff.video.blend import Blend, paste
from faceoff.video.boxes import read_boxes
from faceoff.video.generator import MAX_SIZE, MIN_SIZE, Generator, load_generator
from faceoff.video.io import VIDEO_EXTENSIONS, VideoWriter, check_decoded, frames, is_video, probe

__all__ = ["ApplySummary", "Generator", "apply_video", "load_generator", "open_source"]

DEFAULT_FPS = 25.0  # a folder of frames carries no rate
H264_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v")  # containers that take H.264 from PyAV


@dataclass
class ApplySummary:
    """What :func:`apply_video` wrote."""

    output: Path
    frames: int
    width: int
    height: int
    fps: float
    size: int
    direction: str
    network: str
    source: Path
    device: str
    stability: float
    seconds: float
    paste_back: bool = False
    missed: int = 0  # frames where the detector found no face (paste-back)
    warping: dict[str, Any] = field(default_factory=dict)  # faceoff.eval.temporal's reports
    tof: dict[str, Any] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)  # unreadable images of an input folder

    def _flow_parts(self) -> list[str]:
        parts = []
        w = self.warping
        if w.get("computed"):
            parts.append(f"warping error {w['output']:.5f} (input {w['input']:.5f})")
        elif math.isfinite(self.stability) and w.get("reason"):  # measured, but not this
            parts.append(f"warping error n/a ({w['reason']})")
        if self.tof.get("computed"):
            parts.append(f"tOF {self.tof['output']:.3f} px")
        return parts

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else float("nan")

    def line(self) -> str:
        stability = "n/a" if not math.isfinite(self.stability) else f"{self.stability:.3f}"
        parts = [
            f"{self.frames} frames, {self.width}x{self.height}, {self.fps:g} fps",
            f"{self.network} ({self.source}) at {self.size} px on {self.device}",
            f"temporal stability {stability} (output/input frame-to-frame change; "
            "1 = as steady as the input)",
            *self._flow_parts(),
            f"{self.seconds_per_frame:.3f} s/frame",
        ]
        if self.paste_back and self.missed:
            parts.append(f"no face found in {self.missed} frames (boxes interpolated)")
        return "; ".join(parts)


# ---- input ---------------------------------------------------------------------------------


@dataclass
class Source:
    """Frames to read, as many times as needed (paste-back reads twice)."""

    path: Path
    count: int | None  # None when unknown
    fps: float | None
    files: list[Path] | None = None  # a folder's images
    skipped: list[Path] = field(default_factory=list)
    max_pixels: int = MAX_PIXELS

    def read(self) -> Iterator[np.ndarray]:
        if self.files is None:
            for _, frame in frames(self.path):
                yield frame
            return
        for file in self.files:
            image = read_image(file, self.max_pixels)
            if image is None:
                if file not in self.skipped:
                    self.skipped.append(file)
                continue
            yield image


def open_source(path: str | Path, max_pixels: int = MAX_PIXELS) -> Source:
    """A video or a folder of frames to read; frames of more than ``max_pixels`` (from the
    video's header, or every image's) are refused before any is decoded."""
    path = Path(path)
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise FaceoffError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        for file in files:
            check_pixels(file, max_pixels)
        return Source(path, len(files), None, files, max_pixels=max_pixels)
    if not path.exists():
        raise FaceoffError(f"{path}: no such video or folder of frames")
    if not is_video(path):
        raise FaceoffError(
            f"{path}: not a video ({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames"
        )
    info = probe(path, max_pixels)
    return Source(path, info.frames or None, info.fps)


# ---- output --------------------------------------------------------------------------------


def _check_output(output: Path, folder: bool = False) -> str:
    """'video' or 'folder'; a FaceoffError before anything is written if it cannot be.
    ``folder``: only a folder will do (a preview's PNGs)."""
    parent = output.parent
    if not parent.is_dir():
        raise FaceoffError(f"{output}: its folder {parent} does not exist")
    if folder and is_video(output):
        raise FaceoffError(f"{output}: --preview writes PNG frames into a folder; give a folder")
    if is_video(output):
        if output.suffix.lower() not in H264_SUFFIXES:
            raise FaceoffError(
                f"{output}: H.264 is written to {', '.join(H264_SUFFIXES)}; not {output.suffix}"
            )
        if output.is_dir():
            raise FaceoffError(f"{output}: is a folder; give a video file to write")
        check_new_file(output)
        return "video"
    check_new_folder(output)  # PNG frames into a new (or empty) folder
    return "folder"


class _Sink:
    def __init__(self, kind: str, path: Path, fps: float) -> None:
        self.kind, self.path, self.fps = kind, path, fps
        self.writer: VideoWriter | None = None
        self.count = 0
        self.shape: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if self.shape is None:
            self.shape = (h, w)
            if self.kind == "video":
                self.writer = VideoWriter(self.path, self.fps, w, h)
        elif self.kind == "video" and (h, w) != self.shape:
            raise FaceoffError(
                f"frame {self.count}: {w}x{h} after {self.shape[1]}x{self.shape[0]}; a video "
                "needs frames of one size (write a PNG folder instead)"
            )
        if self.writer is not None:
            self.writer.write(frame)
        else:
            name = self.path / f"{self.count:06d}.png"
            ok, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if not ok:
                raise FaceoffError(f"{name}: PNG encoding failed")
            data.tofile(name)
        self.count += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@contextmanager
def _sink(kind: str, output: Path, fps: float) -> Iterator[_Sink]:
    if kind == "video":
        with atomic_path(output) as tmp:
            sink = _Sink(kind, tmp, fps)
            try:
                yield sink
            finally:
                sink.close()
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent))
    try:
        sink = _Sink(kind, tmp, fps)
        yield sink
        os.chmod(tmp, 0o777 & ~umask())
        if output.is_dir():
            output.rmdir()  # checked empty before; os.replace cannot replace a folder
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ---- the work ------------------------------------------------------------------------------


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def apply_video(
    source: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    direction: str = "a2b",
    side_by_side: bool = False,
    batch: int = 8,
    size: int | None = None,
    device: str = "auto",
    paste_back: bool = False,
    detector: str = "dlib",
    fps: float | None = None,
    show_progress: bool = True,
    blend: Blend | None = None,
    boxes_file: str | Path | None = None,
    preview: int = 0,
) -> ApplySummary:
    """Apply a run's (or network file's, or ONNX file's) generator to a video or folder.

    With ``paste_back`` the face is found in every frame (or read from ``boxes_file``, the
    ``boxes.json`` that ``extract --face`` wrote for the same video) and the translation put back
    as ``blend`` says; ``preview`` N writes only N frames, evenly spaced, as PNGs into OUTPUT (a
    folder), to tune the blend before a long render. Every problem that can be seen before work
    starts (inputs, output folder, network) is a FaceoffError before anything is written; a
    failure later removes the temporary output.
    """
    input, output = Path(input), Path(output)
    _check_numbers(batch, size, fps, preview)
    if boxes_file is not None and not paste_back:
        raise FaceoffError("--boxes: the boxes are for --paste-back; add it")
    refuse_inputs(output, {"INPUT": input, "RUN": source, "--boxes": boxes_file})
    kind = _check_output(output, folder=preview > 0)
    torch_device = pick_device(device, "--device")
    gen = load_generator(source, direction, str(torch_device))
    frames_in = open_source(input)
    size = size or gen.size
    rate = fps or frames_in.fps or DEFAULT_FPS
    net = gen.net.to(torch_device)
    gen.check_size(size)
    locator = None
    if paste_back and boxes_file is None:
        from faceoff.video.faces import face_detector

        locator = face_detector(detector)

    started = time.perf_counter()
    meters = (Stability(), WarpingError(), TemporalFlow())
    missed = 0
    with _memory_advice(torch_device), progress() if show_progress else _NoBar() as bar:
        boxes = read_boxes(boxes_file, frames_in) if boxes_file is not None else None
        if locator is not None:
            boxes, missed = _locate_all(locator, frames_in, bar)
        wanted = _preview_frames(preview, frames_in, boxes)
        task = bar.add_task(
            f"applying {gen.name}", total=len(wanted) if wanted else frames_in.count
        )
        with _sink(kind, output, rate) as sink:
            stream = enumerate(frames_in.read())
            if wanted:
                stream = ((i, f) for i, f in stream if i in wanted)
            for chunk in _batches(stream, batch):
                originals = [frame for _, frame in chunk]
                if boxes is not None:
                    crops = np.stack([_crop(f, boxes, i, size) for i, f in chunk])
                else:
                    crops = np.stack([resize_frames(f, size) for f in originals])
                results = translate(net, crops, torch_device, batch=len(crops))
                for (index, original), crop, result in zip(chunk, crops, results):
                    if not wanted:
                        for meter in meters:
                            meter.add(crop, result)
                    if boxes is not None:
                        made = paste(original, result, boxes[index], blend, source=crop)
                        shown = original
                    else:
                        shown, made = crop, result
                    sink.write(np.concatenate([shown, made], axis=1) if side_by_side else made)
                bar.advance(task, len(chunk))
            if sink.count == 0:
                raise FaceoffError(f"{input}: no frame could be decoded")
            if boxes is not None and not wanted and sink.count != len(boxes):
                raise FaceoffError(
                    f"{input}: {sink.count} frames on the second read, {len(boxes)} on the first"
                )
            height, width = sink.shape or (0, 0)
            count = sink.count
    if frames_in.skipped:
        warn(f"{input}: {len(frames_in.skipped)} images could not be decoded and were skipped")
    if frames_in.files is None and not wanted:
        check_decoded(input, count, frames_in.count)
    return ApplySummary(
        output=output,
        frames=count,
        width=width,
        height=height,
        fps=rate,
        size=size,
        direction=direction,
        network=gen.name,
        source=gen.source,
        device=str(torch_device),
        stability=meters[0].ratio,
        warping=meters[1].report(),
        tof=meters[2].report(),
        seconds=time.perf_counter() - started,
        paste_back=paste_back,
        missed=missed,
        skipped=list(frames_in.skipped),
    )


@contextmanager
def _memory_advice(device: Any) -> Iterator[None]:
    """Frames that do not fit in memory (numpy's MemoryError; the network's is translate's) as
    one line that says what to lower."""
    try:
        yield
    except MemoryError:
        raise FaceoffError(f"out of memory on {device}; use a smaller --batch or --size") from None


def _check_numbers(batch: int, size: int | None, fps: float | None, preview: int) -> None:
    if batch < 1:
        raise FaceoffError(f"--batch {batch}: must be at least 1")
    if size is not None and not MIN_SIZE <= size <= MAX_SIZE:
        raise FaceoffError(f"--size {size}: expected {MIN_SIZE} to {MAX_SIZE}")
    if fps is not None and not fps > 0:
        raise FaceoffError(f"--fps {fps}: must be positive")
    if preview < 0:
        raise FaceoffError(f"--preview {preview}: expected a number of frames, 1 or more")


def _preview_frames(preview: int, source: Source, boxes: np.ndarray | None) -> set[int]:
    """The frames a preview shows: ``preview`` of them, evenly spaced (none: all frames)."""
    if not preview:
        return set()
    count = len(boxes) if boxes is not None else source.count
    if not count:
        count = sum(1 for _ in source.read())
    return {round(x) for x in np.linspace(0, count - 1, min(preview, count))}


def _crop(frame: np.ndarray, boxes: np.ndarray, index: int, size: int) -> np.ndarray:
    from faceoff.video.faces import crop

    if index >= len(boxes):
        raise FaceoffError(f"frame {index}: more frames on the second read than the first")
    return crop(frame, boxes[index], size)


def _locate_all(locator: Any, source: Source, bar: Any) -> tuple[np.ndarray, int]:
    from faceoff.video.faces import locate, smooth_boxes

    task = bar.add_task("locating faces", total=source.count)
    found = []
    for frame in source.read():
        found.append(locate(locator, frame))
        bar.advance(task)
    if not found:
        raise FaceoffError(f"{source.path}: no frame could be decoded")
    try:
        boxes = smooth_boxes(found)
    except FaceoffError as exc:
        raise FaceoffError(f"{source.path}: {exc}; --paste-back needs a visible face") from None
    return boxes, sum(box is None for box in found)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None
