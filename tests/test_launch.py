"""`faceoff run --nproc N`: our own launcher keeps the ranks' exit codes and stops them together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceoff.train import launch
from tiny import ROOT, run_args, start_training


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_failed_rank_takes_the_others_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch, "GRACE_SECONDS", 0.5)
    ranks = [_python("import sys; sys.exit(3)"), _python("import time; time.sleep(120)")]
    started = time.monotonic()
    assert launch._watch(ranks) == 3
    assert time.monotonic() - started < 30
    assert ranks[1].returncode not in (None, 0)  # terminated, not left blocked


def test_exit_code_is_the_first_failure() -> None:
    assert launch._exit_code([0, 0]) == 0
    assert launch._exit_code([0, 2]) == 2
    assert launch._exit_code([-15, 0]) == 1  # killed by a signal


def test_rank_env_is_what_torchrun_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    env = launch.rank_env(1, 2, 12345)
    assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"]) == ("1", "1", "2")
    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == ("127.0.0.1", "12345")
    assert int(env["OMP_NUM_THREADS"]) >= 1


def test_sigterm_to_the_launcher_stops_all_ranks_with_a_checkpoint(tmp_path: Path) -> None:
    """A scheduler stopping the job signals the launcher alone; the ranks must hear of it."""
    run = tmp_path / "run"
    args = run_args(run, ["output.checkpoint_every=1000", "schedule.epochs=500"], "--nproc", "2")
    proc = start_training(args, run, steps=2, timeout=180)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, err[-2000:]
    assert "interrupted at step" in err and "--resume --nproc 2" in err
    assert "Traceback" not in err
    step = int(err.split("interrupted at step ")[1].split(";")[0])
    assert (run / "checkpoints" / f"step_{step:08d}.safetensors").is_file()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceoff",
            *args,
            "--resume",
            "--set",
            f"train.max_steps={step + 1}",
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = (run / "metrics.jsonl").read_text()
    steps = [json.loads(line)["step"] for line in metrics.splitlines()]
    assert steps == list(range(1, step + 2))
