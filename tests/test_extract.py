"""`faceoff extract` on real video files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.video import extract as extract_module
from faceoff.video.extract import choose_frames, extract


def _write_avi(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """RGB frames as an MJPG .avi (OpenCV's wheel writes it everywhere)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _colour_frame(i: int) -> np.ndarray:
    """96x64; the frame index as the grey level of the centre square, red bars at the sides
    (outside the centre square, so a centre crop must not show them)."""
    frame = np.zeros((64, 96, 3), np.uint8)
    frame[:, 16:80] = 4 * i
    frame[:, :12, 0] = 255
    frame[:, -12:, 0] = 255
    return frame


@pytest.fixture(scope="module")
def colour_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("video")
    return _write_avi(folder / "clip.avi", [_colour_frame(i) for i in range(60)])


def _run(*args: object):
    return CliRunner().invoke(cli, ["extract", *(str(a) for a in args)])


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_choose_frames_rule() -> None:
    train, test = choose_frames(2200 * 3, 2200, 200)
    assert test == list(range(6600 - 200, 6600))
    assert len(train) == 2000 and train[0] == 0 and train[-1] < test[0]
    gaps = np.diff(train)
    assert gaps.min() >= 3 and gaps.max() <= 4  # (6600 - 200) / 2000 = 3.2
    assert choose_frames(20, 20, 5) == (list(range(15)), list(range(15, 20)))


def test_extract_frames(colour_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = _run(colour_video, out, "--frames", 20, "--test", 5, "--size", 32)
    assert result.exit_code == 0, result.output
    assert "train 15, test 5" in result.output
    train = sorted(p.name for p in (out / "train").iterdir())
    test = sorted(p.name for p in (out / "test").iterdir())
    assert test == [f"frame_{i:06d}.png" for i in range(55, 60)]  # consecutive, the last ones
    indices = [int(name[6:12]) for name in train]
    assert len(indices) == 15 and indices[0] == 0 and indices[-1] < 55
    assert set(np.diff(indices)) <= {3, 4}  # evenly spread over 0..54
    for name in train[:3] + test[:2]:
        folder = "train" if name in train else "test"
        image = _read(out / folder / name)
        assert image.shape == (32, 32, 3)
        index = int(name[6:12])
        # centre-cropped: no red bar; the grey level is the frame index (MJPG is lossy)
        assert image[..., 0].max() < 4 * index + 20
        assert abs(float(image.mean()) - 4 * index) < 6
    record = json.loads((out / "boxes.json").read_text())
    assert record["video"] == str(colour_video.resolve())
    assert record["fps"] == pytest.approx(25.0)
    assert (record["width"], record["height"], record["size"]) == (96, 64, 32)
    assert [f["name"] for f in record["frames"]["test"]] == test
    assert [f["index"] for f in record["frames"]["train"]] == indices
    assert all(f["box"] is None for split in ("train", "test") for f in record["frames"][split])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no temporary folder left


def test_extract_into_empty_folder(colour_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    result = _run(colour_video, out, "--frames", 4, "--test", 1, "--size", 16)
    assert result.exit_code == 0, result.output
    assert len(list((out / "train").iterdir())) == 3


def test_nothing_half_written(
    colour_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(path: Path, frame: np.ndarray) -> None:
        calls.append(path)
        if len(calls) > 3:
            raise OSError("disk full")
        path.write_bytes(b"png")

    monkeypatch.setattr(extract_module, "_write_png", failing)
    with pytest.raises(OSError, match="disk full"):
        extract(colour_video, tmp_path / "out", frames=10, test=2, size=16)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """skimage's astronaut at 256 px, moving 3 px right and 1 px down a frame, 12 frames."""
    skdata = pytest.importorskip("skimage.data")
    image = cv2.resize(skdata.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(12):
        shift = np.float32([[1, 0, 3 * i], [0, 1, i]])
        frames.append(cv2.warpAffine(image, shift, (256, 256), borderMode=cv2.BORDER_REPLICATE))
    return _write_avi(tmp_path_factory.mktemp("face") / "astronaut.avi", frames)


def test_extract_faces(face_video: Path, tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    out = tmp_path / "faces"
    result = _run(face_video, out, "--frames", 12, "--test", 6, "--size", 128, "--face")
    assert result.exit_code == 0, result.output
    assert "a face found in" in result.output
    record = json.loads((out / "boxes.json").read_text())
    rows = record["frames"]["train"] + record["frames"]["test"]
    assert [r["index"] for r in rows] == list(range(12))
    boxes = np.array([r["box"] for r in rows])
    # the face: about (110, 60) in frame 0 (dlib's box of the 512 px image, halved)
    assert abs(boxes[0, 0] - 110) < 15 and abs(boxes[0, 1] - 60) < 15
    assert 60 < boxes[0, 2] < 110  # 1.8 times a face ~44 px wide
    # the boxes follow the shift (33 px right, 11 down over the clip) without jumping
    assert 20 < boxes[-1, 0] - boxes[0, 0] < 45
    assert 0 < boxes[-1, 1] - boxes[0, 1] < 20
    assert np.abs(np.diff(boxes[6:], axis=0)).max() < 6  # the test sequence is smooth
    from faceoff.plugins import get_registry

    detector = get_registry().get("mask_provider", "dlib").make({})
    for row in rows[::3]:
        folder = "train" if row in record["frames"]["train"] else "test"
        image = _read(out / folder / row["name"])
        assert image.shape == (128, 128, 3)
        box = detector.face_box(image)
        assert box is not None  # the crop shows the face, roughly in its middle
        assert abs((box[0] + box[2]) / 2 - 64) < 20 and abs((box[1] + box[3]) / 2 - 64) < 20


def _bad(args: list[object], *expected: str) -> None:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    others = [line for line in lines if not line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert all("━" in line for line in others), result.output  # progress bars only
    assert "Traceback" not in result.output
    for text in expected:
        assert text in errors[0]


def test_bad_input(colour_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bad([tmp_path / "missing.avi", out], "no such video")
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video" * 100)
    _bad([garbage, out], "cannot be decoded")
    _bad([colour_video, out, "--frames", 100, "--test", 5], "has 60 frames", "--frames 60")
    _bad([colour_video, out, "--frames", 10, "--test", 10], "--test 10")
    _bad([colour_video, tmp_path / "no" / "such" / "out", "--frames", 10, "--test", 2], "no such")
    _bad([colour_video, out, "--frames", 10, "--test", 2, "--face"], "no face found")
    _bad([colour_video, out, "--face", "--param", "upsample"], "KEY=VALUE")
    _bad(
        [colour_video, out, "--frames", 10, "--test", 2, "--face", "--param", "upsample=9"],
        "--param",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.avi"]
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    _bad([colour_video, full, "--frames", 10, "--test", 2], "not empty")
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "garbage.avi"]


def test_library_errors(colour_video: Path, tmp_path: Path) -> None:
    with pytest.raises(FaceoffError, match="fewer than --frames"):
        extract(colour_video, tmp_path / "out", frames=5, test=7)
