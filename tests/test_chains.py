"""Chained translations and shared parts: a third party's face-swap autoencoder, written against
the objective contract alone (one encoder shared by both people, one decoder per person, a block
tied between the decoders), trains, resumes, applies, evaluates, exports and compares; stray
parameters, unused slots and the objective's own spec check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

import tiny
from faceoff import plugins
from faceoff.cli import cli
from faceoff.components import PluginInfo
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Network, Objective, SpecView, Translation
from faceoff.spec import GeneratorSpec
from faceoff.video.io import VideoWriter, probe

# ---------------------------------------------------------------- the third party's plugin


class WidthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(4, ge=1, description="Channels of the code.")
    scale: int = Field(2, ge=1, le=2, description="Upsampling of a decoder (an encoder halves).")


class Encoder(nn.Module):
    """Image -> a code at half the size."""

    def __init__(self, params: WidthParams, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.down(x))


class Decoder(nn.Module):
    """A code -> an image ``scale`` times its size; ``shared`` is the block the objective ties."""

    def __init__(self, params: WidthParams, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shared = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.up = nn.Upsample(scale_factor=params.scale) if params.scale > 1 else nn.Identity()
        self.out = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.out(self.up(torch.relu(self.shared(code)))))


class SwapParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: GeneratorSpec = Field(
        default_factory=lambda: GeneratorSpec(plugin="chain-encoder"), description="Encoder."
    )
    decoder: GeneratorSpec = Field(
        default_factory=lambda: GeneratorSpec(plugin="chain-decoder"), description="Decoders."
    )
    tie: bool = Field(True, description="Tie the decoders' first block.")
    stray: bool = Field(False, description="Make a module outside the networks (refused).")


def describe_swap(params: SwapParams) -> Description:
    code = params.encoder.params.get("width", 4)
    return Description(
        networks={
            "encoder": Network("generator", "objective.params.encoder", out_channels=code),
            "decoder_A": Network("generator", "objective.params.decoder", in_channels=code),
            "decoder_B": Network("generator", "objective.params.decoder", in_channels=code),
        },
        translations={
            "a2b": Translation(("encoder", "decoder_B"), "A", "B", inverse="b2a"),
            "b2a": Translation(("encoder", "decoder_A"), "B", "A", inverse="a2b"),
        },
        panels={"autoencoder": ("AE",)},
        curves={"AE": Curve("reconstruction", ("AE",))},
        shown=("AE",),
    )


def check_swap(params: SwapParams, view: SpecView) -> str | None:
    """The decoders take the encoder's code: the same width in both slots."""
    encoder = view.slots["objective.params.encoder"].params.width
    decoder = view.slots["objective.params.decoder"].params.width
    if encoder == decoder:
        return None
    return (
        f"objective.params.decoder.params.width: {decoder} differs from the encoder's width "
        f"{encoder}; give both the same"
    )


class Swap(nn.Module, Objective):
    """Each decoder rebuilds its own person from the shared encoder's code (L1)."""

    def __init__(self, params: SwapParams, networks: Mapping[str, nn.Module], context) -> None:
        super().__init__()
        self.encoder, self.decoder_A, self.decoder_B = (
            networks[n] for n in ("encoder", "decoder_A", "decoder_B")
        )
        if params.tie:
            self.decoder_B.shared = self.decoder_A.shared
        if params.stray:
            self.extra = nn.Conv2d(3, 3, 1)
        self.networks = dict(networks)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        unique = {id(p): p for net in self.networks.values() for p in net.parameters()}
        return {"AE": list(unique.values())}

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Any) -> dict[str, Any]:
        real_a, real_b = batch["A"], batch["B"]
        with engine.autocast():
            code_a, code_b = engine.forward(self.encoder, real_a, real_b)
            (rebuilt_a,) = engine.forward(self.decoder_A, code_a)
            (rebuilt_b,) = engine.forward(self.decoder_B, code_b)
        loss = (rebuilt_a - real_a).abs().mean() + (rebuilt_b - real_b).abs().mean()
        engine.zero_grad("AE")
        engine.backward(loss)
        engine.step("AE")
        return {"AE": loss.detach()}

    def sample(self, images: Mapping[str, torch.Tensor], engine: Any) -> list[dict[str, Any]]:
        a, b = images["A"], images["B"]
        return [
            {"real A": a, "A -> B": self.decoder_B(self.encoder(a))},
            {"real B": b, "B -> A": self.decoder_A(self.encoder(b))},
        ]


class ChainPlugin:
    """The plugin module a third party would ship, as an object the registry takes."""

    @staticmethod
    @hookimpl
    def register_generators(register: Any) -> None:
        register("chain-encoder", lambda p, **k: Encoder(p, **k), params=WidthParams)
        register("chain-decoder", lambda p, **k: Decoder(p, **k), params=WidthParams)

    @staticmethod
    @hookimpl
    def register_objectives(register: Any) -> None:
        build = lambda params, networks, context: Swap(params, networks, context)  # noqa: E731
        options = {"describe": describe_swap, "check_spec": check_swap}
        register("swap", build, params=SwapParams, summary="A face swap.", **options)


SWAP = ['objective={"plugin": "swap"}', "train.max_steps=2"]


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def registered() -> Iterator[None]:
    """The plugin in the registry every command reads, and test-sized eval judges."""
    from faceoff.eval import judges
    from faceoff.eval.nets import JudgeConfig

    plugins.get_registry.cache_clear()
    info = PluginInfo("chain", "faceoff-chain-test", "0.1.0", "test_chains")
    plugins.get_registry().add(ChainPlugin, info)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(judges, "PROBE_CONFIG", JudgeConfig(8, 4, 100, 16, 3e-3))
        patch.setattr(judges, "CLASSIFIER_CONFIG", JudgeConfig(8, 4, 40, 16, 3e-3))
        yield
    plugins.get_registry.cache_clear()


@pytest.fixture(scope="module")
def swap_run(registered, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from faceoff.train.run import train

    run = tmp_path_factory.mktemp("swap") / "run"
    train(tiny.tiny_spec(*SWAP), run, show_progress=False)
    return run


def _latest(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*.safetensors"))[-1]


# ---------------------------------------------------------------- training and checkpoints


def test_shared_parts_are_stored_once_and_resume_bit_exactly(swap_run, tmp_path: Path) -> None:
    from faceoff.train.run import train

    path = _latest(swap_run)
    with safe_open(str(path), framework="pt") as handle:
        stored, aliases = set(handle.keys()), json.loads(handle.metadata()["aliases"])
    assert aliases == {
        "net.decoder_B.shared.weight": "net.decoder_A.shared.weight",
        "net.decoder_B.shared.bias": "net.decoder_A.shared.bias",
    }
    assert not set(aliases) & stored and "net.decoder_B.out.weight" in stored
    straight = train(
        tiny.tiny_spec(*SWAP[:1], "train.max_steps=4"), tmp_path / "straight", show_progress=False
    )
    resumed_run = tmp_path / "resumed"
    shutil.copytree(swap_run, resumed_run)
    resumed = train(
        tiny.tiny_spec(*SWAP[:1], "train.max_steps=4"),
        resumed_run,
        resume=True,
        show_progress=False,
    )
    a, b = load_file(str(straight.checkpoint)), load_file(str(resumed.checkpoint))
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    rows = [json.loads(x) for x in (resumed_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_readers_run_a_chain_as_one_module(swap_run) -> None:
    import faceoff
    from faceoff.runs import Checkpoint

    checkpoint = Checkpoint(_latest(swap_run))
    a2b = checkpoint.load_translation("a2b")
    assert isinstance(a2b, nn.Sequential) and list(dict(a2b.named_children())) == [
        "encoder",
        "decoder_B",
    ]
    assert not a2b.training
    tied = checkpoint.load_network("decoder_A").shared.weight
    assert torch.equal(a2b.decoder_B.shared.weight, tied)  # the alias, read back
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        by_hand = checkpoint.load_network("decoder_B")(checkpoint.load_network("encoder")(images))
        assert torch.equal(a2b(images), by_hand)
        assert torch.equal(faceoff.load_network(_latest(swap_run))(images), by_hand)


# ---------------------------------------------------------------- the readers


def _video(path: Path, frames: int = 4) -> Path:
    images = np.random.default_rng(0).integers(0, 256, (frames, 40, 40, 3), dtype=np.uint8)
    with VideoWriter(path, 10, 40, 40) as writer:
        for frame in images:
            writer.write(frame)
    return path


def test_apply_runs_the_chain(swap_run, tmp_path: Path) -> None:
    video = _video(tmp_path / "in.mp4")
    for direction in ("a2b", "b2a"):
        out = tmp_path / f"{direction}.mp4"
        done = invoke("apply", swap_run, video, out, "--direction", direction, "--no-progress")
        assert done.exit_code == 0, done.output
        assert probe(out).frames == 4
    assert "encoder+decoder_A (" in done.output


def test_eval_measures_the_chain_and_its_round_trip(swap_run) -> None:
    done = invoke("eval", swap_run, "--json", "--frames", "2")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["identity"]["computed"] and result["cycle"]["computed"]
    assert result["cycle"]["psnr"] > 0


def test_export_writes_one_onnx_graph_for_the_chain(swap_run, tmp_path: Path) -> None:
    import onnx

    from faceoff.export import session
    from faceoff.runs import Checkpoint

    out = tmp_path / "swap.onnx"
    done = invoke("export", swap_run, out)
    assert done.exit_code == 0, done.output
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["faceoff.network"] == "encoder+decoder_B" and meta["faceoff.direction"] == "a2b"
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = Checkpoint(_latest(swap_run)).load_translation("a2b")(images).numpy()
    got = session(out).run(None, {"image": images.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-5
    applied = invoke("apply", out, _video(tmp_path / "in.mp4"), tmp_path / "o.mp4", "--no-progress")
    assert applied.exit_code == 0, applied.output
    assert "encoder+decoder_B (ONNX)" in applied.output


def test_compare_draws_the_chain(swap_run, tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    done = invoke("compare", swap_run, "--out", grid, "--frames", "2", "--direction", "b2a")
    assert done.exit_code == 0, done.output
    assert grid.is_file()


# ---------------------------------------------------------------- refusals and validation


def test_parameters_outside_the_networks_are_refused(registered) -> None:
    with pytest.raises(FaceoffError) as caught:
        tiny.tiny_training('objective={"plugin": "swap", "params": {"stray": true}}')
    message = str(caught.value)
    assert "\n" not in message and message.startswith("objective 'swap' (faceoff-chain-test)")
    assert "extra.weight, extra.bias" in message and "declare them as networks" in message


def test_a_chain_that_does_not_give_back_its_size_is_refused(registered) -> None:
    half = '{"plugin": "chain-decoder", "params": {"scale": 1}}'
    with pytest.raises(FaceoffError) as caught:
        tiny.tiny_training(f'objective={{"plugin": "swap", "params": {{"decoder": {half}}}}}')
    message = str(caught.value)
    assert "the translation encoder+decoder_B (encoder (objective.params.encoder" in message
    assert "turned a [1, 3, 32, 32] batch into [1, 3, 16, 16]" in message


def test_a_slot_no_network_is_built_from_is_not_size_checked(registered) -> None:
    """The resnet at ``generator`` needs a size divisible by 4; the swap never builds it."""
    odd = ["data.crop_size=30", "data.load_size=34"]
    resolved = tiny.tiny_spec(*SWAP, *odd)
    assert resolved.components["generator"][0].name == "resnet"  # still validated as a spec
    with pytest.raises(FaceoffError, match=r"generator: resnet needs an image size divisible by 4"):
        tiny.tiny_spec(*odd)  # the quickstart's cyclegan builds it
    with pytest.raises(FaceoffError, match=r"generator.params.ngf: Input should be greater"):
        tiny.tiny_spec(*SWAP, *odd, "generator.params.ngf=0")


def test_the_objective_checks_its_spec_in_one_line(registered) -> None:
    wide = 'objective.params.decoder={"plugin": "chain-decoder", "params": {"width": 8}}'
    done = invoke("validate", tiny.QUICKSTART, *tiny.set_args([*tiny.TINY, *SWAP, wide]))
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.output
    assert done.stderr == (
        f"error: {tiny.QUICKSTART}: objective.params.decoder.params.width: 8 differs from the "
        "encoder's width 4; give both the same\n"
    )
