"""The bundled objectives beyond CycleGAN: recycle-gan, cut, fastcut, and cyclegan's cycle
defences (noise, pseudo-supervision): each validates, trains, resumes exactly and applies."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import tiny
from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.train.run import train
from faceoff_cut.patchnce import PatchSampler, patch_nce
from faceoff_cyclegan.flow import random_flow, warp

PREDICTOR = '"predictor": {"plugin": "unet", "params": {"num_downs": 5, "ngf": 4}}'
LOCAL = (
    '"local_discriminator": {"plugin": "patchgan", "params": {"ndf": 4, "n_layers": 1}}, '
    '"local_size": 12'
)
MOUTH_MASKS = (
    'mask={"provider": {"plugin": "synthetic", "params": {"mouth_weight": 2}}, "mode": "weight"}'
)
OBJECTIVES = {
    "recycle-gan": [f'objective={{"plugin": "recycle-gan", "params": {{{PREDICTOR}}}}}'],
    "cut": ['objective={"plugin": "cut", "params": {"num_patches": 32}}'],
    "fastcut": ['objective={"plugin": "fastcut", "params": {"num_patches": 32}}'],
    "recycle-gan-local": [
        f'objective={{"plugin": "recycle-gan", "params": {{{PREDICTOR}, {LOCAL}}}}}',
        MOUTH_MASKS,
    ],
    "cyclegan-local": [f"objective.params={{{LOCAL}}}", MOUTH_MASKS],
    "cyclegan-defences": [
        'objective.params={"cycle_noise": 0.1, "pseudo": 1, "spatial": 1, "pool_size": 3}'
    ],
}


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def saved(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("rng.cuda")}


def test_list_plugins_lists_the_objectives() -> None:
    rows = json.loads(invoke("list-plugins", "--json").stdout)
    names = {r["name"] for r in rows if r["kind"] == "objective"}
    assert names >= {"cyclegan", "recycle-gan", "cut", "fastcut"}


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_each_trains_resumes_exactly_and_applies(name: str, tmp_path: Path) -> None:
    extra = OBJECTIVES[name]
    straight = train(tiny.tiny_spec(*extra, "train.max_steps=3"), tmp_path / "a",
                     show_progress=False)  # fmt: skip
    train(tiny.tiny_spec(*extra, "train.max_steps=2"), tmp_path / "b", show_progress=False)
    resumed = train(tiny.tiny_spec(*extra, "train.max_steps=3"), tmp_path / "b", resume=True,
                    show_progress=False)  # fmt: skip
    a, b = saved(straight.checkpoint), saved(resumed.checkpoint)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v) for row in rows for k, v in row.items() if k != "epoch")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((40, 40, 3), 70 * i, np.uint8))
    done = invoke("apply", tmp_path / "a", frames, tmp_path / "out", "--no-progress")
    assert done.exit_code == 0, done.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 3


def test_cut_needs_a_generator_it_can_tap() -> None:
    with pytest.raises(FaceoffError, match=r"needs its G to be a generator with the capability "
                       r"FeatureTaps.*'unet' has not"):  # fmt: skip
        tiny.tiny_spec(
            *OBJECTIVES["cut"], 'generator={"plugin": "unet", "params": {"num_downs": 5}}'
        )


def test_one_way_objectives_say_so(tmp_path: Path) -> None:
    run = tmp_path / "cut"
    train(tiny.tiny_spec(*OBJECTIVES["cut"], "train.max_steps=1"), run, show_progress=False)
    for args in (("apply", run, run / "spec.json", tmp_path / "o.mp4"), ("eval", run)):
        done = invoke(*args, "--direction", "b2a")
        assert done.exit_code == 2 and done.stderr.count("\n") == 1
        assert "translates one way only, a2b; use --direction a2b" in done.stderr
    compared = invoke("compare", run, "--out", tmp_path / "g.png", "--direction", "b2a")
    assert compared.exit_code == 2 and "one way only" in compared.stderr


def test_fastcut_s_defaults_are_the_reference_s() -> None:
    spec = tiny.tiny_spec('objective={"plugin": "fastcut"}').to_dict()["objective"]["params"]
    assert (spec["lambda_nce"], spec["nce_idt"], spec["flip_equivariance"]) == (10.0, False, True)
    cut = tiny.tiny_spec('objective={"plugin": "cut"}').to_dict()["objective"]["params"]
    assert (cut["lambda_nce"], cut["nce_idt"], cut["flip_equivariance"]) == (1.0, True, False)


def test_patch_nce_is_the_cross_entropy_of_the_positive() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(2 * 4, 8, generator=g), dim=1)
    k = torch.nn.functional.normalize(torch.randn(2 * 4, 8, generator=g), dim=1)
    got = patch_nce(q, k, batch=2, temperature=0.07)
    for i in range(8):  # by hand: the positive against the other patches of the same image
        image = i // 4
        others = [j for j in range(image * 4, image * 4 + 4) if j != i]
        logits = torch.stack([q[i] @ k[i], *(q[i] @ k[j] for j in others)]) / 0.07
        assert got[i].item() == pytest.approx((-torch.log_softmax(logits, 0)[0]).item(), rel=1e-4)
    assert patch_nce(q, q, 2, 0.07).mean() < got.mean()  # matching features: a lower loss


def test_patch_sampler_uses_the_keys_locations_for_the_queries() -> None:
    sampler = PatchSampler([3], width=4)
    g = torch.Generator().manual_seed(1)
    feature = torch.randn(2, 3, 5, 5)
    keys, ids = sampler([feature], 6, None, g)
    queries, _ = sampler([feature], 6, ids)
    assert torch.equal(keys[0], queries[0]) and keys[0].shape == (12, 4)
    norms = keys[0].norm(dim=1)  # unit length, but for rows the tiny initial MLP zeroes
    assert (norms <= 1 + 1e-6).all() and (norms > 0.99).sum() >= 6


def test_random_flow_is_smooth_and_warp_follows_it() -> None:
    flow = random_flow(64, torch.Generator().manual_seed(2), motion=8 / 256, shift=10 / 256)
    assert flow.shape == (1, 2, 64, 64) and flow.abs().max() > 0.5
    assert (flow[..., 1:] - flow[..., :-1]).abs().max() < 0.5  # smooth: no jumps between pixels
    images = torch.rand(2, 3, 16, 16)
    right = torch.zeros(1, 2, 16, 16)
    right[:, 0] = 1
    assert torch.allclose(warp(images, right)[..., 1:], images[..., :-1], atol=1e-5)
    assert torch.allclose(warp(images, torch.zeros(1, 2, 16, 16)), images, atol=1e-5)
