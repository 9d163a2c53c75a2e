"""The spec file: pydantic models, two-pass validation, ``--set`` overrides.

Pass one validates the outer structure; pass two validates every component's ``params`` against
that component's own model and fills in its defaults. The result, a :class:`ResolvedSpec`, is what
the trainer consumes and what a run folder stores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, ValidationError

from faceoff.components import Component
from faceoff.errors import FaceoffError
from faceoff.objective import Description
from faceoff.plugins import Registry
from faceoff.spec_checks import (
    check_layout,
    check_masks,
    check_networks,
    check_sizes,
    check_spec,
    describe,
)
from faceoff.spec_file import (
    LEGACY_KEYS,
    apply_overrides,
    migrate,
    one_line,
    read_spec_file,
    shown,
)
from faceoff.spec_models import (
    OPTIMIZER_DEFAULTS,
    ComponentSpec,
    DataSpec,
    DiscriminatorSpec,
    GeneratorSpec,
    LossesSpec,
    MaskSpec,
    OptimizerSpec,
    OutputSpec,
    ScheduleSpec,
    Spec,
    TrainSpec,
    WeightedComponentSpec,
)
from faceoff.spec_optimizer import resolve_optimizer

__all__ = [
    "OPTIMIZER_DEFAULTS",
    "ComponentSpec",
    "DataSpec",
    "DiscriminatorSpec",
    "GeneratorSpec",
    "LossesSpec",
    "MaskSpec",
    "OptimizerSpec",
    "OutputSpec",
    "ResolvedSpec",
    "ScheduleSpec",
    "Spec",
    "TrainSpec",
    "WeightedComponentSpec",
    "describe",
    "load_spec",
    "resolve",
]


@dataclass(frozen=True)
class Slot:
    """One place in the spec that names a component."""

    path: str
    kind: str
    role: str | None = None


@dataclass
class ResolvedSpec:
    """A validated spec with every default filled in, and its components looked up."""

    spec: Spec
    components: dict[str, tuple[Component, BaseModel]]
    registry: Registry | None = None
    path: Path | None = None
    """The spec file it was read from (an input a run folder may not hold), if any."""

    @property
    def description(self) -> Description:
        """What the spec's objective is made of: its networks, translations, layout."""
        component, params = self.components["objective"]
        return describe(component, params)

    def build(self, path: str, **kwargs: Any) -> Any:
        """Build the component at a slot path such as ``generator`` or ``losses.cycle.0``."""
        component, params = self.components[path]
        return component.make(params, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as JSON-ready data."""
        return self.spec.model_dump(mode="json")

    def plugin_versions(self) -> dict[str, dict[str, str]]:
        """Which distribution and version provided each component used."""
        return {
            path: {
                "kind": c.kind,
                "name": c.name,
                "entry_point": c.plugin.entry_point,
                "distribution": c.plugin.distribution,
                "version": c.plugin.version,
            }
            for path, (c, _) in self.components.items()
        }


def slots(spec: Spec) -> list[Slot]:
    """Every component slot of a spec, with the kind (and loss role) it must have."""
    found = [
        Slot("data.source", "data_source"),
        Slot("objective", "objective"),
        Slot("generator", "generator"),
        Slot("discriminator", "discriminator"),
        Slot("losses.adversarial", "loss", "adversarial"),
    ]
    found += [
        Slot(f"losses.cycle.{i}", "loss", "reconstruction") for i in range(len(spec.losses.cycle))
    ]
    if spec.mask is not None:
        found.append(Slot("mask.provider", "mask_provider"))
    found += [Slot(f"output.loggers.{i}", "logger") for i in range(len(spec.output.loggers))]
    return found


def _node(spec: Spec, path: str) -> ComponentSpec:
    node: Any = spec
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line: every error as ``dotted.location: message (got value)``; keys, messages and
    values are escaped where they hold control characters or line breaks."""
    parts = []
    for err in exc.errors(include_url=False):
        where = (prefix.split(".") if prefix else []) + list(err["loc"])
        loc = ".".join(shown(p) for p in where)
        message = one_line(err["msg"].removeprefix("Value error, "))
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] != "missing" and "input" in err:
            got = _json_or_none(err["input"])
            if got is not None and len(got) <= 60:
                message += f" (got {got})"
        parts.append(f"{loc or '(top level)'}: {message}")
    return "; ".join(parts)


def _json_or_none(value: Any) -> str | None:
    """``value`` as JSON, one line (strings escaped), or None where it cannot be written."""
    try:
        return json.dumps(value, default=str)
    except (ValueError, TypeError, RecursionError):
        return None


MAX_INT = 2**63 - 1
"""The largest integer anywhere in a spec (a 64-bit integer, what torch and NumPy take)."""


def _got(value: Any) -> str:
    text = _json_or_none(value) or ascii(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _value_problem(value: Any) -> str | None:
    """What is wrong with one value of a spec, if anything: a string with a NUL byte or a lone
    surrogate (no file name, no text can hold them), a float that is not finite, an integer
    beyond 64 bits."""
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        if "\x00" in value:
            return f"a NUL byte is not allowed in text (got {_got(value)})"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"not valid Unicode text, it holds a lone surrogate (got {_got(value)})"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number (got {value})"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return f"must fit in a 64-bit integer, at most {MAX_INT} either way"
    return None


def check_values(value: Any, source: str, path: str = "") -> None:
    """Refuse, naming its dotted path, the first value in ``value`` (a model, dict or list,
    walked without recursion) that :func:`_value_problem` finds wrong, keys included."""
    stack: list[tuple[str, Any]] = [(path, value)]
    seen: set[int] = set()
    while stack:
        where, node = stack.pop()
        if isinstance(node, BaseModel | dict | list | tuple):
            if id(node) in seen:  # a structure built in Python may hold itself
                continue
            seen.add(id(node))
        if isinstance(node, BaseModel):
            items = [(name, getattr(node, name)) for name in type(node).model_fields]
            items += list((node.model_extra or {}).items())
        elif isinstance(node, dict):
            items = list(node.items())
            for key, _ in items:
                problem = _value_problem(key) if isinstance(key, str) else None
                if problem:
                    at = ".".join(filter(None, [shown(where), shown(key)]))
                    raise FaceoffError(f"{source}: {at}: key: {problem}")
        elif isinstance(node, list | tuple):
            items = list(enumerate(node))
        else:
            problem = _value_problem(node)
            if problem:
                raise FaceoffError(f"{source}: {shown(where) or '(top level)'}: {problem}")
            continue
        stack += [(f"{where}.{k}" if where else str(k), v) for k, v in reversed(items)]


def resolve(
    raw: dict[str, Any],
    registry: Registry,
    source: str = "spec",
    moved: dict[str, str] | None = None,
) -> ResolvedSpec:
    """Validate a raw spec in two passes and fill in every default.

    A spec in faceoff 0.1's form (``losses.identity``, ``train.pool_size``) is read as today's
    (:func:`faceoff.spec_file.migrate`); the resolved spec is in today's form. ``moved``: 0.1
    keys the caller moved already (today's key -> 0.1's), so that an objective without the
    option is refused naming the key the user wrote, not one they never saw.
    """
    source = shown(source)
    if not isinstance(raw, dict):
        raise FaceoffError(f"{source}: the spec must be a JSON object, not {type(raw).__name__}")
    raw, found = migrate(raw, source)
    moved = {**(moved or {}), **found}
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise FaceoffError(f"{source}: {format_validation_error(exc)}") from None
    check_values(spec, source)
    components: dict[str, tuple[Component, BaseModel]] = {}
    for slot in slots(spec):
        node = _node(spec, slot.path)
        if slot.path == "objective":
            _check_moved(registry, node, moved, source)
        _resolve_component(registry, slot, node, source, components)
    check_masks(spec, components, source)
    check_sizes(spec, components, source)
    check_networks(components, source)
    check_layout(components, source)
    spec.optimizer = resolve_optimizer(spec.optimizer, *components["losses.adversarial"], source)
    check_spec(spec, components, source)
    return ResolvedSpec(spec=spec, components=components, registry=registry)


def _check_moved(
    registry: Registry, node: ComponentSpec, moved: dict[str, str], source: str
) -> None:
    """A 0.1 key moved into an objective that has no such option: say where it came from."""
    if not moved:
        return
    try:
        fields = registry.get("objective", node.plugin).params.model_fields
    except FaceoffError:
        return  # reported when the slot itself is resolved
    for new, old in moved.items():
        name = new.rsplit(".", 1)[1]
        if name not in fields:
            raise FaceoffError(
                f"{source}: {old}: objective {node.plugin!r} has no {name} (0.1's {old} is an "
                f"option of the cyclegan objective); leave it out"
            )


def _resolve_component(
    registry: Registry,
    slot: Slot,
    node: ComponentSpec,
    source: str,
    out: dict[str, tuple[Component, BaseModel]],
) -> None:
    """Look up and validate one component, then any components nested in its params.

    A params field holding a ComponentSpec (or a list of them), such as the members of a
    discriminator made of several, is resolved the same way with the same kind, so its errors
    carry the full dotted location (``discriminator.params.members.1.params.n_layers``).
    """
    where = f"{source}: {slot.path}.plugin"
    component = registry.get(slot.kind, node.plugin, where=where, role=slot.role)
    if slot.role and component.role != slot.role:
        raise FaceoffError(
            f"{where}: loss {node.plugin!r} is for {component.role}; "
            f"this place needs a loss for {slot.role} "
            f"({', '.join(registry.names('loss', slot.role))})"
        )
    try:
        params = component.params.model_validate(node.params)
    except ValidationError as exc:
        message = format_validation_error(exc, prefix=f"{slot.path}.params")
        raise FaceoffError(f"{source}: {message}") from None
    check_values(params, source, f"{slot.path}.params")  # what the plugin's model made of them
    out[slot.path] = (component, params)
    if isinstance(node, WeightedComponentSpec) and node.weight is None:
        node.weight = float(component.weight if component.weight is not None else 1.0)
    for name in type(params).model_fields:
        value = getattr(params, name)
        many = isinstance(value, list)
        for i, item in enumerate(value if many else [value]):
            if isinstance(item, ComponentSpec):
                path = f"{slot.path}.params.{name}" + (f".{i}" if many else "")
                kind = getattr(type(item), "kind", slot.kind)  # a GeneratorSpec in an objective
                nested = Slot(path, kind, slot.role if kind == slot.kind else None)
                _resolve_component(registry, nested, item, source, out)
    node.params = params.model_dump(mode="json")


def params_from_options(component: Component, options: list[str]) -> BaseModel:
    """A component's params from ``--param KEY=VALUE`` options, validated, one-line errors."""
    try:
        params = component.params.model_validate(apply_overrides({}, options, "--param"))
    except ValidationError as exc:
        raise FaceoffError(f"--param: {format_validation_error(exc)}") from None
    check_values(params, "--param")
    return params


def load_spec(
    path: str | Path, registry: Registry, overrides: list[str] | None = None
) -> ResolvedSpec:
    """Read, override and resolve a spec file."""
    raw = read_spec_file(path)
    moved: dict[str, str] = {}
    if isinstance(raw, dict) and overrides:
        # 0.1 keys in the file first, so --set can change them; --set takes 0.1 keys too
        raw, moved = migrate(raw, shown(path))
        raw = apply_overrides(raw, overrides)
        written = (item.partition("=")[0].strip() for item in overrides)
        moved |= {LEGACY_KEYS[key]: key for key in written if key in LEGACY_KEYS}
    resolved = resolve(raw, registry, source=str(path), moved=moved)
    resolved.path = Path(path)
    return resolved
