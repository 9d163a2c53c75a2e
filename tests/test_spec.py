"""Spec validation: two passes, defaults filled in, clear errors with dotted locations."""

from __future__ import annotations

import json

import pytest

from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec, resolve
from faceoff.spec_file import apply_overrides, read_spec_file
from tiny import QUICKSTART, ROOT


def test_empty_spec_resolves_to_the_reference_defaults() -> None:
    resolved = resolve({}, get_registry())
    spec = resolved.to_dict()
    assert spec["generator"] == {
        "plugin": "resnet",
        "params": {
            "ngf": 64,
            "n_blocks": 9,
            "dropout": False,
            "norm": "instance",
            "antialias": False,
            "antialias_up": False,
        },
    }
    assert spec["discriminator"] == {
        "plugin": "patchgan",
        "params": {"ndf": 64, "n_layers": 3, "norm": "instance", "antialias": False},
    }
    assert spec["losses"]["cycle"] == [{"plugin": "l1", "params": {}, "weight": 10.0}]
    assert spec["objective"]["plugin"] == "cyclegan"
    objective = spec["objective"]["params"]
    assert (objective["identity"], objective["pool_size"], objective["pseudo"]) == (0.5, 50, 0.0)
    assert (spec["data"]["load_size"], spec["data"]["crop_size"]) == (286, 256)
    assert spec["optimizer"] == {
        "name": "adam",
        "lr": 0.0002,
        "beta1": 0.5,
        "beta2": 0.999,
        "alpha": None,
    }
    assert spec["train"]["batch_size"] == 1
    assert spec["data"]["source"]["params"] == {"seed": 0, "frames": 2000, "test_frames": 200}


def test_resolved_spec_round_trips() -> None:
    first = load_spec(QUICKSTART, get_registry()).to_dict()
    again = resolve(json.loads(json.dumps(first)), get_registry()).to_dict()
    assert again == first


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["generator.params.ngf=0"],
            "generator.params.ngf: Input should be greater than or equal to 1 (got 0)",
        ),
        (["generator.params.width=3"], "generator.params.width: unknown key"),
        (
            ["generator.plugin=resnte"],
            "generator.plugin: unknown generator 'resnte'; valid: resnet",
        ),
        (
            ["losses.cycle.0.plugin=lsgan"],
            "losses.cycle.0.plugin: loss 'lsgan' is for adversarial",
        ),
        (
            ["losses.adversarial.plugin=l1"],
            "losses.adversarial.plugin: loss 'l1' is for reconstruction",
        ),
        (["data.crop_size=80"], "data: crop_size 80 is larger than load_size 72"),
        (
            ["data.crop_size=66"],
            "generator: resnet needs an image size divisible by 4 (got 66; try 64 or 68)",
        ),
        (["train.device=tpu"], "train.device: Input should be 'auto', 'cpu' or 'cuda'"),
        (["schedule.epochs=-1"], "schedule.epochs: Input should be greater than or equal to 0"),
        (["bogus=1"], "bogus: unknown key"),
        (
            ['data.source={"plugin": "frames"}'],
            "data.source.params: give either 'root', or both 'a' and 'b'",
        ),
    ],
)
def test_errors_name_the_place_and_the_reason(overrides: list[str], expected: str) -> None:
    with pytest.raises(FaceoffError) as caught:
        load_spec(QUICKSTART, get_registry(), overrides)
    message = str(caught.value)
    assert message.startswith(f"{QUICKSTART}: ")
    assert expected in message
    assert "\n" not in message


def test_patchgan_refuses_inputs_too_small_for_instance_norm() -> None:
    overrides = ["discriminator.params.n_layers=5", "data.load_size=72", "data.crop_size=64"]
    with pytest.raises(
        FaceoffError, match=r"patchgan with n_layers 5 needs images of at least \d+ px"
    ):
        load_spec(QUICKSTART, get_registry(), overrides)
    load_spec(
        QUICKSTART,
        get_registry(),
        ["discriminator.params.n_layers=5", "data.load_size=100", "data.crop_size=96"],
    )


def test_unknown_names_are_listed_closest_first() -> None:
    with pytest.raises(FaceoffError) as caught:
        resolve({"losses": {"cycle": [{"plugin": "l2x"}]}}, get_registry())
    valid = str(caught.value).split("valid: ")[1].split(" (")[0].split(", ")
    assert valid[0] == "l1"


def test_overrides_parse_json_and_create_sections() -> None:
    raw = apply_overrides(
        {"train": {"seed": 1}}, ["train.seed=7", "name.x=abc", "a.b=[1, 2]", "c=true"]
    )
    assert raw == {"train": {"seed": 7}, "name": {"x": "abc"}, "a": {"b": [1, 2]}, "c": True}
    raw = apply_overrides({"losses": {"cycle": [{"plugin": "l1"}]}}, ["losses.cycle.0.weight=2.5"])
    assert raw["losses"]["cycle"][0]["weight"] == 2.5


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("novalue", "expected KEY=VALUE"),
        ("losses.cycle.3.weight=1", "is a list of 1; use an index 0..0"),
        ("train.seed.x=1", "train.seed is a value, not a section"),
    ],
)
def test_bad_overrides(override: str, expected: str) -> None:
    raw = {"losses": {"cycle": [{"plugin": "l1"}]}, "train": {"seed": 1}}
    with pytest.raises(FaceoffError, match=expected):
        apply_overrides(raw, [override])


def test_bad_json_names_line_and_column(tmp_path) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{\n  "train": {"seed": 1,}\n}\n')
    with pytest.raises(FaceoffError, match=r"invalid JSON at line 2, column 23"):
        read_spec_file(path)


def test_missing_and_non_object_specs(tmp_path) -> None:
    with pytest.raises(FaceoffError, match="no such spec file"):
        read_spec_file(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(FaceoffError, match="must be a JSON object, not list"):
        load_spec(tmp_path / "list.json", get_registry())


def test_unknown_loss_lists_only_losses_of_the_slots_role() -> None:
    with pytest.raises(FaceoffError) as caught:
        load_spec(QUICKSTART, get_registry(), ["losses.cycle.0.plugin=l3"])
    assert "valid: l1" in str(caught.value) and "lsgan" not in str(caught.value)


def test_a_loss_that_needs_masks_is_refused_in_crop_mode() -> None:
    from faceoff.components import PluginInfo
    from faceoff.hookspecs import hookimpl
    from faceoff.plugins import load_registry

    class Plugin:
        @hookimpl
        def register_losses(self, register):
            register("needy", lambda p: None, role="reconstruction", needs_mask=True)

        @hookimpl
        def register_mask_providers(self, register):
            register("full", lambda p: None)

    registry = load_registry(extra=[(Plugin(), PluginInfo("t", "t", "0", "t"))])
    mask = '{"provider": {"plugin": "full"}, "mode": "%s"}'
    base = ["losses.cycle.0.plugin=needy"]
    with pytest.raises(FaceoffError, match=r"needs face masks; set mask\.mode to 'weight'"):
        load_spec(QUICKSTART, registry, [*base, "mask=" + mask % "crop"])
    load_spec(QUICKSTART, registry, [*base, "mask=" + mask % "weight"])


def test_optimizer_defaults_and_refusals() -> None:
    resolved = load_spec(
        QUICKSTART,
        get_registry(),
        [
            "optimizer.name=rmsprop",
            "optimizer.beta1=null",
            "optimizer.beta2=null",
            "optimizer.lr=null",
        ],
    )
    assert resolved.to_dict()["optimizer"] == {
        "name": "rmsprop",
        "lr": 5e-5,
        "beta1": None,
        "beta2": None,
        "alpha": 0.99,
    }
    with pytest.raises(FaceoffError, match=r"optimizer\.beta1: does not apply to rmsprop"):
        load_spec(QUICKSTART, get_registry(), ["optimizer.name=rmsprop"])


def test_a_masked_loss_is_refused_in_an_objective_that_does_not_pass_masks_to_losses() -> None:
    """Recycle-GAN calls its losses without masks: masked-l1 there would stop at the first step."""
    mask = 'mask={"provider": {"plugin": "synthetic"}, "mode": "weight"}'
    masked = 'losses.cycle=[{"plugin": "masked-l1", "weight": 10.0}]'
    recycle = ROOT / "examples" / "recycle-gan.json"
    with pytest.raises(
        FaceoffError, match=r"losses\.cycle\.0\.plugin: .*'masked-l1'.*'recycle-gan'"
    ):
        load_spec(recycle, get_registry(), [mask, masked])
    load_spec(QUICKSTART, get_registry(), [mask, masked])  # CycleGAN passes them on
