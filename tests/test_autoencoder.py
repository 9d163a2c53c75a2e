"""The face-swap autoencoder objective (df and liae): its augmentation, loss, networks, training,
resume, options and validation, on tiny networks at 32 px."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pytorch_msssim import ssim
from safetensors.torch import load_file

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.build import build_training
from faceoff.train.run import train
from faceoff_autoencoder.loss import reconstruction, ssim_map
from faceoff_autoencoder.networks import Decoder, LiaeInter
from faceoff_autoencoder.warp import Augment, augment, grids
from tiny import ROOT

EXAMPLE = ROOT / "examples" / "autoencoder.json"
TINY = [
    "data.source.params.frames=8",
    "data.source.params.test_frames=2",
    "data.load_size=36",
    "data.crop_size=32",
    "train.batch_size=2",
    "train.device=cpu",
    "train.precision=fp32",
    "objective.params.encoder.params.ch=4",
    "objective.params.inter.params.ae_dims=8",
    "objective.params.inter.params.map_size=2",
    "objective.params.decoder.params.ch=2",
    "objective.params.encoder_channels=8",
    "objective.params.code_channels=8",
    'objective.params.code_discriminator={"plugin": "pixel", "params": {"ndf": 4, "norm": "none"}}',
    "discriminator.params.ndf=4",
    "discriminator.params.n_layers=1",
    "mask.cache=false",
    "output.log_every=1",
    "output.sample_every=2",
    "output.checkpoint_every=2",
]
LIAE = [
    "objective.params.archi=liae",
    'objective.params.inter={"plugin": "ae-inter-liae", "params": {"ae_dims": 8, "map_size": 2}}',
]
EXTRAS = [  # every optional term at once: GAN per person, true face, learned mask
    "objective.params.gan=0.1",
    "objective.params.true_face=0.01",
    "objective.params.learn_mask=true",
    "objective.params.decoder.params.mask_ch=2",
]


def tiny_spec(*extra: str):
    return load_spec(EXAMPLE, get_registry(), [*TINY, *extra])


def tiny_training(*extra: str):
    torch.manual_seed(0)
    return build_training(tiny_spec(*extra), torch.device("cpu"))


def ramp(n: int = 2, size: int = 32) -> torch.Tensor:
    """Images whose channels are the x and y pixel coordinates (and zeros)."""
    ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    return torch.stack([xs, ys, torch.zeros_like(xs)]).expand(n, 3, size, size).clone()


def saved(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("rng.cuda")}


# --- the augmentation ----------------------------------------------------------------------


def test_the_warp_never_touches_the_target() -> None:
    images = torch.rand(3, 3, 32, 32)
    how = Augment(warp=0.05, rotation=0, zoom=0, shift=0)
    inputs, targets, moved = augment(images, images[:, :1], how, torch.Generator().manual_seed(0))
    assert torch.equal(targets, images)
    assert torch.equal(moved, images[:, :1])
    assert (inputs - images).abs().mean() > 0.05


def test_the_warp_moves_pixels_by_about_the_configured_amount() -> None:
    size, warp = 64, 4 / 64  # a jitter of std 4 px at the control points
    how = Augment(warp=warp, rotation=0, zoom=0, shift=0)
    images = ramp(16, size)
    inputs, _, _ = augment(images, None, how, torch.Generator().manual_seed(1))
    inner = slice(8, -8)  # away from the replicated borders
    moved = (inputs - images)[:, :2, inner, inner]
    rms = moved.pow(2).mean().sqrt().item()
    assert 0.7 * 4 < rms < 1.05 * 4  # bicubic in-between points move a little less
    assert moved.abs().max() < 6 * 4
    none, _, _ = augment(images, None, Augment(warp=0.2 / 64, rotation=0, zoom=0, shift=0),
                         torch.Generator().manual_seed(1))  # fmt: skip
    assert (none - images)[:, :2, inner, inner].pow(2).mean().sqrt() < 0.5


def test_the_augmentation_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    images = torch.rand(2, 3, 32, 32)

    def draw(seed: int) -> torch.Tensor:
        return augment(images, None, Augment(), torch.Generator().manual_seed(seed))[0]

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_rotation_scale_and_shift_move_input_target_and_mask_alike() -> None:
    images = torch.rand(2, 3, 32, 32)
    how = Augment(warp=0, rotation=10, zoom=0.05, shift=0.05)
    inputs, targets, moved = augment(images, images[:, 1:2], how, torch.Generator().manual_seed(0))
    assert torch.equal(inputs, targets)
    assert torch.equal(moved, targets[:, 1:2])
    assert not torch.allclose(targets, images, atol=0.05)
    to_input, to_target = grids(2, 32, Augment(warp=0, rotation=0, zoom=0, shift=0),
                                torch.Generator(), torch.device("cpu"))  # fmt: skip
    assert to_input is None and to_target is None


# --- the loss ------------------------------------------------------------------------------


def test_the_ssim_map_averages_to_pytorch_msssim() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    y = 0.7 * x + 0.3 * y
    assert torch.allclose(ssim_map(x, y).mean(), ssim(x, y, data_range=1.0), atol=1e-6)


def test_mask_weights_move_the_loss_between_regions() -> None:
    target = torch.zeros(1, 3, 32, 32)
    output = target.clone()
    output[..., 20:26, 10:22] = 0.5  # an error only in the "mouth"
    mouth = torch.ones(1, 1, 32, 32)
    elsewhere = mouth.clone()
    mouth[..., 20:26, 10:22] = 8.0
    elsewhere[..., 4:10, 4:10] = 8.0

    def loss(weights):
        return reconstruction(output, target, weights, dssim=1, pixel=1, pixel_loss="l1")

    assert loss(mouth) > loss(None) > loss(elsewhere)
    assert torch.allclose(loss(torch.ones(1, 1, 32, 32)), loss(None))


# --- the networks --------------------------------------------------------------------------


def test_liae_swaps_with_the_shared_half_doubled_and_rebuilds_a_with_its_own() -> None:
    torch.manual_seed(0)
    inter = LiaeInter(8, 8, ae_dims=4, map_size=2)
    x = torch.randn(2, 8, 2, 2)
    swap, own = inter(x), inter(x, own=True)
    assert swap.shape == own.shape == (2, 8, 4, 4)
    assert torch.equal(swap[:, :4], swap[:, 4:])  # both halves from inter_AB
    assert torch.equal(own[:, 4:], swap[:, 4:]) and not torch.equal(own[:, :4], swap[:, :4])


def test_the_decoder_draws_in_minus_one_to_one_and_its_mask_in_zero_to_one() -> None:
    torch.manual_seed(0)
    decoder = Decoder(8, 3, ch=2, n_ups=2, res_blocks=True, mask_ch=2)
    image, mask = decoder(torch.randn(2, 8, 4, 4) * 10, mask=True)
    assert image.shape == (2, 3, 16, 16) and mask.shape == (2, 1, 16, 16)
    assert image.abs().max() <= 1 and mask.min() >= 0 and mask.max() <= 1
    assert torch.equal(decoder(torch.zeros(1, 8, 4, 4)), decoder(torch.zeros(1, 8, 4, 4), True)[0])


# --- training ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra", [[], LIAE, [*LIAE, *EXTRAS], EXTRAS], ids=["df", "liae", "liae-extras", "df-extras"]
)
def test_trains_and_resumes_exactly(extra: list[str], tmp_path: Path) -> None:
    straight = train(tiny_spec(*extra, "train.max_steps=4"), tmp_path / "a", show_progress=False)
    train(tiny_spec(*extra, "train.max_steps=2"), tmp_path / "b", show_progress=False)
    resumed = train(tiny_spec(*extra, "train.max_steps=4"), tmp_path / "b", resume=True,
                    show_progress=False)  # fmt: skip
    a, b = saved(straight.checkpoint), saved(resumed.checkpoint)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    terms = {k for row in rows for k in row}
    assert {"G", "rec_A", "rec_B"} <= terms
    if extra and extra[-1] == EXTRAS[-1]:
        assert {"G_A", "G_B", "D_A", "D_B", "G_code", "D_code", "mask_A", "mask_B"} <= terms
    assert all(math.isfinite(v) for row in rows for k, v in row.items() if k != "epoch")


def test_masks_as_loss_weights_change_the_loss() -> None:
    g = torch.Generator().manual_seed(0)
    batch = {p: torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g) for p in "AB"}
    masks = {f"mask_{p}": torch.rand(2, 1, 32, 32, generator=g) * 8 for p in "AB"}
    plain = tiny_training().step(batch)
    weighted = tiny_training().step({**batch, **masks})
    again = tiny_training().step(batch)
    assert torch.equal(plain["rec_A"], again["rec_A"])
    assert not torch.isclose(plain["rec_A"], weighted["rec_A"])


def test_trains_in_bf16() -> None:
    training = tiny_training(*LIAE, *EXTRAS, "train.precision=bf16")
    assert training.engine.precision == "bf16"
    g = torch.Generator().manual_seed(0)
    batch = {p: torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g) for p in "AB"}
    batch |= {f"mask_{p}": torch.rand(2, 1, 32, 32, generator=g) * 3 for p in "AB"}
    for _ in range(2):
        terms = training.step(batch)
    assert all(torch.isfinite(v) for v in terms.values())


@pytest.mark.parametrize("archi", ["df", "liae"])
def test_sample_columns(archi: str) -> None:
    extra = LIAE if archi == "liae" else []
    training = tiny_training(*extra)
    images = {p: torch.zeros(1, 3, 32, 32, dtype=torch.uint8) for p in "AB"}
    groups = training.sample(images)
    assert [list(group) for group in groups] == [
        ["real A", "A->B", "A rebuilt"],
        ["real B", *(["B->A"] if archi == "df" else []), "B rebuilt"],
    ]
    assert all(x.shape == (1, 3, 32, 32) for group in groups for x in group.values())


# --- validation ----------------------------------------------------------------------------


def test_the_example_validates() -> None:
    done = CliRunner().invoke(cli, ["validate", str(EXAMPLE)])
    assert done.exit_code == 0, done.output
    assert "autoencoder" in done.output


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["data.load_size=136", "data.crop_size=128", "objective.params.inter.params.map_size=2"],
         "needs inter.params.map_size 8 at 128 px"),
        (["data.crop_size=30"], "ae-encoder with n_downs 4 needs an image size divisible by 16"),
        (["objective.params.archi=liae"], "with archi liae needs objective.params.inter.plugin"),
        (["objective.params.learn_mask=true"], "learn_mask needs a decoder mask branch"),
        (["objective.params.decoder.params.mask_ch=2"], "builds a mask branch nothing trains"),
        (["objective.params.decoder.params.n_ups=2"], "draws 16 px faces"),
        (["objective.params.dssim=0", "objective.params.pixel=0"], "nothing would rebuild"),
    ],
)  # fmt: skip
def test_validation_refuses_what_would_not_work(extra: list[str], says: str) -> None:
    with pytest.raises(FaceoffError, match=says) as caught:
        tiny_spec(*extra)
    assert "\n" not in str(caught.value)


def test_learned_mask_needs_masks() -> None:
    with pytest.raises(FaceoffError, match="mask"):
        tiny_spec(*EXTRAS, "mask=null")


def test_list_plugins_lists_the_networks() -> None:
    rows = json.loads(CliRunner().invoke(cli, ["list-plugins", "--json"]).stdout)
    have = {(r["kind"], r["name"]) for r in rows if r["status"] == "ok"}
    assert ("objective", "autoencoder") in have
    assert {
        ("generator", n) for n in ("ae-encoder", "ae-inter", "ae-inter-liae", "ae-decoder")
    } <= have


# --- the readers run its chains -------------------------------------------------------------


@pytest.fixture(scope="module", params=["df", "liae"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A tiny 2-step run of each archi, with test-sized eval judges."""
    from faceoff.eval import judges
    from faceoff.eval.nets import JudgeConfig

    extra = LIAE if request.param == "liae" else []
    folder = tmp_path_factory.mktemp(request.param) / "run"
    train(tiny_spec(*extra, "train.max_steps=2"), folder, show_progress=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judges, "PROBE_CONFIG", JudgeConfig(8, 4, 100, 16, 3e-3))
        patch.setattr(judges, "CLASSIFIER_CONFIG", JudgeConfig(8, 4, 40, 16, 3e-3))
        yield request.param, folder


def test_apply_eval_export_and_compare_run_the_chain(run, tmp_path: Path) -> None:
    from faceoff.export import session
    from faceoff.runs import Checkpoint

    archi, folder = run
    invoke = CliRunner().invoke
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((40, 40, 3), 90 * i, np.uint8))
    done = invoke(cli, ["apply", str(folder), str(frames), str(tmp_path / "out"), "--no-progress"])
    assert done.exit_code == 0, done.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 2
    done = invoke(cli, ["eval", str(folder), "--json", "--frames", "2"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["fidelity"]["computed"] and result["cycle"]["computed"] == (archi == "df")
    onnx_path = tmp_path / "a2b.onnx"
    done = invoke(cli, ["export", str(folder), str(onnx_path)])
    assert done.exit_code == 0, done.output
    checkpoint = Checkpoint(sorted((folder / "checkpoints").glob("*.safetensors"))[-1])
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = checkpoint.load_translation("a2b")(images).numpy()
    got = session(onnx_path).run(None, {"image": images.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4
    grid = tmp_path / "grid.png"
    done = invoke(cli, ["compare", str(folder), "--out", str(grid), "--frames", "2"])
    assert done.exit_code == 0, done.output
    assert grid.is_file()
