"""An objective and its engine, built from a resolved spec: what a run (or a test) trains."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.frames import to_float
from faceoff.losses import weighted_members
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
    check_outputs(resolved, description, networks)
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


def check_outputs(
    resolved: ResolvedSpec, description: Description, networks: Mapping[str, nn.Module]
) -> None:
    """Each network once on a zero batch of the spec's crop size (one image): a generator must
    return [1, out_channels, size, size], a discriminator (each of its members) a tensor; else a
    FaceoffError naming the slot, the plugin and the shapes, before anything is written.

    In eval mode, without gradients and on a forked random state: the networks' state and the
    global random stream are as they were, so training is the same with or without the check.
    Networks built alike (same slot and channels) are checked once."""
    size = resolved.spec.data.crop_size
    seen: set[tuple[str, str, int, int]] = set()
    for name, network in description.networks.items():
        key = (network.kind, network.slot, network.in_channels, network.out_channels)
        if key in seen or network.kind not in ("generator", "discriminator"):
            continue
        seen.add(key)
        component = resolved.components[network.slot][0]
        where = (
            f"{network.slot}: {component.kind} {component.name!r} ({component.plugin.distribution})"
        )
        shape = [1, network.in_channels, size, size]
        if network.kind == "generator":
            out = _probe(networks[name], shape)
            want = [1, network.out_channels, size, size]
            if not isinstance(out, torch.Tensor):
                raise FaceoffError(
                    f"{where} returned a {type(out).__name__} for a {shape} batch, not a "
                    f"tensor {want}"
                )
            if list(out.shape) != want:
                raise FaceoffError(
                    f"{where} turned a {shape} batch into {list(out.shape)}; a generator must "
                    f"return {want} ({network.out_channels} channels, the input's height and "
                    "width)"
                )
            continue
        members = weighted_members(networks[name])
        for i, (_, member) in enumerate(members):
            out = _probe(member, shape)
            if not isinstance(out, torch.Tensor):
                which = f" (member {i} of {len(members)})" if len(members) > 1 else ""
                raise FaceoffError(
                    f"{where}{which} returned a {type(out).__name__} for a {shape} batch, not "
                    "a tensor of scores"
                )


def _probe(net: nn.Module, shape: list[int]) -> object:
    """``net`` on zeros of ``shape``, on its own device and dtype, leaving no trace."""
    first = next(itertools.chain(net.parameters(), net.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    cuda = []  # the random states to fork besides the CPU's
    if device.type == "cuda":
        cuda = [device.index if device.index is not None else torch.cuda.current_device()]
    modes = [(module, module.training) for module in net.modules()]
    try:
        with torch.random.fork_rng(devices=cuda), torch.no_grad():
            net.eval()
            return net(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        for module, mode in modes:
            module.training = mode
