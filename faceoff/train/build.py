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
from faceoff.objective import Context, Description, Objective, Translation
from faceoff.pth import one_line
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
    check_parameters(objective, f"objective {component.name!r} ({component.plugin.distribution})")
    engine.attach(objective)
    return Training(objective, engine, description, resolved)


def check_parameters(objective: Objective, who: str) -> None:
    """Every parameter the objective trains belongs to one of its networks, which are what a
    checkpoint holds: a module it made itself and kept out of ``networks`` would train, yet
    come back from a resume (and in apply and eval) as first built. Frozen parameters in no
    parameter group (a fixed feature network of a loss) are built again alike, so they pass."""
    assert isinstance(objective, nn.Module)
    owned = {id(p) for net in objective.networks.values() for p in net.parameters()}
    grouped = {id(p) for group in objective.parameter_groups().values() for p in group}
    named = dict(objective.named_parameters())
    stray = [
        name
        for name, p in named.items()
        if id(p) not in owned and (p.requires_grad or id(p) in grouped)
    ]
    unnamed = grouped - owned - {id(p) for p in named.values()}
    stray += ["a parameter that is not the objective's"] * len(unnamed)
    if stray:
        shown = ", ".join(stray[:3]) + (", ..." if len(stray) > 3 else "")
        raise FaceoffError(
            f"{who}: {len(stray)} parameters outside its networks ({shown}) would not be "
            "checkpointed; declare them as networks (in describe's networks, or add their module "
            "to the objective's networks)"
        )


def check_outputs(
    resolved: ResolvedSpec, description: Description, networks: Mapping[str, nn.Module]
) -> None:
    """Each network once on a zero batch of the spec's crop size (one image): a generator must
    return [1, out_channels, size, size], a discriminator (each of its members) a tensor; else a
    FaceoffError naming the slot, the plugin and the shapes, before anything is written. The
    links of a chained translation are checked together: the chain must give back the size it
    takes (an encoder alone gives a code).

    In eval mode, without gradients and on a forked random state: the networks' state and the
    global random stream are as they were, so training is the same with or without the check.
    Networks built alike (same slot and channels) are checked once."""
    size = resolved.spec.data.crop_size
    chains = [t for t in description.translations.values() if len(t.chain) > 1]
    alone = {t.chain[0] for t in description.translations.values() if len(t.chain) == 1}
    linked = {name for t in chains for name in t.chain} - alone
    seen: set[tuple[str, str, int, int]] = set()
    for name, network in description.networks.items():
        key = (network.kind, network.slot, network.in_channels, network.out_channels)
        if key in seen or name in linked or network.kind not in ("generator", "discriminator"):
            continue
        seen.add(key)
        where = _where(resolved, network.slot)
        shape = [1, network.in_channels, size, size]
        if network.kind == "generator":
            _check_image(where, _probe(networks[name], shape), shape, network.out_channels)
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
    for translation in chains:
        _check_chain(resolved, description, networks, translation, size)


def _where(resolved: ResolvedSpec, slot: str) -> str:
    component = resolved.components[slot][0]
    return f"{slot}: {component.kind} {component.name!r} ({component.plugin.distribution})"


def _check_image(where: str, out: object, shape: list[int], channels: int) -> None:
    """``out``, made from a ``shape`` batch, must be [1, channels, size, size]."""
    want = [1, channels, *shape[2:]]
    if not isinstance(out, torch.Tensor):
        raise FaceoffError(
            f"{where} returned a {type(out).__name__} for a {shape} batch, not a tensor {want}"
        )
    if list(out.shape) != want:
        raise FaceoffError(
            f"{where} turned a {shape} batch into {list(out.shape)}; a generator must return "
            f"{want} ({channels} channels, the input's height and width)"
        )


def _check_chain(
    resolved: ResolvedSpec,
    description: Description,
    networks: Mapping[str, nn.Module],
    translation: Translation,
    size: int,
) -> None:
    """A chain link by link on one zero image: each link takes what the one before made, and
    the last gives back an image of the size the first took; else one line naming the links."""
    first, last = (description.networks[n] for n in (translation.chain[0], translation.chain[-1]))
    shape = [1, first.in_channels, size, size]
    links = ", then ".join(
        f"{n} ({_where(resolved, description.networks[n].slot)})" for n in translation.chain
    )
    where = f"the translation {translation.label} ({links})"
    made: object = torch.zeros(shape)
    for name in translation.chain:
        taken = list(made.shape) if isinstance(made, torch.Tensor) else type(made).__name__
        try:
            made = _probe(networks[name], made)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise FaceoffError(
                f"{where}: {name} cannot take {taken} ({one_line(str(exc))}); make the links' "
                "params fit each other"
            ) from None
    _check_image(where, made, shape, last.out_channels)


def _probe(net: nn.Module, inputs: list[int] | object) -> object:
    """``net`` on zeros of shape ``inputs`` (or on the tensor ``inputs``), on its own device
    and dtype, leaving no trace."""
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
            if isinstance(inputs, torch.Tensor):
                floating = inputs.is_floating_point()
                return net(inputs.to(device=device, dtype=dtype if floating else inputs.dtype))
            return net(torch.zeros(inputs, device=device, dtype=dtype))
    finally:
        for module, mode in modes:
            module.training = mode
