"""The checks of a resolved spec that ask its objective: which networks it builds from which
slots, what sizes they see, masks, clips, and the objective's own checks (``check_networks``,
``check_spec``). :func:`faceoff.spec.resolve` runs them; this module keeps it short.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from faceoff.components import Component
from faceoff.errors import FaceoffError, call_plugin
from faceoff.objective import Description, SlotView, SpecView
from faceoff.spec_file import one_line

Components = dict[str, tuple[Component, BaseModel]]
NETWORK_KINDS = ("generator", "discriminator")


def describe(component: Component, params: BaseModel) -> Description:
    """An objective's description, or a FaceoffError naming the plugin if it cannot give one."""
    who = f"objective {component.name!r} ({component.plugin.distribution})"
    found = call_plugin(f"{who}: describe", component.describe, params)  # type: ignore[arg-type]
    if not isinstance(found, Description):
        raise FaceoffError(
            f"objective {component.name!r} ({component.plugin.distribution}): describe returned "
            f"{type(found).__name__}, not a faceoff.objective.Description"
        )
    return found


def check_networks(components: Components, source: str) -> None:
    """Every network the objective builds comes from a slot of the spec of the right kind."""
    component, params = components["objective"]
    built: dict[str, Any] = {}
    for name, network in describe(component, params).networks.items():
        found = components.get(network.slot)
        if found is None or found[0].kind != network.kind:
            have = f"a {found[0].kind}" if found else "nothing"
            raise FaceoffError(
                f"{source}: objective.plugin: objective {component.name!r} builds its network "
                f"{name} from a {network.kind} at {network.slot}, and the spec has {have} there"
            )
        if network.needs or component.check_networks:
            built[name] = _check_capabilities(component.name, name, network, *found, source)
        problem = network.size and found[0].input_problem(found[1], network.size)
        if problem:
            raise FaceoffError(
                f"{source}: {network.slot}: {found[0].name} {one_line(problem)} (the objective's "
                f"{name} sees {network.size} px regions); change its params or the region size"
            )
    if component.check_networks:
        who = f"objective {component.name!r} ({component.plugin.distribution}): check_networks"
        problem = call_plugin(who, component.check_networks, params, built)
        if problem:
            raise FaceoffError(f"{source}: objective.params.{one_line(problem)}")


def _check_capabilities(
    objective: str, name: str, network: Any, component: Component, params: BaseModel, where: str
) -> Any:
    """Build the network on torch's meta device (no memory, no weights), check that it has
    what the objective needs of it, and return it."""
    import torch

    from faceoff.capabilities import CAPABILITIES

    with torch.device("meta"):
        built = component.make(params, **network.channels())
    for need in network.needs:
        protocol = CAPABILITIES[need]
        if not isinstance(built, protocol):
            what = " ".join((protocol.__doc__ or "").split()[:14])
            raise FaceoffError(
                f"{where}: {network.slot}.plugin: objective {objective!r} needs its {name} to be "
                f"a {network.kind} with the capability {need} (faceoff.capabilities: {what}...), "
                f"and {component.name!r} has not"
            )
    return built


def check_layout(components: Components, source: str) -> None:
    """An objective that trains on clips needs a data source that knows the frames' order."""
    objective, params = components["objective"]
    frames = describe(objective, params).layout.frames
    data = components["data.source"][0]
    if frames > 1 and not data.sequences:
        registry = data.registry
        able = sorted(c.name for c in registry.all() if c.kind == "data_source" and c.sequences)
        raise FaceoffError(
            f"{source}: data.source.plugin: objective {objective.name!r} trains on clips of "
            f"{frames} consecutive frames, and data source {data.name!r} does not say which "
            f"frames are consecutive; use one that does ({', '.join(able) or 'none installed'})"
        )


def check_masks(spec: Any, components: Components, source: str) -> None:
    """A loss (or objective) that needs masks gets them only from a mask section in ``weight``
    mode, and a loss only from an objective that passes them on."""
    objective, params = components["objective"]
    described = describe(objective, params)
    if not described.masks_to_losses:
        for path, (component, _) in components.items():
            if component.needs_mask:
                raise FaceoffError(
                    f"{source}: {path}.plugin: loss {component.name!r} needs face masks, but "
                    f"objective {objective.name!r} does not pass masks to its losses; use a loss "
                    "without masks (e.g. l1) or the cyclegan objective"
                )
    if spec.mask is not None and spec.mask.mode == "weight":
        return
    how = "set mask.mode to 'weight'" if spec.mask else "add a 'mask' section"
    if described.needs_masks:
        raise FaceoffError(
            f"{source}: objective.params: objective {objective.name!r} with these params reads "
            f"face masks (a local discriminator finds its region there); {how} with a mask "
            "provider that weights the region (e.g. synthetic or insightface, mouth_weight 2)"
        )
    for path, (component, _) in components.items():
        if component.needs_mask:
            raise FaceoffError(
                f"{source}: {path}.plugin: loss {component.name!r} needs face masks; "
                f"{how} with a mask provider, or use a loss without masks"
            )


def network_sizes(description: Description, crop_size: int) -> dict[str, set[int]]:
    """Slot -> the sizes of the images its networks see (the crop size, or a region's)."""
    sizes: dict[str, set[int]] = {}
    for network in description.networks.values():
        sizes.setdefault(network.slot, set()).add(network.size or crop_size)
    return sizes


def _owner(path: str, sizes: Mapping[str, set[int]]) -> str | None:
    """The network slot ``path`` is, or is nested in (a member of a ``multi``), if any."""
    found = [slot for slot in sizes if path == slot or path.startswith(f"{slot}.params.")]
    return max(found, key=len) if found else None


def check_sizes(spec: Any, components: Components, source: str) -> None:
    """Each component takes the crop size: every one but a network no network of the objective
    is built from (the default ``generator`` of an objective that builds its own), and one
    whose networks see only regions (checked at that size by :func:`check_networks`)."""
    crop = spec.data.crop_size
    sizes = network_sizes(describe(*components["objective"]), crop)
    for path, (component, params) in components.items():
        if component.kind in NETWORK_KINDS:
            owner = _owner(path, sizes)
            if owner is None or crop not in sizes[owner]:
                continue
        problem = component.input_problem(params, crop)
        if problem:
            raise FaceoffError(
                f"{source}: {path}: {component.name} {one_line(problem)}; change data.crop_size "
                "or the params"
            )


def check_spec(spec: Any, components: Components, source: str) -> None:
    """The objective's own ``check_spec``, shown copies of the spec and of every slot."""
    component, params = components["objective"]
    if component.check_spec is None:
        return
    slots = {
        path: SlotView(c.kind, c.name, p.model_copy(deep=True))
        for path, (c, p) in components.items()
    }
    view = SpecView(spec.model_copy(deep=True), MappingProxyType(slots))
    who = f"objective {component.name!r} ({component.plugin.distribution}): check_spec"
    problem = call_plugin(who, component.check_spec, params.model_copy(deep=True), view)
    if problem:
        raise FaceoffError(f"{source}: {one_line(str(problem))}")
