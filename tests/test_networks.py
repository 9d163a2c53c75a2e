"""The reference networks: parameter counts, key names, output shapes, init, input-size checks.

Counts and key names are those of shared/REFERENCE.md; networks at ngf/ndf 64 are built on the
meta device (no memory, no init cost), forward passes use tiny widths.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff_cyclegan.networks import MultiDiscriminator
from faceoff_cyclegan.shapes import patchgan_output_size, patchgan_smallest_size
from tiny import QUICKSTART, TINY


def build(kind: str, name: str, meta: bool = False, **params) -> nn.Module:
    component = get_registry().get(kind, name)
    if meta:
        with torch.device("meta"):
            return component.make(params)
    return component.make(params)


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("kind", "name", "params", "expected"),
    [
        ("generator", "resnet", {"n_blocks": 9}, 11_378_179),
        ("generator", "resnet", {"n_blocks": 6}, 7_837_699),
        ("generator", "resnet", {"n_blocks": 9, "dropout": True}, 11_378_179),
        ("generator", "unet", {"num_downs": 8}, 54_409_603),
        ("generator", "unet", {"num_downs": 7}, 41_825_667),
        ("generator", "unet", {"num_downs": 8, "dropout": True}, 54_409_603),
        ("discriminator", "patchgan", {"n_layers": 3}, 2_764_737),
        ("discriminator", "patchgan", {"n_layers": 5}, 11_154_369),
        ("discriminator", "pixel", {}, 8_705),
    ],
)
def test_parameter_counts_equal_the_reference(kind, name, params, expected) -> None:
    assert count(build(kind, name, meta=True, **params)) == expected


def test_the_paper_s_two_discriminators_count_both_members() -> None:
    multi = build(
        "discriminator",
        "multi",
        meta=True,
        members=[
            {"plugin": "patchgan", "params": {"n_layers": 3}},
            {"plugin": "patchgan", "params": {"n_layers": 5}},
        ],
    )
    assert count(multi) == 2_764_737 + 11_154_369
    assert [w for w, _ in multi.weighted_members()] == [0.5, 0.5]


def _conv_keys(prefixes: list[str]) -> set[str]:
    return {f"{p}.{part}" for p in prefixes for part in ("weight", "bias")}


def test_resnet_keys_are_the_reference_s() -> None:
    nine = build("generator", "resnet", meta=True).state_dict()
    assert len(nine) == 48
    blocks = [f"model.{i}.conv_block.{j}" for i in range(10, 19) for j in (1, 5)]
    expected = ["model.1", "model.4", "model.7", *blocks, "model.19", "model.22", "model.26"]
    assert set(nine) == _conv_keys(expected)
    assert tuple(nine["model.19.weight"].shape) == (256, 128, 3, 3)  # transposed: [in, out]
    assert tuple(nine["model.22.weight"].shape) == (128, 64, 3, 3)
    assert tuple(nine["model.26.weight"].shape) == (3, 64, 7, 7)

    six = build("generator", "resnet", meta=True, n_blocks=6).state_dict()
    blocks = [f"model.{i}.conv_block.{j}" for i in range(10, 16) for j in (1, 5)]
    expected = ["model.1", "model.4", "model.7", *blocks, "model.16", "model.19", "model.23"]
    assert set(six) == _conv_keys(expected)

    dropout = build("generator", "resnet", meta=True, dropout=True).state_dict()
    assert "model.10.conv_block.6.weight" in dropout
    assert not any(".conv_block.5." in k for k in dropout)
    assert len(dropout) == 48


def test_norm_follows_the_reference_s_bias_rule() -> None:
    convs = ["model.1", "model.4", "model.7", "model.10.conv_block.1", "model.10.conv_block.5"]
    convs += ["model.11", "model.14"]  # one block: the transposed convs move up to 11 and 14
    none = build("generator", "resnet", meta=True, n_blocks=1, norm="none").state_dict()
    assert set(none) == {f"{c}.weight" for c in convs} | _conv_keys(["model.18"])
    batch = build("generator", "resnet", meta=True, n_blocks=1, norm="batch").state_dict()
    norms = ["model.2", "model.5", "model.8", "model.10.conv_block.2", "model.10.conv_block.6"]
    norms += ["model.12", "model.15"]
    stats = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    assert set(batch) == set(none) | {f"{n}.{s}" for n in norms for s in stats}
    pixel = build("discriminator", "pixel", meta=True, norm="batch").state_dict()
    assert "net.5.bias" not in pixel and "net.0.bias" in pixel and "net.3.running_var" in pixel
    patch = build("discriminator", "patchgan", meta=True, norm="none").state_dict()
    assert set(patch) == _conv_keys(["model.0", "model.11"]) | {
        "model.2.weight",
        "model.5.weight",
        "model.8.weight",
    }


def _unet_keys(num_downs: int) -> set[str]:
    downs = ["model.model.0"]
    ups = ["model.model.3"]
    for level in range(1, num_downs):
        node = "model.model.1" + ".model.3" * (level - 1)
        downs.append(f"{node}.model.1")
        ups.append(f"{node}.model.3" if level == num_downs - 1 else f"{node}.model.5")
    return _conv_keys(downs + ups)


@pytest.mark.parametrize("num_downs", [7, 8])
def test_unet_keys_nest_as_the_reference_s(num_downs: int) -> None:
    keys = build("generator", "unet", meta=True, num_downs=num_downs).state_dict()
    assert set(keys) == _unet_keys(num_downs)
    assert len(keys) == 4 * num_downs
    assert "model.model.1.model.1.weight" in keys  # the second level's down conv
    innermost = "model.model.1" + ".model.3" * (num_downs - 2)
    assert tuple(keys[f"{innermost}.model.3.weight"].shape) == (512, 512, 4, 4)  # inner -> outer
    assert tuple(keys["model.model.3.weight"].shape) == (128, 3, 4, 4)  # 2 x ngf -> 3


def test_patchgan_and_pixel_keys_are_the_reference_s() -> None:
    three = build("discriminator", "patchgan", meta=True).state_dict()
    assert set(three) == _conv_keys(["model.0", "model.2", "model.5", "model.8", "model.11"])
    five = build("discriminator", "patchgan", meta=True, n_layers=5).state_dict()
    assert set(five) == _conv_keys([f"model.{i}" for i in (0, 2, 5, 8, 11, 14, 17)])
    pixel = build("discriminator", "pixel", meta=True).state_dict()
    assert set(pixel) == _conv_keys(["net.0", "net.2", "net.5"])


@pytest.mark.parametrize("size", [32, 64, 96])
@pytest.mark.parametrize(
    "params",
    [
        {"ngf": 4, "n_blocks": 2},
        {"ngf": 4, "n_blocks": 1, "dropout": True, "norm": "batch"},
        {"ngf": 4, "n_blocks": 1, "norm": "none"},
    ],
)
def test_resnet_keeps_the_image_size(size: int, params: dict) -> None:
    net = build("generator", "resnet", **params)
    out = net(torch.rand(2, 3, size, size) * 2 - 1)
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1


@pytest.mark.parametrize(
    ("num_downs", "size"), [(5, 32), (5, 64), (5, 96), (6, 64), (6, 128), (7, 128)]
)
def test_unet_keeps_the_image_size(num_downs: int, size: int) -> None:
    net = build("generator", "unet", num_downs=num_downs, ngf=2, dropout=True)
    out = net(torch.rand(1, 3, size, size) * 2 - 1)
    assert out.shape == (1, 3, size, size)
    assert out.abs().max() <= 1


def test_unet_with_batch_norm_runs_in_eval_mode_at_its_smallest_size() -> None:
    net = build("generator", "unet", num_downs=5, ngf=2, norm="batch").eval()
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_patchgan_score_maps_follow_the_arithmetic() -> None:
    assert patchgan_output_size(256, 3) == 30  # the 70x70 PatchGAN's 30x30 map
    assert patchgan_output_size(256, 5) == 6
    assert patchgan_smallest_size(3) == 24 and patchgan_smallest_size(5) == 96
    for n_layers, size in [(1, 32), (2, 32), (3, 32), (3, 64), (3, 70), (4, 96), (5, 96)]:
        net = build("discriminator", "patchgan", ndf=2, n_layers=n_layers)
        side = patchgan_output_size(size, n_layers)
        assert net(torch.rand(1, 3, size, size)).shape == (1, 1, side, side)


@pytest.mark.parametrize("size", [8, 32, 64])
def test_pixel_scores_every_pixel(size: int) -> None:
    net = build("discriminator", "pixel", ndf=4)
    assert net(torch.rand(2, 3, size, size)).shape == (2, 1, size, size)


def test_multi_is_judged_member_by_member() -> None:
    multi = build(
        "discriminator",
        "multi",
        members=[
            {"plugin": "patchgan", "params": {"ndf": 2, "n_layers": 1}},
            {"plugin": "pixel", "params": {"ndf": 2}, "weight": 2.0},
        ],
    )
    assert isinstance(multi, MultiDiscriminator)
    (w1, d1), (w2, d2) = multi.weighted_members()
    assert (w1, w2) == (0.5, 2.0)
    assert d1(torch.rand(1, 3, 32, 32)).shape == (1, 1, 14, 14)  # 32 -> 16 -> 15 -> 14
    assert d2(torch.rand(1, 3, 32, 32)).shape == (1, 1, 32, 32)
    assert set(multi.state_dict()) == {
        *(f"members.0.model.{i}.{p}" for i in (0, 2, 5) for p in ("weight", "bias")),
        *(f"members.1.net.{i}.{p}" for i in (0, 2, 5) for p in ("weight", "bias")),
    }
    with pytest.raises(RuntimeError, match="weighted_members"):
        multi(torch.rand(1, 3, 32, 32))
    nested = MultiDiscriminator([multi, d1], [0.5, 0.5])
    assert [w for w, _ in nested.weighted_members()] == [0.25, 1.0, 0.5]


def test_init_is_the_reference_s_normal_init() -> None:
    torch.manual_seed(0)
    net = build("generator", "resnet", ngf=32, n_blocks=2)
    weights = torch.cat(
        [m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    )
    assert weights.numel() > 100_000
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    biases = [m.bias for m in net.modules() if getattr(m, "bias", None) is not None]
    assert biases and all(torch.all(b == 0) for b in biases)

    unet = build("generator", "unet", num_downs=5, ngf=16, norm="batch")
    bn = torch.cat([m.weight for m in unet.modules() if isinstance(m, nn.BatchNorm2d)])
    assert bn.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.std().item() == pytest.approx(0.02, rel=0.15)
    assert all(torch.all(m.bias == 0) for m in unet.modules() if isinstance(m, nn.BatchNorm2d))


def spec(*overrides: str):
    return load_spec(QUICKSTART, get_registry(), [*TINY, *overrides])


def test_unet_sizes_are_checked_when_the_spec_is_validated() -> None:
    unet = ['generator={"plugin": "unet", "params": {"ngf": 4}}']
    with pytest.raises(FaceoffError) as caught:
        spec(*unet, "data.load_size=72", "data.crop_size=64")
    message = str(caught.value)
    assert "generator: unet with num_downs 8 needs an image size divisible by 256" in message
    assert "(got 64; try 256, or num_downs 6 for 64 px)" in message
    assert "\n" not in message
    resolved = spec(*unet, "generator.params.num_downs=6", "data.load_size=72", "data.crop_size=64")
    assert resolved.to_dict()["generator"]["params"] == {
        "num_downs": 6,
        "ngf": 4,
        "dropout": False,
        "norm": "instance",
    }
    with pytest.raises(FaceoffError, match=r"num_downs 5 needs .* 32 \(got 48; try 32 or 64\)"):
        spec(*unet, "generator.params.num_downs=5", "data.load_size=48", "data.crop_size=48")
    with pytest.raises(FaceoffError, match=r"generator.params.num_downs: .* greater than or equal"):
        spec(*unet, "generator.params.num_downs=4")


NO_NORM = "discriminator.params.norm=none"


def test_discriminator_sizes_are_checked_when_the_spec_is_validated() -> None:
    with pytest.raises(FaceoffError, match=r"patchgan with n_layers 3 needs images of at least 24"):
        spec("data.load_size=20", "data.crop_size=20", "discriminator.params.n_layers=3")
    with pytest.raises(FaceoffError, match=r"patchgan with n_layers 3 needs images of at least 24"):
        spec("data.load_size=20", "data.crop_size=20", "discriminator.params.n_layers=3", NO_NORM)
    spec("data.load_size=20", "data.crop_size=20", 'discriminator={"plugin": "pixel"}')
    with pytest.raises(FaceoffError, match=r"discriminator.params.norm: Input should be"):
        spec("discriminator.params.norm=layer")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_equals_the_reference_s_forward_and_backward(
    dtype: torch.dtype, channels_last: bool
) -> None:
    """Our instance norm (group norm, one channel per group, on the CPU) is torch's, in value
    and gradient, in every memory format."""
    from faceoff_cyclegan.networks import InstanceNorm2d

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 5, 7, 9, generator=g) * 3 + 1).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weights = torch.randn(3, 5, 7, 9, generator=g).to(dtype)
    outputs, grads = [], []
    for norm in (InstanceNorm2d(5), nn.InstanceNorm2d(5)):
        leaf = x.clone().requires_grad_(True)
        out = norm(leaf)
        (out * weights).sum().backward()
        outputs.append(out.detach().double())
        grads.append(leaf.grad.double())
    tol = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 5e-2}[dtype]
    torch.testing.assert_close(outputs[0], outputs[1], atol=tol, rtol=tol)
    torch.testing.assert_close(grads[0], grads[1], atol=tol * 10, rtol=tol * 10)
    assert outputs[0].abs().max() > 0.5  # normalised, not zeros
