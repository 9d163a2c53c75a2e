"""Damaged checkpoints and failed writes: a checkpoint's metadata and state are checked when it is
loaded, a write that fails (a full disk, a file size limit) and a torn metrics.jsonl are one line
or a warning, never a traceback, and nothing already written is overwritten."""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff_tensorboard import TensorboardParams
from faceoff_tensorboard.logger import TensorboardLogger
from tiny import QUICKSTART, TINY, run_args


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(*args: object) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.stderr
    return errors[0]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run of 4 steps with a checkpoint every 2 (steps 2 and 4)."""
    run = tmp_path_factory.mktemp("damage") / "run"
    spec = load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=4"])
    train(spec, run, show_progress=False)
    return run


def edit_latest(run: Path, change: Callable[[dict, dict], None]) -> None:
    """Rewrite the run's latest checkpoint with ``change(tensors, metadata)`` applied."""
    path = run / "checkpoints" / "step_00000004.safetensors"
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata())
    change(tensors, metadata)
    save_file(tensors, str(path), metadata=metadata)


def _set(key: str, value: str) -> Callable[[dict, dict], None]:
    return lambda tensors, metadata: metadata.__setitem__(key, value)


def _drop(key: str) -> Callable[[dict, dict], None]:
    return lambda tensors, metadata: tensors.pop(key)


def _tensor(key: str, value: torch.Tensor) -> Callable[[dict, dict], None]:
    return lambda tensors, metadata: tensors.__setitem__(key, value)


DAMAGE = {
    "step -5": (_set("step", "-5"), "step '-5'"),
    "step abc": (_set("step", "abc"), "step 'abc'"),
    "step 4.5": (_set("step", "4.5"), "step '4.5'"),
    "step 3 in step 4's file": (_set("step", "3"), "named for step 4"),
    "no random state": (_drop("rng.torch"), "rng.torch (missing"),
    "short random state": (_tensor("rng.torch", torch.zeros(10, dtype=torch.uint8)), "[10]"),
    "pool of rank 3": (_tensor("objective.pool.A", torch.zeros(2, 3, 32)), "image pool"),
    "moment of another shape": (
        lambda tensors, metadata: tensors.__setitem__(
            next(k for k in tensors if k.startswith("opt_") and k.endswith("exp_avg")),
            torch.zeros(7),
        ),
        "exp_avg",
    ),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_checkpoint_metadata_is_refused_and_nothing_is_overwritten(
    made: Path, tmp_path: Path, case: str
) -> None:
    change, expected = DAMAGE[case]
    run = tmp_path / "run"
    shutil.copytree(made, run)
    edit_latest(run, change)
    before = digests(run / "checkpoints")
    line = refused(*run_args(run, ["train.max_steps=8"], "--resume"))
    assert "step_00000004.safetensors" in line and expected in line, line
    assert digests(run / "checkpoints") == before


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """No file of this process may grow past ``limit`` bytes (EFBIG, as a full disk would fail
    a write; Python ignores SIGXFSZ)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_the_previous_stays(
    made: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    checkpoint = run / "checkpoints" / "step_00000004.safetensors"
    others = [p for p in run.rglob("*") if p.is_file() and p.parent.name != "checkpoints"]
    assert max(p.stat().st_size for p in others) < checkpoint.stat().st_size // 2
    before = digests(run / "checkpoints")
    with file_size_limit(checkpoint.stat().st_size // 2):
        line = refused(*run_args(run, ["train.max_steps=6"], "--resume"))
    assert "step_00000006.safetensors: cannot be written" in line and "too large" in line
    assert digests(run / "checkpoints") == before  # no temporary left, the latest whole
    assert invoke(*run_args(run, ["train.max_steps=6"], "--resume")).exit_code == 0


def test_tensorboard_that_cannot_write_is_one_line_naming_its_file(
    made: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """TensorBoard's writer thread fails on its own: its traceback is not printed, and the next
    write (here the flush at the end) raises one FaceoffError naming the event file."""
    from faceoff.observers import RunInfo

    run = RunInfo(tmp_path, {}, None, 0, 1, 1, True, None, None)  # type: ignore[arg-type]
    logger = TensorboardLogger(TensorboardParams())
    logger.on_start(run)
    logger.writer.flush()
    events = next((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    grid = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    with file_size_limit(events.stat().st_size + 4096), pytest.raises(FaceoffError) as caught:
        logger.on_samples(run, 1, grid, [])
        logger.on_end(run, 1, False)
    assert str(caught.value).startswith(f"{events}: cannot write TensorBoard events")
    assert "too large" in str(caught.value)
    assert "Traceback" not in capfd.readouterr().err
    assert threading.excepthook is not logger._thread_failed  # the hook is put back


def test_a_torn_last_metrics_line_is_dropped_on_resume(made: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    metrics = run / "metrics.jsonl"
    with metrics.open("a") as handle:
        handle.write('{"step": 5, "epoch": 0.6, "G": 1.2')  # a crash in the middle of a line
    result = invoke(*run_args(run, ["train.max_steps=6"], "--resume"))
    assert result.exit_code == 0, result.output
    assert "torn" in result.stderr and "dropped" in result.stderr
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]


def test_a_bad_metrics_line_before_the_last_is_an_error(made: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{torn", *lines[1:]]) + "\n")
    line = refused("plot", run, "--out", tmp_path / "plot.png")
    assert "metrics.jsonl: line 2 is not JSON" in line
