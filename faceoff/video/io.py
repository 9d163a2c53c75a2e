"""Video in (OpenCV) and out (PyAV: H.264, which OpenCV's wheel cannot write)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from faceoff.console import warn
from faceoff.data.images import MAX_PIXELS, check_frame_size
from faceoff.errors import FaceoffError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds: frame count (as its container reports it), rate and size."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def probe(path: Path, max_pixels: int = MAX_PIXELS) -> VideoInfo:
    """Open a video and read its header; a FaceoffError names the file if it cannot be read,
    or, before a frame is decoded, if its frames have more than ``max_pixels``."""
    if not path.exists():
        raise FaceoffError(f"{path}: no such video")
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file (a device or FIFO)"
        raise FaceoffError(f"{path}: is {what}; give a video file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise FaceoffError(f"{path}: cannot be decoded as a video")
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        check_frame_size(path, width, height, max_pixels)
        ok, _ = capture.read()
        if not ok:
            raise FaceoffError(f"{path}: cannot be decoded as a video (no frame)")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        return VideoInfo(
            path=path,
            frames=int(count) if 0 < count < 2**31 else 0,  # 0: the header does not say
            fps=fps if 0 < fps <= 1000 else 25.0,  # a damaged header's rate is not believed
            width=width,
            height=height,
        )
    finally:
        capture.release()


def frames(path: Path, indices: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB uint8 frame) in order; only ``indices`` when given (others are skipped)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FaceoffError(f"{path}: cannot be decoded as a video")
    try:
        index = 0
        last = max(indices) if indices else None
        while last is None or index <= last:
            if indices is not None and index not in indices:
                if not capture.grab():
                    break
            else:
                ok, frame = capture.read()
                if not ok:
                    break
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def check_decoded(path: Path, decoded: int, announced: int | None) -> None:
    """Warn when a video decodes to fewer frames than its container announces (a truncated or
    damaged file), so that a short output is never a quiet surprise. A frame or 1% is allowed:
    some containers' counts are estimates from the duration."""
    if announced and announced - decoded > max(1, announced // 100):
        warn(
            f"{path}: decoded {decoded} of the {announced} frames its container announces "
            "(truncated or damaged?); only those were used"
        )


class VideoWriter:
    """H.264 (libx264, yuv420p) in an .mp4 through PyAV; frames are RGB uint8 of one size.

    Odd sizes are padded by one pixel (yuv420p needs even sides). Use as a context manager; the
    file is complete only after a clean exit (the caller writes to a temporary name).
    """

    def __init__(self, path: Path, fps: float, width: int, height: int, crf: int = 18) -> None:
        import av

        self.width, self.height = width + width % 2, height + height % 2
        self.container = av.open(str(path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(crf)}

    def write(self, frame: np.ndarray) -> None:
        import av

        h, w = frame.shape[:2]
        if (h, w) != (self.height, self.width):
            frame = np.pad(frame, ((0, self.height - h), (0, self.width - w), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
