"""Entry-point loading with per-plugin error capture, and the registry of components.

Every plugin, bundled or third-party, comes in through the ``faceoff`` entry-point group. One
plugin that fails to import or to register is recorded as broken; it is fatal only when a spec
names something that is missing because of it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from faceoff import hookspecs
from faceoff.components import HOOK_KINDS, KINDS, Component, PluginInfo, Register
from faceoff.console import warn
from faceoff.errors import FaceoffError

ENTRY_POINT_GROUP = "faceoff"
LOAD_ENV = "FACEOFF_LOAD_PLUGINS"


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded or registered, with a one-line reason."""

    plugin: PluginInfo
    error: str


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


@dataclass
class Registry:
    """All components by kind and name, plus what failed to load."""

    components: dict[tuple[str, str], Component] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], list[Component]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugins: list[PluginInfo] = field(default_factory=list)

    def names(self, kind: str, role: str | None = None) -> list[str]:
        """Sorted names of the usable components of one kind (and loss role, if given)."""
        return sorted(
            c.name
            for (k, _), c in self.components.items()
            if k == kind and (role is None or c.role == role)
        )

    def all(self) -> list[Component]:
        """Usable components, by kind (in hook order) then name."""
        order = {kind: i for i, kind in enumerate(KINDS)}
        return sorted(self.components.values(), key=lambda c: (order[c.kind], c.name))

    def get(
        self, kind: str, name: str, where: str | None = None, role: str | None = None
    ) -> Component:
        """The component, or a FaceoffError naming valid choices (closest first).

        ``role`` narrows the choices listed for an unknown name to losses of that role.
        """
        label = kind.replace("_", " ")
        prefix = f"{where}: " if where else ""
        if (kind, name) in self.conflicts:
            dists = " and ".join(
                f"{c.plugin.distribution} {c.plugin.version} (entry point {c.plugin.entry_point!r})"
                for c in self.conflicts[(kind, name)]
            )
            raise FaceoffError(f"{prefix}{label} {name!r} is registered twice, by {dists}")
        if (kind, name) in self.components:
            return self.components[(kind, name)]
        valid = self.names(kind, role)
        close = difflib.get_close_matches(name, valid, n=len(valid), cutoff=0.0) if valid else []
        message = (
            f"{prefix}unknown {label} {name!r}; valid: {', '.join(close) or '(none installed)'}"
        )
        if self.broken:
            failed = "; ".join(
                f"{b.plugin.entry_point} ({b.plugin.distribution}): {b.error}" for b in self.broken
            )
            message += f" (plugins that failed to load: {failed})"
        raise FaceoffError(message)

    def add(self, plugin: Any, info: PluginInfo) -> None:
        """Register one loaded plugin object (module or namespace); record it broken on failure."""
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        registers: list[Register] = []
        try:
            manager.register(plugin, name=info.entry_point)
            manager.check_pending()
            for hook, kind in HOOK_KINDS.items():
                register = Register(kind, info)
                getattr(manager.hook, hook)(register=register)
                registers.append(register)
        except Exception as exc:  # a plugin's bug must not take the CLI down
            self.broken.append(BrokenPlugin(info, _one_line(exc)))
            return
        self.plugins.append(info)
        for register in registers:
            for component in register.components:
                self._insert(component)

    def _insert(self, component: Component) -> None:
        component = replace(component, registry=self)  # composites build through this registry
        key = (component.kind, component.name)
        if key in self.conflicts:
            self.conflicts[key].append(component)
        elif key in self.components:
            self.conflicts[key] = [self.components.pop(key), component]
        else:
            self.components[key] = component


def _selected(eps: Iterable[metadata.EntryPoint]) -> list[metadata.EntryPoint]:
    wanted = os.environ.get(LOAD_ENV)
    chosen = sorted(eps, key=lambda ep: ep.name)
    if wanted is None:
        return chosen
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    unknown = names - {ep.name for ep in chosen}
    if unknown:
        warn(
            f"{LOAD_ENV} names no installed entry point {', '.join(sorted(unknown))}; "
            f"installed: {', '.join(ep.name for ep in chosen) or '(none)'}"
        )
    return [ep for ep in chosen if ep.name in names]


def _info(ep: metadata.EntryPoint) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    return PluginInfo(
        entry_point=ep.name,
        distribution=dist.name if dist is not None else "(unknown)",
        version=dist.version if dist is not None else "(unknown)",
        module=ep.value,
    )


def load_registry(extra: Iterable[tuple[ModuleType | object, PluginInfo]] = ()) -> Registry:
    """Load every selected entry point of the ``faceoff`` group, one by one, plus ``extra``."""
    registry = Registry()
    for ep in _selected(metadata.entry_points(group=ENTRY_POINT_GROUP)):
        info = _info(ep)
        try:
            plugin = ep.load()
        except Exception as exc:  # ImportError, SyntaxError, anything a plugin raises
            registry.broken.append(BrokenPlugin(info, _one_line(exc)))
            continue
        registry.add(plugin, info)
    for plugin, info in extra:
        registry.add(plugin, info)
    return registry


@cache
def get_registry() -> Registry:
    """The process-wide registry, loaded once."""
    return load_registry()
