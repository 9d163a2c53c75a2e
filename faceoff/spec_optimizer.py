"""The optimiser a spec trains with: its own optimizer section, the adversarial loss's proposal
(checked, since it is a plugin's code) and each optimiser's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from faceoff.components import Component
from faceoff.errors import FaceoffError, call_plugin
from faceoff.spec_models import OPTIMIZER_DEFAULTS, OptimizerSpec


def resolve_optimizer(
    given: OptimizerSpec, loss: Component, params: BaseModel, source: str
) -> OptimizerSpec:
    """The spec's optimizer section with every value filled in: what it sets, else what the
    adversarial loss proposes (WGAN: RMSprop at 5e-5), else the optimiser's defaults."""
    proposal = _proposal(loss, params, source)
    name = given.name or proposal.get("name") or "adam"
    if proposal.get("name", name) != name:
        proposal = {}  # the user chose another optimiser: its own defaults apply
    explicit = given.model_dump(exclude_none=True, exclude={"name"})
    stray = sorted(set(explicit) - set(OPTIMIZER_DEFAULTS[name]))
    if stray:
        raise FaceoffError(f"{source}: optimizer.{stray[0]}: does not apply to {name}")
    proposal.pop("name", None)
    return OptimizerSpec(name=name, **{**OPTIMIZER_DEFAULTS[name], **proposal, **explicit})


_VALID_PROPOSAL = (
    "a proposal is None (no proposal) or a dict "
    + " or ".join(
        f'{{"name": "{n}"}} with any of {", ".join(keys)}' for n, keys in OPTIMIZER_DEFAULTS.items()
    )
    + ", numbers within the bounds of the spec's optimizer section"
)


def _proposal(loss: Component, params: BaseModel, source: str) -> dict[str, Any]:
    """The adversarial loss's optimiser proposal, checked as docs/plugins.md ("Proposing
    optimiser settings") says: None is no proposal; else a mapping whose ``name`` is a key of
    :data:`OPTIMIZER_DEFAULTS`, with only the keys that optimiser takes and values that
    :class:`OptimizerSpec` accepts. Anything else, or a proposal that raises, is the plugin's
    bug: a FaceoffError naming the loss and its plugin."""
    from faceoff.spec import _got, format_validation_error  # spec imports this module

    if loss.optimizer is None:
        return {}
    who = f"{source}: losses.adversarial.plugin: loss {loss.name!r} ({loss.plugin.distribution})"
    found = call_plugin(f"{who}: proposing optimiser settings", loss.optimizer, params)
    if found is None:
        return {}
    if not isinstance(found, Mapping):
        problem = f"a {type(found).__name__}, not a dict"
    else:
        proposal = dict(found)
        name = proposal.get("name")
        problem = None
        if "name" not in proposal:
            problem = f"{_got(proposal)}, without a name"
        elif not (isinstance(name, str) and name in OPTIMIZER_DEFAULTS):
            problem = f"an unknown optimiser, name {_got(name)}"
        else:
            takes = OPTIMIZER_DEFAULTS[name]
            stray = [key for key in proposal if key != "name" and key not in takes]
            unset = [key for key in takes if key in proposal and proposal[key] is None]
            if stray:
                problem = f"{_got(stray[0])}, which {name} does not take"
            elif unset:
                problem = f"optimizer.{unset[0]}: None, not a number (leave the key out)"
            else:
                try:
                    OptimizerSpec.model_validate(proposal, strict=True)
                except ValidationError as exc:
                    problem = format_validation_error(exc, "optimizer")
        if problem is None:
            return proposal
    raise FaceoffError(f"{who} proposed optimiser settings: {problem}; {_VALID_PROPOSAL}")
