"""Hostile outputs, signals and broken files across the commands: exit code 2 with one line
``error: ...``, never a traceback, a hang, a destroyed file or a false success."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.folder import LOCK
from faceoff.train.run import train
from tiny import QUICKSTART, TINY, run_args, start_faceoff

ROOT = Path(__file__).resolve().parents[1]
ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(*args: object) -> str:
    """Run the CLI; assert exit code 2 and one line ``error: ...``, no traceback; the line."""
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_video(path: Path, frames: int = 30, size: int = 48, codec: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25, (size, size))
    for i in range(frames):
        image = np.full((size, size, 3), 40, np.uint8)
        cv2.circle(image, (10 + i, size // 2), 8, (200, 150, 100), -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny trained run (2 steps), a video of 30 frames and a folder of frames."""
    root = tmp_path_factory.mktemp("hostile")
    run = root / "run"
    train(
        load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=2"]),
        run,
        show_progress=False,
    )
    video = write_video(root / "in.mp4")
    frames = root / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"frame_{i:06d}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    checkpoint = next((run / "checkpoints").glob("step_*.safetensors"))
    return {"root": root, "run": run, "video": video, "frames": frames, "checkpoint": checkpoint}


# --- 1. writes that would destroy or lie ---------------------------------------------------


def _char_device(path: Path, minor: int) -> Path:
    """A character device like /dev/null (minor 3) or /dev/full (minor 7), at ``path``."""
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    return path


@pytest.mark.skipif(not ROOT_USER, reason="making device nodes needs root; /dev/full is used")
def test_a_device_is_written_through_never_replaced(tmp_path: Path) -> None:
    null, full = _char_device(tmp_path / "null", 3), _char_device(tmp_path / "full", 7)
    assert invoke("schema", "--out", null).exit_code == 0
    line = refused("schema", "--out", full)
    assert str(full) in line and "No space left" in line
    for device in (null, full):
        assert stat.S_ISCHR(device.stat().st_mode)  # still a device, not a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]  # no temporary left


def test_dev_full_is_an_error_and_stays_a_device() -> None:
    line = refused("schema", "--out", "/dev/full")
    assert "/dev/full" in line
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_with_no_reader_is_refused_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    line = refused("schema", "--out", fifo)
    assert "no process reads" in line
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    line = refused("schema", "--out", tmp_path / "schema.json")
    assert "No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def _inputs_as_outputs(made: dict[str, Path]) -> list[list[object]]:
    run, video, frames, ckpt = made["run"], made["video"], made["frames"], made["checkpoint"]
    return [
        ["apply", run, video, video],
        ["apply", run, frames, frames],
        ["apply", run, video, ckpt],
        ["apply", ckpt, frames, ckpt.parent],
        ["export", run, run / "spec.json"],
        ["export", run, ckpt],
        ["import-weights", ckpt, ckpt, "--generator", "resnet"],
        ["compare", run, "--out", run / "spec.json"],
        ["plot", run, "--out", run / "metrics.jsonl"],
        ["extract", video, video.parent],
        ["masks", "synthetic", frames, frames],
    ]


def test_an_output_that_is_an_input_is_refused_before_any_work(made: dict[str, Path]) -> None:
    before = {p: digest(p) for p in made["root"].rglob("*") if p.is_file()}
    for args in _inputs_as_outputs(made):
        line = refused(*args)
        assert " is " in line or "holds" in line or "read from" in line, (args, line)
    after = {p: digest(p) for p in made["root"].rglob("*") if p.is_file()}
    assert after == before


def test_a_link_to_the_input_is_the_input(made: dict[str, Path], tmp_path: Path) -> None:
    link, hard = tmp_path / "link.mp4", tmp_path / "hard.mp4"
    link.symlink_to(made["video"])
    os.link(made["video"], hard)
    for output in (link, hard):
        assert "is INPUT" in refused("apply", made["run"], made["video"], output)


# --- outputs that cannot exist, in every command that writes -------------------------------


def _writers(made: dict[str, Path], out: Path) -> list[list[object]]:
    run, video, frames = made["run"], made["video"], made["frames"]
    return [
        run_args(out, ["train.max_steps=1"]),
        ["data", "synthetic", out],
        ["extract", video, out, "--frames", 6, "--test", 2],
        ["masks", "synthetic", frames, out],
        ["apply", run, frames, out],
        ["export", run, out],
        ["import-weights", made["checkpoint"], out, "--generator", "resnet"],
        ["schema", "--out", out],
        ["compare", run, "--out", out],
        ["plot", run, "--out", out],
    ]


def test_outputs_that_cannot_exist_are_one_line_in_every_writer(
    made: dict[str, Path], tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("kept")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for out in (Path("/proc/faceoff_out"), a_file / "out", loop / "out", loop):
        for args in _writers(made, out):
            line = refused(*args)
            assert str(out) in line or str(out.parent) in line or str(a_file) in line, line
    assert a_file.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "loop"]


def test_folder_outputs_name_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert "is a device, FIFO or socket, not a folder" in refused("data", "synthetic", "/dev/full")
    assert f"{tmp_path / 'f'}: is a file, not a folder" in refused(
        "data", "synthetic", tmp_path / "f" / "out"
    )
    line = refused("data", "synthetic", tmp_path / "no" / "out")
    assert f"{tmp_path / 'no'}: no such folder to write out into" in line


# --- 1. run folders: stale temporaries, failed starts, one run at a time --------------------


def _tiny(run: Path, *extra: str):
    return load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=2", *extra])


def test_stale_temporaries_are_cleared_on_resume(made: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(_tiny(run), run, show_progress=False)
    stale = run / "checkpoints" / ".step_00000004.x1y2.tmp.safetensors"
    stale.write_bytes(b"\0" * 64)
    result = train(_tiny(run, "train.max_steps=4"), run, show_progress=False, resume=True)
    assert result.steps == 4 and not stale.exists()


def test_a_folder_in_use_by_another_run_is_refused(tmp_path: Path) -> None:
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    with open(run / LOCK, "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = refused(*run_args(run, ["train.max_steps=2"], "--overwrite"))
    assert "in use by another faceoff run" in line
    assert [p.name for p in run.iterdir()] == [LOCK]


def test_no_lock_file_is_left_behind(made: dict[str, Path], tmp_path: Path) -> None:
    assert not (made["run"] / LOCK).exists()  # after a run
    (tmp_path / "notes.txt").write_text("mine")
    refused(*run_args(tmp_path, ["train.max_steps=2"]))  # a folder holding something else
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_overwrite_keeps_the_old_run_when_the_new_one_is_refused(
    made: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faceoff.train.run as run_module

    def refuse(*args, **kwargs):
        raise FaceoffError("generator 'broken': returns 3 x 16 x 16 for 3 x 32 x 32")

    monkeypatch.setattr(run_module, "build_training", refuse)
    before = {p.relative_to(made["run"]): digest(p) for p in made["run"].rglob("*") if p.is_file()}
    assert "generator 'broken'" in refused(*run_args(made["run"], [], "--overwrite"))
    after = {p.relative_to(made["run"]): digest(p) for p in made["run"].rglob("*") if p.is_file()}
    assert after == before


# --- 3. broken weight files -------------------------------------------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=0, max_size=300))
def test_import_weights_on_random_bytes_is_one_line(tmp_path: Path, data: bytes) -> None:
    src = tmp_path / "random.pth"
    src.write_bytes(data)
    line = refused("import-weights", src, tmp_path / "G.safetensors", "--generator", "resnet")
    assert "random.pth" in line and "weights_only" not in line
    assert not (tmp_path / "G.safetensors").exists()


def test_import_weights_on_one_byte_tuples_and_lists(tmp_path: Path) -> None:
    one = tmp_path / "one.pth"
    one.write_bytes(b"R")
    assert "one.pth: not a PyTorch state_dict file" in refused(
        "import-weights", one, tmp_path / "G.safetensors", "--generator", "resnet"
    )
    for held in ((torch.zeros(2), torch.ones(2)), [torch.zeros(2)]):
        src = tmp_path / "held.pth"
        torch.save(held, src)
        line = refused("import-weights", src, tmp_path / "G.safetensors", "--generator", "resnet")
        assert f"holds a {type(held).__name__}, not a state_dict" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["held.pth", "one.pth"]


# --- 4. quiet wrong answers -------------------------------------------------------------


def test_a_network_with_nan_weights_is_refused_in_apply_and_eval(
    made: dict[str, Path], tmp_path: Path
) -> None:
    run = tmp_path / "nan_run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("spec.json", "plugins.json", "metrics.jsonl"):
        (run / name).write_bytes((made["run"] / name).read_bytes())
    tensors = load_file(made["checkpoint"])
    key = next(k for k in tensors if k.startswith("net.G_AB.") and k.endswith("weight"))
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    from safetensors import safe_open

    with safe_open(made["checkpoint"], "pt") as f:
        metadata = f.metadata()
    save_file(tensors, run / "checkpoints" / made["checkpoint"].name, metadata=metadata)
    line = refused("apply", run, made["frames"], tmp_path / "out")
    assert "non-finite values" in line and not (tmp_path / "out").exists()
    assert "non-finite values" in refused("eval", run, "--frames", 2)


def test_a_truncated_video_says_how_many_frames_were_decoded(
    made: dict[str, Path], tmp_path: Path
) -> None:
    whole = write_video(tmp_path / "whole.avi", codec="MJPG").read_bytes()  # index at the end
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    result = invoke("apply", made["run"], cut, tmp_path / "out.mp4")
    assert result.exit_code == 0, result.output
    assert "of the 30 frames its container announces" in result.stderr
    masks = invoke("masks", "synthetic", cut, tmp_path / "masks")
    assert "of the 30 frames its container announces" in masks.stderr


def test_a_device_is_not_a_video() -> None:
    assert "not a regular file" in refused(
        "extract", "/dev/zero", "out", "--frames", 4, "--test", 1
    )


# --- 4. interrupts in every command: exit 2, 'error: interrupted', nothing half-written -----


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_is_exit_2_and_leaves_no_partial_folder(
    tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "data"
    partial = tmp_path / ".data.partial"
    args = ["data", "synthetic", out, "--size", "64", "--param", "frames=1000"]
    proc = start_faceoff(args, partial.exists, timeout=120, cwd=tmp_path)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted"), err
    assert "Traceback" not in err and "Aborted" not in err
    assert not partial.exists() and not out.exists()


def test_stdout_that_cannot_be_written_is_exit_2() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "faceoff", "schema"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_a_fifo_or_device_given_as_a_run_is_refused_not_waited_on(
    made: dict[str, Path], tmp_path: Path
) -> None:
    fifo = tmp_path / "run.safetensors"
    os.mkfifo(fifo)
    for source in (fifo, Path("/dev/zero")):
        line = refused("apply", source, made["frames"], tmp_path / "out")
        assert "not a regular file" in line
        assert "not a regular file" in refused("export", source, tmp_path / "g.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors"]


def test_an_empty_run_folder_name_is_refused() -> None:
    args = run_args(Path("unused"), [])
    args[args.index("--out") + 1] = ""  # an unset variable in a script: not the default folder
    assert "--out '': empty" in refused(*args)
