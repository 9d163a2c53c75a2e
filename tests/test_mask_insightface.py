"""The insightface mask provider, run through insightface's real model zoo on tiny ONNX models.

The buffalo_l pack cannot be downloaded here, so ``insightface_models`` exports two tiny torch
modules with the pack's inputs and outputs; insightface routes, runs and decodes them itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

import insightface_models as packs
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry

BOX = (83, 63, 203, 213)  # the face rectangle of packs.face_frame()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model root holding a tiny buffalo_l pack."""
    root = tmp_path_factory.mktemp("insightface")
    packs.write_pack(root)
    return root


@pytest.fixture(scope="module")
def make(root: Path):
    component = get_registry().get("mask_provider", "insightface")

    def make(**params):
        return component.make({"root": str(root), "threads": 1, **params})

    return make


def expected_face(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The convex hull of contour and brows, filled independently of the provider (0/1)."""
    points = landmarks[list(range(33)) + list(range(43, 52)) + list(range(97, 106))]
    out = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(out, np.round(cv2.convexHull(points)).astype(np.int32).reshape(-1, 2), 1)
    return out


def band(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Pixels within ``pixels`` of the mask's edge."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)


def test_model_zoo_routes_the_tiny_pack(root: Path, make) -> None:
    from insightface.model_zoo import model_zoo
    from insightface.model_zoo.landmark import Landmark
    from insightface.model_zoo.scrfd import SCRFD

    folder = root / "models" / "buffalo_l"
    det = model_zoo.get_model(str(folder / "det_10g.onnx"), providers=["CPUExecutionProvider"])
    lmk = model_zoo.get_model(str(folder / "2d106det.onnx"), providers=["CPUExecutionProvider"])
    assert isinstance(det, SCRFD) and det.taskname == "detection"
    assert (det.fmc, det._num_anchors, det.use_kps, det.batched) == (3, 2, True, False)
    assert isinstance(lmk, Landmark) and lmk.taskname == "landmark_2d_106"
    assert (lmk.lmk_num, lmk.input_size) == (106, (192, 192))

    provider = make()
    assert isinstance(provider.detector, SCRFD) and isinstance(provider.landmarker, Landmark)
    assert {k: p.name for k, p in provider.files.items()} == {
        "detection": "det_10g.onnx",
        "landmark_2d_106": "2d106det.onnx",
    }


def test_landmarks_follow_the_detected_box(make) -> None:
    provider = make()
    frame = packs.face_frame(box=BOX)
    faces = provider.faces(frame)
    assert faces.shape == (1, 5)
    np.testing.assert_allclose(faces[0, :4], BOX, atol=1.0)  # SCRFD's own resize and rescale
    assert faces[0, 4] == pytest.approx(230 / 255, abs=0.01)
    points = provider.landmarks(frame)
    assert points.shape == (106, 2) and points.dtype == np.float32
    np.testing.assert_allclose(points, packs.expected_landmarks(BOX), atol=1.0)
    # another detector size and frame size go through the same maths
    frame = packs.face_frame(size=200, box=(40, 30, 150, 170))
    points = make(det_size=320, threads=0).landmarks(frame)
    np.testing.assert_allclose(points, packs.expected_landmarks((40, 30, 150, 170)), atol=1.5)


def test_mask_is_the_filled_face_outline(make) -> None:
    provider = make()
    frame = packs.face_frame(box=BOX)
    mask = provider(frame)
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    want = expected_face(packs.expected_landmarks(BOX), mask.shape)
    differ = (mask > 0) != (want > 0)
    assert not (differ & ~band(want, 2)).any(), "mask differs from the hull away from its edge"
    assert abs(mask.sum() - want.sum()) < 0.03 * want.sum()
    points = provider.landmarks(frame)
    for group in (range(33, 43), range(52, 72), range(72, 87), range(87, 97)):
        inside = points[list(group)].round().astype(int)
        assert (mask[inside[:, 1], inside[:, 0]] == 1).all()
    top = int(points[list(range(43, 52)) + list(range(97, 106)), 1].min())
    assert mask[: top - 2].sum() == 0  # nothing above the brows
    assert mask[int(points[:33, 1].max()) + 2 :].sum() == 0  # nor below the chin


def test_region_weights_on_eyes_and_mouth(make) -> None:
    frame = packs.face_frame(box=BOX)
    plain = make()(frame)
    mask = make(eye_weight=3, mouth_weight=2)(frame)
    points = make().landmarks(frame)

    def at(indices) -> float:
        x, y = points[list(indices)].mean(0).round().astype(int)
        return float(mask[y, x])

    assert at(range(33, 43)) == pytest.approx(3) and at(range(87, 97)) == pytest.approx(3)
    assert at(range(52, 72)) == pytest.approx(2)
    assert at([80]) == pytest.approx(1)  # the nose is face, not a region
    assert mask.max() == pytest.approx(3)
    np.testing.assert_array_equal(mask == 0, plain == 0)  # regions lie inside the face
    eyes = (mask > 2.5).sum()
    grown = (make(eye_weight=3, region_dilate=6)(frame) > 2.5).sum()
    assert grown > 1.5 * eyes


def test_dilate_feather_and_forehead(make) -> None:
    frame = packs.face_frame(box=BOX)
    base = make()(frame)
    assert make(dilate=5)(frame).sum() > base.sum() + 300
    assert make(dilate=-5)(frame).sum() < base.sum() - 300
    soft = make(feather=3.0)(frame)
    edge = band((base > 0).astype(np.uint8), 2)
    assert ((soft[edge] > 0.05) & (soft[edge] < 0.95)).mean() > 0.5
    assert soft.max() <= 1.0 + 1e-5 and soft[base == 0].max() < 0.9
    assert abs(soft.sum() - base.sum()) < 0.02 * base.sum()
    tall = make(forehead=0.5)(frame)
    top = int(make().landmarks(frame)[43:52, 1].min())
    assert base[: top - 2].sum() == 0 and tall[: top - 20].sum() > 500


def test_no_face_is_none(make) -> None:
    provider = make()
    dark = packs.face_frame(colour=(90, 90, 90))  # nothing above 127.5: the detector scores < 0.36
    assert provider(dark) is None and provider.landmarks(dark) is None
    assert provider.faces(dark).shape == (0, 5)
    dim = packs.face_frame(colour=(150, 40, 40))  # score 150 / 255 = 0.59
    assert make(det_thresh=0.7)(dim) is None
    assert make(det_thresh=0.5)(dim) is not None


def test_largest_face_wins(make) -> None:
    provider = make()
    frame = packs.face_frame(box=(10, 10, 70, 80), colour=(230, 40, 40))  # small red face
    frame[100:260, 120:270] = (40, 40, 230)  # large blue face
    assert provider.faces(frame).shape == (2, 5)
    np.testing.assert_allclose(
        provider.landmarks(frame), packs.expected_landmarks((120, 100, 270, 260)), atol=1.0
    )
    frame = packs.face_frame(box=(20, 20, 220, 260), colour=(230, 40, 40))  # now red is larger
    frame[230:280, 230:280] = (40, 40, 230)
    np.testing.assert_allclose(
        provider.landmarks(frame), packs.expected_landmarks((20, 20, 220, 260)), atol=1.0
    )


def test_missing_pack_names_the_files(tmp_path: Path) -> None:
    component = get_registry().get("mask_provider", "insightface")
    with pytest.raises(FaceoffError) as info:
        component.make({"root": str(tmp_path)})
    message = str(info.value)
    folder = tmp_path / "models" / "buffalo_l"
    assert str(folder / "det_10g.onnx") in message and str(folder / "2d106det.onnx") in message
    assert "releases" in message
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing downloaded

    packs.write_pack(tmp_path, landmarks=False)
    with pytest.raises(FaceoffError) as info:
        component.make({"root": str(tmp_path)})
    message = str(info.value)
    assert "106-point" in message and str(folder / "2d106det.onnx") in message
    assert "Found: det_10g.onnx (detection)" in message and "det_10g.onnx and" not in message

    packs.write_pack(tmp_path, "mine", detector=False)
    with pytest.raises(FaceoffError, match=r"lacks a SCRFD face detector.*2d106det\.onnx \(landm"):
        component.make({"root": str(tmp_path), "pack": "mine"})


def test_params_are_checked() -> None:
    component = get_registry().get("mask_provider", "insightface")
    for bad in ({"det_size": 100}, {"eye_weight": 0.5}, {"pack": "a/b"}, {"colour": 1}):
        with pytest.raises(ValidationError):
            component.params.model_validate(bad)


def test_frames_must_be_uint8_rgb(make) -> None:
    with pytest.raises(FaceoffError, match="uint8 RGB"):
        make()(np.zeros((64, 64), np.float32))


def test_plugin_import_stays_light() -> None:
    code = (
        "import json, sys\n"
        "import faceoff_insightface\n"
        "bare = [m for m in ('insightface', 'onnxruntime', 'torch', 'cv2', 'onnx') "
        "if m in sys.modules]\n"
        "from faceoff.plugins import get_registry\n"
        "get_registry().get('mask_provider', 'insightface')\n"
        "loaded = [m for m in ('insightface', 'onnxruntime') if m in sys.modules]\n"
        "print(json.dumps([bare, loaded]))\n"
    )
    env = {**os.environ, "FACEOFF_LOAD_PLUGINS": "insightface"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[], []]
