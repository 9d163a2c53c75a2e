"""Masks in the core: no-face policies, the on-disk cache, weight maps, `faceoff masks`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from faceoff.cli import cli
from faceoff.components import PluginInfo, Register
from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff.masks import MaskCache, compute_masks


class Params(BaseModel):
    level: float = 1.0


def provider_component(calls: list[int], level_for_face: float = 1.0):
    """A provider whose answer is known: frames with a bright pixel at (0, 0) have no face."""

    def build(params: Params):
        def provider(frame: np.ndarray):
            calls.append(1)
            if frame[0, 0, 0] > 200:
                return None
            mask = np.zeros(frame.shape[:2], np.float32)
            mask[2:6, 2:6] = params.level * level_for_face
            mask[3, 3] = 3.0 * params.level  # a region weighted more (an eye, say)
            return mask

        return provider

    register = Register("mask_provider", PluginInfo("t", "test-masks", "1.0", "t"))
    register("box", build, params=Params)
    return register.components[0]


def domain(n: int, no_face: set[int]) -> Domain:
    frames = np.full((n, 8, 8, 3), 50, np.uint8)
    frames[:, 7, 7, 1] = np.arange(n)  # every frame differs, so every cache key differs
    for i in no_face:
        frames[i, 0, 0, 0] = 255
    return Domain(
        frames, [f"f{i}.png" for i in range(n)], {"mouth": np.arange(n, dtype=np.float32)}
    )


@pytest.mark.parametrize(
    ("policy", "kept", "face_rows"),
    [
        ("empty", 5, [True, False, False, True, True]),
        ("previous", 5, [True, True, True, True, True]),
        ("skip", 3, [True, True, True]),
    ],
)
def test_no_face_policies(policy: str, kept: int, face_rows: list[bool]) -> None:
    component = provider_component([])
    done = compute_masks(component.make({}), domain(5, {1, 2}), "A", no_face=policy)
    assert (done.found, done.total, len(done.domain)) == (3, 5, kept)
    assert [bool(m.any()) for m in done.masks] == face_rows
    if policy == "skip":
        assert done.domain.names == ["f0.png", "f3.png", "f4.png"]
        assert done.domain.params["mouth"].tolist() == [0.0, 3.0, 4.0]
    if policy == "previous":
        np.testing.assert_array_equal(done.masks[1], done.masks[0])


def test_no_face_anywhere_with_skip_is_an_error() -> None:
    component = provider_component([])
    with pytest.raises(FaceoffError, match="no face found in any of the 2 frames"):
        compute_masks(component.make({}), domain(2, {0, 1}), "B", no_face="skip")


def test_the_cache_is_keyed_by_frame_provider_and_params(tmp_path: Path) -> None:
    calls: list[int] = []
    component = provider_component(calls)
    data = domain(4, {2})
    cache = MaskCache(component, {"level": 1.0}, root=tmp_path)
    first = compute_masks(component.make({}), data, "A", cache=cache)
    assert len(calls) == 4 and first.cached == 0
    again = compute_masks(component.make({}), data, "A", cache=cache)
    assert len(calls) == 4 and again.cached == 4, "every frame, the no-face one too, is cached"
    np.testing.assert_allclose(
        again.masks.astype(np.float32), first.masks.astype(np.float32), atol=1 / 4096
    )
    assert again.masks[0][3, 3] == 3.0, "weights above 1 survive the cache"
    other = MaskCache(component, {"level": 0.5}, root=tmp_path)
    assert other.folder != cache.folder
    compute_masks(component.make({"level": 0.5}), data, "A", cache=other)
    assert len(calls) == 8
    changed = Domain(data.frames.copy(), data.names)
    changed.frames[0, 4, 4] = 0
    compute_masks(component.make({}), changed, "A", cache=cache)
    assert len(calls) == 9, "only the changed frame is computed again"


def test_a_provider_returning_the_wrong_shape_is_named() -> None:
    register = Register("mask_provider", PluginInfo("t", "t", "1", "t"))
    register("bad", lambda p: lambda frame: np.ones((3, 3), np.float32))
    with pytest.raises(FaceoffError, match=r"shape \(3, 3\) for frame 'f0.png' of A"):
        compute_masks(register.components[0].make({}), domain(1, set()), "A")


def test_faceoff_masks_writes_masks_and_overlays(tmp_path: Path, monkeypatch) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        image = np.full((40, 40, 3), 90, np.uint8)
        cv2.ellipse(image, (20, 20), (10, 14), 0, 0, 360, (60, 120, 200), -1)
        cv2.imwrite(str(frames / f"f{i}.png"), image)
    hello = Path(__file__).parent / "plugins" / "faceoff-hello"
    monkeypatch.syspath_prepend(str(hello))
    import faceoff_hello

    from faceoff import plugins
    from faceoff.components import PluginInfo as Info

    registry = plugins.load_registry(
        extra=[(faceoff_hello, Info("hello", "faceoff-hello", "0", "x"))]
    )
    monkeypatch.setattr(plugins, "get_registry", lambda: registry)
    out = tmp_path / "preview"
    result = CliRunner().invoke(
        cli, ["masks", "ellipse", str(frames), str(out), "--size", "32", "--param", "scale=0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "frames 3, faces found 3" in result.output
    mask = cv2.imread(str(out / "masks" / "f0.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (32, 32) and mask[16, 16] == 255 and mask[0, 0] == 0
    overlay = cv2.imread(str(out / "overlay" / "f0.png"))
    assert overlay.shape == (32, 32, 3) and overlay[16, 16, 2] > overlay[0, 0, 2]
    again = CliRunner().invoke(cli, ["masks", "ellipse", str(frames), str(out)])
    assert again.exit_code == 2 and "already exists" in again.output
    missing = CliRunner().invoke(
        cli, ["masks", "ellipse", str(tmp_path / "nope"), str(tmp_path / "o")]
    )
    assert missing.exit_code == 2 and "no such folder or video" in missing.output
    assert not (tmp_path / "o").exists()


def test_training_uses_the_kept_frames_and_their_masks(tmp_path: Path, monkeypatch) -> None:
    from faceoff.plugins import load_registry
    from faceoff.spec import load_spec
    from faceoff.train.run import train
    from tiny import QUICKSTART, TINY

    class Plugin:
        from faceoff.hookspecs import hookimpl

        @hookimpl
        def register_mask_providers(self, register):
            def build(params):
                def provider(frame):
                    mask = np.zeros(frame.shape[:2], np.float32)
                    mask[8:28, 8:28] = 1.0
                    return mask

                return provider

            register("square", build)

    registry = load_registry(extra=[(Plugin(), PluginInfo("sq", "sq", "0", "sq"))])
    spec = load_spec(
        QUICKSTART,
        registry,
        [*TINY, "train.max_steps=1", 'mask={"provider": {"plugin": "square"}, "no_face": "skip"}'],
    )
    result = train(spec, tmp_path / "run", show_progress=False)
    assert result.steps == 1
    saved = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert saved["mask"] == {
        "provider": {"plugin": "square", "params": {}},
        "mode": "weight",
        "no_face": "skip",
        "cache": True,
    }


def test_the_cache_ignores_declared_params_and_notices_replaced_files(tmp_path: Path) -> None:
    register = Register("mask_provider", PluginInfo("t", "t", "1", "t"))
    register("m", lambda p: None, cache_ignore=("device",))
    component = register.components[0]
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"one")
    key = MaskCache(component, {"device": "cpu", "weights": str(weights)}, root=tmp_path).folder
    same = MaskCache(component, {"device": "cuda", "weights": str(weights)}, root=tmp_path).folder
    assert key == same
    weights.write_bytes(b"other weights")
    assert (
        MaskCache(component, {"device": "cpu", "weights": str(weights)}, root=tmp_path).folder
        != key
    )


def test_crop_and_flip_move_image_and_mask_together() -> None:
    import torch

    from faceoff.train.batches import crop_flip

    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (6, 3, 20, 20), generator=generator, dtype=torch.uint8)
    masks = images[:, :1].to(torch.float16)  # the mask is a copy of the first channel
    for flip in (True, False):
        out_images, out_masks = crop_flip(images, masks, 12, flip, generator)
        assert out_images.shape == (6, 3, 12, 12)
        assert torch.equal(out_images[:, :1].to(torch.float16), out_masks)


def test_faceoff_masks_reads_a_video(tmp_path: Path, monkeypatch) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 48))
    for i in range(5):
        frame = np.full((48, 48, 3), 40 + 30 * i, np.uint8)
        writer.write(frame)
    writer.release()
    from faceoff.mask_preview import read_input

    domain = read_input(video, 32)
    assert domain.frames.shape == (5, 32, 32, 3)
    assert domain.frames[0].mean() < domain.frames[4].mean()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(FaceoffError, match=r"broken\.mp4"):
        read_input(broken, 32)
