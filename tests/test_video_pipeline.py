"""The whole face-off path as a user runs it: videos -> extract -> train -> apply -> video."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.video.io import probe
from faceoff_synthetic.render import render_sequence
from tiny import QUICKSTART, TINY, set_args

FPS = 12.0


def write_video(path: Path, person: str, n: int = 30) -> None:
    frames, _ = render_sequence(0, person, n, 64)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (64, 64))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_videos_in_face_off_video_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for person in ("A", "B"):
        write_video(tmp_path / f"{person}.avi", person)
        run(
            "extract",
            str(tmp_path / f"{person}.avi"),
            str(data / person),
            "--frames",
            "12",
            "--test",
            "4",
            "--size",
            "36",
        )
        assert len(list((data / person / "train").glob("*.png"))) == 8
        assert len(list((data / person / "test").glob("*.png"))) == 4
    source = json.dumps({"plugin": "frames", "params": {"root": str(data)}})
    tiny = [t for t in TINY if not t.startswith("data.source.params")]
    run(
        "run",
        str(QUICKSTART),
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        *set_args([*tiny, f"data.source={source}", "train.max_steps=2"]),
    )

    out = tmp_path / "faceoff.mp4"
    run("apply", str(tmp_path / "run"), str(tmp_path / "A.avi"), str(out), "--no-progress")
    written, source_info = probe(out), probe(tmp_path / "A.avi")
    assert written.frames == source_info.frames == 30
    assert (written.width, written.height) == (32, 32)  # the run's crop size
    assert abs(written.fps - source_info.fps) < 1e-3

    folder = tmp_path / "faceoff-frames"
    run("apply", str(tmp_path / "run"), str(data / "A" / "test"), str(folder), "--no-progress")
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 4 and cv2.imread(str(pngs[0])).shape == (32, 32, 3)
