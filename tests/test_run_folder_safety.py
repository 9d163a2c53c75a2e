"""faceoff deletes only what it wrote: a run folder holding a user's files or a run's inputs is
refused before any work, in one line, and every file in it survives; --overwrite and the restart
of a failed start remove only the files the earlier run recorded (docs/cli.md)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.runs import MANIFEST
from faceoff.spec import load_spec
from faceoff.train.owned import CORE, inventory, pattern_problem, read_manifest, temporary
from faceoff.train.run import train
from tiny import QUICKSTART, TINY, run_args

TENSORBOARD = 'output.loggers=[{"plugin": "tensorboard"}]'


def refused(*args: object, cwd: Path | None = None) -> str:
    """The CLI's one line ``error: ...`` with exit code 2 and no traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.stderr
    return errors[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its digest (folders as empty entries)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else ""
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run (2 steps) with a TensorBoard logger."""
    run = tmp_path_factory.mktemp("safety") / "run"
    spec = load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=2", TENSORBOARD])
    train(spec, run, show_progress=False)
    return run


def user_folder(root: Path) -> Path:
    """A user's project folder: the spec file, a data folder and notes."""
    folder = root / "project"
    (folder / "data").mkdir(parents=True)
    shutil.copy(QUICKSTART, folder / "spec.json")
    (folder / "data" / "frame.png").write_bytes(b"not really a frame")
    (folder / "notes.txt").write_text("my notes\n")
    return folder


def test_a_run_into_the_folder_of_its_spec_is_refused_and_nothing_is_lost(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    before = snapshot(folder)
    for flags in ((), ("--overwrite",), ("--nproc", "2")):
        line = refused(*run_args(folder, [], *flags, spec=folder / "spec.json"))
        assert "holds the spec file" in line and str(folder) in line
        assert snapshot(folder) == before


def test_the_working_folder_as_output_dir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = user_folder(tmp_path)
    before = snapshot(folder)
    monkeypatch.chdir(folder)
    line = refused("run", "spec.json", "--no-progress", "--set", "output.dir=.")
    assert "holds the spec file" in line
    assert snapshot(folder) == before


def test_a_folder_with_files_faceoff_did_not_write_is_refused_in_every_mode(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "spec.json").write_text("{}\n")  # a user's file that has a run file's name
    before = snapshot(folder)
    for flags in ((), ("--overwrite",)):
        line = refused(*run_args(folder, ["train.max_steps=1"], *flags))
        assert "holds files that faceoff did not write" in line
        assert "notes.txt" in line and "data/" in line and "spec.json" in line
        assert "--out another folder" in line
        assert snapshot(folder) == before


def test_overwrite_keeps_a_users_file_added_to_a_run_folder(made: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    (run / "notes.txt").write_text("keep me\n")
    (run / "samples" / "mine.png").write_bytes(b"a picture of mine")
    before = snapshot(run)
    line = refused(*run_args(run, ["train.max_steps=1"], "--overwrite"))
    assert "notes.txt" in line and "samples/mine.png" in line
    assert snapshot(run) == before


def test_overwrite_removes_exactly_what_the_earlier_run_recorded(
    made: Path, tmp_path: Path
) -> None:
    """The old run's TensorBoard events go with it although the new run logs none; the new run
    records its own files."""
    run = tmp_path / "run"
    shutil.copytree(made, run)
    old_events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert old_events and "tensorboard/events.out.tfevents.*" in read_manifest(run)
    result = CliRunner().invoke(cli, run_args(run, ["train.max_steps=1"], "--overwrite"))
    assert result.exit_code == 0, result.output
    assert not (run / "tensorboard").exists()
    assert sorted(read_manifest(run)) == sorted(CORE)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000001.safetensors"]


def test_a_failed_start_is_run_again_but_never_over_a_users_file(
    made: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    shutil.rmtree(run / "checkpoints")  # as a run killed before its first checkpoint
    (run / "notes.txt").write_text("keep me\n")
    before = snapshot(run)
    assert "notes.txt" in refused(*run_args(run, ["train.max_steps=1"]))
    assert snapshot(run) == before
    (run / "notes.txt").unlink()
    result = CliRunner().invoke(cli, run_args(run, ["train.max_steps=1"]))
    assert result.exit_code == 0, result.output
    assert "starting it again" in result.stderr


def test_a_run_folder_of_an_earlier_faceoff_is_overwritten(made: Path, tmp_path: Path) -> None:
    """No record of its files: spec.json and plugins.json as ``faceoff run`` wrote them make it
    a run folder; its loggers' files are known from its spec."""
    run = tmp_path / "run"
    shutil.copytree(made, run)
    (run / MANIFEST).unlink()
    result = CliRunner().invoke(cli, run_args(run, ["train.max_steps=1"], "--overwrite"))
    assert result.exit_code == 0, result.output
    assert not (run / "tensorboard").exists()


def test_frames_inside_the_run_folder_are_refused_even_on_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    frames = run / "frames"
    for person in ("A", "B"):
        (frames / person / "train").mkdir(parents=True)
    before = snapshot(run)
    source = f'data.source={{"plugin": "frames", "params": {{"root": "{frames}"}}}}'
    for flags in ((), ("--overwrite",), ("--resume",)):
        line = refused(*run_args(run, [source], *flags))
        assert "data.source.params.root" in line and "holds" in line
        assert snapshot(run) == before


@pytest.mark.parametrize(
    "writes",
    [["*"], ["../outside.txt"], ["/etc/passwd"], ["a/../../b"], "spec.json", [3]],
)
def test_a_damaged_record_of_the_run_files_deletes_nothing(
    made: Path, tmp_path: Path, writes: object
) -> None:
    run = tmp_path / "run"
    shutil.copytree(made, run)
    (run / MANIFEST).write_text(json.dumps({"format": "faceoff.run-folder/1", "writes": writes}))
    before = snapshot(run)
    line = refused(*run_args(run, ["train.max_steps=1"], "--overwrite"))
    assert MANIFEST in line
    assert snapshot(run) == before


def test_patterns_claim_only_what_they_name(tmp_path: Path) -> None:
    assert pattern_problem("samples/step_*.png") is None
    assert pattern_problem("*.png") and pattern_problem("../x") and pattern_problem("")
    assert temporary("samples/step_*.png") == "samples/.step_*.*.tmp.png"
    for name in ("samples/step_00000002.png", "samples/.step_00000002.ab12.tmp.png", "x/y.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "samples" / "link").symlink_to(tmp_path / "x")
    found = inventory(tmp_path, CORE)
    rel = {str(p.relative_to(tmp_path)) for p in found.owned}
    assert rel == {"samples/step_00000002.png", "samples/.step_00000002.ab12.tmp.png"}
    assert {str(p.relative_to(tmp_path)) for p in found.foreign} == {"x", "samples/link"}


def test_a_logger_directory_outside_the_run_folder_is_refused() -> None:
    for where in ("../elsewhere", "/tmp/tb", "a/./b"):
        logger = f'output.loggers=[{{"plugin": "tensorboard", "params": {{"dir": "{where}"}}}}]'
        with pytest.raises(FaceoffError, match=r"output\.loggers\.0\.params\.dir"):
            load_spec(QUICKSTART, get_registry(), [logger])
