"""The `multi` discriminator: nested members in the spec, their weights, and training with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import faceoff
from faceoff.errors import FaceoffError
from faceoff.losses import discriminator_adversarial, generator_adversarial, scores
from faceoff.plugins import get_registry
from faceoff.spec import load_spec, resolve
from faceoff.train.build import build_training
from faceoff.train.run import train
from faceoff_cyclegan.networks import MultiDiscriminator
from tiny import QUICKSTART, TINY

MULTI = {
    "plugin": "multi",
    "params": {
        "members": [
            {"plugin": "patchgan", "params": {"n_layers": 1, "ndf": 4}},
            {"plugin": "patchgan", "params": {"n_layers": 2, "ndf": 2}, "weight": 0.25},
        ]
    },
}


def multi_spec(*extra: str, multi: dict | None = None):
    overrides = [*TINY, f"discriminator={json.dumps(multi or MULTI)}", *extra]
    return load_spec(QUICKSTART, get_registry(), overrides)


def test_the_resolved_spec_shows_every_member_in_full() -> None:
    resolved = multi_spec()
    assert resolved.to_dict()["discriminator"] == {
        "plugin": "multi",
        "params": {
            "members": [
                {
                    "plugin": "patchgan",
                    "params": {"ndf": 4, "n_layers": 1, "norm": "instance", "antialias": False},
                    "weight": 0.5,  # unset: an equal share of two
                },
                {
                    "plugin": "patchgan",
                    "params": {"ndf": 2, "n_layers": 2, "norm": "instance", "antialias": False},
                    "weight": 0.25,
                },
            ]
        },
    }
    assert {"discriminator.params.members.0", "discriminator.params.members.1"} <= set(
        resolved.components
    )
    again = resolve(json.loads(json.dumps(resolved.to_dict())), get_registry())
    assert again.to_dict() == resolved.to_dict()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "discriminator.params.members.1.params.n_layers=0",
            "discriminator.params.members.1.params.n_layers: Input should be greater than or "
            "equal to 1 (got 0)",
        ),
        (
            "discriminator.params.members.0.params.depth=3",
            "discriminator.params.members.0.params.depth: unknown key",
        ),
        (
            "discriminator.params.members.1.plugin=patchgn",
            "discriminator.params.members.1.plugin: unknown discriminator 'patchgn'; valid: "
            "patchgan, ",
        ),
        (
            "discriminator.params.members.1.weight=0",
            "discriminator.params.members.1.weight: Input should be greater than 0",
        ),
        (
            'discriminator.params.members=[{"plugin": "pixel"}]',
            "discriminator.params.members: List should have at least 2 items",
        ),
        (
            "discriminator.params={}",
            "discriminator.params.members: Field required",
        ),
        (
            "discriminator.params.members.1.params.n_layers=5",
            "discriminator: multi member 1 (patchgan) with n_layers 5 needs images of at least "
            "96 px (got 32)",
        ),
    ],
)
def test_member_errors_name_their_place(override: str, expected: str) -> None:
    with pytest.raises(FaceoffError) as caught:
        multi_spec(override)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_an_unknown_member_lists_the_discriminators() -> None:
    with pytest.raises(FaceoffError) as caught:
        multi_spec("discriminator.params.members.0.plugin=pixle")
    valid = str(caught.value).split("valid: ")[1].split(", ")
    assert valid[0] == "pixel"
    assert set(valid) >= {"pixel", "patchgan", "multi"}


def test_the_member_s_own_size_rule_is_checked_by_the_core_too() -> None:
    """Without multi's own check, the core checks nested components (they are in components)."""
    resolved = multi_spec()
    component, params = resolved.components["discriminator.params.members.1"]
    assert component.name == "patchgan" and params.n_layers == 2
    assert component.input_problem(params, 8) is not None
    multi, multi_params = resolved.components["discriminator"]
    assert "member 1 (patchgan)" in multi.input_problem(multi_params, 8)


def _losses_by_hand(d_a: MultiDiscriminator, real: torch.Tensor, fake: torch.Tensor):
    (d1, d2) = d_a.members
    mse = F.mse_loss

    def d_loss(d):
        return 0.5 * (
            mse(d(real), torch.ones_like(d(real))) + mse(d(fake), torch.zeros_like(d(fake)))
        )

    def g_loss(d):
        return mse(d(fake), torch.ones_like(d(fake)))

    return 0.5 * d_loss(d1) + 0.25 * d_loss(d2), 0.5 * g_loss(d1) + 0.25 * g_loss(d2)


def test_the_loop_weights_each_member_s_losses() -> None:
    resolved = multi_spec()
    torch.manual_seed(0)
    training = build_training(resolved, torch.device("cpu"))
    model, engine = training.objective, training.engine
    assert isinstance(model.D_A, MultiDiscriminator)
    assert [w for w, _ in model.D_A.weighted_members()] == [0.5, 0.25]
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    fake = torch.rand(2, 3, 32, 32) * 2 - 1
    by_hand_d, by_hand_g = _losses_by_hand(model.D_A, real, fake)
    loss_d = discriminator_adversarial(model.adversarial, model.D_A, real, fake, engine.autocast)
    loss_g = generator_adversarial(model.adversarial, scores(model.D_A, fake))
    assert loss_d.item() == pytest.approx(by_hand_d.item(), rel=1e-6)
    assert loss_g.item() == pytest.approx(by_hand_g.item(), rel=1e-6)
    loss_d.backward()
    for member in model.D_A.members:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in member.parameters())


def test_training_with_two_discriminators_checkpoints_and_resumes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = train(multi_spec("train.max_steps=2"), run, show_progress=False)
    assert first.steps == 2 and first.checkpoint is not None
    tensors = load_file(str(first.checkpoint))
    assert "net.D_A.members.0.model.0.weight" in tensors
    assert "net.D_B.members.1.model.8.bias" in tensors  # n_layers 2: the output conv at 8
    again = train(multi_spec("train.max_steps=3"), run, resume=True, show_progress=False)
    assert again.steps == 3
    d_a = faceoff.load_network(again.checkpoint, "D_A")
    assert isinstance(d_a, MultiDiscriminator) and not d_a.training
    saved = load_file(str(again.checkpoint))
    assert torch.equal(d_a.members[1].model[0].weight, saved["net.D_A.members.1.model.0.weight"])
