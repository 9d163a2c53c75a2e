"""An objective and its engine, built from a resolved spec: what a run (or a test) trains."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.frames import to_float
from faceoff.objective import Context, Description, Objective
from faceoff.spec import ResolvedSpec
from faceoff.train.engine import Engine


@dataclass
class Training:
    """The objective, its engine and what they were built from."""

    objective: Objective
    engine: Engine
    description: Description
    resolved: ResolvedSpec

    def step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One training step on a batch as the data gives it (uint8 frames, masks)."""
        terms = self.objective.train_step(self.engine.prepare(batch), self.engine)
        self.engine.end_step()
        return terms

    @torch.no_grad()
    def sample(self, images: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """The objective's sample-grid columns for uint8 test frames, in eval mode."""
        objective = self.objective
        assert isinstance(objective, nn.Module)
        dev = self.engine.device
        floats = {k: to_float(v.to(dev)) for k, v in images.items()}
        objective.eval()
        try:
            return objective.sample(floats, self.engine)
        finally:
            objective.train()


def build_training(
    resolved: ResolvedSpec,
    device: torch.device,
    *,
    stream_seed: Callable[[int], int] | None = None,
    precision: str | None = None,
) -> Training:
    """Build the spec's networks (in the description's order, drawing on the global RNG), its
    objective and the engine around them; seed the global RNG first for a repeatable start.
    ``precision`` is the concrete one (default: ``train.precision`` made concrete for the
    device)."""
    spec = resolved.spec
    description = resolved.description
    engine = Engine(
        spec.train,
        spec.optimizer,
        device,
        precision=precision,
        mask_mode=spec.mask.mode if spec.mask else None,
        stream_seed=stream_seed,
    )
    networks = engine.build_networks(resolved, description)
    component, params = resolved.components["objective"]
    context = Context(spec=spec, build=resolved.build, random=engine.random, device=device)
    objective = component.make(params, networks=networks, context=context)
    if not isinstance(objective, Objective):
        raise FaceoffError(
            f"objective {component.name!r} ({component.plugin.distribution}) built a "
            f"{type(objective).__name__}, not a faceoff.objective.Objective"
        )
    missing = [name for name in description.networks if name not in objective.networks]
    if missing:
        raise FaceoffError(
            f"objective {component.name!r} ({component.plugin.distribution}): its networks lack "
            f"{', '.join(missing)}, which its description names"
        )
    engine.attach(objective)
    return Training(objective, engine, description, resolved)
