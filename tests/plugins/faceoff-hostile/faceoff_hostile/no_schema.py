"""A data source whose params model validates but cannot produce a JSON Schema (a field of an
arbitrary class), and a generator alongside it that is fine."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from faceoff.hookspecs import hookimpl


class Opaque:
    """Not a type pydantic can describe in JSON Schema."""


class OpaqueParams(BaseModel):
    """Parameters holding an arbitrary object."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    handle: Opaque | None = None


def build_opaque(params: OpaqueParams) -> Any:
    """A data source whose params have no JSON Schema."""
    raise AssertionError("unreachable")


@hookimpl
def register_data_sources(register: Any) -> None:
    register("opaque", build_opaque, params=OpaqueParams)
