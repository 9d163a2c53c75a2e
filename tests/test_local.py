"""Local discriminators (the mouth judged on its own) and the puppets' ground-truth masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import tiny
from faceoff.errors import FaceoffError
from faceoff.spec import describe
from faceoff.train.run import train
from faceoff_cyclegan.local import cut, region_boxes
from faceoff_dlib.provider import OUTER_LIP
from faceoff_puppets import PuppetsMaskParams, PuppetsParams
from faceoff_puppets.animate import frame_landmarks
from faceoff_puppets.masks import PuppetsMaskProvider
from faceoff_puppets.source import PuppetsSource

LOCAL = '"local_discriminator": {"plugin": "patchgan", "params": {"ndf": 4, "n_layers": 1}}'
MOUTH = '{"provider": {"plugin": "synthetic", "params": {"mouth_weight": 2}}, "mode": "weight"}'


def test_a_box_is_centred_on_the_weight_above_one_or_on_the_frame() -> None:
    masks = torch.ones(2, 1, 32, 32)
    masks[0, 0, 20:24, 6:10] = 2.0  # centre (8, 22) in pixel-centre coordinates
    boxes = region_boxes(masks, 12)
    assert boxes[0].tolist() == [0.0, 2.0, 16.0, 14.0, 28.0]
    assert boxes[1].tolist() == [1.0, 10.0, 10.0, 22.0, 22.0], "no region: the frame's centre"


def test_a_cut_is_the_region_and_passes_gradients_to_it_alone() -> None:
    images = torch.arange(2 * 32 * 32, dtype=torch.float32).view(1, 2, 32, 32).requires_grad_()
    masks = torch.ones(1, 1, 32, 32)
    masks[0, 0, 4:8, 4:8] = 3.0  # centre (6, 6): the 4 px box covers pixels 4..7
    out = cut(images, masks, 4)
    assert torch.allclose(out.detach(), images.detach()[:, :, 4:8, 4:8])
    out.sum().backward()
    grad = images.grad[0, 0]
    assert grad[4:8, 4:8].min() > 0 and grad.sum() == pytest.approx(16.0)


def test_validation_asks_for_weight_masks_and_checks_the_region_size() -> None:
    with pytest.raises(FaceoffError, match="add a 'mask' section") as err:
        tiny.tiny_spec(f"objective.params={{{LOCAL}}}")
    assert "local discriminator" in str(err.value) and "mouth_weight" in str(err.value)
    crop = MOUTH.replace('"weight"}', '"crop"}')
    with pytest.raises(FaceoffError, match=r"set mask\.mode to 'weight'"):
        tiny.tiny_spec(f"objective.params={{{LOCAL}}}", f"mask={crop}")
    deep = LOCAL.replace('"n_layers": 1', '"n_layers": 2')
    with pytest.raises(FaceoffError, match=r"objective\.params\.local_discriminator") as err:
        tiny.tiny_spec(f'objective.params={{{deep}, "local_size": 8}}', f"mask={MOUTH}")
    assert "8 px regions" in str(err.value)
    resolved = tiny.tiny_spec(f"objective.params={{{LOCAL}}}", f"mask={MOUTH}")
    described = describe(*resolved.components["objective"])
    assert {"D_A_local", "D_B_local"} <= set(described.networks)
    assert described.needs_masks


def test_masks_without_a_region_stop_the_first_step_clearly(tmp_path: Path) -> None:
    flat = MOUTH.replace('"mouth_weight": 2', '"mouth_weight": 1')
    spec = tiny.tiny_spec(f"objective.params={{{LOCAL}}}", f"mask={flat}", "train.max_steps=1")
    with pytest.raises(FaceoffError, match="weight no region above 1, so there is nothing"):
        train(spec, tmp_path / "run", show_progress=False)


def test_a_run_trains_and_logs_the_local_terms(tmp_path: Path) -> None:
    spec = tiny.tiny_spec(
        f'objective.params={{{LOCAL}, "local_size": 12}}', f"mask={MOUTH}", "train.max_steps=2"
    )
    done = train(spec, tmp_path / "run", show_progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"G_AB_local", "G_BA_local", "D_A_local", "D_B_local"} <= set(rows[-1])
    assert all(np.isfinite(rows[-1][k]) for k in ("G_AB_local", "D_B_local"))
    from safetensors import safe_open

    with safe_open(str(done.checkpoint), "pt") as f:
        assert any(k.startswith("net.D_A_local.") for k in f.keys())  # noqa: SIM118 (safe_open has no __iter__)


def test_puppet_masks_weight_the_mouth_its_landmarks_outline() -> None:
    source = PuppetsSource(PuppetsParams(frames=4, test_frames=0))
    domain, _ = source.load("train", 48)
    masks = PuppetsMaskProvider(PuppetsMaskParams(mouth_weight=2.0)).domain_masks(domain)
    puppet = source.puppet("A", 48)
    for i, mask in enumerate(masks):
        assert mask.shape == (48, 48) and mask.max() == 2.0
        points = frame_landmarks(puppet, {k: float(v[i]) for k, v in domain.params.items()}, 48)
        ys, xs = np.nonzero(mask == 2.0)
        lips = points[OUTER_LIP]
        assert abs(xs.mean() - lips[:, 0].mean()) < 1.5 and abs(ys.mean() - lips[:, 1].mean()) < 1.5
        assert (mask > 0).mean() > 0.05, "the face around the mouth is in the mask"


def test_the_puppets_provider_refuses_other_frames() -> None:
    provider = PuppetsMaskProvider(PuppetsMaskParams())
    with pytest.raises(FaceoffError, match="needs frames of the puppets data source"):
        from faceoff.data import Domain

        provider.domain_masks(Domain(np.zeros((1, 8, 8, 3), np.uint8), ["a.png"]))
    with pytest.raises(FaceoffError, match="knows only frames of the puppets"):
        provider(np.zeros((8, 8, 3), np.uint8))
