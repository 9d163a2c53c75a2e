"""A third-party distribution, installed for real, used from a spec, in training and in-process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tiny
from faceoff.errors import FaceoffError
from faceoff.plugins import LOAD_ENV, get_registry, load_registry
from faceoff.spec import load_spec

QUICKSTART = str(tiny.QUICKSTART)
TINY = [*tiny.TINY, "train.max_steps=2"]
MASKED = [
    'mask={"provider": {"plugin": "ellipse"}, "mode": "weight"}',
    "losses.cycle.0.plugin=masked-l2",
]


def sets(*overrides: str) -> list[str]:
    return tiny.set_args(list(overrides))


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: ...`` line of a refused command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# ---------------------------------------------------------------- validate


def test_spec_can_name_a_third_party_loss(cli, third_party) -> None:
    done = cli(
        "validate", QUICKSTART, *sets("losses.cycle.0.plugin=l2"), "--print", path=third_party
    )
    assert done.returncode == 0, done.stderr
    cycle = json.loads(done.stdout)["losses"]["cycle"]
    assert cycle == [{"plugin": "l2", "params": {"reduction": "mean"}, "weight": 5.0}]


def test_third_party_loss_is_unknown_without_its_distribution(cli) -> None:
    done = cli("validate", QUICKSTART, *sets("losses.cycle.0.plugin=l2"))
    line = one_error_line(done)
    assert "losses.cycle.0.plugin" in line
    assert "unknown loss 'l2'" in line
    listed = line.split("valid: ", 1)[1].split(", ")
    assert "l1" in listed
    assert "l2" not in listed


def test_third_party_params_are_validated_by_their_own_model(cli, third_party) -> None:
    done = cli(
        "validate",
        QUICKSTART,
        *sets("losses.cycle.0.plugin=l2", 'losses.cycle.0.params={"reduction": "median"}'),
        path=third_party,
    )
    line = one_error_line(done)
    assert "losses.cycle.0.params.reduction" in line
    assert "median" in line


def test_reconstruction_loss_is_refused_in_the_adversarial_place(cli, third_party) -> None:
    line = one_error_line(
        cli("validate", QUICKSTART, *sets("losses.adversarial.plugin=l2"), path=third_party)
    )
    assert "losses.adversarial.plugin" in line
    assert "reconstruction" in line
    assert "lsgan" in line


def test_mask_loss_without_a_mask_section_is_refused(cli, third_party) -> None:
    done = cli("validate", QUICKSTART, *sets("losses.cycle.0.plugin=masked-l2"), path=third_party)
    line = one_error_line(done)
    assert "masked-l2" in line
    assert "needs face masks" in line
    assert cli("validate", QUICKSTART, *sets(*MASKED), path=third_party).returncode == 0


def test_a_broken_plugin_only_matters_when_named(cli, third_party) -> None:
    assert cli("validate", QUICKSTART, path=third_party).returncode == 0
    line = one_error_line(
        cli("validate", QUICKSTART, *sets("generator.plugin=typo-net"), path=third_party)
    )
    assert "unknown generator 'typo-net'" in line
    assert "needs libfoo" in line  # why it might be missing
    assert "register_generator" in line


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def runs(cli, third_party, tmp_path_factory) -> dict[str, tuple[Any, Path]]:
    """Two tiny training runs, side by side: the ``l2`` loss, and ``masked-l2`` with ellipses."""
    root = tmp_path_factory.mktemp("runs")
    plans = {"l2": ["losses.cycle.0.plugin=l2"], "masked": MASKED}

    def train(label: str) -> tuple[Any, Path]:
        out = root / label
        args = ("run", QUICKSTART, "--out", str(out), "--no-progress")
        overrides = sets(*TINY, *plans[label])
        # One thread each: the two runs share the machine's cores.
        done = cli(*args, *overrides, path=third_party, env={"OMP_NUM_THREADS": "1"}, timeout=300)
        return done, out

    with ThreadPoolExecutor(len(plans)) as pool:
        return dict(zip(plans, pool.map(train, plans), strict=True))


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_run_with_a_third_party_loss(runs) -> None:
    done, run_dir = runs["l2"]
    assert done.returncode == 0, done.stderr[-3000:]
    used = json.loads((run_dir / "plugins.json").read_text())["components"]
    assert used["losses.cycle.0"] == {
        "kind": "loss",
        "name": "l2",
        "entry_point": "hello",
        "distribution": "faceoff-hello",
        "version": "0.2.0",
    }
    assert used["generator"]["distribution"] == "faceoff"
    assert "mask.provider" not in used
    lines = metrics(run_dir)
    assert [m["step"] for m in lines] == [1, 2]
    assert all(math.isfinite(m["cycle_A"]) and m["cycle_A"] > 0 for m in lines)


def test_tiny_run_with_a_third_party_mask_and_mask_loss(runs) -> None:
    done, run_dir = runs["masked"]
    assert done.returncode == 0, done.stderr[-3000:]
    used = json.loads((run_dir / "plugins.json").read_text())["components"]
    assert (used["mask.provider"]["name"], used["mask.provider"]["distribution"]) == (
        "ellipse",
        "faceoff-hello",
    )
    assert (used["losses.cycle.0"]["name"], used["losses.cycle.0"]["version"]) == (
        "masked-l2",
        "0.2.0",
    )
    spec = json.loads((run_dir / "spec.json").read_text())
    assert spec["mask"]["provider"] == {"plugin": "ellipse", "params": {"scale": 0.6}}


def test_masks_reach_the_mask_loss(runs) -> None:
    """Same seed, same first batch: weighting by (mask + 1) raises the first cycle loss, < 2x."""
    (plain, plain_dir), (masked, masked_dir) = runs["l2"], runs["masked"]
    assert plain.returncode == masked.returncode == 0
    first_plain, first_masked = metrics(plain_dir)[0], metrics(masked_dir)[0]
    for term in ("cycle_A", "cycle_B"):
        assert first_plain[term] < first_masked[term] < 2 * first_plain[term], term


# ---------------------------------------------------------------- in-process


@pytest.fixture
def hello_registry(third_party, monkeypatch, clean_registry):
    monkeypatch.syspath_prepend(str(third_party))
    return load_registry()


def test_installed_distributions_are_found_in_process(hello_registry) -> None:
    l2 = hello_registry.get("loss", "l2")
    assert (l2.plugin.distribution, l2.plugin.version) == ("faceoff-hello", "0.2.0")
    assert (l2.plugin.entry_point, l2.plugin.module) == ("hello", "faceoff_hello")
    assert l2.role == "reconstruction" and not l2.needs_mask
    assert hello_registry.get("loss", "masked-l2").needs_mask
    broken = {b.plugin.entry_point: b for b in hello_registry.broken}
    assert set(broken) == {"broken", "typo"}
    assert broken["broken"].error == "ImportError: needs libfoo"
    assert broken["broken"].plugin.distribution == "faceoff-broken"
    assert "resnet" in hello_registry.names("generator")


def test_the_cached_registry_sees_the_path_after_a_cache_clear(
    third_party, monkeypatch, clean_registry
) -> None:
    assert "l2" not in get_registry().names("loss")
    monkeypatch.syspath_prepend(str(third_party))
    get_registry.cache_clear()
    assert "l2" in get_registry().names("loss")
    resolved = load_spec(QUICKSTART, get_registry(), ["losses.cycle.0.plugin=l2"])
    assert resolved.plugin_versions()["losses.cycle.0"]["distribution"] == "faceoff-hello"


def test_selecting_one_entry_point_skips_the_broken_ones(
    third_party, monkeypatch, clean_registry
) -> None:
    monkeypatch.syspath_prepend(str(third_party))
    monkeypatch.setenv(LOAD_ENV, "hello")
    registry = load_registry()
    assert registry.broken == []
    assert [c.name for c in registry.all()] == ["l2", "masked-l2", "ellipse"]
    with pytest.raises(FaceoffError, match=r"unknown loss 'l1'; valid: l2, masked-l2"):
        registry.get("loss", "l1")


def test_l2_losses_compute_what_they_promise(hello_registry) -> None:
    import torch

    from faceoff.losses import ReconstructionLoss

    output = torch.tensor([[[[0.0, 1.0], [2.0, -1.0]]]])
    target = torch.zeros_like(output)
    mask = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    l2 = hello_registry.get("loss", "l2").make()
    assert isinstance(l2, ReconstructionLoss)
    assert l2(output, target).item() == pytest.approx(6 / 4)
    assert l2(output, target, mask).item() == pytest.approx(6 / 4)  # ignores masks
    summed = hello_registry.get("loss", "l2").make({"reduction": "sum"})
    assert summed(output, target).item() == pytest.approx(6)
    masked = hello_registry.get("loss", "masked-l2").make()
    assert isinstance(masked, ReconstructionLoss)
    # squared errors 0, 1, 4, 1 weighted by 2, 1, 1.5, 1
    assert masked(output, target, mask).item() == pytest.approx((0 + 1 + 6 + 1) / 4)
    assert masked(output, target).item() == pytest.approx(6 / 4)
    with pytest.raises(ValueError, match="reduction"):
        hello_registry.get("loss", "l2").make({"reduction": "median"})


def test_ellipse_mask_follows_the_mask_provider_contract(hello_registry) -> None:
    ellipse = hello_registry.get("mask_provider", "ellipse")
    frame = np.zeros((40, 60, 3), np.uint8)
    mask = ellipse.make()(frame)
    assert mask.shape == (40, 60)
    assert mask.dtype == np.float32
    assert mask.min() == 0.0 and mask.max() == 1.0
    assert mask[20, 30] == 1.0 and mask[0, 0] == 0.0  # filled at the centre, empty in the corner
    assert np.array_equal(mask, mask[::-1, ::-1])  # centred
    assert mask.mean() == pytest.approx(math.pi / 4 * 0.6**2, abs=0.02)
    whole = ellipse.make({"scale": 1.0})(frame)
    assert whole.mean() == pytest.approx(math.pi / 4, abs=0.02)
    assert whole[20, 0] == 1.0 and whole[0, 30] == 1.0  # touches the edges' midpoints
    with pytest.raises(ValueError, match="scale"):
        ellipse.make({"scale": 1.5})


def test_importing_plugins_and_loading_the_registry_does_not_import_torch(third_party) -> None:
    code = (
        "import sys, faceoff_hello, faceoff_cyclegan, faceoff_frames, faceoff_synthetic; "
        "import faceoff.plugins as p; r = p.get_registry(); "
        "assert 'l2' in r.names('loss') and len(r.broken) == 2, r; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(third_party)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
