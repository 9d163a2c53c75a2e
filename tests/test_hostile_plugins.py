"""Plugins that try to take every command down: each is broken, named in one line, and
everything else works.

``tests/plugins/faceoff-hostile`` is installed for real: a plugin that calls ``sys.exit(0)`` at
import, one that raises KeyboardInterrupt, one that sleeps (``FACEOFF_HOSTILE_SLEEP`` seconds),
two that parse ``sys.argv`` (options only; a required argument), a data source whose params have
no JSON Schema, and networks that break their contract (a build that is not a module, a
generator of the wrong output shape, a discriminator scoring as a tuple).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

import tiny
from faceoff.components import PluginInfo
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.listing import plugin_rows
from faceoff.plugins import LOAD_ENV, TIMEOUT_ENV, Registry, load_registry, plugin_timeout
from faceoff.train.build import check_outputs
from faceoff.train.engine import Engine
from faceoff.train.run import train

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(tiny.QUICKSTART)
KEYS = {
    "kind",
    "name",
    "role",
    "entry_point",
    "distribution",
    "version",
    "summary",
    "status",
    "error",
    "params",
}
BROKEN_AT_IMPORT = {"exits", "interrupts", "argv-required"}
HOSTILE = "faceoff-hostile"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``faceoff-hostile`` installed by pip (put it on the path to load it)."""
    source = tmp_path_factory.mktemp("hostile-src") / HOSTILE
    shutil.copytree(ROOT / "tests" / "plugins" / HOSTILE, source)
    target = tmp_path_factory.mktemp("hostile-site")
    command = [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
        *("--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir"),
        *("--target", str(target), str(source)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    return target


@pytest.fixture(scope="module")
def loaded(hostile: Path) -> SimpleNamespace:
    """Every entry point loaded in this process, hostile ones included, with a command line in
    ``sys.argv`` that the argv plugin's parser would refuse."""
    argv = ["faceoff", "list-plugins", "--json", "--scale", "not-a-number"]
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(hostile))
        mp.delenv(LOAD_ENV, raising=False)
        mp.delenv(TIMEOUT_ENV, raising=False)
        mp.delenv("FACEOFF_HOSTILE_SLEEP", raising=False)
        mp.setattr(sys, "argv", argv)
        registry = load_registry()
        after = sys.argv
        import faceoff_hostile.argv as argv_plugin
    return SimpleNamespace(registry=registry, argv=argv, after=after, seen=argv_plugin.SEEN)


def broken_by_entry_point(registry: Registry) -> dict[str, str]:
    return {b.plugin.entry_point: b.error for b in registry.broken}


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: ...`` line of a refused command (exit 2, no traceback)."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def info(name: str) -> PluginInfo:
    return PluginInfo(name, f"faceoff-{name}", "1.0", f"faceoff_{name}")


def build_nothing(params: Any) -> Any:
    """Never built."""
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- at import, in this process


def test_exit_and_interrupt_at_import_are_broken_plugins(loaded) -> None:
    broken = broken_by_entry_point(loaded.registry)
    assert set(broken) == BROKEN_AT_IMPORT
    assert broken["exits"] == "SystemExit: 0 at import"
    assert broken["interrupts"] == "KeyboardInterrupt at import"
    assert all("\n" not in error for error in broken.values())
    # Everything else loaded: bundled and third-party components alike.
    registry = loaded.registry
    assert {"resnet", "unet", "sleepy-net", "shrink", "fine-net"} <= set(
        registry.names("generator")
    )
    assert {"l1", "argv-l1"} <= set(registry.names("loss"))
    assert "synthetic" in registry.names("data_source")


def test_an_import_time_argv_parser_sees_only_the_program_name(loaded) -> None:
    assert loaded.seen == ["faceoff"]  # its parser accepted that, so the plugin works
    assert loaded.registry.get("loss", "argv-l1").plugin.distribution == HOSTILE
    assert loaded.after is loaded.argv  # restored: the very list, unchanged
    assert loaded.argv == ["faceoff", "list-plugins", "--json", "--scale", "not-a-number"]


def test_a_required_argument_at_import_is_one_line_with_what_it_printed(loaded) -> None:
    error = broken_by_entry_point(loaded.registry)["argv-required"]
    assert error.startswith("SystemExit: 2 at import (it printed: hostile-tool: error: ")
    assert "the following arguments are required: checkpoint" in error


def test_a_spec_using_a_broken_plugin_names_it(loaded) -> None:
    with pytest.raises(FaceoffError) as caught:
        loaded.registry.get("generator", "exit-net", where="generator.plugin")
    message = str(caught.value)
    assert message.startswith("generator.plugin: unknown generator 'exit-net'; valid: ")
    assert "exits (faceoff-hostile): SystemExit: 0 at import" in message
    assert "interrupts (faceoff-hostile): KeyboardInterrupt at import" in message
    assert "\n" not in message


# ---------------------------------------------------------------- in the hooks, and the timeout


def test_hooks_that_exit_or_interrupt_are_broken_and_the_rest_loads() -> None:
    @hookimpl
    def exits(register: Any) -> None:
        register("half-source", build_nothing)
        sys.exit(3)

    @hookimpl
    def interrupts(register: Any) -> None:
        raise KeyboardInterrupt

    @hookimpl
    def fine(register: Any) -> None:
        register("fine-source", build_nothing)

    registry = Registry()
    registry.add(SimpleNamespace(register_data_sources=exits), info("exits"))
    registry.add(SimpleNamespace(register_data_sources=interrupts), info("interrupts"))
    registry.add(SimpleNamespace(register_data_sources=fine), info("fine"))
    assert broken_by_entry_point(registry) == {
        "exits": "SystemExit: 3 while registering",
        "interrupts": "KeyboardInterrupt while registering",
    }
    assert registry.names("data_source") == ["fine-source"]  # the half-registered one dropped


def test_a_hook_that_hangs_is_broken_after_the_timeout() -> None:
    release = threading.Event()

    @hookimpl
    def hangs(register: Any) -> None:
        release.wait(30)
        register("late-source", build_nothing)

    @hookimpl
    def fine(register: Any) -> None:
        register("fine-source", build_nothing)

    registry = Registry()
    start = time.monotonic()
    try:
        registry.add(SimpleNamespace(register_data_sources=hangs), info("hangs"), timeout=0.2)
    finally:
        release.set()  # let the worker thread finish; what it registers is not taken
    assert time.monotonic() - start < 5
    registry.add(SimpleNamespace(register_data_sources=fine), info("fine"))
    (broken,) = registry.broken
    assert broken.plugin.entry_point == "hangs"
    assert broken.error.startswith(
        "did not finish registering within 0.2 s (FACEOFF_PLUGIN_TIMEOUT"
    )
    assert registry.names("data_source") == ["fine-source"]


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert plugin_timeout() == 30
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert plugin_timeout() == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv(TIMEOUT_ENV, bad)
        assert plugin_timeout() == 30
        assert f"{TIMEOUT_ENV}={bad!r} is not a positive number" in capsys.readouterr().err


def test_what_a_loaded_plugin_prints_goes_to_stderr_not_stdout(capsys) -> None:
    @hookimpl
    def chatty(register: Any) -> None:
        print("hello from a hook")
        register("chatty-source", build_nothing)

    registry = Registry()
    registry.add(SimpleNamespace(register_data_sources=chatty), info("chatty"))
    assert registry.names("data_source") == ["chatty-source"]
    out, err = capsys.readouterr()
    assert out == ""
    assert "hello from a hook" in err


def test_an_empty_selection_says_what_limited_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "cyclegan")
    registry = load_registry()
    with pytest.raises(FaceoffError) as caught:
        registry.get("data_source", "synthetic", where="data.source.plugin")
    message = str(caught.value)
    assert "unknown data source 'synthetic'; valid: (none loaded: FACEOFF_LOAD_PLUGINS" in message
    assert "cyclegan" in message
    with pytest.raises(FaceoffError, match=r"valid: \(none installed\)$"):
        Registry().get("mask_provider", "ellipse")  # not loaded from entry points at all


# ---------------------------------------------------------------- params without a JSON Schema


def test_a_params_model_without_a_schema_is_listed_broken(loaded) -> None:
    rows = plugin_rows(loaded.registry)
    for row in rows:
        assert set(row) == KEYS
        assert (row["error"] is None) == (row["status"] == "ok")
    (opaque,) = [r for r in rows if r["name"] == "opaque"]
    assert (opaque["kind"], opaque["entry_point"], opaque["distribution"]) == (
        "data_source",
        "no-schema",
        HOSTILE,
    )
    assert opaque["status"] == "broken" and opaque["params"] is None
    assert opaque["error"].startswith("params model OpaqueParams has no JSON Schema: ")
    assert "\n" not in opaque["error"] and "errors.pydantic.dev" not in opaque["error"]
    statuses = [r["status"] for r in rows]
    assert statuses == sorted(statuses, key=lambda s: s == "broken")  # broken rows last
    (resnet,) = [r for r in rows if r["name"] == "resnet"]
    assert resnet["status"] == "ok" and resnet["params"]["type"] == "object"


# ---------------------------------------------------------------- the command line


def test_list_plugins_names_every_hostile_plugin_and_finishes(cli, hostile) -> None:
    env = {"FACEOFF_HOSTILE_SLEEP": "60", TIMEOUT_ENV: "1"}
    start = time.monotonic()
    done = cli("list-plugins", "--json", path=hostile, env=env, timeout=60)
    assert time.monotonic() - start < 30  # not the 60 s the sleepy plugin sleeps
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "usage:" not in done.stderr
    rows = json.loads(done.stdout)  # nothing a plugin printed got into the JSON
    broken = {r["entry_point"]: r["error"] for r in rows if r["kind"] is None}
    assert set(broken) == {*BROKEN_AT_IMPORT, "sleepy"}
    assert broken["exits"] == "SystemExit: 0 at import"
    assert broken["interrupts"] == "KeyboardInterrupt at import"
    assert broken["sleepy"].startswith(
        "did not finish importing within 1 s (FACEOFF_PLUGIN_TIMEOUT"
    )
    ok = {(r["kind"], r["name"]) for r in rows if r["status"] == "ok"}
    assert {("generator", "resnet"), ("loss", "argv-l1"), ("generator", "shrink")} <= ok


def test_the_table_shows_each_broken_plugin_on_one_line(cli, hostile) -> None:
    done = cli("list-plugins", path=hostile)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name, reason in [
        ("(exits)", "SystemExit: 0 at import"),
        ("(interrupts)", "KeyboardInterrupt at import"),
        ("(argv-required)", "SystemExit: 2 at import"),
        ("opaque", "params model OpaqueParams has no JSON"),
    ]:
        (line,) = [line for line in lines if f" {name} " in line]
        assert reason in line and "broken" in line
    assert any(" resnet " in line and " ok " in line for line in lines)


def test_validate_with_good_plugins_succeeds_beside_broken_ones(cli, hostile) -> None:
    done = cli("validate", QUICKSTART, *tiny.set_args(tiny.TINY), path=hostile)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert "Traceback" not in done.stderr


def test_validate_of_a_spec_using_a_broken_plugin_fails_in_one_line(cli, hostile) -> None:
    done = cli("validate", QUICKSTART, "--set", 'generator={"plugin": "exit-net"}', path=hostile)
    line = one_error_line(done)  # not the exit 0 of the plugin's sys.exit
    assert "unknown generator 'exit-net'" in line
    assert "exits (faceoff-hostile): SystemExit: 0 at import" in line


def test_run_refuses_a_generator_of_the_wrong_shape_before_the_folder(
    cli, hostile, tmp_path
) -> None:
    run = tmp_path / "run"
    args = tiny.run_args(run, ['generator={"plugin": "shrink"}'])
    line = one_error_line(cli(*args, path=hostile))
    assert line == (
        "error: generator: generator 'shrink' (faceoff-hostile) turned a [1, 3, 32, 32] batch "
        "into [1, 3, 16, 16]; a generator must return [1, 3, 32, 32] (3 channels, the input's "
        "height and width)"
    )
    assert not run.exists()


# ---------------------------------------------------------------- networks that break the contract


def spec_with(loaded, *overrides: str):
    return tiny.tiny_spec(*overrides, registry=loaded.registry)


def test_a_run_trains_with_the_good_plugins_beside_the_broken_ones(loaded, tmp_path) -> None:
    resolved = spec_with(
        loaded,
        "train.max_steps=1",
        'generator={"plugin": "fine-net"}',
        "losses.cycle.0.plugin=argv-l1",
    )
    result = train(resolved, tmp_path / "run", show_progress=False)
    assert result.steps == 1 and result.checkpoint is not None and result.checkpoint.is_file()
    plugins = json.loads((tmp_path / "run" / "plugins.json").read_text())["components"]
    assert plugins["generator"]["distribution"] == HOSTILE


def test_a_build_that_is_not_a_module_is_refused_before_the_folder(loaded, tmp_path) -> None:
    resolved = spec_with(loaded, 'generator={"plugin": "not-a-module"}')
    with pytest.raises(FaceoffError) as caught:
        train(resolved, tmp_path / "run", show_progress=False)
    assert str(caught.value) == (
        "generator: generator 'not-a-module' (faceoff-hostile) built a function, not a "
        "torch.nn.Module"
    )
    assert not (tmp_path / "run").exists()


def test_a_discriminator_that_scores_as_a_tuple_is_refused_before_the_folder(
    loaded, tmp_path
) -> None:
    resolved = spec_with(loaded, 'discriminator={"plugin": "tuple-d"}')
    with pytest.raises(FaceoffError) as caught:
        train(resolved, tmp_path / "run", show_progress=False)
    assert str(caught.value) == (
        "discriminator: discriminator 'tuple-d' (faceoff-hostile) returned a tuple for a "
        "[1, 3, 32, 32] batch, not a tensor of scores"
    )
    assert not (tmp_path / "run").exists()


def test_a_member_of_a_multi_discriminator_is_checked(loaded) -> None:
    members = [{"plugin": "patchgan", "params": {"ndf": 4}}, {"plugin": "tuple-d"}]
    multi = {"plugin": "multi", "params": {"members": members}}
    resolved = spec_with(loaded, f"discriminator={json.dumps(multi)}")
    networks = Engine.build_networks(resolved, resolved.description)
    with pytest.raises(FaceoffError, match=r"'multi' \(faceoff\) \(member 1 of 2\) returned a"):
        check_outputs(resolved, resolved.description, networks)


class Noisy(nn.Module):
    """Batch norm, dropout and fresh noise: everything a forward could change or draw."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.drop = nn.Dropout(0.5)
        self.frozen = nn.Conv2d(out_channels, out_channels, 1)
        self.frozen.eval()  # a part kept in eval mode by the network itself

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + torch.randn_like(x)
        return torch.tanh(self.frozen(self.drop(self.norm(self.conv(x)))))


def test_the_output_check_changes_no_state_and_draws_no_random_number(loaded) -> None:
    @hookimpl
    def register_generators(register: Any) -> None:
        def build_noisy(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
            """A noisy generator."""
            return Noisy(in_channels, out_channels)

        register("noisy", build_noisy)

    registry = load_registry(
        extra=[(SimpleNamespace(register_generators=register_generators), info("noisy"))]
    )
    resolved = tiny.tiny_spec('generator={"plugin": "noisy"}', registry=registry)
    torch.manual_seed(0)
    networks = Engine.build_networks(resolved, resolved.description)
    before = {k: v.clone() for k, v in networks["G_AB"].state_dict().items()}
    modes = [m.training for m in networks["G_AB"].modules()]
    rng = torch.get_rng_state()
    check_outputs(resolved, resolved.description, networks)
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in networks["G_AB"].modules()] == modes
    assert modes.count(False) == 1  # the frozen part stays in eval mode, the rest trains
    after = networks["G_AB"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no running-stat update


def test_a_params_model_without_a_schema_still_validates_in_process() -> None:
    class Opaque:
        pass

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        handle: Opaque | None = None

    @hookimpl
    def register_data_sources(register: Any) -> None:
        register("opaque-source", build_nothing, params=Params)

    registry = Registry()
    registry.add(SimpleNamespace(register_data_sources=register_data_sources), info("opaque"))
    component = registry.get("data_source", "opaque-source")
    assert component.validate({}).handle is None
    (row,) = plugin_rows(registry)
    assert row["status"] == "broken" and row["name"] == "opaque-source"
