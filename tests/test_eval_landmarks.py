"""Expression consistency from dlib's landmarks, on a real face whose mouth opens and closes.

The face is Eileen Collins' in skimage.data.astronaut(); the mouth is opened and closed by a
local vertical stretch about the lips, so the real detector and predictor see it move.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("dlib")
skdata = pytest.importorskip("skimage.data")
cv2 = pytest.importorskip("cv2")

from faceoff.errors import FaceoffError  # noqa: E402
from faceoff.eval.landmarks import (  # noqa: E402
    MIN_FRAMES,
    LandmarksUnavailable,
    build_provider,
    expression_series,
    landmark_consistency,
)

# dlib's landmarks on the 512 px astronaut: mouth corners 48/54 at x 201/246, inner lips at
# y 143..151. The crop (left, top, right, bottom) holds the face (dlib box 175,76..265,166).
MOUTH_CENTRE = (223.0, 147.0)
CROP = (122, 25, 322, 225)
# Vertical stretch of the mouth per frame: opens fast, then closes slowly to shut: not symmetric
# in time, so the reversed sequence does not follow it. Below 0.6 the warp folds the lips over.
STRETCH = (1.0, 1.5, 2.0, 1.6, 1.2, 0.9, 0.7, 0.6, 0.7, 0.8)


def _open_mouth(image: np.ndarray, stretch: float) -> np.ndarray:
    """Stretch the lips vertically by ``stretch`` about the mouth's centre, fading out in a
    Gaussian window (sigma 30 px across, 22 px down) so the rest of the face stays put."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = MOUTH_CENTRE
    dy = ys - cy
    window = np.exp(-0.5 * ((xs - cx) / 30.0) ** 2) * np.exp(-0.5 * (dy / 22.0) ** 2)
    src_y = (ys - dy * (1.0 - 1.0 / stretch) * window).astype(np.float32)
    return cv2.remap(image, xs, src_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def provider():
    return build_provider()


@pytest.fixture(scope="module")
def sequence() -> np.ndarray:
    """10 frames, 200 px, uint8 RGB: the astronaut's face with the mouth opening and closing."""
    astronaut = skdata.astronaut()
    left, top, right, bottom = CROP
    return np.stack([_open_mouth(astronaut, s)[top:bottom, left:right] for s in STRETCH])


@pytest.fixture(scope="module")
def series(sequence: np.ndarray, provider) -> dict[str, np.ndarray]:
    return expression_series(sequence, provider=provider)


def test_mouth_ratio_follows_the_stretch(series: dict[str, np.ndarray]) -> None:
    mouth, eye = series["mouth"], series["eye"]
    assert mouth.shape == eye.shape == (len(STRETCH),)
    assert np.isfinite(mouth).all() and np.isfinite(eye).all()
    # Measured: MAR 0.07 (stretch 0.6) to 0.30 (2.0); EAR 0.30 to 0.37, the predictor narrowing
    # the eyes as the smile widens.
    assert mouth.max() - mouth.min() > 0.15
    assert np.corrcoef(mouth, STRETCH)[0, 1] > 0.9
    assert ((eye > 0.2) & (eye < 0.5)).all()
    assert np.ptp(eye) < 0.1


def test_identical_outputs_correlate_fully(sequence: np.ndarray, provider) -> None:
    got = landmark_consistency(sequence, sequence, provider=provider)
    n = len(STRETCH)
    assert got["frames"] == got["faces_in"] == got["faces_out"] == got["both"] == n
    assert got["mouth_corr"] > 0.99
    assert got["mouth_mae"] == 0.0 and got["eye_mae"] == 0.0
    if got["eye_corr"] is None:  # only when dlib's eye points do not move at all
        assert "eye" in got["reason"] and "constant" in got["reason"]
    else:
        assert got["eye_corr"] > 0.99 and got["reason"] is None


def test_reversed_outputs_do_not_follow(sequence: np.ndarray, provider) -> None:
    assert np.corrcoef(STRETCH, STRETCH[::-1])[0, 1] < 0.0  # the sequence is not symmetric
    got = landmark_consistency(sequence, sequence[::-1].copy(), provider=provider)
    assert got["both"] == len(STRETCH)
    assert got["mouth_corr"] is not None and got["mouth_corr"] < 0.3
    assert got["mouth_mae"] > 0.03


def test_a_still_output_has_no_correlation(sequence: np.ndarray, provider) -> None:
    still = np.repeat(sequence[:1], len(sequence), axis=0)
    got = landmark_consistency(sequence, still, provider=provider)
    assert got["both"] == len(STRETCH)
    assert got["mouth_corr"] is None and got["eye_corr"] is None
    assert "constant" in got["reason"] and "output" in got["reason"]
    assert got["mouth_mae"] > 0.03  # the difference is still measured


def test_frames_without_a_face_count_zero(sequence: np.ndarray, provider) -> None:
    grey = np.full_like(sequence, 128)
    empty = expression_series(grey[:3], provider=provider)
    assert np.isnan(empty["mouth"]).all() and np.isnan(empty["eye"]).all()
    got = landmark_consistency(sequence, grey, provider=provider)
    assert (got["faces_in"], got["faces_out"], got["both"]) == (len(STRETCH), 0, 0)
    assert got["mouth_corr"] is None and got["eye_corr"] is None
    assert got["mouth_mae"] is None and got["eye_mae"] is None
    assert got["reason"].startswith(f"fewer than {MIN_FRAMES} frames with a face in both")


def test_small_frames_are_upscaled_for_the_detector(
    sequence: np.ndarray, series: dict[str, np.ndarray], provider
) -> None:
    def resized(side: int) -> np.ndarray:
        return np.stack(
            [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in sequence]
        )

    # At 48 px the face is ~22 px wide: dlib (upsample 1) finds it only in the upscaled frame.
    tiny = resized(48)[:3]
    assert np.isnan(expression_series(tiny, detector_size=0, provider=provider)["mouth"]).all()
    assert np.isfinite(expression_series(tiny, provider=provider)["mouth"]).all()
    small = resized(64)
    scaled = expression_series(small, provider=provider)
    assert np.isfinite(scaled["mouth"]).all()
    assert np.corrcoef(scaled["mouth"], series["mouth"])[0, 1] > 0.9
    got = landmark_consistency(small, sequence, provider=provider)
    assert got["both"] == len(STRETCH) and got["mouth_corr"] > 0.9


def test_bad_input_is_refused(sequence: np.ndarray, provider) -> None:
    with pytest.raises(ValueError, match="frames"):
        landmark_consistency(sequence, sequence[:5], provider=provider)
    with pytest.raises(ValueError, match="uint8"):
        expression_series(sequence.astype(np.float32), provider=provider)


def test_without_dlib_eval_goes_on() -> None:
    """dlib unimportable: the series raise a FaceoffError, the consistency says why."""
    code = (
        "import sys\n"
        "sys.modules['dlib'] = None\n"
        "import numpy as np\n"
        "from faceoff.errors import FaceoffError\n"
        "from faceoff.eval.landmarks import expression_series, landmark_consistency\n"
        "frames = np.zeros((4, 64, 64, 3), np.uint8)\n"
        "got = landmark_consistency(frames, frames)\n"
        "assert got['mouth_corr'] is None and got['faces_in'] == 0, got\n"
        "assert 'dlib' in got['reason'] and '\\n' not in got['reason'], got\n"
        "try:\n"
        "    expression_series(frames)\n"
        "except FaceoffError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LandmarksUnavailable"
    assert issubclass(LandmarksUnavailable, FaceoffError)
