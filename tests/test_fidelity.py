"""Fidelity to the true face-off: sources that redraw their people, and eval's `fidelity`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceoff import plugins
from faceoff.capabilities import RendersPeople
from faceoff.cli import cli
from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff.eval import core, judges
from faceoff.eval.core import measure
from faceoff.eval.data import EvalData, load_eval_data
from faceoff.eval.fidelity import fidelity
from faceoff.eval.nets import JudgeConfig
from faceoff.frames import center_crop
from faceoff.hookspecs import hookimpl
from faceoff.plugins import PluginInfo, get_registry, load_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff_puppets import PuppetsParams
from faceoff_puppets.photos import load_photos
from faceoff_puppets.source import PuppetsSource
from faceoff_synthetic import SyntheticParams
from faceoff_synthetic.render import make_identities, render_mask
from faceoff_synthetic.source import SyntheticSource
from tiny import QUICKSTART, TINY

JUDGE = JudgeConfig(width=4, layers=3, steps=5, batch_size=8)
DATA = {
    "source": {"plugin": "synthetic", "params": {"seed": 0, "frames": 12, "test_frames": 6}},
    "load_size": 36,
    "crop_size": 32,
}
SHORT = [*TINY, "train.max_steps=2", "data.source.params.test_frames=6"]
OBJECTIVES = {
    "cyclegan": [],
    "recycle-gan": [
        'objective={"plugin": "recycle-gan", "params": {"predictor": {"plugin": "unet", '
        '"params": {"num_downs": 5, "ngf": 4}}}}'
    ],
    "cut": ['objective={"plugin": "cut", "params": {"num_patches": 32}}'],
}
"""Two ways with a cycle, two ways on clips, one way: fidelity reads only the outputs."""


@pytest.fixture(scope="module", autouse=True)
def small_judges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Test-sized judges, and a judge cache of this module's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judges, "PROBE_CONFIG", JUDGE)
        patch.setattr(judges, "CLASSIFIER_CONFIG", JUDGE)
        patch.setenv("FACEOFF_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def data() -> EvalData:
    return load_eval_data({"data": DATA}, "test data")


def _same_frames_redrawn(source: Any, size: int) -> None:
    assert isinstance(source, RendersPeople)
    for split in ("train", "test"):
        for person, domain in zip("AB", source.load(split, size)):
            drawn = source.render_person(person, domain.params, size)
            assert drawn.dtype == np.uint8 and np.array_equal(drawn, domain.frames), (split, person)
            again = source.render_person(person, domain.params, size)
            assert np.array_equal(again, drawn)


def test_the_synthetic_source_redraws_its_own_frames_from_their_parameters() -> None:
    _same_frames_redrawn(SyntheticSource(SyntheticParams(frames=4, test_frames=2)), 36)


def test_the_puppets_source_redraws_its_own_frames_from_their_parameters() -> None:
    load_photos(None)  # the default photos' landmarks, found once and cached
    _same_frames_redrawn(PuppetsSource(PuppetsParams(frames=3, test_frames=2)), 36)


def test_the_ideal_is_the_target_drawn_with_the_sources_truth(data: EvalData) -> None:
    """B (for a2b; A for b2a) with the other person's test parameters, cropped as eval's
    frames, and scored against itself: SSIM 1, PSNR at its cap, detail 1."""
    from faceoff_synthetic.render import render_frames

    for source in (0, 1):
        target = make_identities(0)[1 - source]
        drawn = render_frames(target, data.test_params[source], DATA["load_size"])
        expected = center_crop(torch.from_numpy(drawn).permute(0, 3, 1, 2), DATA["crop_size"])
        assert torch.equal(data.ideal(source), expected)
    result = fidelity(data.ideal(0), data.ideal(0))
    assert result["ssim"] == pytest.approx(1.0, abs=1e-6) and result["detail"] == 1.0
    assert result["psnr"] == 100.0


def test_blur_reads_below_1_and_noise_above_and_both_lose_ssim(data: EvalData) -> None:
    ideal = data.ideal(0)
    images = ideal.permute(0, 2, 3, 1).numpy()
    blurred = np.stack([cv2.GaussianBlur(x, (0, 0), 1.5) for x in images])
    noise = np.random.default_rng(0).normal(0, 12, images.shape)
    noisy = np.clip(images + noise, 0, 255).astype(np.uint8)
    blur, speckle = (
        fidelity(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), ideal)
        for x in (blurred, noisy)
    )
    assert blur["detail"] < 0.5 and speckle["detail"] > 1.5, (blur, speckle)
    assert blur["ssim"] < 0.95 and speckle["ssim"] < 0.95
    assert blur["psnr"] < 100 and speckle["psnr"] < 100
    flat = torch.zeros_like(ideal)
    assert fidelity(flat, flat)["detail"] is None  # no detail to compare with


def test_a_mask_crop_runs_ideal_is_masked_as_its_frames() -> None:
    """Its generators never saw a background: the ideal is B's frame times B's true mask."""
    masked = load_eval_data(
        {"data": DATA, "mask": {"provider": {"plugin": "synthetic"}, "mode": "crop"}}, "test"
    )
    plain = load_eval_data({"data": DATA}, "test data")
    truth = {k: float(v[0]) for k, v in masked.test_params[0].items()}
    mask = torch.from_numpy(render_mask(make_identities(0)[1], truth, DATA["load_size"]))
    mask = center_crop(mask.clamp(0, 1), DATA["crop_size"])
    ideal = masked.ideal(0)[0].float()
    np.testing.assert_allclose(ideal, (plain.ideal(0)[0].float() * mask).round(), atol=1)
    assert ideal[:, mask == 0].abs().max() == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-step run of each objective."""
    folder = tmp_path_factory.mktemp("fidelity")
    made = {}
    for name, extra in OBJECTIVES.items():
        made[name] = folder / name
        spec = load_spec(QUICKSTART, get_registry(), [*SHORT, *extra])
        train(spec, made[name], show_progress=False)
    return made


def _eval_json(run: Path, *args: str) -> dict[str, Any]:
    done = CliRunner().invoke(cli, ["eval", str(run), "--json", *args])
    assert done.exit_code == 0, done.output

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in eval --json")

    return json.loads(done.stdout, parse_constant=refuse)


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_eval_json_has_fidelity_for_every_objective(runs: dict[str, Path], objective: str) -> None:
    result = _eval_json(runs[objective])
    section = result["fidelity"]
    assert section["computed"] and "fidelity" not in result["not_computed"]
    for key in ("ssim", "psnr", "detail"):
        assert isinstance(section[key], float) and np.isfinite(section[key]), (key, section)
    assert 0 < section["ssim"] < 1 and 0 < section["psnr"] < 100 and section["detail"] > 0
    shown = CliRunner().invoke(cli, ["eval", str(runs[objective])])
    assert shown.exit_code == 0, shown.output
    assert "fidelity" in shown.output and "detail" in shown.output
    assert f"{section['detail']:.2f}" in shown.output


def test_a_frames_run_says_it_cannot_draw_the_ideal(tmp_path: Path) -> None:
    """Its frames carry ground truth (params.csv), but a folder cannot redraw a person."""
    root = tmp_path / "frames"
    wrote = CliRunner().invoke(
        cli, ["data", "synthetic", str(root), "--param", "frames=8", "--param", "test_frames=5"]
    )
    assert wrote.exit_code == 0, wrote.output
    source = json.dumps({"plugin": "frames", "params": {"root": str(root)}})
    overrides = [o for o in SHORT if not o.startswith("data.source")] + [f"data.source={source}"]
    run = tmp_path / "run"
    train(load_spec(QUICKSTART, get_registry(), overrides), run, show_progress=False)
    result = _eval_json(run)
    assert result["expression"]["computed"]  # the ground truth is there
    assert result["fidelity"] == {
        "computed": False,
        "reason": "data source 'frames' (faceoff) cannot redraw its people "
        "(it has no RendersPeople capability)",
    }
    assert result["not_computed"]["fidelity"] == result["fidelity"]["reason"]


def _discs(person: str, params: dict[str, np.ndarray], size: int) -> np.ndarray:
    """One disc per frame in the person's colour, at the frame's ground-truth ``x``."""
    frames = np.full((len(params["x"]), size, size, 3), 30, np.uint8)
    colour = (220, 80, 60) if person == "A" else (60, 120, 220)
    for frame, x in zip(frames, params["x"]):
        cv2.circle(frame, (round(size * (0.5 + x)), size // 2), size // 4, colour, -1)
    return frames


class Folder:
    """A third party's source with ground truth that cannot draw: a disc per person."""

    def load(self, split: str, size: int) -> tuple[Domain, Domain]:
        n = 16 if split == "train" else 6
        domains = []
        for i, person in enumerate("AB"):
            x = np.random.default_rng([i, n]).uniform(-0.2, 0.2, n).astype(np.float32)
            names = [f"{person}_{j:03d}.png" for j in range(n)]
            frames = _discs(person, {"x": x}, size)
            domains.append(Domain(frames, names, {"x": x}, segments=np.zeros(n, np.int64)))
        return domains[0], domains[1]


class Discs(Folder):
    """The same source with the capability: it draws a person at any ``x``."""

    def __init__(self, shape: tuple[int, ...] | None = None) -> None:
        self.shape = shape  # a wrong answer of render_person, to be refused

    def render_person(self, person: str, params: dict[str, np.ndarray], size: int) -> np.ndarray:
        return (
            _discs(person, params, size) if self.shape is None else np.zeros(self.shape, np.uint8)
        )


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process registry with a third party's data sources added in-process."""

    @hookimpl
    def register_data_sources(register: Any) -> None:
        register("discs", lambda params: Discs())
        register("folder", lambda params: Folder())
        register("bad-discs", lambda params: Discs(shape=(1, 8, 8, 3)))

    plugin = SimpleNamespace(register_data_sources=register_data_sources)
    registry = load_registry(extra=[(plugin, PluginInfo("discs", "faceoff-discs", "1", "t"))])
    monkeypatch.setattr(plugins, "get_registry", lambda: registry)


def _third_party_data(name: str) -> EvalData:
    data = {"source": {"plugin": name}, "load_size": 36, "crop_size": 32}
    return load_eval_data({"data": data}, f"{name} data")


def test_a_third_party_source_that_draws_its_people_gets_fidelity(third_party: None) -> None:
    data = _third_party_data("discs")
    assert torch.equal(data.ideal(0)[:, :, 16, 16], data.test[1][:, :, 16, 16])  # B's colour
    ideal = measure(data, "a2b", data.ideal(0), with_landmarks=False)["fidelity"]
    assert ideal["computed"] and ideal["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert ideal["detail"] == 1.0
    shifted = measure(data, "a2b", data.test[1], with_landmarks=False)["fidelity"]
    assert shifted["ssim"] < 0.99 and shifted["psnr"] < 100  # B, but at B's own positions
    folder = measure(_third_party_data("folder"), "a2b", data.test[1], with_landmarks=False)
    assert "no RendersPeople capability" in folder["not_computed"]["fidelity"]


def test_a_source_drawing_the_wrong_shape_is_refused_in_one_line(third_party: None) -> None:
    data = _third_party_data("bad-discs")
    with pytest.raises(FaceoffError) as caught:
        core.fidelity(data, 0, data.test[1])
    message = str(caught.value)
    assert message.startswith("data source 'bad-discs' (faceoff-discs): render_person('B', ...)")
    assert "(1, 8, 8, 3) for 6 frames at 36 px" in message and "\n" not in message
