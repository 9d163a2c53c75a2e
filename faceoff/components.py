"""What a registered component is, and the ``register`` callable that plugins receive."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from faceoff.capabilities import CheckInput, GuessParams

if TYPE_CHECKING:
    from faceoff.objective import Describe
    from faceoff.plugins import Registry

# Hook name -> component kind. The order is the order of listings and docs.
HOOK_KINDS: dict[str, str] = {
    "register_generators": "generator",
    "register_discriminators": "discriminator",
    "register_losses": "loss",
    "register_mask_providers": "mask_provider",
    "register_data_sources": "data_source",
    "register_objectives": "objective",
    "register_loggers": "logger",
}
KINDS: tuple[str, ...] = tuple(HOOK_KINDS.values())
LossRole = Literal["adversarial", "reconstruction"]
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

OPTIONS: dict[str, tuple[str, ...]] = {
    "generator": ("check_input", "guess_params", "composite"),
    "discriminator": ("check_input", "guess_params", "composite"),
    "loss": ("role", "needs_mask", "check_input", "optimizer", "weight"),
    "mask_provider": ("check_input", "cache_ignore"),
    "data_source": ("check_input", "sequences"),
    "objective": ("describe", "check_input", "check_networks", "check_spec"),
    "logger": ("writes",),
}
"""The registration options each kind takes, besides name, build, params and summary."""


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
    """One named, buildable thing of one kind, with its parameter model and kind's options.

    ``registry`` is the registry it was registered into: a ``composite`` component (one that
    builds others by name, such as the ``multi`` discriminator) receives it in ``build``.
    """

    kind: str
    name: str
    build: Callable[..., Any]
    params: type[BaseModel]
    summary: str
    plugin: PluginInfo
    role: LossRole | None = None
    needs_mask: bool = False
    check_input: CheckInput | None = None
    optimizer: Callable[[Any], dict[str, Any]] | None = None
    weight: float | None = None
    guess_params: GuessParams | None = None
    cache_ignore: tuple[str, ...] = ()
    composite: bool = False
    sequences: bool = False
    describe: Describe | None = None
    check_networks: Callable[[Any, dict[str, Any]], str | None] | None = None
    check_spec: Callable[[Any, Any], str | None] | None = None
    writes: Callable[[Any], list[str]] | None = None
    registry: Registry | None = field(default=None, compare=False, repr=False)

    def input_problem(self, params: BaseModel, size: int) -> str | None:
        """Why a square input of ``size`` px would not work with these params, or None."""
        if self.check_input is None:
            return None
        if self.composite:
            return self.check_input(params, size, registry=self.registry)
        return self.check_input(params, size)

    def validate(self, params: BaseModel | dict[str, Any] | None) -> BaseModel:
        """Params as this component's model (validated when raw)."""
        if isinstance(params, self.params):
            return params
        return self.params.model_validate(params or {})

    def make(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Build the component from validated (or raw) params; keyword arguments go to
        ``build`` (``in_channels=3``, ...)."""
        params = self.validate(params)
        if self.composite:
            kwargs["registry"] = self.registry
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
        **options: Any,
    ) -> None:
        """Register one component. ``name`` is short, lower-case and hyphenated.

        Options by kind (:data:`OPTIONS`; see ``docs/plugins.md``): ``check_input(params, size)``
        (any kind) returns why a square input of ``size`` px would fail, so a spec is refused at
        validation instead of deep inside a forward pass; ``role`` (losses, required):
        ``"adversarial"`` or ``"reconstruction"``; ``needs_mask`` (losses); ``optimizer(params)``
        (adversarial losses) proposes optimiser settings, e.g. ``{"name": "rmsprop", "lr":
        5e-5}``; ``weight`` (reconstruction losses): the default weight in a spec;
        ``guess_params`` (networks, :data:`faceoff.capabilities.GuessParams`); ``composite``
        (networks that build others by name: ``build`` and ``check_input`` get ``registry=``);
        ``cache_ignore`` (mask providers): params that do not change the masks; ``sequences``
        (data sources): the source says which frames are consecutive (``Domain.segments``), so
        objectives that train on clips can use it; ``describe`` (objectives, required): see
        :mod:`faceoff.objective`; ``writes(params)`` (loggers): the glob patterns, relative to the
        run folder, of the files the logger writes there (``["tensorboard/events.*"]``), so that
        faceoff may delete them again (it deletes no file it cannot name).

        ``check_networks(params, networks)`` (objectives): why these params do not fit the
        objective's networks (name -> the network built on torch's meta device), phrased to
        follow ``objective.params.`` (``"nce_layers: ..."``), or None. ``check_spec(params,
        view)`` (objectives): why the whole validated spec would not work with this objective
        (``view``: :class:`faceoff.objective.SpecView`, every slot's component and params, read
        only), starting with the dotted key it is about (``"data.crop_size: ..."``), or None;
        called last at validation.
        """
        label = f"{self.kind} {name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{self.kind} name {name!r} must be lower-case and hyphenated")
        if not callable(build):
            raise ValueError(f"{label}: build must be callable")
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise ValueError(f"{label}: params must be a pydantic model class")
        allowed = OPTIONS[self.kind]
        stray = [key for key in options if key not in allowed]
        if stray:
            if self.kind != "loss" and stray[0] in ("role", "needs_mask"):
                raise ValueError(f"{label}: role and needs_mask are for losses only")
            raise ValueError(
                f"{label}: unknown option {stray[0]!r} for a {self.kind.replace('_', ' ')}; "
                f"its options: {', '.join(allowed) or '(none)'}"
            )
        self._check(label, options)
        self.components.append(
            Component(
                kind=self.kind,
                name=name,
                build=build,
                params=params,
                summary=_summary(build, summary),
                plugin=self.plugin,
                **{k: tuple(v) if k == "cache_ignore" else v for k, v in options.items()},
            )
        )

    def _check(self, label: str, options: dict[str, Any]) -> None:
        role = options.get("role")
        if self.kind == "loss" and role not in ("adversarial", "reconstruction"):
            raise ValueError(f"{label}: role must be 'adversarial' or 'reconstruction'")
        if options.get("optimizer") is not None and role != "adversarial":
            raise ValueError(f"{label}: only adversarial losses propose an optimizer")
        if options.get("weight") is not None and role != "reconstruction":
            raise ValueError(f"{label}: only reconstruction losses have a default weight")
        if self.kind == "objective" and not callable(options.get("describe")):
            raise ValueError(f"{label}: an objective needs describe=, see faceoff.objective")
        hooks = ("check_input", "guess_params", "optimizer", "describe", "check_networks")
        hooks += ("check_spec", "writes")
        for key in hooks:
            if options.get(key) is not None and not callable(options[key]):
                raise ValueError(f"{label}: {key} must be callable")
        if "cache_ignore" in options and (
            isinstance(options["cache_ignore"], str)
            or not all(isinstance(k, str) for k in options["cache_ignore"])
        ):
            raise ValueError(f"{label}: cache_ignore must be a tuple of param names")
