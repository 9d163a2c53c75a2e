"""The CLI as a user meets it: exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from faceoff.cli import cli
from tiny import QUICKSTART, ROOT, run_args, start_training


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def faceoff(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "faceoff", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        **kwargs,
    )


def test_python_dash_m_works_like_the_script() -> None:
    done = faceoff("--help")
    assert done.returncode == 0
    for command in ("run", "validate", "schema", "list-plugins", "data"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        (None, [], "no such spec file"),
        ('{"train": {"seed": 1,,}}', [], "invalid JSON at line 1, column 22"),
        ('{"train": {"seed": "one"}}', [], "train.seed: Input should be a valid integer"),
        (
            '{"train": {"batch_size": 0}}',
            [],
            "train.batch_size: Input should be greater than or equal to 1",
        ),
        ('{"generator": {"plugin": "resnit"}}', [], "unknown generator 'resnit'; valid: resnet"),
        ("{}", ["--set", "oops"], "--set 'oops': expected KEY=VALUE"),
    ],
)
def test_bad_specs_give_one_line_and_exit_2(tmp_path: Path, content, extra, expected) -> None:
    spec = tmp_path / "spec.json"
    if content is not None:
        spec.write_text(content)
    for command in ("validate", "run"):
        done = faceoff(command, str(spec), *extra, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and expected in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["spec.json"] if content else [])


def test_validate_prints_the_resolved_spec() -> None:
    result = invoke("validate", str(QUICKSTART), "--print", "--set", "generator.params.ngf=8")
    assert result.exit_code == 0
    resolved = json.loads(result.output)
    assert resolved["generator"]["params"] == {
        "ngf": 8,
        "n_blocks": 6,
        "dropout": False,
        "norm": "instance",
        "antialias": False,
        "antialias_up": False,
    }
    assert resolved["output"]["keep_checkpoints"] == 3


def test_schema_accepts_the_examples_and_rejects_bad_params() -> None:
    schema = json.loads(invoke("schema").output)
    validator = jsonschema.Draft202012Validator(schema)
    quickstart = json.loads(QUICKSTART.read_text())
    assert list(validator.iter_errors(quickstart)) == []
    resolved = json.loads(invoke("validate", str(QUICKSTART), "--print").output)
    assert list(validator.iter_errors(resolved)) == []
    quickstart["generator"]["params"]["nfg"] = 3
    assert list(validator.iter_errors(quickstart))
    quickstart["generator"] = {"plugin": "patchgan", "params": {"ndf": 8}}
    assert list(validator.iter_errors(quickstart)), "a discriminator is not a generator"


def test_data_export_then_training_on_the_folders(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    done = invoke(
        "data",
        "synthetic",
        str(out),
        "--param",
        "frames=6",
        "--param",
        "test_frames=2",
        "--size",
        "40",
    )
    assert done.exit_code == 0, done.output
    for label in ("A", "B"):
        assert len(list((out / label / "train").glob("*.png"))) == 6
        assert len(list((out / label / "test").glob("*.png"))) == 2
        assert cv2.imread(str(next((out / label / "test").glob("*.png")))).shape == (40, 40, 3)
        header = (out / label / "params.csv").read_text().splitlines()[0].split(",")
        assert header[:2] == ["split", "name"] and "mouth_open" in header
    from faceoff.plugins import get_registry

    source = get_registry().get("data_source", "frames").make({"root": str(out)})
    a, _ = source.load("test", 40)
    assert len(a) == 2 and a.params is not None and a.params["mouth_open"].shape == (2,)
    spec = f'data.source={{"plugin": "frames", "params": {{"root": "{out}"}}}}'
    run = invoke(*run_args(tmp_path / "run", [spec, "train.max_steps=2"]))
    assert run.exit_code == 0, run.output
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.safetensors").is_file()
    again = invoke("data", "synthetic", str(out))
    assert again.exit_code == 2 and "already exists and is not empty" in again.output


def test_corrupt_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    from faceoff.data import read_image_folder
    from faceoff.errors import FaceoffError

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    (folder / "f3.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored")
    domain = read_image_folder(folder, 16)
    assert domain.names == ["f0.png", "f1.png", "f2.png"] and domain.frames.shape == (3, 16, 16, 3)
    for path in folder.glob("f[012].png"):
        path.write_bytes(b"")
    with pytest.raises(FaceoffError, match="none of the 4 images could be decoded"):
        read_image_folder(folder, 16)
    with pytest.raises(FaceoffError, match="no images"):
        read_image_folder(tmp_path, 16)


def test_interrupt_checkpoints_and_resume_continues(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = run_args(run, ["output.checkpoint_every=1000", "schedule.epochs=500"])
    proc = start_training(args, run, steps=3, timeout=120)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    step = int(err.split("interrupted at step ")[1].split(";")[0])
    assert (run / "checkpoints" / f"step_{step:08d}.safetensors").is_file()
    done = faceoff(*args, "--resume", "--set", f"train.max_steps={step + 2}")
    assert done.returncode == 0, done.stderr
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in rows] == list(range(1, step + 3))
