"""The bundled `losses` plugin: vanilla, wgan, wgan-gp, ssim, ms-ssim and masked-l1."""

from __future__ import annotations

import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel
from safetensors.torch import load_file
from torch import nn

from faceoff.components import PluginInfo
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.plugins import get_registry, load_registry
from faceoff.train.build import Training
from faceoff.train.run import train
from faceoff_losses import (
    MS_SSIM_WEIGHTS,
    MsSsimParams,
    SsimParams,
    check_ms_ssim,
    check_ssim,
)
from faceoff_losses.adversarial import gradient_penalty
from faceoff_losses.reconstruction import ms_ssim_scales
from tiny import tiny_spec, tiny_training

# The quickstart sets Adam's settings explicitly; a WGAN spec leaves them to the loss.
NO_OPTIMIZER = "optimizer={}"


def loss(name: str, **params):
    component = get_registry().get("loss", name)
    return component.make(params)


def tiny_model(*extra: str, registry=None) -> Training:
    return tiny_training(*extra, registry=registry)


def tiny_batch(masks: float | None = None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    batch = {k: torch.randint(0, 256, (2, 3, 32, 32), generator=g, dtype=torch.uint8) for k in "AB"}
    if masks is not None:
        for k in "AB":
            batch[f"mask_{k}"] = torch.full((2, 1, 32, 32), masks, dtype=torch.float16)
    return batch


def d_params(model: Training) -> list[nn.Parameter]:
    return [*model.objective.D_A.parameters(), *model.objective.D_B.parameters()]


def test_importing_the_plugin_loads_neither_torch_nor_pytorch_msssim() -> None:
    code = (
        "import sys, faceoff_losses; print('torch' in sys.modules, 'pytorch_msssim' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_registered_with_roles_weights_and_mask_needs() -> None:
    registry = get_registry()
    assert set(registry.names("loss", "adversarial")) >= {"vanilla", "wgan", "wgan-gp"}
    assert set(registry.names("loss", "reconstruction")) >= {"ssim", "ms-ssim", "masked-l1"}
    weights = {n: registry.get("loss", n).weight for n in ("ssim", "ms-ssim", "masked-l1")}
    assert weights == {"ssim": 0.01, "ms-ssim": 0.01, "masked-l1": 10.0}
    assert [n for n in registry.names("loss") if registry.get("loss", n).needs_mask] == [
        "masked-l1"
    ]
    spec = tiny_spec('losses.cycle=[{"plugin": "l1"}, {"plugin": "ssim"}]').spec
    assert [c.weight for c in spec.losses.cycle] == [10.0, 0.01]


# ---- vanilla -------------------------------------------------------------------------------


def test_vanilla_is_cross_entropy_with_logits_and_halves_d() -> None:
    vanilla = loss("vanilla")
    real = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    fake = torch.tensor([[-3.0, 1.5], [0.0, 4.0]])

    def log_sigmoid(x: float) -> float:
        return -math.log1p(math.exp(-x))

    fake_is_real = -np.mean([log_sigmoid(x) for x in fake.flatten().tolist()])
    real_is_real = -np.mean([log_sigmoid(x) for x in real.flatten().tolist()])
    fake_is_fake = -np.mean([log_sigmoid(-x) for x in fake.flatten().tolist()])
    assert vanilla.generator_loss(fake).item() == pytest.approx(fake_is_real, rel=1e-6)
    assert vanilla.discriminator_loss(real, fake).item() == pytest.approx(
        0.5 * (real_is_real + fake_is_fake), rel=1e-6
    )
    assert vanilla.critic_steps == 1 and vanilla.clip_weights is None
    assert vanilla.penalty(nn.Identity(), real, fake) is None
    # Huge scores stay finite (the logits form, not log(sigmoid)).
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(vanilla.discriminator_loss(big, -big))


def test_vanilla_trains_a_step() -> None:
    terms = tiny_model("losses.adversarial.plugin=vanilla").step(tiny_batch())
    assert all(torch.isfinite(v) for v in terms.values())
    # Random networks score near 0: each cross-entropy is near log 2.
    assert terms["D_A"].item() == pytest.approx(math.log(2), abs=0.1)


# ---- wgan ----------------------------------------------------------------------------------


def test_wgan_losses_and_settings() -> None:
    wgan = loss("wgan", clip=0.05, n_critic=3)
    real = torch.tensor([[1.0, 3.0]])
    fake = torch.tensor([[-2.0, 0.0]])
    assert wgan.generator_loss(fake).item() == pytest.approx(1.0)
    assert wgan.discriminator_loss(real, fake).item() == pytest.approx(0.5 * (-1.0 - 2.0))
    assert (wgan.clip_weights, wgan.critic_steps) == (0.05, 3)
    assert wgan.penalty(nn.Identity(), real, fake) is None


def test_wgan_proposes_rmsprop_but_the_spec_decides() -> None:
    spec = tiny_spec("losses.adversarial.plugin=wgan", NO_OPTIMIZER).spec
    assert spec.optimizer.model_dump(exclude_none=True) == {
        "name": "rmsprop",
        "lr": 5e-5,
        "alpha": 0.99,
    }
    spec = tiny_spec(
        'losses.adversarial={"plugin": "wgan", "params": {"lr": 1e-4}}', NO_OPTIMIZER
    ).spec
    assert (spec.optimizer.name, spec.optimizer.lr) == ("rmsprop", 1e-4)
    spec = tiny_spec("losses.adversarial.plugin=wgan", 'optimizer={"lr": 3e-5}').spec
    assert (spec.optimizer.name, spec.optimizer.lr) == ("rmsprop", 3e-5)
    spec = tiny_spec("losses.adversarial.plugin=wgan", 'optimizer={"name": "adam"}').spec
    assert spec.optimizer.model_dump(exclude_none=True) == {
        "name": "adam",
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
    }
    spec = tiny_spec("losses.adversarial.plugin=wgan-gp", NO_OPTIMIZER).spec
    assert spec.optimizer.model_dump(exclude_none=True) == {
        "name": "adam",
        "lr": 1e-4,
        "beta1": 0.0,
        "beta2": 0.9,
    }


@pytest.mark.parametrize("n_critic", [1, 3])
def test_wgan_clips_after_every_critic_step_and_takes_n_critic_steps(n_critic: int) -> None:
    clip = 0.01
    model = tiny_model(
        f'losses.adversarial={{"plugin": "wgan", "params": {{"n_critic": {n_critic}}}}}',
        NO_OPTIMIZER,
    )
    assert isinstance(model.engine.optimizers["D"], torch.optim.RMSprop)
    assert isinstance(model.engine.optimizers["G"], torch.optim.RMSprop)
    assert model.engine.optimizers["D"].param_groups[0]["lr"] == 5e-5
    assert max(p.abs().max().item() for p in d_params(model)) > clip  # N(0, 0.02) init

    calls: list[str] = []
    outside_after_step: list[bool] = []

    def before_d(optimizer, args, kwargs) -> None:
        if calls.count("D") > 0:  # every D step but the very first starts from clipped weights
            assert max(p.abs().max().item() for p in d_params(model)) <= clip
        calls.append("D")

    def after_d(optimizer, args, kwargs) -> None:
        outside_after_step.append(max(p.abs().max().item() for p in d_params(model)) > clip)

    model.engine.optimizers["D"].register_step_pre_hook(before_d)
    model.engine.optimizers["D"].register_step_post_hook(after_d)
    model.engine.optimizers["G"].register_step_pre_hook(lambda *_: calls.append("G"))
    for _ in range(2):
        model.step(tiny_batch())
        assert max(p.abs().max().item() for p in d_params(model)) <= clip
    assert calls == (["G"] + ["D"] * n_critic) * 2
    # The optimiser's step leaves weights outside the bound each time, so each clip mattered.
    assert all(outside_after_step) and len(outside_after_step) == 2 * n_critic


# ---- wgan-gp -------------------------------------------------------------------------------


def _linear_critic(slope: float, size: int) -> nn.Module:
    """A 1x1-conv critic whose image score (the mean of its map) has gradient norm ``slope``."""
    critic = nn.Conv2d(3, 1, 1, bias=True)
    with torch.no_grad():
        direction = torch.tensor([1.0, -2.0, 2.0]) / 3.0  # unit vector
        # mean over size*size positions: gradient per pixel w / size^2, norm |w| / size.
        critic.weight.copy_((slope * size * direction).view(1, 3, 1, 1))
        critic.bias.fill_(0.3)
    return critic


def test_gradient_penalty_is_zero_for_a_unit_slope_critic_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(4, 3, 8, 8) * 2 - 1, torch.rand(4, 3, 8, 8) * 2 - 1
    gp = loss("wgan-gp")
    assert gp.clip_weights is None and gp.critic_steps == 5
    assert gp.penalty(_linear_critic(1.0, 8), real, fake).item() == pytest.approx(0, abs=1e-6)
    # (slope - 1)^2 x lambda_gp x 0.5 (halved with the critic term)
    assert gp.penalty(_linear_critic(3.0, 8), real, fake).item() == pytest.approx(20.0, rel=1e-5)
    assert gp.penalty(_linear_critic(0.5, 8), real, fake).item() == pytest.approx(1.25, rel=1e-5)
    alpha = torch.rand(4, 1, 1, 1)
    assert gradient_penalty(_linear_critic(2.0, 8), real, fake, alpha).item() == pytest.approx(1.0)
    assert loss("wgan-gp", lambda_gp=0).penalty(_linear_critic(3.0, 8), real, fake) is None


def test_gradient_penalty_gradient_matches_finite_differences() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Tanh(), nn.Conv2d(2, 1, 3)).double()
    real = torch.rand(2, 3, 6, 6, dtype=torch.float64) * 2 - 1
    fake = torch.rand(2, 3, 6, 6, dtype=torch.float64) * 2 - 1
    alpha = torch.rand(2, 1, 1, 1, dtype=torch.float64)
    names = [name for name, _ in critic.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in critic.parameters())

    def penalty(*values: torch.Tensor) -> torch.Tensor:
        weights = dict(zip(names, values))
        return gradient_penalty(
            lambda x: torch.func.functional_call(critic, weights, (x,)), real, fake, alpha
        )

    assert penalty(*params).item() > 0.1
    assert torch.autograd.gradcheck(penalty, params, eps=1e-6, atol=1e-6)


def test_the_penalty_draws_per_image_and_leaves_the_images_alone() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    maker = nn.Conv2d(3, 3, 1)  # stands in for the generator that made the fakes
    real = torch.rand(3, 3, 8, 8)
    fake = maker(torch.rand(2, 3, 8, 8))  # a smaller batch: the penalty uses the first 2
    gp = loss("wgan-gp")
    torch.manual_seed(5)
    value = gp.penalty(critic, real, fake)
    value.backward()
    assert maker.weight.grad is None, "the penalty must not train the generator"
    # Only weights shape an input gradient (the last bias never does; the first only at kinks).
    assert all(critic[i].weight.grad.abs().sum() > 0 for i in (0, 2))
    torch.manual_seed(5)
    alpha = torch.rand(2, 1, 1, 1)
    expected = 5.0 * gradient_penalty(critic, real[:2], fake.detach(), alpha)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_loop_adds_the_penalty_to_the_discriminator_loss() -> None:
    def step(lambda_gp: float) -> dict[str, torch.Tensor]:
        model = tiny_model(
            'losses.adversarial={"plugin": "wgan-gp", '
            f'"params": {{"n_critic": 1, "lambda_gp": {lambda_gp}}}}}',
            NO_OPTIMIZER,
        )
        assert isinstance(model.engine.optimizers["D"], torch.optim.Adam)
        return model.step(tiny_batch())

    with_gp, without = step(10.0), step(0.0)
    for term in ("G", "G_AB", "G_BA", "cycle_A", "cycle_B"):
        assert torch.equal(with_gp[term], without[term]), term
    for term in ("D_A", "D_B"):
        assert with_gp[term] > without[term] + 1e-3, term


def test_a_wgan_gp_run_resumes_exactly(tmp_path: Path) -> None:
    """The interpolation draws come from the global generator, which checkpoints keep."""
    gp = ['losses.adversarial={"plugin": "wgan-gp", "params": {"n_critic": 2}}', NO_OPTIMIZER]
    straight = train(tiny_spec(*gp, "train.max_steps=2"), tmp_path / "a", show_progress=False)
    half = [*gp, "train.max_steps=1", "output.checkpoint_every=1"]
    train(tiny_spec(*half), tmp_path / "b", show_progress=False)
    resumed = train(
        tiny_spec(*gp, "train.max_steps=2"), tmp_path / "b", resume=True, show_progress=False
    )
    a, b = load_file(str(straight.checkpoint)), load_file(str(resumed.checkpoint))
    nets = [k for k in a if k.startswith(("net.", "opt_"))]
    assert nets and [k for k in nets if not torch.equal(a[k], b[k])] == []


# ---- ssim and ms-ssim ----------------------------------------------------------------------


def _images(size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.rand(2, 3, size // 4, size // 4, generator=g)
    return nn.functional.interpolate(smooth, size=size, mode="bilinear") * 2 - 1


@pytest.mark.parametrize(
    ("name", "params", "size"),
    [
        ("ssim", {}, 32),
        ("ssim", {"win_size": 3}, 8),
        ("ms-ssim", {}, 176),
        ("ms-ssim", {"scales": 2}, 64),
        ("ms-ssim", {"scales": 1, "win_size": 7}, 8),
    ],
)
def test_ssim_losses_are_zero_for_the_same_image_and_positive_otherwise(
    name: str, params: dict, size: int
) -> None:
    component = get_registry().get("loss", name)
    assert component.input_problem(component.params.model_validate(params), size) is None
    fn = component.make(params)
    target = _images(size, 0)
    assert fn(target, target).item() < 1e-6
    output = _images(size, 1).requires_grad_(True)
    value = fn(output, target)
    assert 0 < value.item() <= 2
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    # A mask, if any, is ignored.
    assert fn(output, target, torch.ones(2, 1, size, size)).item() == pytest.approx(value.item())


def test_ssim_maps_images_to_unit_range_first() -> None:
    from pytorch_msssim import ssim

    a, b = _images(32, 0), _images(32, 1)
    expected = 1 - ssim((a + 1) / 2, (b + 1) / 2, data_range=1.0)
    assert loss("ssim")(a, b).item() == pytest.approx(expected.item(), rel=1e-6)


def test_fewer_scales_compute_ms_ssim_as_pytorch_msssim_does() -> None:
    from pytorch_msssim import ms_ssim

    x = (_images(176, 0).double() + 1) / 2
    y = (_images(176, 1).double() + 1) / 2
    ours = ms_ssim_scales(x, y, list(MS_SSIM_WEIGHTS))
    assert ours.item() == pytest.approx(ms_ssim(x, y, data_range=1.0).item(), rel=1e-12)
    three = loss("ms-ssim", scales=3)
    assert sum(three.weights) == pytest.approx(1.0)
    assert three.weights[0] / three.weights[2] == pytest.approx(0.0448 / 0.3001)
    expected = 1 - ms_ssim_scales(x, y, three.weights)
    assert three(x.float() * 2 - 1, y.float() * 2 - 1).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_size_refusals_say_what_would_work() -> None:
    assert check_ms_ssim(MsSsimParams(), 64) == (
        "with 5 scales needs images larger than 160 px (got 64); "
        "use data.crop_size >= 164 or scales <= 3"
    )
    assert check_ms_ssim(MsSsimParams(), 161) is None
    assert check_ms_ssim(MsSsimParams(scales=3), 40) == (
        "with 3 scales needs images larger than 40 px (got 40); "
        "use data.crop_size >= 44 or scales <= 2"
    )
    assert "scales = 1 with win_size <= 9" in check_ms_ssim(MsSsimParams(scales=2), 9)
    assert check_ms_ssim(MsSsimParams(scales=1, win_size=21), 12).endswith(
        "use data.crop_size >= 24 or win_size <= 11"
    )
    assert check_ssim(SsimParams(), 8) == (
        "needs images of at least win_size = 11 px (got 8); "
        "use data.crop_size >= 11 or win_size <= 7"
    )
    assert check_ssim(SsimParams(), 11) is None


def test_load_spec_refuses_sizes_with_the_place_and_the_message() -> None:
    with pytest.raises(FaceoffError) as caught:
        tiny_spec("losses.cycle.0.plugin=ms-ssim")
    assert (
        "losses.cycle.0: ms-ssim with 5 scales needs images larger than 160 px (got 32); "
        "use data.crop_size >= 164 or scales <= 2"
    ) in str(caught.value)
    with pytest.raises(FaceoffError) as caught:
        tiny_spec(
            "data.crop_size=8",
            "discriminator.params.n_layers=1",
            'losses.cycle=[{"plugin": "l1"}, {"plugin": "ssim"}]',
        )
    assert "losses.cycle.1: ssim needs images of at least win_size = 11 px (got 8)" in str(
        caught.value
    )
    resolved = tiny_spec('losses.cycle.0={"plugin": "ms-ssim", "params": {"scales": 2}}')
    assert resolved.spec.losses.cycle[0].params == {"win_size": 11, "scales": 2}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"win_size": 10}, "losses.cycle.0.params.win_size: must be odd, e.g. 9 or 11"),
        ({"win_size": 23}, "losses.cycle.0.params.win_size: Input should be less than or equal"),
        ({"scales": 6}, "losses.cycle.0.params.scales: Input should be less than or equal to 5"),
        ({"scale": 2}, "losses.cycle.0.params.scale: unknown key"),
    ],
)
def test_bad_ssim_params_are_refused(params: dict, message: str) -> None:
    import json

    with pytest.raises(FaceoffError, match=message.replace(".", r"\.")):
        tiny_spec(f"losses.cycle.0={json.dumps({'plugin': 'ms-ssim', 'params': params})}")


def test_ssim_trains_a_step_next_to_l1() -> None:
    model = tiny_model('losses.cycle=[{"plugin": "l1"}, {"plugin": "ssim"}]')
    assert model.objective.cycle_weights == [10.0, 0.01]
    terms = model.step(tiny_batch())
    assert all(torch.isfinite(v) for v in terms.values())


# ---- masked-l1 -----------------------------------------------------------------------------


def test_masked_l1_weights_pixels_inside_the_mask_w_plus_one_times() -> None:
    torch.manual_seed(0)
    out, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    l1 = (out - target).abs().mean()
    assert torch.equal(loss("masked-l1", w=0.0)(out, target, mask), l1)
    assert torch.equal(loss("masked-l1", w=3.0)(out, target, torch.zeros_like(mask)), l1)
    ones = torch.ones_like(mask)
    assert loss("masked-l1", w=3.0)(out, target, ones).item() == pytest.approx(4 * l1.item())
    # One differing pixel inside the mask against one outside it: w + 1 times the loss.
    same = torch.zeros(1, 3, 4, 4)
    inside, outside = same.clone(), same.clone()
    inside[0, :, 1, 1] = 0.5
    outside[0, :, 2, 2] = 0.5
    band = torch.zeros(1, 1, 4, 4)
    band[0, 0, :2] = 1.0
    masked = loss("masked-l1", w=2.5)
    assert masked(inside, same, band).item() == pytest.approx(
        3.5 * masked(outside, same, band).item()
    )
    assert loss("masked-l1").w == 1.0  # the paper's code: m(w - 1) + 1 with w = 2


def test_masked_l1_refuses_to_run_without_a_fitting_mask() -> None:
    masked = loss("masked-l1")
    images = torch.zeros(2, 3, 8, 8)
    with pytest.raises(FaceoffError, match="masked-l1 got no mask"):
        masked(images, images)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 1, 4, 4\) does not fit"):
        masked(images, images, torch.ones(2, 1, 4, 4))


def test_a_spec_with_masked_l1_needs_a_mask_section() -> None:
    with pytest.raises(FaceoffError) as caught:
        tiny_spec("losses.cycle.0.plugin=masked-l1")
    assert "losses.cycle.0.plugin: loss 'masked-l1' needs face masks; add a 'mask' section" in str(
        caught.value
    )


class _Band(BaseModel):
    rows: int = 8


def _band_masks(params: _Band):
    def provider(frame: np.ndarray) -> np.ndarray:
        mask = np.zeros(frame.shape[:2], np.float32)
        mask[: params.rows] = 1.0
        return mask

    return provider


def test_masked_l1_in_the_loop_gets_the_masks() -> None:
    band = types.SimpleNamespace(
        register_mask_providers=hookimpl(
            lambda register: register("band", _band_masks, params=_Band)
        )
    )
    registry = load_registry(extra=[(band, PluginInfo("test", "test-plugins", "0", "tests"))])
    masks = 'mask={"provider": {"plugin": "band"}, "mode": "weight"}'

    def terms(cycle: str, *extra: str, mask_value: float) -> dict[str, torch.Tensor]:
        model = tiny_model(f"losses.cycle={cycle}", masks, *extra, registry=registry)
        return model.step(tiny_batch(masks=mask_value))

    plain = terms('[{"plugin": "l1"}]', mask_value=1.0)
    w0 = terms('[{"plugin": "masked-l1", "params": {"w": 0}}]', mask_value=1.0)
    w1 = terms('[{"plugin": "masked-l1", "params": {"w": 1}}]', mask_value=1.0)
    w1_empty = terms('[{"plugin": "masked-l1", "params": {"w": 1}}]', mask_value=0.0)
    for name in ("cycle_A", "cycle_B", "idt_A", "idt_B"):
        assert torch.equal(w0[name], plain[name]), name
        assert torch.equal(w1_empty[name], plain[name]), name
        assert w1[name].item() == pytest.approx(2 * plain[name].item(), rel=1e-6), name
