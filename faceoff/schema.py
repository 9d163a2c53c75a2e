"""The JSON Schema of the spec with the installed plugins' parameters in place.

Every component slot becomes a union of the installed components of its kind, told apart by
``plugin``, each with its own params model, so editors can complete and check spec files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from faceoff.components import Component
from faceoff.console import warn
from faceoff.listing import params_schema
from faceoff.plugins import Registry
from faceoff.spec import (
    ComponentSpec,
    DataSpec,
    LossesSpec,
    MaskSpec,
    OutputSpec,
    Spec,
    WeightedComponentSpec,
)


def _describable(registry: Registry) -> list[Component]:
    """The registry's components whose params model gives a JSON Schema; each other one is
    warned about once, naming its plugin, and left out of the schema (``list-plugins`` shows it
    broken, for the same reason)."""
    found = []
    for c in registry.all():
        _, problem = params_schema(c)
        if problem is None:
            found.append(c)
        else:
            kind = c.kind.replace("_", " ")
            warn(
                f"{kind} {c.name!r} ({c.plugin.distribution} {c.plugin.version}) is left out of "
                f"the schema: {problem}"
            )
    return found


def _slot_type(
    components: list[Component], kind: str, role: str | None, base: type[BaseModel]
) -> Any:
    """The type of one slot: the union of the components of its kind (and role), told apart by
    ``plugin``; ``base`` (any plugin name, any params) where there is none."""
    members = []
    for c in components:
        if c.kind != kind or (role is not None and c.role != role):
            continue
        fields: dict[str, Any] = {
            "plugin": (Literal[c.name], Field(description=c.summary or c.name)),
            "params": (c.params, Field(default_factory=dict)),
        }
        if base is WeightedComponentSpec:
            default = float(c.weight if c.weight is not None else 1.0)
            fields["weight"] = (
                float | None,
                Field(None, ge=0, description=f"Multiplier of this loss term (default {default})."),
            )
        title = f"{kind}:{c.name}"
        members.append(
            create_model(title, __config__=ConfigDict(extra="forbid", title=title), **fields)
        )
    if not members:
        return base
    if len(members) == 1:
        return members[0]
    return Annotated[Union[tuple(members)], Field(discriminator="plugin")]  # noqa: UP007


def spec_schema(registry: Registry) -> dict[str, Any]:
    """The spec's JSON Schema (draft 2020-12) for this registry; a component whose params model
    has no JSON Schema is left out, with a warning naming its plugin."""
    components = _describable(registry)

    def sub(base: type[BaseModel], **slots: Any) -> Any:
        fields = {name: (typ, base.model_fields[name]) for name, typ in slots.items()}
        return create_model(base.__name__, __base__=base, **fields)

    data = sub(DataSpec, source=_slot_type(components, "data_source", None, ComponentSpec))
    losses = sub(
        LossesSpec,
        adversarial=_slot_type(components, "loss", "adversarial", ComponentSpec),
        cycle=list[_slot_type(components, "loss", "reconstruction", WeightedComponentSpec)],
    )
    mask = sub(MaskSpec, provider=_slot_type(components, "mask_provider", None, ComponentSpec))
    output = sub(OutputSpec, loggers=list[_slot_type(components, "logger", None, ComponentSpec)])
    spec = sub(
        Spec,
        data=data,
        losses=losses,
        mask=mask | None,
        output=output,
        objective=_slot_type(components, "objective", None, ComponentSpec),
        generator=_slot_type(components, "generator", None, ComponentSpec),
        discriminator=_slot_type(components, "discriminator", None, ComponentSpec),
    )
    schema = spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "faceoff spec"
    return schema
