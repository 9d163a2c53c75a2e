"""Every example spec validates at the paper's settings and trains 2 tiny steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from tiny import ROOT

PAPER = sorted((ROOT / "examples" / "paper").glob("*.json"))
NEEDS_MASKS = {"mask-crop", "mask-weight"}
SHRINK = [
    "data.source.params.frames=4",
    "data.source.params.test_frames=1",
    "train.batch_size=1",
    "train.max_steps=2",
    "train.device=cpu",
    "objective.params.pool_size=2",
    "output.log_every=1",
    "output.sample_every=2",
    "output.checkpoint_every=2",
    "generator.params.ngf=4",
]
PER_EXAMPLE = {
    "unet": ["generator.params.num_downs=5"],
    "d5": ["data.load_size=100", "data.crop_size=96", "discriminator.params.ndf=2"],
    "dual-d": [
        "data.load_size=100",
        "data.crop_size=96",
        "discriminator.params.members.0.params.ndf=2",
        "discriminator.params.members.1.params.ndf=2",
    ],
}


def shrink(name: str) -> list[str]:
    spec = json.loads((ROOT / "examples" / "paper" / f"{name}.json").read_text())
    extra = PER_EXAMPLE.get(name, ["data.load_size=36", "data.crop_size=32"])
    if spec["generator"]["plugin"] == "resnet":
        extra = [*extra, "generator.params.n_blocks=1"]
    if spec["discriminator"]["plugin"] == "patchgan" and name != "d5":
        extra = [*extra, "discriminator.params.ndf=4"]
    return [*SHRINK, *extra]


def test_the_paper_has_eight_configurations() -> None:
    names = {p.stem for p in PAPER}
    assert names == {"baseline", "ssim", "unet", "wgan", "mask-crop", "mask-weight", "d5", "dual-d"}


@pytest.mark.parametrize(
    "path", [p for p in PAPER if p.stem not in NEEDS_MASKS], ids=lambda p: p.stem
)
def test_paper_examples_validate_at_the_papers_settings_and_train(
    path: Path, tmp_path: Path
) -> None:
    resolved = load_spec(path, get_registry())
    spec = resolved.to_dict()
    assert (spec["data"]["load_size"], spec["data"]["crop_size"]) == (286, 256)
    assert spec["train"]["batch_size"] == 1 and spec["objective"]["params"]["identity"] == 0.5
    assert spec["losses"]["cycle"][0]["weight"] == 10.0
    tiny = load_spec(path, get_registry(), shrink(path.stem))
    result = train(tiny, tmp_path / "run", show_progress=False)
    assert result.steps == 2 and result.checkpoint is not None and result.checkpoint.is_file()


@pytest.mark.parametrize("name", sorted(NEEDS_MASKS))
def test_mask_examples_use_dlib_masks_in_the_papers_two_ways(name: str) -> None:
    spec = load_spec(ROOT / "examples" / "paper" / f"{name}.json", get_registry()).to_dict()
    assert spec["mask"]["provider"]["plugin"] == "dlib"
    assert spec["mask"]["mode"] == ("crop" if name == "mask-crop" else "weight")
    if name == "mask-weight":
        assert spec["losses"]["cycle"][0]["plugin"] == "masked-l1"


def test_the_recycle_gan_example_is_the_measured_batch_1_configuration() -> None:
    """examples/recycle-gan.json is what docs/results.md measured (recycle-gan-b1 without flips),
    with the quickstart's device and precision; nothing else may drift from the measured spec."""
    example = ROOT / "examples" / "recycle-gan.json"
    result = CliRunner().invoke(cli, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    ours = json.loads(example.read_text())
    measured = json.loads((ROOT / "examples" / "ablation" / "recycle-gan-b1.json").read_text())
    quickstart = json.loads((ROOT / "examples" / "quickstart.json").read_text())
    assert ours["data"].pop("flip") is False
    measured["data"].pop("flip")
    assert ours["train"] == {**quickstart["train"], "batch_size": 1}
    for part in ("train", "output"):
        del ours[part], measured[part]
    assert ours == measured
