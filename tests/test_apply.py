"""`faceoff apply`: a tiny trained model applied to real video files and folders of frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.data.images import resize_frames
from faceoff.errors import FaceoffError
from faceoff.eval.temporal import stability
from faceoff.frames import to_float, to_tensor, to_uint8
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff.video import apply as apply_module
from faceoff.video.apply import apply_video
from faceoff.video.io import VideoWriter, frames, probe
from faceoff.weights import import_reference, load_network
from tiny import QUICKSTART, TINY

SIZE = 32  # the tiny run's data.crop_size
FPS = 12


def moving_frames(n: int = 9, size: int = 40) -> np.ndarray:
    """Smooth colour gradients that drift: a sequence with real frame-to-frame change."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    out = []
    for t in range(n):
        r = 127 + 120 * np.sin((x + 2 * t) / 6)
        g = 127 + 120 * np.cos((y - t) / 7)
        b = 127 + 120 * np.sin((x + y + 3 * t) / 9)
        out.append(np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8))
    return np.stack(out)


def write_video(path: Path, images: np.ndarray, fps: float = FPS) -> Path:
    with VideoWriter(path, fps, images.shape[2], images.shape[1]) as writer:
        for image in images:
            writer.write(image)
    return path


def read_video(path: Path) -> np.ndarray:
    return np.stack([frame for _, frame in frames(path)])


def read_pngs(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])


def temporal_stability(inputs: np.ndarray, outputs: np.ndarray) -> float:
    """The stability ratio, NaN where there is none."""
    report = stability(inputs, outputs)
    return report["ratio"] if report["computed"] else math.nan


def generate(net: torch.nn.Module, images: np.ndarray, size: int = SIZE) -> np.ndarray:
    crops = np.stack([resize_frames(image, size) for image in images])
    with torch.no_grad():
        return to_uint8(net(to_float(to_tensor(crops))))


def close_to(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal through H.264 (yuv420p, crf 18): brightness close, and far closer than other frames."""

    def luma(images: np.ndarray) -> np.ndarray:
        return np.stack([cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in images]).astype(float)

    error = np.abs(luma(got) - luma(want)).mean()
    other = np.abs(luma(got) - luma(np.roll(want, len(want) // 2, axis=0))).mean()
    return error < 4 and error < other / 2


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("apply")
    run = root / "run"
    train(
        load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=2"]),
        run,
        show_progress=False,
    )
    video = write_video(root / "in.mp4", moving_frames())
    folder = root / "frames"
    folder.mkdir()
    for i, image in enumerate(moving_frames()):  # natural order: frame_2 before frame_10
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return {"root": root, "run": run, "video": video, "folder": folder}


def test_a_video_becomes_an_h264_video_of_generated_frames(setup, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = invoke("apply", setup["run"], setup["video"], out, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "9 frames, 32x32, 12 fps" in result.output and "temporal stability" in result.output
    info = probe(out)
    assert (info.frames, info.width, info.height) == (9, SIZE, SIZE)
    assert info.fps == pytest.approx(FPS)
    got = read_video(out)
    assert len(got) == 9
    source = read_video(setup["video"])  # what apply decoded
    want = generate(load_network(sorted((setup["run"] / "checkpoints").iterdir())[-1]), source)
    assert close_to(got, want)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_png_output_matches_the_generator_exactly_and_b2a_uses_g_ba(setup, tmp_path) -> None:
    checkpoint = sorted((setup["run"] / "checkpoints").iterdir())[-1]
    source = read_video(setup["video"])
    a2b = apply_video(setup["run"], setup["video"], tmp_path / "a2b", batch=4, show_progress=False)
    b2a = apply_video(
        checkpoint, setup["video"], tmp_path / "b2a", direction="b2a", show_progress=False
    )
    assert (a2b.frames, a2b.width, a2b.height, a2b.network) == (9, SIZE, SIZE, "G_AB")
    assert b2a.network == "G_BA" and b2a.size == SIZE  # the size from the checkpoint's spec
    got_ab, got_ba = read_pngs(tmp_path / "a2b"), read_pngs(tmp_path / "b2a")
    want_ab = generate(load_network(checkpoint, "G_AB"), source)
    want_ba = generate(load_network(checkpoint, "G_BA"), source)
    assert np.abs(got_ab.astype(int) - want_ab).max() <= 1
    assert np.abs(got_ba.astype(int) - want_ba).max() <= 1
    assert np.abs(got_ab.astype(int) - got_ba).mean() > 1
    assert math.isfinite(a2b.stability) and a2b.stability > 0
    assert a2b.warping["output"] > 0 and a2b.warping["input"] > 0 and a2b.tof["output"] > 0
    assert "warping error" in a2b.line() and "tOF" in a2b.line()
    stability = temporal_stability(np.stack([resize_frames(f, SIZE) for f in source]), want_ab)
    assert a2b.stability == pytest.approx(stability, rel=1e-3)


def test_side_by_side_and_size(setup, tmp_path: Path) -> None:
    summary = apply_video(
        setup["run"], setup["video"], tmp_path / "sbs", side_by_side=True, size=24,
        show_progress=False,
    )  # fmt: skip
    got = read_pngs(tmp_path / "sbs")
    assert got.shape == (9, 24, 48, 3) and (summary.width, summary.height) == (48, 24)
    source = read_video(setup["video"])
    assert np.array_equal(got[:, :, :24], np.stack([resize_frames(f, 24) for f in source]))
    out = tmp_path / "sbs.mp4"
    assert invoke("apply", setup["run"], setup["video"], out, "--side-by-side").exit_code == 0
    info = probe(out)
    assert (info.frames, info.width, info.height) == (9, 2 * SIZE, SIZE)


def test_folders_in_and_out(setup, tmp_path: Path) -> None:
    net = load_network(sorted((setup["run"] / "checkpoints").iterdir())[-1])
    want = generate(net, moving_frames())
    summary = apply_video(setup["run"], setup["folder"], tmp_path / "out", show_progress=False)
    assert summary.frames == 9
    assert np.abs(read_pngs(tmp_path / "out").astype(int) - want).max() <= 1
    out = tmp_path / "out.mp4"
    assert invoke("apply", setup["run"], setup["folder"], out).exit_code == 0
    info = probe(out)
    assert (info.frames, info.fps) == (9, 25.0)
    assert close_to(read_video(out), want)
    assert invoke("apply", setup["run"], setup["folder"], out, "--fps", "10").exit_code == 0
    assert probe(out).fps == pytest.approx(10)


def test_a_network_file_from_import_weights(setup, tmp_path: Path) -> None:
    checkpoint = sorted((setup["run"] / "checkpoints").iterdir())[-1]
    spec = json.loads((setup["run"] / "spec.json").read_text())["generator"]
    pth = tmp_path / "g.pth"
    torch.save(load_network(checkpoint, "G_BA").state_dict(), pth)
    network = tmp_path / "g.safetensors"
    import_reference(pth, network, "generator", spec["plugin"], spec["params"])
    summary = apply_video(network, setup["video"], tmp_path / "default", show_progress=False)
    assert summary.size == 256 and (summary.width, summary.height) == (256, 256)
    result = invoke(
        "apply", network, setup["video"], tmp_path / "b", "--size", 32, "--direction", "b2a"
    )
    assert result.exit_code == 0 and "--direction b2a is ignored" in result.output
    want = generate(load_network(checkpoint, "G_BA"), read_video(setup["video"]))
    assert np.abs(read_pngs(tmp_path / "b").astype(int) - want).max() <= 1


def test_paste_back_replaces_only_the_face(setup, tmp_path: Path) -> None:
    pytest.importorskip("dlib")
    skdata = pytest.importorskip("skimage.data")
    photo = skdata.astronaut()[::2, ::2]  # 256x256; the face near (110, 60)
    shifted = np.stack([np.roll(photo, (2 * t, 3 * t), axis=(0, 1)) for t in range(4)])
    video = write_video(tmp_path / "astronaut.mp4", shifted)
    out = tmp_path / "pasted.mp4"
    result = invoke("apply", setup["run"], video, out, "--paste-back", "--no-progress")
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.frames, info.width, info.height) == (4, 256, 256)
    source, got = read_video(video).astype(int), read_video(out).astype(int)
    far = np.abs(got[:, 160:, 170:] - source[:, 160:, 170:])  # the suit, far from the face
    assert far.mean() < 3
    face = np.abs(got[:, 40:80, 95:130] - source[:, 40:80, 95:130])
    assert face.mean() > 15
    sbs = apply_video(
        setup["run"], video, tmp_path / "sbs", paste_back=True, side_by_side=True,
        show_progress=False,
    )  # fmt: skip
    assert (sbs.width, sbs.height, sbs.missed) == (512, 256, 0)
    assert math.isfinite(sbs.stability) and sbs.stability > 0


def test_stability_figure() -> None:
    seq = moving_frames()
    assert temporal_stability(seq, seq) == pytest.approx(1.0)
    doubled = np.concatenate([seq[:1], seq[:1]])
    assert math.isnan(temporal_stability(doubled, doubled))  # a frozen input: no figure
    still = np.repeat(seq[:1], len(seq), axis=0)
    assert temporal_stability(seq, still) == 0.0
    noisy = np.random.default_rng(0).integers(0, 256, seq.shape, dtype=np.uint8)
    assert temporal_stability(seq, noisy) > 1


def test_bad_input_is_one_line_and_writes_nothing(setup, tmp_path: Path) -> None:
    run, video = setup["run"], setup["video"]
    undecodable = tmp_path / "bad.mp4"
    undecodable.write_bytes(b"not a video at all" * 100)
    empty = tmp_path / "empty"
    empty.mkdir()
    not_faceoff = tmp_path / "weights.safetensors"
    not_faceoff.write_text("hello")
    no_checkpoints = tmp_path / "fresh-run"
    no_checkpoints.mkdir()
    out = tmp_path / "out.mp4"
    cases = [
        ((run, tmp_path / "missing.mp4", out), "no such video"),
        ((run, undecodable, out), "cannot be decoded"),
        ((run, empty, out), "no images"),
        ((run, video, tmp_path / "nowhere" / "out.mp4"), "does not exist"),
        ((run, video, tmp_path / "nowhere" / "frames"), "does not exist"),
        ((not_faceoff, video, out), "not a faceoff network file"),
        ((video, video, out), "not a faceoff network file"),
        ((no_checkpoints, video, out), "no checkpoints"),
        ((tmp_path / "nothing", video, out), "no such run folder"),
        ((run, video, tmp_path / "out.avi"), "H.264 is written to"),
    ]
    before = sorted(tmp_path.rglob("*"))
    for args, expected in cases:
        result = CliRunner().invoke(cli, ["apply", *map(str, args)])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.output
        assert sorted(tmp_path.rglob("*")) == before


def test_a_failure_midway_leaves_nothing(setup, tmp_path: Path, monkeypatch) -> None:
    real = apply_module.translate
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise FaceoffError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(apply_module, "translate", failing)
    for out in (tmp_path / "out.mp4", tmp_path / "frames"):
        calls.clear()
        with pytest.raises(FaceoffError, match="boom"):
            apply_video(setup["run"], setup["video"], out, batch=2, show_progress=False)
        assert list(tmp_path.iterdir()) == []
