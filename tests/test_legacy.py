"""faceoff 0.1's spec files and run folders keep working (``tests/fixtures``, written by 0.1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import loss_record
import tiny
from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.runs import FORMAT_V1, Checkpoint, RunFolder
from faceoff.spec import load_spec, resolve

FIXTURES = Path(__file__).parent / "fixtures"
OLD_SPECS = sorted((FIXTURES / "specs-0.1").rglob("*.json"))
QUICKSTART_0_1 = loss_record.QUICKSTART  # today's form of the 0.1 quickstart (pinned there)


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("old", OLD_SPECS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_0_1_spec_file_is_the_same_run_as_today_s(old: Path) -> None:
    today = tiny.ROOT / "examples" / old.relative_to(FIXTURES / "specs-0.1")
    new = QUICKSTART_0_1 if old.name == "quickstart.json" else today
    assert "identity" in json.loads(old.read_text())["losses"]  # really the old form
    assert load_spec(old, get_registry()).to_dict() == load_spec(new, get_registry()).to_dict()


def test_0_1_keys_on_the_command_line_set_today_s() -> None:
    old = FIXTURES / "specs-0.1" / "quickstart.json"
    for path in (old, tiny.QUICKSTART):
        spec = load_spec(path, get_registry(), ["train.pool_size=7", "losses.identity=0"])
        params = spec.to_dict()["objective"]["params"]
        assert (params["identity"], params["pool_size"]) == (0.0, 7)


def test_both_forms_of_one_key_must_agree() -> None:
    raw = json.loads(tiny.QUICKSTART.read_text())
    raw["train"]["pool_size"] = 3
    with pytest.raises(FaceoffError, match=r"train.pool_size is 3 and objective.params.pool_size"):
        resolve(raw, get_registry())
    raw["train"]["pool_size"] = 50  # the same value: fine
    assert resolve(raw, get_registry()).to_dict()["objective"]["params"]["pool_size"] == 50


def test_a_0_1_key_for_an_objective_without_it_says_where_it_came_from() -> None:
    from faceoff.components import PluginInfo
    from faceoff.objective import Description, Network, Translation
    from faceoff.plugins import load_registry

    def describe(params):
        return Description(
            {"G": Network("generator", "generator")}, {"a2b": Translation("G", "A", "B")}
        )

    class Plugin:
        @staticmethod
        def register_objectives(register):
            register("plain", lambda *a, **k: None, describe=describe)

    from faceoff.hookspecs import hookimpl

    Plugin.register_objectives = hookimpl(Plugin.register_objectives)
    registry = load_registry(extra=[(Plugin, PluginInfo("t", "t", "0", "t"))])
    raw = {"objective": {"plugin": "plain"}, "train": {"pool_size": 4}}
    with pytest.raises(FaceoffError, match=r"train.pool_size: objective 'plain' has no pool_size"):
        resolve(raw, registry)


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    run = tmp_path / "run-0.1"
    shutil.copytree(FIXTURES / "run-0.1", run)
    return run


def test_a_0_1_run_folder_describes_itself_from_its_spec(old_run: Path) -> None:
    checkpoint = RunFolder.open(old_run).latest()
    assert checkpoint.metadata["format"] == FORMAT_V1 and checkpoint.legacy
    assert list(checkpoint.networks) == ["G_AB", "G_BA", "D_A", "D_B"]
    assert checkpoint.networks["G_AB"]["params"]["ngf"] == 4
    assert checkpoint.translation("b2a").network == "G_BA"
    assert checkpoint.crop_size == 32


def test_a_0_1_run_resumes_applies_and_is_drawn(old_run: Path, tmp_path: Path) -> None:
    args = tiny.run_args(old_run, ["train.max_steps=3"], "--resume", spec=QUICKSTART_0_1)
    done = invoke(*args)
    assert done.exit_code == 0, done.output
    assert "resuming" in done.output and "from step 2" in done.output
    new = Checkpoint(old_run / "checkpoints" / "step_00000003.safetensors")
    assert not new.legacy and list(new.networks) == ["G_AB", "G_BA", "D_A", "D_B"]
    spec = json.loads((old_run / "spec.json").read_text())
    assert "identity" not in spec["losses"] and spec["objective"]["plugin"] == "cyclegan"
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2
    import numpy as np

    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    legacy = FIXTURES / "run-0.1" / "checkpoints" / "step_00000002.safetensors"
    applied = invoke("apply", legacy, frames, tmp_path / "out", "--no-progress")
    assert applied.exit_code == 0, applied.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    plotted = invoke("plot", FIXTURES / "run-0.1", "--out", tmp_path / "l.png", "--by", "step")
    assert plotted.exit_code == 0 and "2 steps" in plotted.output, plotted.output
