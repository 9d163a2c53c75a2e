"""What a registered component is, and the ``register`` callable that plugins receive."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# Hook name -> component kind. The order is the order of listings and docs.
HOOK_KINDS: dict[str, str] = {
    "register_generators": "generator",
    "register_discriminators": "discriminator",
    "register_losses": "loss",
    "register_mask_providers": "mask_provider",
    "register_data_sources": "data_source",
}
KINDS: tuple[str, ...] = tuple(HOOK_KINDS.values())
LossRole = Literal["adversarial", "reconstruction"]
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class NoParams(BaseModel):
    """Parameters of a component that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PluginInfo:
    """Where a component came from: the entry point and its distribution."""

    entry_point: str
    distribution: str
    version: str
    module: str


@dataclass(frozen=True)
class Component:
    """One named, buildable thing of one kind, with its parameter model."""

    kind: str
    name: str
    build: Callable[..., Any]
    params: type[BaseModel]
    summary: str
    plugin: PluginInfo
    role: LossRole | None = None
    needs_mask: bool = False
    check_input: Callable[[Any, int], str | None] | None = None
    optimizer: Callable[[Any], dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def input_problem(self, params: BaseModel, size: int) -> str | None:
        """Why a square input of ``size`` px would not work with these params, or None."""
        return self.check_input(params, size) if self.check_input else None

    def make(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Build the component from validated (or raw) params."""
        if not isinstance(params, self.params):
            params = self.params.model_validate(params or {})
        return self.build(params, **kwargs)


def _summary(build: Callable[..., Any], summary: str | None) -> str:
    if summary:
        return summary.strip().splitlines()[0]
    doc = (getattr(build, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


class Register:
    """The callable handed to one plugin's hook for one kind; collects what it registers."""

    def __init__(self, kind: str, plugin: PluginInfo) -> None:
        self.kind = kind
        self.plugin = plugin
        self.components: list[Component] = []

    def __call__(
        self,
        name: str,
        build: Callable[..., Any],
        *,
        params: type[BaseModel] = NoParams,
        summary: str | None = None,
        role: LossRole | None = None,
        needs_mask: bool = False,
        check_input: Callable[[Any, int], str | None] | None = None,
        optimizer: Callable[[Any], dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        """Register one component. ``name`` is short, lower-case and hyphenated.

        ``check_input(params, size)`` (networks) returns why a square input of ``size`` px would
        fail, so a spec is refused at validation instead of deep inside a forward pass.
        ``optimizer(params)`` (adversarial losses) proposes optimiser settings, e.g.
        ``{"name": "rmsprop", "lr": 5e-5}``, used where the spec leaves them unset.
        ``weight=`` (reconstruction losses) is the default weight of the loss in a spec.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{self.kind} name {name!r} must be lower-case and hyphenated")
        if not callable(build):
            raise ValueError(f"{self.kind} {name!r}: build must be callable")
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise ValueError(f"{self.kind} {name!r}: params must be a pydantic model class")
        if self.kind == "loss" and role not in ("adversarial", "reconstruction"):
            raise ValueError(f"loss {name!r}: role must be 'adversarial' or 'reconstruction'")
        if self.kind != "loss" and (role is not None or needs_mask):
            raise ValueError(f"{self.kind} {name!r}: role and needs_mask are for losses only")
        if optimizer is not None and role != "adversarial":
            raise ValueError(f"{self.kind} {name!r}: only adversarial losses propose an optimizer")
        self.components.append(
            Component(
                kind=self.kind,
                name=name,
                build=build,
                params=params,
                summary=_summary(build, summary),
                plugin=self.plugin,
                role=role,
                needs_mask=needs_mask,
                check_input=check_input,
                optimizer=optimizer,
                extra=dict(extra),
            )
        )
