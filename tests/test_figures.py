"""faceoff compare and faceoff plot: the paper's Figures 6 and 7 from tiny run folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.frames import center_crop, to_float, to_uint8
from faceoff.plugins import get_registry
from faceoff.runs import list_checkpoints
from faceoff.spec import load_spec
from faceoff.train.batches import DomainTensors
from faceoff.train.run import train
from faceoff.video.figures import cell_origin, cell_size, grid_shape
from faceoff.video.plot import epoch_index, epoch_series, step_series
from faceoff.weights import load_network
from tiny import QUICKSTART, TINY

CURVES = get_registry().get("objective", "cyclegan").describe(None).curves

SHORT = [
    *TINY,
    "train.max_steps=4",
    "schedule.steps_per_epoch=2",
    "data.source.params.test_frames=5",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("figures")
    made = []
    for name, extra in (("run-a", []), ("run-b", ["train.seed=7", "generator.params.ngf=6"])):
        spec = load_spec(QUICKSTART, get_registry(), [*SHORT, *extra])
        train(spec, root / name, show_progress=False)
        made.append(root / name)
    return made


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def rebuilt_test_frames(run: Path, n: int, domain: int = 0) -> np.ndarray:
    """The test frames as a person would rebuild them from the run's spec: uint8 [N, H, W, 3]."""
    spec = load_spec(run / "spec.json", get_registry(), [])
    source = spec.build("data.source")
    frames = source.load("test", spec.spec.data.load_size)[domain]
    picks = torch.linspace(0, len(frames) - 1, n).round().long()
    images = DomainTensors.from_domain(frames, None).images[picks]
    return center_crop(images, spec.spec.data.crop_size).permute(0, 2, 3, 1).numpy()


def cell(grid: np.ndarray, row: int, col: int, size: int, shown: int) -> np.ndarray:
    """A cell of the grid, shrunk back from its nearest-neighbour enlargement."""
    y, x = cell_origin(row, col, size)
    zoom = size // shown
    return grid[y : y + size : zoom, x : x + size : zoom]


def test_compare_puts_each_runs_generator_beside_the_test_frames(
    runs: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "grid.png"
    result = invoke("compare", *runs, "--out", out, "--frames", 3)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    grid = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    size = cell_size([32])
    assert size == 128  # 32 px crops, enlarged 4x
    assert grid.shape[:2] == grid_shape(3, 1 + len(runs), size)
    inputs = rebuilt_test_frames(runs[0], 3)
    for row in range(3):
        assert np.array_equal(cell(grid, row, 0, size, 32), inputs[row])
        # the enlargement is nearest neighbour: every pixel of a block is the same
        y, x = cell_origin(row, 0, size)
        assert np.array_equal(
            grid[y : y + size, x : x + size], inputs[row].repeat(4, 0).repeat(4, 1)
        )
    with torch.no_grad():
        for col, run in enumerate(runs, start=1):
            net = load_network(list_checkpoints(run / "checkpoints")[-1], "G_AB")
            expected = to_uint8(net(to_float(torch.from_numpy(inputs).permute(0, 3, 1, 2))))
            for row in range(3):
                assert np.array_equal(cell(grid, row, col, size, 32), expected[row])
    a, b = (cell(grid, 0, c, size, 32) for c in (1, 2))
    assert not np.array_equal(a, b), "two different runs give two different columns"
    assert not list(tmp_path.glob(".*tmp*"))


def test_compare_b2a_reads_domain_b(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "b.png"
    result = invoke("compare", runs[0], "--out", out, "--frames", 2, "--direction", "b2a")
    assert result.exit_code == 0, result.output
    grid = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert grid.shape[:2] == grid_shape(2, 2, 128)
    inputs = rebuilt_test_frames(runs[0], 2, domain=1)
    net = load_network(list_checkpoints(runs[0] / "checkpoints")[-1], "G_BA")
    with torch.no_grad():
        expected = to_uint8(net(to_float(torch.from_numpy(inputs).permute(0, 3, 1, 2))))
    for row in range(2):
        assert np.array_equal(cell(grid, row, 0, 128, 32), inputs[row])
        assert np.array_equal(cell(grid, row, 1, 128, 32), expected[row])


def test_runs_at_another_crop_size_are_shown_at_one_size(
    runs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("crop")
    spec = load_spec(QUICKSTART, get_registry(), [*SHORT, "data.load_size=52", "data.crop_size=48"])
    train(spec, root / "large", show_progress=False)
    out = root / "grid.png"
    result = invoke("compare", runs[0], root / "large", "--out", out, "--frames", 2)
    assert result.exit_code == 0, result.output
    grid = cv2.imread(str(out))
    assert cell_size([32, 48]) == 144  # the largest crop, enlarged 3x
    assert grid.shape[:2] == grid_shape(2, 3, 144)


def test_plot_draws_per_epoch_losses(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "losses.png"
    result = invoke("plot", *runs, "--out", out)
    assert result.exit_code == 0, result.output
    assert cv2.imread(str(out)) is not None
    rows = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0.5, 1.0, 1.5, 2.0]
    series = epoch_series(rows, CURVES)
    assert series["G"][0] == [1, 2]
    assert series["G"][1] == pytest.approx(
        [(rows[0]["G"] + rows[1]["G"]) / 2, (rows[2]["G"] + rows[3]["G"]) / 2]
    )
    d = [r["D_A"] + r["D_B"] for r in rows]
    assert series["D"][1] == pytest.approx([(d[0] + d[1]) / 2, (d[2] + d[3]) / 2])
    c = [r["cycle_A"] + r["cycle_B"] for r in rows]
    assert series["cycle"][1] == pytest.approx([(c[0] + c[1]) / 2, (c[2] + c[3]) / 2])


def test_plot_by_step_has_a_point_per_logged_step(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "steps.png"
    result = invoke("plot", runs[0], "--out", out, "--by", "step")
    assert result.exit_code == 0, result.output
    assert "4 steps" in result.output and cv2.imread(str(out)) is not None
    rows = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    series = step_series(rows, CURVES)
    assert series["G"] == ([r["step"] for r in rows], [pytest.approx(r["G"]) for r in rows])
    assert series["D"][1] == [pytest.approx(r["D_A"] + r["D_B"]) for r in rows]


def test_epoch_series_weights_rows_by_the_steps_they_cover() -> None:
    def row(step: int, g: float, per_epoch: int = 4) -> dict:
        return {"step": step, "epoch": step / per_epoch, "G": g, "D_A": g, "D_B": 1.0}

    # log_every 3, 4 steps per epoch, 8 steps: rows at 3, 6, 8 (the last covers 2 steps)
    series = epoch_series([row(3, 1.0), row(6, 2.0), row(8, 5.0)], CURVES)
    assert series["G"] == ([1, 2], [1.0, pytest.approx((3 * 2.0 + 2 * 5.0) / 5)])
    assert series["D"][1] == [2.0, pytest.approx((3 * 3.0 + 2 * 6.0) / 5)]
    assert series["cycle"] == ([], [])  # no cycle terms logged: no line
    assert [epoch_index(e) for e in (0.25, 1.0, 1.0000000001, 1.25, 3 / 3)] == [1, 1, 1, 2, 1]


@pytest.mark.parametrize("command", ["compare", "plot"])
def test_bad_input_is_one_line_and_writes_nothing(
    command: str, runs: list[Path], tmp_path: Path
) -> None:
    no_spec = tmp_path / "empty"
    no_spec.mkdir()
    bare = tmp_path / "bare"  # a spec.json, but nothing else
    bare.mkdir()
    (bare / "spec.json").write_text((runs[0] / "spec.json").read_text())
    out = tmp_path / "fig.png"
    cases = [
        ([], "no RUN given"),
        ([tmp_path / "missing"], "no such run folder"),
        ([runs[0] / "spec.json"], "is not a folder"),
        ([runs[0], no_spec], "no spec.json"),
        ([runs[0], bare], "no checkpoint" if command == "compare" else "no metrics.jsonl"),
    ]
    for args, message in cases:
        result = invoke(command, *args, "--out", out)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    result = invoke(command, runs[0], "--out", tmp_path / "nowhere" / "fig.png")
    assert result.exit_code == 2 and "does not exist" in result.output
    result = invoke(command, runs[0], "--out", tmp_path)
    assert result.exit_code == 2 and "is a folder" in result.output
    assert not out.exists() and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare", "empty"]
