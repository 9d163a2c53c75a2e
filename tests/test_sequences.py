"""Sequence-aware data: which frames are consecutive, clips that never cross a gap, extract's
runs of frames, and an objective that needs clips refusing a source that cannot give them."""

from __future__ import annotations

import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import tiny
from faceoff.components import PluginInfo
from faceoff.data import Domain, segments_from_names
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.masks import compute_masks
from faceoff.plugins import load_registry
from faceoff.train.batches import DomainTensors, UnpairedBatches
from faceoff.train.distributed import ShardedBatches
from faceoff.video.extract import choose_frames, extract

RECYCLE = 'objective={"plugin": "recycle-gan", "params": {"predictor": {"plugin": "unet", "params": {"num_downs": 5, "ngf": 4}}}}'  # noqa: E501


def numbered(n: int, segments: list[int]) -> Domain:
    """Frames whose pixels are their index, in the given segments."""
    frames = np.stack([np.full((8, 8, 3), i, np.uint8) for i in range(n)])
    return Domain(frames, [f"{i}.png" for i in range(n)], segments=np.array(segments))


def test_segments_from_names_follow_frame_numbers() -> None:
    names = ["frame_000010.png", "frame_000011.png", "frame_000013.png", "b_000014.png"]
    assert segments_from_names(names).tolist() == [0, 0, 1, 2]
    assert segments_from_names(["face.png", "frame_1.png"]) is None


def test_clips_start_only_where_enough_frames_follow() -> None:
    domain = numbered(7, [0, 0, 0, 0, 1, 1, 1])
    assert domain.clip_starts(3).tolist() == [0, 1, 4]
    assert domain.clip_starts(1).tolist() == list(range(7))
    assert Domain(domain.frames, domain.names).clip_starts(3).tolist() == []  # order unknown


def test_a_skipped_frame_breaks_its_clip() -> None:
    """mask.no_face 'skip' drops frames; the frames on either side are no longer neighbours."""
    domain = numbered(6, [0] * 6)

    def provider(frame: np.ndarray):
        return None if frame[0, 0, 0] == 2 else np.ones(frame.shape[:2], np.float32)

    kept = compute_masks(provider, domain, "A", no_face="skip").domain
    assert kept.names == ["0.png", "1.png", "3.png", "4.png", "5.png"]
    assert kept.clip_starts(3).tolist() == [2]  # 3, 4, 5; never 1, 3, 4


def _where(item: torch.Tensor, full: torch.Tensor, crop: int) -> tuple[int, int, int, bool]:
    """(frame, top, left, flipped) of the window a cropped frame was cut from."""
    n, _, h, w = full.shape
    for i in range(n):
        for y in range(h - crop + 1):
            for x in range(w - crop + 1):
                window = full[i, :, y : y + crop, x : x + crop]
                for flip in (False, True):
                    if torch.equal(item, window.flip(-1) if flip else window):
                        return i, y, x, flip
    raise AssertionError("no such window")


def test_clip_batches_share_one_window_and_stay_within_segments() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (12, 20, 20, 3), np.uint8)
    segments = [0] * 6 + [1] * 6
    domain = Domain(frames, [str(i) for i in range(12)], segments=np.array(segments))
    data = DomainTensors.from_domain(domain, None)
    batches = UnpairedBatches(data, data, batch_size=4, crop_size=16, flip=True, seed=3, clip=3)
    assert batches.epoch_size == 8  # 4 clip starts in each segment
    full = torch.from_numpy(frames).permute(0, 3, 1, 2)
    for step in range(4):
        clips = batches.batch(0, step)["A"]
        assert clips.shape == (4, 3, 3, 16, 16)
        for item in clips:  # three consecutive frames of one segment, through one window
            start, y, x, flip = _where(item[0], full, 16)
            assert segments[start] == segments[start + 2]
            for t in range(3):
                window = full[start + t, :, y : y + 16, x : x + 16]
                assert torch.equal(item[t], window.flip(-1) if flip else window)


def test_ranks_take_whole_clips() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (9, 16, 16, 3), np.uint8)
    domain = Domain(frames, [str(i) for i in range(9)], segments=np.zeros(9))
    data = DomainTensors.from_domain(domain, None)
    shared = {"batch_size": 1, "crop_size": 16, "flip": False, "seed": 0, "clip": 3}
    ranks = [ShardedBatches(data, data, **shared, rank=r, world=2) for r in range(2)]
    clips = [r.batch(0, 0)["A"][0].permute(0, 2, 3, 1).numpy() for r in ranks]
    starts = []
    for clip in clips:  # each item is three consecutive frames of the source
        start = next(i for i in range(7) if np.array_equal(frames[i], clip[0]))
        assert all(np.array_equal(frames[start + t], clip[t]) for t in range(3))
        starts.append(start)
    assert starts[0] != starts[1]  # the two ranks took different clips of the global batch


def test_an_objective_on_clips_refuses_a_source_without_order() -> None:
    class Plain:
        def load(self, split, size):
            raise AssertionError("not loaded at validation")

    plugin = types.SimpleNamespace(
        register_data_sources=hookimpl(lambda register: register("plain", lambda p: Plain()))
    )
    registry = load_registry(extra=[(plugin, PluginInfo("t", "t", "0", "t"))])
    with pytest.raises(
        FaceoffError, match=r"trains on clips of 3 consecutive frames.*frames, puppets, synthetic"
    ):
        tiny.tiny_spec(RECYCLE, 'data.source={"plugin": "plain"}', registry=registry)


def test_choose_frames_in_runs() -> None:
    train, test = choose_frames(20, 10, 2, clip=3)
    assert train == [0, 1, 2, 8, 9, 10, 16, 17] and test == [18, 19]
    train, _ = choose_frames(2200 * 3, 2200, 200, clip=3)
    assert len(train) == len(set(train)) == 2000 and max(train) < 6600 - 200


def _video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (48, 48))
    rng = np.random.default_rng(0)
    for i in range(n):
        frame = np.full((48, 48, 3), 8 * i % 256, np.uint8)
        frame[rng.integers(0, 40) :][:8] = 255
        writer.write(frame)
    writer.release()
    return path


def test_extracted_runs_train_a_clip_objective(tmp_path: Path) -> None:
    """Two videos through extract --clip 3, read by the frames source, trained by recycle-gan;
    without --clip the same source is refused with the option to use."""
    (tmp_path / "data").mkdir()
    (tmp_path / "single").mkdir()
    for person in "AB":
        video = _video(tmp_path / f"{person}.avi", 30)
        summary = extract(video, tmp_path / "data" / person, frames=14, test=4, size=36, clip=3)
        assert summary.train == 10
    source = f'data.source={{"plugin": "frames", "params": {{"root": "{tmp_path / "data"}"}}}}'
    from faceoff.train.run import train

    result = train(tiny.tiny_spec(RECYCLE, source, "train.max_steps=2"), tmp_path / "run",
                   show_progress=False)  # fmt: skip
    assert result.steps == 2
    for name in ("cut", "fastcut"):  # the one-sided objectives on the same extracted folders
        one = f'objective={{"plugin": "{name}", "params": {{"num_patches": 16}}}}'
        assert train(tiny.tiny_spec(one, source, "train.max_steps=1"), tmp_path / name,
                     show_progress=False).steps == 1  # fmt: skip
    for person in "AB":  # the same frames evenly spaced, one at a time: no clip to be had
        extract(tmp_path / f"{person}.avi", tmp_path / "single" / person, frames=14, test=4,
                size=36)  # fmt: skip
    single = f'data.source={{"plugin": "frames", "params": {{"root": "{tmp_path / "single"}"}}}}'
    with pytest.raises(
        FaceoffError, match=r"no 3 consecutive frames in the train split of A.*--clip 3"
    ):
        train(tiny.tiny_spec(RECYCLE, single, "train.max_steps=1"), tmp_path / "r2",
              show_progress=False)  # fmt: skip
