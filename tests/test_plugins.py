"""The plugin registry: a plugin's failure is recorded, never raised; clashes and typos named."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import faceoff
from faceoff.components import PluginInfo
from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.listing import plugin_rows
from faceoff.plugins import LOAD_ENV, get_registry, load_registry

pytestmark = pytest.mark.usefixtures("clean_registry")


def info(distribution: str, entry_point: str | None = None, version: str = "1.0") -> PluginInfo:
    return PluginInfo(
        entry_point=entry_point or distribution,
        distribution=distribution,
        version=version,
        module=distribution.replace("-", "_"),
    )


def build_net(params: BaseModel, in_channels: int = 3, out_channels: int = 3) -> Any:
    """A stand-in network."""
    return ("net", in_channels, out_channels)


def build_loss(params: BaseModel) -> Any:
    """A stand-in loss."""
    return "loss"


def generators(*names: str) -> SimpleNamespace:
    """A throwaway plugin registering generators by name."""

    @hookimpl
    def register_generators(register: Any) -> None:
        for name in names:
            register(name, build_net)

    return SimpleNamespace(register_generators=register_generators)


def rows_named(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["name"] == name]


# ---------------------------------------------------------------- name clashes


def test_same_name_from_two_distributions_is_refused_naming_both() -> None:
    registry = load_registry(
        extra=[
            (generators("twin", "solo-a"), info("faceoff-alpha", version="1.2")),
            (generators("twin", "solo-b"), info("faceoff-beta", version="3.4")),
        ]
    )
    with pytest.raises(FaceoffError) as caught:
        registry.get("generator", "twin", where="spec.json: generator.plugin")
    message = str(caught.value)
    assert message.startswith("spec.json: generator.plugin: ")
    assert "faceoff-alpha 1.2" in message
    assert "faceoff-beta 3.4" in message
    assert "twin" not in registry.names("generator")
    # The rest of both plugins stays usable.
    assert registry.get("generator", "solo-a").plugin.distribution == "faceoff-alpha"
    assert registry.get("generator", "solo-b").plugin.distribution == "faceoff-beta"


def test_listing_marks_both_sides_of_a_clash_broken() -> None:
    registry = load_registry(
        extra=[
            (generators("twin"), info("faceoff-alpha")),
            (generators("twin"), info("faceoff-beta")),
        ]
    )
    twins = rows_named(plugin_rows(registry), "twin")
    assert sorted(r["distribution"] for r in twins) == ["faceoff-alpha", "faceoff-beta"]
    for row in twins:
        assert row["kind"] == "generator"
        assert row["status"] == "broken"
        assert "faceoff-alpha" in row["error"] and "faceoff-beta" in row["error"]
    # Bundled components are untouched by the clash.
    (resnet,) = rows_named(plugin_rows(registry), "resnet")
    assert resnet["status"] == "ok"


def test_a_third_party_cannot_silently_replace_a_bundled_component() -> None:
    @hookimpl
    def register_losses(register: Any) -> None:
        register("l1", build_loss, role="reconstruction")

    registry = load_registry(
        extra=[(SimpleNamespace(register_losses=register_losses), info("faceoff-evil"))]
    )
    with pytest.raises(FaceoffError) as caught:
        registry.get("loss", "l1")
    assert f"faceoff {faceoff.__version__} (entry point 'cyclegan')" in str(caught.value)
    assert "faceoff-evil 1.0" in str(caught.value)
    assert "l1" not in registry.names("loss")


# ---------------------------------------------------------------- broken plugins


def test_misspelled_hook_is_recorded_broken_not_raised() -> None:
    class Typo:
        @hookimpl
        def register_generator(self, register: Any) -> None:  # no trailing s
            register("typo-net", build_net)

    registry = load_registry(extra=[(Typo(), info("faceoff-typo"))])
    (broken,) = registry.broken
    assert broken.plugin.distribution == "faceoff-typo"
    assert "register_generator" in broken.error
    assert "typo-net" not in registry.names("generator")
    assert "resnet" in registry.names("generator")  # the others still load
    (row,) = [r for r in plugin_rows(registry) if r["status"] == "broken"]
    assert row["distribution"] == "faceoff-typo"
    assert row["kind"] is None and row["name"] is None
    assert "register_generator" in row["error"]


def test_a_raising_hook_is_recorded_broken_and_its_partial_registrations_dropped() -> None:
    class Flaky:
        @hookimpl
        def register_generators(self, register: Any) -> None:
            register("half-net", build_net)

        @hookimpl
        def register_losses(self, register: Any) -> None:
            register("half-loss", build_loss, role="reconstruction")
            raise RuntimeError("boom\nwith a second line")

    registry = load_registry(extra=[(Flaky(), info("faceoff-flaky"))])
    (broken,) = registry.broken
    assert broken.plugin.distribution == "faceoff-flaky"
    assert broken.error == "RuntimeError: boom with a second line"
    assert "half-net" not in registry.names("generator")
    assert "half-loss" not in registry.names("loss")
    assert broken.plugin not in registry.plugins
    assert not rows_named(plugin_rows(registry), "half-net")


@pytest.mark.parametrize(
    ("name", "kwargs", "says"),
    [
        ("Bad_Name", {}, "Bad_Name"),
        ("ok-name", {"params": dict}, "pydantic model"),
        ("ok-name", {"role": "reconstruction"}, "losses only"),
    ],
)
def test_an_invalid_registration_is_recorded_broken(
    name: str, kwargs: dict[str, Any], says: str
) -> None:
    @hookimpl
    def register_generators(register: Any) -> None:
        register("fine-net", build_net)
        register(name, build_net, **kwargs)

    plugin = SimpleNamespace(register_generators=register_generators)
    registry = load_registry(extra=[(plugin, info("faceoff-sloppy"))])
    (broken,) = registry.broken
    assert broken.error.startswith("ValueError: ")
    assert says in broken.error
    assert "fine-net" not in registry.names("generator")


def test_a_loss_without_a_role_is_recorded_broken() -> None:
    @hookimpl
    def register_losses(register: Any) -> None:
        register("no-role", build_loss)

    registry = load_registry(
        extra=[(SimpleNamespace(register_losses=register_losses), info("faceoff-norole"))]
    )
    (broken,) = registry.broken
    assert "role" in broken.error
    assert "no-role" not in registry.names("loss")


# ---------------------------------------------------------------- selection by FACEOFF_LOAD_PLUGINS


def test_load_env_selects_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "cyclegan")
    registry = load_registry()
    assert [p.entry_point for p in registry.plugins] == ["cyclegan"]
    assert registry.names("generator") == ["resnet", "unet"]
    assert registry.names("data_source") == []

    monkeypatch.setenv(LOAD_ENV, " synthetic , cyclegan,,")
    registry = load_registry()
    assert sorted(p.entry_point for p in registry.plugins) == ["cyclegan", "synthetic"]
    assert registry.names("data_source") == ["synthetic"]


def test_empty_load_env_loads_no_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "")
    registry = load_registry()
    assert registry.plugins == []
    assert registry.all() == []
    assert registry.broken == []
    assert plugin_rows(registry) == []
    # Explicitly given plugins still load.
    registry = load_registry(extra=[(generators("only-net"), info("faceoff-only"))])
    assert [c.name for c in registry.all()] == ["only-net"]


def test_unset_load_env_loads_every_bundled_plugin() -> None:
    registry = get_registry()
    assert {p.entry_point for p in registry.plugins} >= {"cyclegan", "frames", "synthetic"}
    assert get_registry() is registry  # loaded once per process


# ---------------------------------------------------------------- unknown names


def test_unknown_name_lists_valid_names_closest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "")
    registry = load_registry(
        extra=[(generators("unet", "stylegan", "resnet", "resnext"), info("faceoff-nets"))]
    )
    with pytest.raises(FaceoffError) as caught:
        registry.get("generator", "resnett", where="s.json: generator.plugin")
    message = str(caught.value)
    assert message.startswith("s.json: generator.plugin: unknown generator 'resnett'; valid: ")
    listed = message.split("valid: ", 1)[1].split(", ")
    assert listed[0] == "resnet"
    assert sorted(listed) == ["resnet", "resnext", "stylegan", "unet"]
    assert "failed to load" not in message


def test_unknown_name_mentions_plugins_that_failed_to_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Typo:
        @hookimpl
        def register_generator(self, register: Any) -> None:
            register("typo-net", build_net)

    monkeypatch.setenv(LOAD_ENV, "cyclegan")
    registry = load_registry(extra=[(Typo(), info("faceoff-typo", entry_point="typo"))])
    with pytest.raises(FaceoffError) as caught:
        registry.get("generator", "typo-net")
    message = str(caught.value)
    assert "resnet" in message.split("valid: ")[1]
    assert "typo (faceoff-typo)" in message
    assert "register_generator" in message


def test_unknown_name_of_a_kind_with_nothing_installed_is_a_faceoff_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LOAD_ENV, "cyclegan")
    registry = load_registry()
    with pytest.raises(FaceoffError, match=r"unknown mask provider 'ellipse'; valid: \(none"):
        registry.get("mask_provider", "ellipse")


# ---------------------------------------------------------------- components


def test_component_make_validates_raw_params_and_fills_defaults() -> None:
    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        width: int = 7

    seen: list[Params] = []

    def build(params: Params) -> str:
        """Records its params."""
        seen.append(params)
        return "built"

    @hookimpl
    def register_data_sources(register: Any) -> None:
        register("recorder", build, params=Params)

    plugin = SimpleNamespace(register_data_sources=register_data_sources)
    component = load_registry(extra=[(plugin, info("faceoff-rec"))]).get("data_source", "recorder")
    assert component.summary == "Records its params."
    assert component.make() == "built"
    assert component.make({"width": 3}) == "built"
    assert [p.width for p in seen] == [7, 3]
    with pytest.raises(ValueError, match="width"):
        component.make({"width": "wide"})


def test_importing_the_bundled_plugins_does_not_import_torch() -> None:
    """Listing plugins must stay fast: no plugin may import torch at module import."""
    code = (
        "import sys, faceoff_cyclegan, faceoff_frames, faceoff_synthetic; "
        "import faceoff.plugins as p; r = p.get_registry(); "
        "assert r.names('generator') and not r.broken, r.broken; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
