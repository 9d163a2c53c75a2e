"""Paste-back that looks right: colour matching, mask geometry, the seam, boxes from extract,
previews; and `faceoff export` to ONNX, run back by onnxruntime and by `faceoff apply`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import tiny
from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.export import OnnxGenerator, export_onnx
from faceoff.train.run import train
from faceoff.video.blend import Blend, face_mask, match_color, paste, seam
from faceoff.video.io import VideoWriter

BOX = np.array([48.0, 40.0, 48.0])  # centre x, centre y, side in a 96x80 frame


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def scene(seed: int = 0) -> np.ndarray:
    """A 96x80 frame: smooth colour gradients (a face-like blob in the middle)."""
    y, x = np.mgrid[0:80, 0:96].astype(np.float32)
    frame = np.stack([120 + 60 * np.sin(x / 13 + seed), 100 + 50 * np.cos(y / 11), 90 + 0 * x], -1)
    cv2.ellipse(frame, (48, 40), (14, 18), 0, 0, 360, (200, 150, 120), -1)
    return frame.clip(0, 255).astype(np.uint8)


def face_region() -> np.ndarray:
    """The hard face mask of BOX in frame coordinates."""
    hard, _ = face_mask(32, Blend(blur=0))
    s = BOX[2] / 32
    matrix = np.array([[s, 0, BOX[0] - s * 16], [0, s, BOX[1] - s * 16]], np.float32)
    return cv2.warpAffine(hard, matrix, (96, 80)) > 0.5


@pytest.mark.parametrize("how", ["mean", "reinhard", "histogram"])
def test_a_colour_shifting_generator_is_corrected_back(how: str) -> None:
    from faceoff.video.faces import crop

    frame = scene()
    source = crop(frame, BOX, 32)
    shifted = np.clip(source.astype(int) + np.array([30, -25, 20]), 0, 255).astype(np.uint8)
    inside = face_region()
    # the best a paste can do: the generator's input itself put back (resampled twice)
    best = paste(frame, source, BOX, Blend(color="none", blur=0)).astype(float)
    raw = paste(frame, shifted, BOX, Blend(color="none", blur=0))
    fixed = paste(frame, shifted, BOX, Blend(color=how, blur=0))
    error = lambda img: np.abs(img[inside].astype(float) - best[inside]).mean(0)  # noqa: E731
    assert error(raw).max() > 15
    assert error(fixed).max() < 4, error(fixed)


def test_the_seam_is_lower_with_a_feathered_mask() -> None:
    frame = scene()
    darker = np.full((32, 32, 3), 30, np.uint8)  # a face far from the frame's colours
    inside = face_region()
    hard = paste(frame, darker, BOX, Blend(color="none", blur=0))
    soft = paste(frame, darker, BOX, Blend(color="none", blur=10))
    matched = paste(frame, darker, BOX, Blend(color="mean", blur=10))
    assert seam(soft, inside) < 0.7 * seam(hard, inside)
    assert seam(matched, inside) < seam(soft, inside)


def test_erode_shrinks_and_negative_erode_grows_the_mask() -> None:
    plain = face_mask(64, Blend(blur=0))[0].sum()
    assert face_mask(64, Blend(erode=10, blur=0))[0].sum() < plain
    assert face_mask(64, Blend(erode=-10, blur=0))[0].sum() > plain
    assert match_color(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8),
                       np.zeros((4, 4), bool), "mean").max() == 0  # fmt: skip


def test_seamless_clone_pastes_the_face(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = scene()
    face = np.full((32, 32, 3), 200, np.uint8)
    cloned = paste(frame, face, BOX, Blend(seamless=True))
    assert cloned.shape == frame.shape and not np.array_equal(cloned, frame)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("blend") / "run"
    train(tiny.tiny_spec("train.max_steps=1"), run, show_progress=False)
    return run


def _video(path: Path, n: int = 6) -> Path:
    with VideoWriter(path, 10, 96, 80) as writer:
        for i in range(n):
            writer.write(scene(i))
    return path


def test_paste_back_reuses_extract_s_boxes_and_previews(small_run: Path, tmp_path: Path) -> None:
    video = _video(tmp_path / "v.mp4")
    frames = [{"name": f"frame_{i:06d}.png", "index": i, "box": list(BOX + i)} for i in (0, 5)]
    record = {
        "video": str(video.resolve()),
        "source_frames": 6,
        "frames": {"train": frames[:1], "test": frames[1:]},
    }
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps(record))
    out = tmp_path / "preview"
    done = invoke("apply", small_run, video, out, "--paste-back", "--boxes", boxes, "--preview", 3,
                  "--no-progress", "--color", "reinhard")  # fmt: skip
    assert done.exit_code == 0, done.output
    shots = sorted(out.glob("*.png"))
    assert len(shots) == 3 and cv2.imread(str(shots[0])).shape == (80, 96, 3)
    other = tmp_path / "other.mp4"
    _video(other)
    refused = invoke(
        "apply", small_run, other, tmp_path / "x.mp4", "--paste-back", "--boxes", boxes
    )
    assert (
        refused.exit_code == 2
        and "describes" in refused.stderr
        and not (tmp_path / "x.mp4").exists()
    )
    unasked = invoke("apply", small_run, video, tmp_path / "y.mp4", "--boxes", boxes)
    assert unasked.exit_code == 2 and "--paste-back" in unasked.stderr


def test_export_to_onnx_matches_pytorch_and_applies(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "g.onnx"
    done = invoke("export", small_run, out)
    assert done.exit_code == 0, done.output
    assert "max |difference|" in done.output and "any batch and size" in done.output
    summary = export_onnx(small_run, tmp_path / "b.onnx", direction="b2a")
    assert summary.network == "G_BA" and summary.max_difference < 1e-4 and summary.dynamic_size
    onnx_net = OnnxGenerator(out)
    from faceoff.video.apply import load_generator

    torch_net = load_generator(small_run).net
    images = torch.rand(3, 3, 36, 36) * 2 - 1  # another batch and size than exported
    with torch.no_grad():
        assert torch.allclose(onnx_net(images), torch_net(images), atol=1e-4)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i}.png"), scene(i))
    applied = invoke("apply", out, frames, tmp_path / "o", "--no-progress")
    assert applied.exit_code == 0, applied.output
    assert "(ONNX)" in applied.output and len(list((tmp_path / "o").glob("*.png"))) == 2
    with pytest.raises(FaceoffError, match=r"an ONNX file ends in .onnx"):
        export_onnx(small_run, tmp_path / "g.txt")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    refused = invoke("apply", bad, frames, tmp_path / "p")
    assert refused.exit_code == 2 and "not an ONNX model" in refused.stderr
