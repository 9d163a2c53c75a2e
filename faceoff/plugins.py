"""Entry-point loading with per-plugin error capture, and the registry of components.

Every plugin, bundled or third-party, comes in through the ``faceoff`` entry-point group. One
plugin that fails to import or to register is recorded as broken; it is fatal only when a spec
names something that is missing because of it.

Nothing a plugin does while it is imported or registers its components takes the command down:

- any exception, ``SystemExit`` and ``KeyboardInterrupt`` included, makes it broken, with a
  one-line reason (``SystemExit: 0 at import``);
- ``sys.argv`` is just the program's name meanwhile, so an ``argparse`` at import sees no
  arguments, and what it prints (``sys.stdout``, ``sys.stderr``) is held back: shown on stderr
  for a plugin that loads, and its last line added to the reason of one that does not;
- each plugin is imported and registered in a worker thread, waited for at most
  ``FACEOFF_PLUGIN_TIMEOUT`` seconds (environment variable, default 30): one that takes longer
  (it sleeps, waits on a network, deadlocks) is broken (``did not finish importing within 30 s
  (FACEOFF_PLUGIN_TIMEOUT; raise it to wait longer)``) and its thread left to finish as a
  daemon. Running in a thread, a plugin cannot install signal handlers at import
  (``signal.signal`` is for the main thread).

``FACEOFF_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which entry points load.
"""

from __future__ import annotations

import difflib
import io
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable
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
TIMEOUT_ENV = "FACEOFF_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
_PRINTED_LIMIT = 200  # characters of a broken plugin's last printed line kept in its reason


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded or registered, with a one-line reason."""

    plugin: PluginInfo
    error: str


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (``(no message)`` when there is none)."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def _reason(exc: BaseException, phase: str) -> str:
    """Why a plugin is broken. What only stops programs (``SystemExit``, ``KeyboardInterrupt``)
    says when it happened: ``SystemExit: 0 at import``, ``KeyboardInterrupt while
    registering``."""
    if isinstance(exc, Exception):
        return one_line(exc)
    when = "at import" if phase == "importing" else "while registering"
    if isinstance(exc, SystemExit):
        code = exc.code
        return f"SystemExit{'' if code is None else ': ' + ' '.join(str(code).split())} {when}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}{': ' + text if text else ''} {when}"


def plugin_timeout() -> float:
    """Seconds to wait for one plugin to import and register: ``FACEOFF_PLUGIN_TIMEOUT``, or 30.

    A value that is not a positive number is warned about and the default used."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        warn(
            f"{TIMEOUT_ENV}={raw!r} is not a positive number of seconds; "
            f"waiting {DEFAULT_TIMEOUT:g} s for each plugin"
        )
        return DEFAULT_TIMEOUT
    return value


class _HeldBack(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` while a plugin loads: what it writes is kept in
    ``printed`` (shared by both); ``fileno`` is the real stream's, for code that needs one
    (``faulthandler.enable()``)."""

    def __init__(self, printed: list[str], real: Any) -> None:
        super().__init__()
        self.printed = printed
        self.real = real

    @property
    def encoding(self) -> str:
        return getattr(self.real, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.printed.append(text)
        return len(text)

    def fileno(self) -> int:
        return self.real.fileno()

    def isatty(self) -> bool:
        return False


class _Attempt:
    """One plugin's import and registration, run in a worker thread (see the module's doc)."""

    def __init__(self, work: Callable[[_Attempt], list[Register]], phase: str) -> None:
        self.work = work
        self.phase = phase  # "importing", then "registering"
        self.registers: list[Register] | None = None
        self.error: BaseException | None = None

    def _target(self) -> None:
        try:
            self.registers = self.work(self)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: a plugin's, not ours
            self.error = exc

    def run(self, name: str, timeout: float) -> tuple[list[Register] | None, str | None]:
        """The plugin's registers, or None and why it is broken."""
        printed: list[str] = []
        saved = sys.argv, sys.stdout, sys.stderr
        sys.argv = sys.argv[:1]  # a copy: the plugin may parse or change it
        sys.stdout, sys.stderr = _HeldBack(printed, sys.stdout), _HeldBack(printed, sys.stderr)
        try:
            thread = threading.Thread(target=self._target, name=f"faceoff plugin {name}")
            thread.daemon = True  # one that never finishes must not keep the process alive
            thread.start()
            thread.join(timeout)
        finally:
            sys.argv, sys.stdout, sys.stderr = saved
        text = "".join(printed)
        if thread.is_alive():
            reason = (
                f"did not finish {self.phase} within {timeout:g} s ({TIMEOUT_ENV}; "
                "raise it to wait longer)"
            )
        elif self.error is not None:
            reason = _reason(self.error, self.phase)
        else:
            if text:
                sys.stderr.write(text)  # a loaded plugin's output, kept off stdout
            return self.registers, None
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            last = " ".join(lines[-1].split())
            if len(last) > _PRINTED_LIMIT:
                last = last[: _PRINTED_LIMIT - 3] + "..."
            reason += f" (it printed: {last})"
        return None, reason


def _registers(plugin: Any, info: PluginInfo) -> list[Register]:
    """Call every hook of one plugin object; what each kind's ``register`` collected."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin, name=info.entry_point)
    manager.check_pending()
    registers = []
    for hook, kind in HOOK_KINDS.items():
        register = Register(kind, info)
        getattr(manager.hook, hook)(register=register)
        registers.append(register)
    return registers


@dataclass
class Registry:
    """All components by kind and name, plus what failed to load."""

    components: dict[tuple[str, str], Component] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], list[Component]] = field(default_factory=dict)
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugins: list[PluginInfo] = field(default_factory=list)
    selected: str | None = None
    """``FACEOFF_LOAD_PLUGINS`` when the entry points were loaded (None: unset, all loaded)."""

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
        none = "(none installed)"
        if self.selected is not None:
            chosen = ", ".join(n.strip() for n in self.selected.split(",") if n.strip())
            none = (
                f"(none loaded: {LOAD_ENV} limited loading to the entry points "
                f"{chosen or '(none)'}; unset it to load every installed plugin)"
            )
        message = f"{prefix}unknown {label} {name!r}; valid: {', '.join(close) or none}"
        if self.broken:
            failed = "; ".join(
                f"{b.plugin.entry_point} ({b.plugin.distribution}): {b.error}" for b in self.broken
            )
            message += f" (plugins that failed to load: {failed})"
        raise FaceoffError(message)

    def add(self, plugin: Any, info: PluginInfo, *, timeout: float | None = None) -> None:
        """Register one loaded plugin object (module or namespace); record it broken on failure
        (anything its hooks raise, or taking over ``timeout`` seconds: default
        ``FACEOFF_PLUGIN_TIMEOUT``)."""
        self._load(info, lambda attempt: _registers(plugin, info), "registering", timeout)

    def add_entry_point(self, ep: metadata.EntryPoint, *, timeout: float | None = None) -> None:
        """Import one entry point and register its plugin; record it broken on failure."""

        def work(attempt: _Attempt) -> list[Register]:
            plugin = ep.load()
            attempt.phase = "registering"
            return _registers(plugin, _info(ep))

        self._load(_info(ep), work, "importing", timeout)

    def _load(
        self,
        info: PluginInfo,
        work: Callable[[_Attempt], list[Register]],
        phase: str,
        timeout: float | None,
    ) -> None:
        # A plugin's bug, exit, interrupt or hang must not take the CLI down.
        wait = plugin_timeout() if timeout is None else timeout
        registers, error = _Attempt(work, phase).run(info.entry_point, wait)
        if registers is None:
            self.broken.append(BrokenPlugin(info, error or "(no reason)"))
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
    registry = Registry(selected=os.environ.get(LOAD_ENV))
    timeout = plugin_timeout()
    for ep in _selected(metadata.entry_points(group=ENTRY_POINT_GROUP)):
        registry.add_entry_point(ep, timeout=timeout)
    for plugin, info in extra:
        registry.add(plugin, info, timeout=timeout)
    return registry


@cache
def get_registry() -> Registry:
    """The process-wide registry, loaded once."""
    return load_registry()
