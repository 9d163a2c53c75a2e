"""The `puppets` data source: real photographs animated with known expression and pose."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.eval import core, judges
from faceoff.eval.nets import JudgeConfig
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff_puppets import PuppetsParams
from faceoff_puppets.animate import frame_landmarks, make_puppet, render_frame, working_side
from faceoff_puppets.photos import Photo, default_photos, load_photos
from faceoff_puppets.source import PuppetsSource
from faceoff_synthetic.render import PARAM_NAMES
from tiny import QUICKSTART, TINY

SMALL = {"frames": 6, "test_frames": 3}


@pytest.fixture(scope="module")
def photos() -> tuple[Photo, Photo]:
    """The default photos with their landmarks, found once (and cached on disk)."""
    return load_photos(None)


def test_frames_are_uint8_of_the_size_with_ground_truth_and_one_segment(photos) -> None:
    source = PuppetsSource(PuppetsParams(**SMALL))
    train_a, train_b = source.load("train", 36)
    test_a, test_b = source.load("test", 36)
    for domain, n in ((train_a, 6), (train_b, 6), (test_a, 3), (test_b, 3)):
        assert domain.frames.dtype == np.uint8 and domain.frames.shape == (n, 36, 36, 3)
        assert domain.params is not None and set(domain.params) == set(PARAM_NAMES)
        assert all(v.shape == (n,) and v.dtype == np.float32 for v in domain.params.values())
        assert (domain.segments == 0).all() and len(domain.clip_starts(3)) == n - 2
    assert test_a.names[0] == "A_00006.png" and train_b.truth["person"] == "B"
    assert not np.array_equal(train_a.frames[0], train_b.frames[0])
    assert train_a.frames.std() > 20, "a photograph, not a flat image"


def test_the_same_seed_gives_the_same_frames_and_another_seed_others(photos) -> None:
    first = PuppetsSource(PuppetsParams(**SMALL)).load("train", 36)
    again = PuppetsSource(PuppetsParams(**SMALL)).load("train", 36)
    other = PuppetsSource(PuppetsParams(**SMALL, seed=1)).load("train", 36)
    for a, b, c in zip(first, again, other):
        assert np.array_equal(a.frames, b.frames)
        assert all(np.array_equal(a.params[k], b.params[k]) for k in PARAM_NAMES)
        assert not np.array_equal(a.frames, c.frames)
        assert not np.array_equal(a.params["mouth_open"], c.params["mouth_open"])


def test_motion_ranges_scale_the_recorded_parameters(photos) -> None:
    still = PuppetsParams(**SMALL, mouth=0, blink=False, smile=0, brow=0, yaw=0, roll=0)
    a, _ = PuppetsSource(still.model_copy(update={"shift": 0, "zoom": 0})).load("train", 36)
    assert (a.params["mouth_open"] == 0).all() and (a.params["eye_open"] == 1).all()
    assert (a.params["scale"] == 1).all() and (a.params["roll"] == 0).all()
    assert (a.frames == a.frames[0]).all(), "nothing moves"
    wide, _ = PuppetsSource(PuppetsParams(**SMALL, roll=30)).load("train", 36)
    default, _ = PuppetsSource(PuppetsParams(**SMALL)).load("train", 36)
    assert np.allclose(wide.params["roll"], 2 * default.params["roll"])


@pytest.mark.parametrize("person", [0, 1])
def test_mouth_open_changes_the_mouth_and_nothing_far_from_the_face(photos, person) -> None:
    size = 64
    photo = photos[person]
    puppet = make_puppet(photo.image, photo.landmarks, working_side(size), 0.34, 0.25)
    pose = {"yaw": 0.3, "roll": 5.0, "x": 0.02, "scale": 1.05}
    closed = render_frame(puppet, {**pose, "mouth_open": 0.0}, size).astype(np.float32)
    mouth = np.zeros((size, size), np.uint8)
    lips = frame_landmarks(puppet, {**pose, "mouth_open": 1.0}, size)[48:60]
    cv2.fillConvexPoly(mouth, np.round(lips).astype(np.int32), 1)
    assert mouth.sum() > 20
    far = np.zeros((size, size), bool)  # the frame's corners, well outside the face
    far[:8, :8] = far[:8, -8:] = far[-8:, :8] = far[-8:, -8:] = True
    inside = []
    for opening in (0.25, 0.5, 1.0):
        frame = render_frame(puppet, {**pose, "mouth_open": opening}, size).astype(np.float32)
        change = np.abs(frame - closed).mean(2)
        inside.append(float(change[mouth > 0].mean()))
        assert float(change[far].max()) <= 1.0, "only the face moves"
    assert inside[0] < inside[1] < inside[2] and inside[2] > 25, inside


def test_landmarks_are_cached_per_photo(photos, monkeypatch: pytest.MonkeyPatch) -> None:
    import faceoff_puppets.photos as module

    def refuse(image):
        raise AssertionError("detected again")

    monkeypatch.setattr(module, "_clearest_face", refuse)  # the cache answers
    again = load_photos(None)
    assert np.array_equal(again[0].landmarks, photos[0].landmarks)


def test_a_photo_without_a_face_is_refused_naming_the_file(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((200, 200, 3), 128, np.uint8))
    astronaut = str(default_photos()[0][0])
    source = PuppetsSource(PuppetsParams(**SMALL, photos=[astronaut, str(grey)]))
    with pytest.raises(FaceoffError) as caught:
        source.load("train", 36)
    message = str(caught.value)
    assert "no face" in message and str(grey) in message and "\n" not in message


def test_a_missing_photo_is_refused_naming_the_param(tmp_path: Path) -> None:
    astronaut = str(default_photos()[0][0])
    with pytest.raises(FaceoffError, match=r"photos\[1\].*nowhere\.jpg.*no such file"):
        PuppetsSource(PuppetsParams(**SMALL, photos=[astronaut, str(tmp_path / "nowhere.jpg")]))
    with pytest.raises(ValueError, match="photos"):
        PuppetsParams(photos=[astronaut])


def test_validate_accepts_the_puppets_source() -> None:
    result = CliRunner().invoke(
        cli, ["validate", str(QUICKSTART), "--set", "data.source.plugin=puppets"]
    )
    assert result.exit_code == 0, result.output
    example = QUICKSTART.parent / "puppets.json"
    result = CliRunner().invoke(cli, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    puppets, quickstart = json.loads(example.read_text()), json.loads(QUICKSTART.read_text())
    assert puppets["data"].pop("source")["plugin"] == "puppets"
    del quickstart["data"]["source"], puppets["output"], quickstart["output"]
    assert puppets == quickstart  # the quickstart on real photographs, nothing else changed


def test_a_tiny_run_on_puppets_evaluates_with_expression_figures(
    photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two steps: the figures mean nothing, but every section is computed on the puppets."""
    monkeypatch.setattr(judges, "PROBE_CONFIG", JudgeConfig(width=4, layers=3, steps=10))
    monkeypatch.setattr(judges, "CLASSIFIER_CONFIG", JudgeConfig(width=4, layers=3, steps=5))
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "cache"))
    extra = ["train.max_steps=2", "data.source.plugin=puppets", "data.source.params.test_frames=6"]
    run = tmp_path / "run"
    train(load_spec(QUICKSTART, get_registry(), [*TINY, *extra]), run, show_progress=False)
    result = core.evaluate(run, frames=6)
    expression = result["expression"]
    assert expression["computed"], result["not_computed"]
    assert {"mouth_open", "eye_open", "yaw", "roll", "x", "y", "scale"} <= set(
        expression["per_param"]
    )
    assert result["identity"]["computed"] and result["stability"]["computed"]
    shown = CliRunner().invoke(cli, ["eval", str(run), "--frames", "6"])
    assert shown.exit_code == 0, shown.output
    assert "mouth_open" in shown.output and "expression" in shown.output


def test_the_ablation_reports_ideal_face_off_is_bs_puppet_with_as_parameters(photos) -> None:
    """benchmarks/ablation.py's ideal row on a puppets run draws B's photo, not a cartoon."""
    import sys

    sys.path.insert(0, str(QUICKSTART.parents[1] / "benchmarks"))
    import ablation

    from faceoff.eval.data import load_eval_data

    spec = json.loads(QUICKSTART.read_text())
    spec["data"]["source"] = {"plugin": "puppets", "params": SMALL}
    data = load_eval_data(spec, "puppets")
    ideal = ablation.ideal_frames(spec, data)
    a, b = (frames.float() for frames in data.test)
    assert ideal.shape == data.test[1].shape and ideal.dtype == torch.uint8
    to_b, to_a = ((ideal.float() - x).abs().mean() for x in (b, a))
    assert to_b < to_a, (to_b, to_a)  # B's skin, hair and background, posed as A
    colour = [x.mean(dim=(0, 2, 3)) for x in (ideal.float(), b, a)]
    assert (colour[0] - colour[1]).abs().sum() < 0.75 * (colour[0] - colour[2]).abs().sum()
    assert not torch.equal(ideal, data.test[1])  # with A's parameters, not B's own
    cartoon = json.loads(QUICKSTART.read_text())  # the synthetic people, same sizes
    cartoon["data"]["source"]["params"].update(SMALL)
    drawn = ablation.ideal_frames(cartoon, load_eval_data(cartoon, "synthetic"))
    assert (drawn.float() - ideal.float()).abs().mean() > 20
