"""The dlib mask provider on a real photograph, with the real dlib and 68-point predictor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dlib")
skdata = pytest.importorskip("skimage.data")
cv2 = pytest.importorskip("cv2")

from pydantic import ValidationError  # noqa: E402

from faceoff.errors import FaceoffError  # noqa: E402
from faceoff.plugins import get_registry  # noqa: E402

# Eileen Collins' face in skimage.data.astronaut() (512x512), as (left, top, right, bottom) px:
# hairline to chin, ear to ear, read off an overlay of dlib's box and landmarks. dlib's own box
# there is (175, 76, 265, 166) and its landmarks span x 179..272, y 87..178.
FACE = (165, 50, 290, 195)
EYES = ((36, 42), (42, 48))
MOUTH = (48, 60)


def _dlib(params: dict | None = None):
    return get_registry().get("mask_provider", "dlib").make(params or {})


def _hull(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask > 0


def _in_face(mask: np.ndarray) -> np.ndarray:
    left, top, right, bottom = FACE
    inside = np.zeros(mask.shape, bool)
    inside[top : bottom + 1, left : right + 1] = True
    return inside


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="module")
def plain(astronaut: np.ndarray):
    """The default provider, built through the registry, with its landmarks and mask."""
    provider = _dlib()
    return provider, provider.landmarks(astronaut), provider(astronaut)


def test_landmarks_fall_inside_the_face(plain, astronaut: np.ndarray) -> None:
    provider, points, _ = plain
    assert points.shape == (68, 2) and points.dtype == np.float32
    left, top, right, bottom = FACE
    assert (points[:, 0] >= left).all() and (points[:, 0] <= right).all()
    assert (points[:, 1] >= top).all() and (points[:, 1] <= bottom).all()
    # The layout: the image-left eye left of the other, brows above eyes above the mouth, chin last.
    left_eye, right_eye = points[36:42].mean(0), points[42:48].mean(0)
    assert left_eye[0] < right_eye[0]
    assert points[17:27, 1].mean() < left_eye[1] < points[48:60, 1].mean() < points[8, 1]
    box = provider.face_box(astronaut)
    assert box is not None
    assert left <= box[0] < box[2] <= right and top <= box[1] < box[3] <= bottom


def test_mask_covers_the_face_and_little_else(plain) -> None:
    _, points, mask = plain
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert set(np.unique(mask).tolist()) == {0.0, 1.0}
    face = mask > 0
    assert 0.015 < face.mean() < 0.05  # measured 0.026; the FACE box is 0.069 of the image
    ys, xs = np.nonzero(face)
    left, top, right, bottom = FACE
    assert left < xs.mean() < right and top < ys.mean() < bottom
    assert face[~_in_face(mask)].sum() == 0
    # The nose tip, both eyes' centres and the mouth are in; the hull of all landmarks is covered.
    for x, y in (points[30], points[36:42].mean(0), points[42:48].mean(0), points[62]):
        assert mask[round(y), round(x)] == 1.0
    assert face[_hull(points, mask.shape)].mean() > 0.99


def test_extended_mask_reaches_higher(plain, astronaut: np.ndarray) -> None:
    _, _, mask = plain
    extended = _dlib({"extended": True})(astronaut)
    top = np.nonzero(mask.any(1))[0][0]
    top_extended = np.nonzero(extended.any(1))[0][0]
    assert top_extended < top - 2  # measured 82 vs 87
    assert extended.sum() > mask.sum()
    assert (extended[mask > 0] > 0).mean() > 0.99
    # The chin and jaw stay where they were.
    assert np.nonzero(extended.any(1))[0][-1] == np.nonzero(mask.any(1))[0][-1]
    more = _dlib({"extended": True, "extend_by": 1.5})(astronaut)
    assert np.nonzero(more.any(1))[0][0] < top_extended


def test_dilation_grows_the_area(plain, astronaut: np.ndarray) -> None:
    _, _, mask = plain
    grown = _dlib({"dilate": 6})(astronaut)
    assert set(np.unique(grown).tolist()) == {0.0, 1.0}
    assert grown.sum() > mask.sum() * 1.15
    assert (grown[mask > 0] == 1.0).all()
    rows, grown_rows = np.nonzero(mask.any(1))[0], np.nonzero(grown.any(1))[0]
    assert grown_rows[0] == rows[0] - 6 and grown_rows[-1] == rows[-1] + 6


def test_feathering_softens_only_the_edge(plain, astronaut: np.ndarray) -> None:
    _, _, mask = plain
    sigma = 3.0
    soft = _dlib({"feather": sigma})(astronaut)
    assert soft.min() == 0.0 and soft.max() == 1.0
    hard = (mask > 0).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    edge = (hard - cv2.erode(hard, kernel)) > 0
    assert edge.sum() > 100
    assert ((soft[edge] > 0) & (soft[edge] < 1)).all()
    deep = cv2.erode(hard, np.ones((25, 25), np.uint8)) > 0  # 12 px = 4 sigma in
    assert deep.any() and (soft[deep] == 1.0).all()
    far = cv2.dilate(hard, np.ones((25, 25), np.uint8)) == 0
    assert (soft[far] == 0.0).all()
    assert (soft > 0).sum() > hard.sum()  # the blur reaches out past the polygon


@pytest.mark.parametrize("feather", [0.0, 2.0])
def test_region_weights_are_exact(plain, astronaut: np.ndarray, feather: float) -> None:
    _, points, mask = plain
    weighted = _dlib({"eye_weight": 3.0, "mouth_weight": 2.0, "feather": feather})(astronaut)
    shape = mask.shape
    eyes = _hull(points[36:42], shape) | _hull(points[42:48], shape)
    mouth = _hull(points[48:60], shape)
    assert (weighted[eyes] == 3.0).all()
    assert (weighted[mouth] == 2.0).all()
    # The eye regions grow a little past the eye hulls (a fifth of the eye's width, 3 px here).
    grown = (weighted == 3.0) & ~eyes
    assert 0 < grown.sum() < eyes.sum() * 3
    # Elsewhere on the face exactly 1, off the face 0 without feathering.
    face = mask > 0
    rest = face & (weighted < 2.0)
    interior = cv2.erode(face.astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    assert (weighted[rest & interior] == 1.0).all()
    assert weighted[points[30, 1].astype(int), points[30, 0].astype(int)] == 1.0  # nose tip
    if feather == 0.0:
        assert set(np.unique(weighted).tolist()) == {0.0, 1.0, 2.0, 3.0}
        assert ((weighted > 0) == face).all()
    else:
        assert ((weighted > 0) & (weighted < 1)).any()
    assert weighted.max() == 3.0


def test_render_helpers_match_the_call(plain, astronaut: np.ndarray) -> None:
    provider, points, mask = plain
    np.testing.assert_array_equal(provider.mask_from_landmarks(points, mask.shape), mask)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert provider.landmarks(gray) is not None
    with pytest.raises(ValueError, match="uint8 RGB"):
        provider(astronaut.astype(np.float32))


def test_training_size_finds_the_face(plain, astronaut: np.ndarray) -> None:
    """At 286 px the face is ~50 px wide: the default upsample 1 finds it, 0 does not."""
    _, points, _ = plain
    small = cv2.resize(astronaut, (286, 286), interpolation=cv2.INTER_AREA)
    provider = _dlib()
    found = provider.landmarks(small)
    assert found is not None
    assert np.abs(found - points * 286 / 512).max() < 6
    mask = provider(small)
    assert mask.shape == (286, 286) and 0.015 < (mask > 0).mean() < 0.05
    assert _dlib({"upsample": 0})(small) is None


def test_no_face_gives_none(plain) -> None:
    provider = plain[0]
    grey = np.full((120, 160, 3), 128, np.uint8)
    for frame in (grey, skdata.coffee()):
        assert provider(frame) is None
        assert provider.landmarks(frame) is None
        assert provider.face_box(frame) is None


def test_missing_or_wrong_predictor_is_a_faceoff_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "shape_predictor_68_face_landmarks.dat"
    with pytest.raises(FaceoffError, match="nowhere") as info:
        _dlib({"predictor": str(missing)})
    assert str(missing) in str(info.value) and "predictor" in str(info.value)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"not a predictor")
    with pytest.raises(FaceoffError, match=r"junk\.dat"):
        _dlib({"predictor": str(junk)})


def test_params_are_checked() -> None:
    component = get_registry().get("mask_provider", "dlib")
    for bad in ({"upsample": 4}, {"dilate": -1}, {"feather": -0.5}, {"eye_weight": 0.5}):
        with pytest.raises(ValidationError):
            component.params.model_validate(bad)
    with pytest.raises(ValidationError):
        component.params.model_validate({"dilation": 3})


def test_import_is_cheap_and_predictor_found_without_importing_its_package() -> None:
    code = (
        "import sys\n"
        "import faceoff_dlib\n"
        "heavy = [m for m in ('dlib', 'torch', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from faceoff_dlib.provider import PREDICTOR_FILE, find_predictor\n"
        "path = find_predictor(None)\n"
        "assert path.name == PREDICTOR_FILE and path.is_file(), path\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "assert 'dlib' not in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
