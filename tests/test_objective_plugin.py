"""A third-party objective, installed as a real distribution (``tests/plugins/faceoff-simgan``,
the worked example of docs/plugins.md): listed, trained, resumed, applied, evaluated, drawn."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tiny
from faceoff import plugins
from faceoff.cli import cli
from faceoff.video.io import VideoWriter, probe

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tests" / "plugins" / "faceoff-simgan"
SIMGAN = ['objective={"plugin": "simgan", "params": {"pool_size": 3}}']


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def installed(third_party) -> Iterator[None]:
    """The pip-installed distribution on the path, a registry that has loaded it, and
    test-sized eval judges."""
    from faceoff.eval import judges
    from faceoff.eval.nets import JudgeConfig

    sys.path.insert(0, str(third_party))
    plugins.get_registry.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judges, "PROBE_CONFIG", JudgeConfig(8, 4, 100, 16, 3e-3))
        patch.setattr(judges, "CLASSIFIER_CONFIG", JudgeConfig(8, 4, 40, 16, 3e-3))
        yield
    sys.path.remove(str(third_party))
    plugins.get_registry.cache_clear()


@pytest.fixture(scope="module")
def simgan_run(installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceoff.train.run import train

    run = tmp_path_factory.mktemp("simgan") / "run"
    train(tiny.tiny_spec(*SIMGAN, "train.max_steps=2"), run, show_progress=False)
    return run


def test_it_is_listed_as_an_objective(installed) -> None:
    done = invoke("list-plugins", "--json")
    (row,) = [r for r in json.loads(done.stdout) if r["name"] == "simgan"]
    assert (row["kind"], row["distribution"], row["status"]) == (
        "objective",
        "faceoff-simgan",
        "ok",
    )
    assert set(row["params"]["properties"]) == {"self_regularization", "pool_size"}


def test_it_trains_and_resumes_and_its_run_describes_itself(simgan_run) -> None:
    from faceoff.runs import RunFolder
    from faceoff.train.run import train

    checkpoint = RunFolder.open(simgan_run).latest()
    assert set(checkpoint.networks) == {"R", "D"}
    assert checkpoint.networks["R"]["plugin"] == "resnet"
    assert list(checkpoint.description.translations) == ["a2b"]
    rows = [json.loads(x) for x in (simgan_run / "metrics.jsonl").read_text().splitlines()]
    assert set(rows[-1]) >= {"R", "R_adv", "R_reg", "D"}
    resumed = train(
        tiny.tiny_spec(*SIMGAN, "train.max_steps=3"), simgan_run, resume=True, show_progress=False
    )
    assert resumed.steps == 3 and resumed.checkpoint.is_file()


def test_apply_runs_its_one_translation(simgan_run, tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    frames = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    with VideoWriter(video, 10, 40, 40) as writer:
        for frame in frames:
            writer.write(frame)
    out = tmp_path / "out.mp4"
    done = invoke("apply", simgan_run, video, out, "--no-progress")
    assert done.exit_code == 0, done.output
    assert probe(out).frames == 5 and "R (" in done.output
    refused = invoke("apply", simgan_run, video, tmp_path / "b.mp4", "--direction", "b2a")
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert "translates one way only, a2b" in refused.stderr
    assert not (tmp_path / "b.mp4").exists()


def test_eval_measures_it_without_a_round_trip(simgan_run) -> None:
    done = invoke("eval", simgan_run, "--json", "--frames", "2")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["identity"]["computed"] and result["expression"]["computed"]
    assert not result["cycle"]["computed"]
    refused = invoke("eval", simgan_run, "--direction", "b2a")
    assert refused.exit_code == 2 and "one way only" in refused.stderr


def test_compare_and_plot_draw_it(simgan_run, tmp_path: Path) -> None:
    grid, curves = tmp_path / "grid.png", tmp_path / "losses.png"
    assert invoke("compare", simgan_run, "--out", grid, "--frames", "2").exit_code == 0
    drawn = invoke("plot", simgan_run, "--out", curves, "--by", "step")
    assert drawn.exit_code == 0 and "3 steps" in drawn.output
    assert grid.is_file() and curves.is_file()


def test_the_docs_show_the_example_as_it_is() -> None:
    """docs/plugins.md's worked objective is this distribution, file for file."""
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = page[page.index("## Writing an objective") :]
    for name in ("pyproject.toml", "faceoff_simgan/__init__.py", "faceoff_simgan/objective.py"):
        match = re.search(rf"`{re.escape(name)}`:\n\n```\w+\n(.*?)```", section, re.S)
        assert match, f"docs/plugins.md shows no {name}"
        assert match.group(1) == (EXAMPLE / name).read_text(encoding="utf-8"), name
