"""The JSON Schema of the spec with the installed plugins' parameters in place.

Every component slot becomes a union of the installed components of its kind, told apart by
``plugin``, each with its own params model, so editors can complete and check spec files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

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


def _slot_type(registry: Registry, kind: str, role: str | None, base: type[BaseModel]) -> Any:
    members = []
    for c in registry.all():
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
    """The spec's JSON Schema (draft 2020-12) for this registry."""

    def sub(base: type[BaseModel], **slots: Any) -> Any:
        fields = {name: (typ, base.model_fields[name]) for name, typ in slots.items()}
        return create_model(base.__name__, __base__=base, **fields)

    data = sub(DataSpec, source=_slot_type(registry, "data_source", None, ComponentSpec))
    losses = sub(
        LossesSpec,
        adversarial=_slot_type(registry, "loss", "adversarial", ComponentSpec),
        cycle=list[_slot_type(registry, "loss", "reconstruction", WeightedComponentSpec)],
    )
    mask = sub(MaskSpec, provider=_slot_type(registry, "mask_provider", None, ComponentSpec))
    output = sub(OutputSpec, loggers=list[_slot_type(registry, "logger", None, ComponentSpec)])
    spec = sub(
        Spec,
        data=data,
        losses=losses,
        mask=mask | None,
        output=output,
        objective=_slot_type(registry, "objective", None, ComponentSpec),
        generator=_slot_type(registry, "generator", None, ComponentSpec),
        discriminator=_slot_type(registry, "discriminator", None, ComponentSpec),
    )
    schema = spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "faceoff spec"
    return schema
