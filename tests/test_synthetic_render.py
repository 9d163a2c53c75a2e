"""Behaviour of the synthetic cartoon talking-head renderer (faceoff_synthetic.render)."""

from __future__ import annotations

import numpy as np
import pytest

import faceoff_synthetic.render as render

SIZE = 48


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(axis=2)


def _row_centroid(weights: np.ndarray) -> float:
    rows = np.arange(weights.shape[0])
    return float((weights.sum(axis=1) * rows).sum() / weights.sum())


@pytest.fixture(scope="module")
def pair() -> tuple[render.Identity, render.Identity]:
    return render.make_identities(3)


@pytest.fixture(scope="module")
def trajectory() -> dict[str, np.ndarray]:
    return render.expression_trajectory(11, 1000)


def test_trajectory_keys_dtype_and_ranges(trajectory: dict[str, np.ndarray]) -> None:
    assert tuple(trajectory) == render.PARAM_NAMES
    for values in trajectory.values():
        assert values.dtype == np.float32 and values.shape == (1000,)
    bounds = {
        "mouth_open": (0, 1),
        "smile": (-1, 1),
        "eye_open": (0, 1),
        "brow": (-1, 1),
        "yaw": (-1, 1),
        "roll": (-15, 15),
        "x": (-0.08, 0.08),
        "y": (-0.08, 0.08),
        "scale": (0.85, 1.15),
    }
    for name, (low, high) in bounds.items():
        assert trajectory[name].min() >= low and trajectory[name].max() <= high, name
        # the range is actually explored, not a constant
        assert trajectory[name].max() - trajectory[name].min() > 0.3 * (high - low), name


def test_trajectory_is_smooth(trajectory: dict[str, np.ndarray]) -> None:
    for name, values in trajectory.items():
        step = np.abs(np.diff(values)).mean()
        assert step < 0.3 * values.std(), name  # white noise would give ~1.1 * std


def test_eyes_blink_briefly(trajectory: dict[str, np.ndarray]) -> None:
    closed = trajectory["eye_open"] < 0.1
    assert closed.any()
    assert closed.mean() < 0.1


def test_trajectory_is_deterministic_and_prefix_stable() -> None:
    long = render.expression_trajectory(5, 300)
    short = render.expression_trajectory(5, 120)
    other = render.expression_trajectory(6, 120)
    for name in render.PARAM_NAMES:
        np.testing.assert_array_equal(long[name][:120], short[name])
    assert any(not np.array_equal(short[n], other[n]) for n in render.PARAM_NAMES)


def test_identities_are_distinct_and_deterministic(pair: tuple[render.Identity, ...]) -> None:
    a, b = pair
    assert render.make_identities(3) == (a, b)
    assert render.make_identities(4) != (a, b)
    assert a.glasses != b.glasses and a.beard != b.beard and a.glasses != a.beard
    assert sum(abs(x - y) for x, y in zip(a.skin, b.skin, strict=True)) > 60
    assert a.hair != b.hair and a.hair_style != b.hair_style
    assert a.bg_top != b.bg_top
    assert (a.offset_x, a.offset_y, a.scale) != (b.offset_x, b.offset_y, b.scale)


@pytest.mark.parametrize("size", [32, 100])
def test_sequence_shape_and_dtype(size: int) -> None:
    frames, params = render.render_sequence(0, "B", 3, size)
    assert frames.shape == (3, size, size, 3) and frames.dtype == np.uint8
    assert tuple(params) == render.PARAM_NAMES
    assert all(v.shape == (3,) and v.dtype == np.float32 for v in params.values())


def test_sequence_is_deterministic() -> None:
    frames, params = render.render_sequence(7, "A", 4, SIZE)
    again, params_again = render.render_sequence(7, "A", 4, SIZE)
    assert frames.tobytes() == again.tobytes()
    for name in render.PARAM_NAMES:
        np.testing.assert_array_equal(params[name], params_again[name])
    other, _ = render.render_sequence(8, "A", 4, SIZE)
    assert not np.array_equal(frames, other)


def test_a_and_b_have_independent_trajectories() -> None:
    _, params_a = render.render_sequence(7, "A", 50, 16)
    _, params_b = render.render_sequence(7, "B", 50, 16)
    assert not np.array_equal(params_a["mouth_open"], params_b["mouth_open"])
    assert not np.array_equal(params_a["yaw"], params_b["yaw"])


def test_people_differ_more_than_expressions(
    pair: tuple[render.Identity, ...], trajectory: dict[str, np.ndarray]
) -> None:
    a, b = pair
    across, within = [], []
    for t in (0, 200, 400, 600):
        now = {k: float(v[t]) for k, v in trajectory.items()}
        later = {k: float(v[t + 10]) for k, v in trajectory.items()}
        frame_a = render.render_frame(a, now, SIZE)
        across.append(_diff(frame_a, render.render_frame(b, now, SIZE)).mean())
        within.append(_diff(frame_a, render.render_frame(a, later, SIZE)).mean())
    assert np.mean(across) > 2.0 * np.mean(within)


@pytest.mark.parametrize(
    ("params", "lower_half"),
    [
        ({"mouth_open": 1.0}, True),
        ({"smile": 1.0}, True),
        ({"smile": -1.0}, True),
        ({"eye_open": 0.0}, False),
        ({"brow": 1.0}, False),
        ({"brow": -1.0}, False),
    ],
)
def test_expressions_change_their_own_region(
    pair: tuple[render.Identity, ...], params: dict[str, float], lower_half: bool
) -> None:
    for identity in pair:
        diff = _diff(
            render.render_frame(identity, {}, 64), render.render_frame(identity, params, 64)
        )
        assert diff.sum() > 500, params
        share_below = diff[32:].sum() / diff.sum()
        assert share_below > 0.9 if lower_half else share_below < 0.25, params


def test_eyes_sit_above_the_mouth(pair: tuple[render.Identity, ...]) -> None:
    for identity in pair:
        neutral = render.render_frame(identity, {}, 64)
        mouth = _diff(neutral, render.render_frame(identity, {"mouth_open": 1.0}, 64))
        eyes = _diff(neutral, render.render_frame(identity, {"eye_open": 0.0}, 64))
        assert _row_centroid(eyes) + 6 < _row_centroid(mouth)


def test_pose_params_change_the_image(pair: tuple[render.Identity, ...]) -> None:
    neutral = render.render_frame(pair[0], {}, SIZE)
    for params in ({"roll": 10.0}, {"yaw": 0.8}, {"x": 0.05}, {"scale": 1.1}):
        changed = _diff(neutral, render.render_frame(pair[0], params, SIZE)) > 60
        assert changed.sum() >= 40, params


def test_render_frame_rejects_unknown_params(pair: tuple[render.Identity, ...]) -> None:
    with pytest.raises(KeyError):
        render.render_frame(pair[0], {"mouth": 1.0}, SIZE)
