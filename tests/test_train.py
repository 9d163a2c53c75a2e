"""The training loop end to end on tiny sizes: outputs, exact resume, refusals, masks."""

from __future__ import annotations

import json
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pydantic import BaseModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from faceoff.components import PluginInfo
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.plugins import load_registry
from faceoff.train.run import train
from tiny import tiny_spec

TERMS = {"G", "G_AB", "G_BA", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B"}


def nets(path: Path) -> dict[str, torch.Tensor]:
    return {
        k: v
        for k, v in load_file(str(path)).items()
        if k.startswith(("net.", "opt_", "objective."))
    }


def test_a_run_writes_everything_a_person_looks_at(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(tiny_spec("train.max_steps=4"), run, show_progress=False)
    assert result.steps == 4 and not result.interrupted
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) >= TERMS and rows[0]["lr"] == pytest.approx(2e-4)
    assert all(np.isfinite(r[t]) for r in rows for t in TERMS)
    spec = json.loads((run / "spec.json").read_text())
    assert spec["generator"]["params"] == {
        "ngf": 4,
        "n_blocks": 1,
        "dropout": False,
        "norm": "instance",
        "antialias": False,
        "antialias_up": False,
    }
    plugins = json.loads((run / "plugins.json").read_text())["components"]
    assert plugins["generator"]["distribution"] == "faceoff"
    grid = cv2.imread(str(run / "samples" / "step_00000004.png"))
    assert grid is not None and grid.shape[0] > 2 * 128  # two test frames, enlarged to >= 128 px
    assert cv2.imread(str(run / "losses.png")) is not None
    checkpoints = sorted((run / "checkpoints").iterdir())
    assert [p.name for p in checkpoints] == [
        "step_00000002.safetensors",
        "step_00000004.safetensors",
    ]
    assert not list(run.rglob("*.tmp*")), "no temporary files are left behind"


def test_resume_is_exact(tmp_path: Path) -> None:
    straight = train(tiny_spec("train.max_steps=6"), tmp_path / "a", show_progress=False)
    train(
        tiny_spec("train.max_steps=3", "output.checkpoint_every=3"),
        tmp_path / "b",
        show_progress=False,
    )
    resumed = train(
        tiny_spec("train.max_steps=6"), tmp_path / "b", resume=True, show_progress=False
    )
    a, b = nets(straight.checkpoint), nets(resumed.checkpoint)
    assert a.keys() == b.keys() and any(k.startswith("objective.pool.") for k in a)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    steps = [
        json.loads(line)["step"]
        for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_different_network(tmp_path: Path) -> None:
    train(tiny_spec("train.max_steps=2"), tmp_path / "r", show_progress=False)
    with pytest.raises(FaceoffError, match="cannot resume with a different generator"):
        train(tiny_spec("train.max_steps=4", "generator.params.ngf=8"), tmp_path / "r", resume=True)
    with pytest.raises(FaceoffError, match="already at step 2 of 2"):
        train(tiny_spec("train.max_steps=2"), tmp_path / "r", resume=True)


def test_a_run_folder_is_not_mixed_with_another(tmp_path: Path) -> None:
    run = tmp_path / "r"
    train(tiny_spec("train.max_steps=1"), run, show_progress=False)
    before = (run / "metrics.jsonl").read_text()
    with pytest.raises(FaceoffError, match="already holds a run; use --resume"):
        train(tiny_spec("train.max_steps=1"), run, show_progress=False)
    assert (run / "metrics.jsonl").read_text() == before
    train(tiny_spec("train.max_steps=2"), run, overwrite=True, show_progress=False)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    with pytest.raises(FaceoffError, match="no checkpoint to resume from"):
        train(tiny_spec("train.max_steps=1"), tmp_path / "empty", resume=True)


def test_missing_frames_write_nothing(tmp_path: Path) -> None:
    spec = tiny_spec(
        f'data.source={{"plugin": "frames", "params": {{"root": "{tmp_path / "nowhere"}"}}}}'
    )
    with pytest.raises(FaceoffError, match=r"nowhere/A/train: no such folder of frames"):
        train(spec, tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()


def _plugin(**hooks):
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def _registry_with(*plugins) -> object:
    info = PluginInfo("test", "test-plugins", "0", "tests")
    return load_registry(extra=[(p, info) for p in plugins])


class _Band(BaseModel):
    rows: int = 8


def _band_mask(params: _Band):
    def provider(frame: np.ndarray) -> np.ndarray:
        mask = np.zeros(frame.shape[:2], np.float32)
        mask[: params.rows] = 1.0
        return mask

    return provider


def test_crop_mode_shows_the_networks_only_the_masked_pixels(tmp_path: Path) -> None:
    seen: list[torch.Tensor] = []

    def build_probe(params):
        from faceoff_cyclegan.losses import L1Loss

        class Probe(L1Loss):
            def forward(self, output, target, mask=None):
                seen.append(target.detach().clone())
                assert mask is None, "crop mode gives losses no mask"
                return super().forward(output, target, mask)

        return Probe()

    registry = _registry_with(
        _plugin(
            register_mask_providers=lambda register: register("band", _band_mask, params=_Band),
            register_losses=lambda register: register("probe", build_probe, role="reconstruction"),
        )
    )
    spec = tiny_spec(
        "train.max_steps=1",
        "losses.cycle.0.plugin=probe",
        'mask={"provider": {"plugin": "band", "params": {"rows": 36}}, "mode": "crop"}',
        registry=registry,
    )
    train(spec, tmp_path / "all", show_progress=False)
    assert seen and all(t.min() > -1 for t in seen)  # mask everywhere: the images are untouched
    seen.clear()
    spec = tiny_spec(
        "train.max_steps=1",
        "losses.cycle.0.plugin=probe",
        'mask={"provider": {"plugin": "band", "params": {"rows": 0}}, "mode": "crop"}',
        registry=registry,
    )
    train(spec, tmp_path / "none", show_progress=False)
    assert seen and all(torch.all(t == -1) for t in seen)  # mask nowhere: black images


def test_a_non_finite_loss_stops_the_run_and_names_the_term(tmp_path: Path) -> None:
    def build_nan(params):
        from faceoff.losses import ReconstructionLoss

        class NaNLoss(ReconstructionLoss):
            def forward(self, output, target, mask=None):
                return (output - target).abs().mean() * float("nan")

        return NaNLoss()

    registry = _registry_with(
        _plugin(register_losses=lambda register: register("nan", build_nan, role="reconstruction"))
    )
    spec = tiny_spec("train.max_steps=3", "losses.cycle.0.plugin=nan", registry=registry)
    with pytest.raises(FaceoffError, match=r"step 1: loss idt_B is nan; training stopped"):
        train(spec, tmp_path / "r", show_progress=False)


def test_a_broken_latest_checkpoint_is_named_and_the_previous_offered(tmp_path: Path) -> None:
    run = tmp_path / "r"
    train(tiny_spec("train.max_steps=4"), run, show_progress=False)
    latest = run / "checkpoints" / "step_00000004.safetensors"
    latest.write_bytes(latest.read_bytes()[:100])  # truncated, as by a full disk
    with pytest.raises(FaceoffError) as caught:
        train(tiny_spec("train.max_steps=6"), run, resume=True, show_progress=False)
    message = str(caught.value)
    assert "step_00000004.safetensors: not a readable faceoff checkpoint" in message
    assert "the previous one is" in message and "step_00000002.safetensors" in message
    latest.unlink()
    resumed = train(tiny_spec("train.max_steps=6"), run, resume=True, show_progress=False)
    assert resumed.steps == 6


def test_workers_and_the_disk_cache_train_the_same_weights(tmp_path: Path) -> None:
    """Batches are a function of the step: two DataLoader workers, memory-mapped frames and a
    resume in between give the weights of a plain run, bit for bit."""
    plain = train(tiny_spec("train.max_steps=4"), tmp_path / "plain", show_progress=False)
    workers = train(
        tiny_spec("train.max_steps=4", "train.workers=2", "train.prefetch_factor=1"),
        tmp_path / "workers",
        show_progress=False,
    )
    with_disk = ("train.workers=2", "data.cache=disk")
    train(tiny_spec("train.max_steps=2", *with_disk), tmp_path / "resumed", show_progress=False)
    resumed = train(
        tiny_spec("train.max_steps=4", *with_disk),
        tmp_path / "resumed",
        resume=True,
        show_progress=False,
    )
    a = nets(plain.checkpoint)
    for other in (workers, resumed):
        b = nets(other.checkpoint)
        assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []


def test_a_checkpoint_from_before_step_batches_resumes(tmp_path: Path) -> None:
    """Older checkpoints hold a data generator's state and a spec without the pipeline options:
    the state is ignored and the spec accepted."""
    run = tmp_path / "r"
    train(tiny_spec("train.max_steps=2"), run, show_progress=False)
    path = run / "checkpoints" / "step_00000002.safetensors"
    tensors = load_file(str(path))
    tensors["rng.data"] = torch.Generator().get_state()
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    spec = json.loads(metadata["spec"])
    for section, key in (("data", "cache"), ("data", "cache_auto_gib"), ("train", "workers")):
        del spec[section][key]
    metadata["spec"] = json.dumps(spec)
    save_file(tensors, str(path), metadata=metadata)
    resumed = train(tiny_spec("train.max_steps=3"), run, resume=True, show_progress=False)
    assert resumed.steps == 3
    assert "rng.data" not in load_file(str(resumed.checkpoint))
