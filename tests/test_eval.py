"""faceoff eval: the metrics score known "generators" as they must, judges are cached, CLI works."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.eval import core, judges
from faceoff.eval.core import measure
from faceoff.eval.data import EvalData, load_eval_data
from faceoff.eval.nets import JudgeConfig, fit
from faceoff.frames import center_crop, to_tensor
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff_synthetic.render import make_identities, render_frame
from tiny import QUICKSTART, TINY

# Small but honest judges: at 32 px on 200 frames the probe reads some of pose and expression.
PROBE = JudgeConfig(width=8, layers=4, steps=200, batch_size=16, lr=3e-3)
CLASSIFIER = JudgeConfig(width=8, layers=4, steps=40, batch_size=16, lr=3e-3)
DATA = {
    "source": {"plugin": "synthetic", "params": {"seed": 0, "frames": 200, "test_frames": 200}},
    "load_size": 36,
    "crop_size": 32,
}
SHORT = [*TINY, "train.max_steps=2", "data.source.params.test_frames=6"]


@pytest.fixture(scope="module", autouse=True)
def small_judges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Test-sized judges, and a judge cache of this module's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judges, "PROBE_CONFIG", PROBE)
        patch.setattr(judges, "CLASSIFIER_CONFIG", CLASSIFIER)
        patch.setenv("FACEOFF_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def data() -> EvalData:
    return load_eval_data({"data": DATA}, "test data")


@pytest.fixture(scope="module")
def oracle(data: EvalData) -> torch.Tensor:
    """The ideal face-off: B drawn by the renderer with A's ground-truth expression and pose."""
    person_b = make_identities(0)[1]
    truth = data.test_params[0]
    assert truth is not None
    frames = np.stack(
        [
            render_frame(person_b, {k: float(v[i]) for k, v in truth.items()}, data.load_size)
            for i in range(len(data.test[0]))
        ]
    )
    return center_crop(to_tensor(frames), data.crop_size)


def test_identity_generator_transfers_nothing_and_is_as_steady_as_its_input(
    data: EvalData,
) -> None:
    inputs = data.test[0]
    result = measure(data, "a2b", inputs, inputs, with_landmarks=False)
    expression = result["expression"]
    assert expression["computed"]
    assert len(expression["readable"]) >= 2, expression["per_param"]
    assert expression["held_out"] < 0.5
    # the same frames: the translated error is exactly the untranslated reference
    assert expression["translated"] == pytest.approx(expression["untranslated"], abs=1e-6)
    assert expression["translated"] > 2 * expression["held_out"]
    assert result["identity"]["score"] < 0.2
    assert result["identity"]["real_accuracy"] > 0.9
    assert result["stability"]["ratio"] == 1.0
    assert result["cycle"]["psnr"] == pytest.approx(100.0)
    assert result["cycle"]["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert result["frames"] == len(inputs)
    assert set(result["not_computed"]) == {"landmarks"}


def test_a_fixed_b_frame_looks_like_b_but_carries_no_expression(data: EvalData) -> None:
    inputs = data.test[0]
    outputs = data.train[1][:1].expand(len(inputs), -1, -1, -1)
    result = measure(data, "a2b", outputs, with_landmarks=False)
    assert result["identity"]["score"] > 0.8
    assert result["expression"]["translated"] > 0.8
    assert result["stability"]["ratio"] == 0.0
    assert result["not_computed"]["cycle"] == "no backward generator given"


def test_the_oracle_scores_as_well_as_the_probe_can_read(
    data: EvalData, oracle: torch.Tensor
) -> None:
    result = measure(data, "a2b", oracle, with_landmarks=False)
    expression = result["expression"]
    assert result["identity"]["score"] > 0.8
    # close to what the probe reads on real B frames, far below the no-transfer reference
    assert expression["ratio"] < 2.0, expression
    assert expression["translated"] < 0.7 * expression["untranslated"], expression
    assert result["stability"]["ratio"] > 0.2  # it moves (B changes fewer pixels than A)


def test_b2a_mirrors_a2b(data: EvalData) -> None:
    inputs = data.test[1][:5]
    result = measure(data, "b2a", inputs, with_landmarks=False)
    assert (result["source"], result["target"], result["frames"]) == ("B", "A", 5)
    assert result["identity"]["score"] < 0.2
    assert result["stability"]["ratio"] == 1.0


def test_judges_are_deterministic_for_a_seed(data: EvalData) -> None:
    config = JudgeConfig(width=4, steps=5, batch_size=4)
    targets = torch.randn(len(data.train[1]), 2, generator=torch.Generator().manual_seed(1))
    state = torch.get_rng_state()
    nets = [fit(data.train[1], targets, "l1", seed=s, config=config) for s in (3, 3, 4)]
    assert torch.equal(torch.get_rng_state(), state), "the global RNG is left alone"
    first, again, other = (n.state_dict() for n in nets)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_judges_are_trained_once_then_read_from_the_cache(
    data: EvalData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path))
    made = judges.get_probe(data, 1, seed=5)
    classifier = judges.get_classifier(data, seed=5)
    assert made is not None and not made.cached and not classifier.cached
    assert made.path.parent == tmp_path / "probes" and made.path.is_file()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(judges, "fit", refuse)
    read = judges.get_probe(data, 1, seed=5)
    assert read is not None and read.cached and judges.get_classifier(data, seed=5).cached
    assert read.names == made.names and torch.equal(read.mean, made.mean)
    frames = data.test[1][:4]
    assert all(np.array_equal(read.read(frames)[n], made.read(frames)[n]) for n in made.names)
    # another seed is another judge
    monkeypatch.undo()
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path))
    other = judges.get_probe(data, 1, seed=6)
    assert other is not None and not other.cached and other.path != made.path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eval") / "tiny"
    train(load_spec(QUICKSTART, get_registry(), SHORT), folder, show_progress=False)
    return folder


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_prints_a_table_and_json(run: Path) -> None:
    shown = invoke("eval", run)
    assert shown.exit_code == 0, shown.output
    for word in ("expression", "identity", "stability", "warping", "tof", "cycle", "PSNR"):
        assert word in shown.output
    as_json = invoke("eval", run, "--json", "--frames", 4, "--direction", "b2a")
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.stdout)
    assert (result["direction"], result["source"], result["frames"]) == ("b2a", "B", 4)
    assert result["checkpoint"].endswith(".safetensors")
    assert result["expression"]["computed"] and result["identity"]["computed"]
    assert result["identity"]["classifier"]["cached"], "the table's run trained it already"
    assert 0.0 <= result["identity"]["score"] <= 1.0
    assert result["stability"]["ratio"] > 0 and result["cycle"]["psnr"] > 0
    warping = result["warping"]  # for the run, and for the input itself
    assert warping["output"] > 0 and warping["input"] > 0 and result["tof"]["output"] > 0
    direct = core.evaluate(run, "b2a", frames=4)
    assert direct["expression"]["probe"]["cached"]
    assert direct["expression"]["translated"] == result["expression"]["translated"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "no such run folder"),
        (["--frames", "0"], "--frames 0"),
        (["--frames", "99"], "has only 6 frames"),
    ],
)
def test_cli_errors_are_one_line(run: Path, args: list[str], message: str) -> None:
    full = args if args == ["nowhere"] else [str(run), *args]
    result = invoke("eval", *full)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_run_without_a_checkpoint_is_refused(run: Path, tmp_path: Path) -> None:
    empty = tmp_path / "untrained"
    empty.mkdir()
    shutil.copy(run / "spec.json", empty / "spec.json")
    result = invoke("eval", empty)
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_a_frames_run_without_ground_truth_says_what_it_could_not_compute(
    tmp_path: Path,
) -> None:
    root = tmp_path / "frames"
    wrote = invoke(
        "data", "synthetic", root, "--param", "frames=8", "--param", "test_frames=5", "--size", 36
    )
    assert wrote.exit_code == 0, wrote.output
    for person in ("A", "B"):
        (root / person / "params.csv").unlink()
    source = json.dumps({"plugin": "frames", "params": {"root": str(root)}})
    overrides = [o for o in SHORT if not o.startswith("data.source")] + [f"data.source={source}"]
    folder = tmp_path / "run"
    train(load_spec(QUICKSTART, get_registry(), overrides), folder, show_progress=False)
    result = core.evaluate(folder)
    assert result["not_computed"]["expression"] == (
        "the data source has no ground-truth parameters"
    )
    assert not result["expression"]["computed"]
    for name in ("identity", "stability", "cycle"):
        assert result[name]["computed"], name
    shown = invoke("eval", folder)
    assert shown.exit_code == 0, shown.output
    words = shown.output.split()
    assert "computed" in words and "ground-truth" in words, shown.output


def test_a_mask_crop_run_is_judged_on_masked_frames() -> None:
    """Its generators never saw a background; eval masks the frames as training did."""
    from faceoff_synthetic.render import render_mask

    masked = load_eval_data(
        {"data": DATA, "mask": {"provider": {"plugin": "synthetic"}, "mode": "crop"}}, "test"
    )
    plain = load_eval_data({"data": DATA}, "test data")
    truth = {k: float(v[0]) for k, v in masked.test_params[0].items()}
    mask = center_crop(torch.from_numpy(render_mask(make_identities(0)[0], truth, 36)), 32)
    frame = masked.test[0][0].float()
    np.testing.assert_allclose(frame, (plain.test[0][0].float() * mask).round(), atol=1)
    assert frame[:, mask == 0].abs().max() == 0 and frame[:, mask == 1].mean() > 20
    assert masked.digest(1) != plain.digest(1)  # the judges learn the masked people apart


def test_temporal_measures_rank_steady_ideal_and_flickering_outputs(
    data: EvalData, oracle: torch.Tensor
) -> None:
    """The warping error and tOF of the input itself (an identity generator), the rendered
    ideal face-off, and independent noise per frame. The ideal's warping error is below even the
    input's own (B's face moves fewer pixels than A's, as its stability shows), the noise far
    above both; by tOF the ideal sits between the input (0) and the noise."""
    from faceoff.eval.temporal import temporal

    inputs = data.test[0].numpy()
    noise = np.random.default_rng(0).integers(0, 256, inputs.shape, dtype=np.uint8)
    same, ideal, flicker = (temporal(inputs, out) for out in (inputs, oracle.numpy(), noise))
    assert same["warping"]["output"] == same["warping"]["input"] > 0
    assert same["warping"]["ratio"] == 1.0 and same["tof"]["output"] == 0.0
    assert (
        5 * max(same["warping"]["output"], ideal["warping"]["output"])
        < (flicker["warping"]["output"])
    )
    assert 0 < ideal["tof"]["output"] < flicker["tof"]["output"] / 2
    result = measure(data, "a2b", oracle, with_landmarks=False)  # and in eval's result
    assert result["warping"]["output"] == pytest.approx(ideal["warping"]["output"])
    assert result["tof"]["input_motion"] > 0
