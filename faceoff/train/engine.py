"""The engine: everything about a training step that is not the objective's maths.

Precision and autocast, the fp16 gradient scaler, gradient averaging across processes, the
optimisers (fused or foreach), ``torch.compile``, channels-last, the CPU padding speed-ups,
batched network calls and the named random streams. An objective calls it through the
:class:`faceoff.objective.Engine` protocol; the engine knows no particular objective (compare
mmengine's ``OptimWrapper``: the model does the maths, the wrapper does AMP and the steps).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping

import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.frames import to_float
from faceoff.losses import weighted_members
from faceoff.objective import Description, Objective
from faceoff.spec import OptimizerSpec, ResolvedSpec, TrainSpec
from faceoff.train.optim import AUTOCAST_DTYPES, check_precision, make_optimizer, optimizer_options
from faceoff.train.precision import choose
from faceoff.train.speed import fast_padding, per_sample

_RESERVED_STREAMS = ("torch", "cuda")


def _crop_to_mask(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image x mask in [0, 1] space: the background becomes black (the paper's mask-out)."""
    return (images + 1) * mask - 1


class Engine:
    """One process's training machinery for one objective (see the module's docstring).

    ``grad_sync(params)`` is called with a group's parameters right before each of its optimiser
    steps: several processes average their gradients there (:mod:`faceoff.train.distributed`).
    ``stream_seed(index)`` gives the seed of the ``index``-th named random stream (from 1).
    """

    def __init__(
        self,
        train: TrainSpec,
        optimizer: OptimizerSpec,
        device: torch.device,
        *,
        precision: str | None = None,
        mask_mode: str | None = None,
        stream_seed: Callable[[int], int] | None = None,
    ) -> None:
        precision = precision or choose(train.precision, device).name
        check_precision(precision, device)
        self.device = device
        self.precision = precision
        self.channels_last = train.channels_last
        self.compile = train.compile
        self.fused_optimizer = train.fused_optimizer
        self.optimizer_spec = optimizer
        self.mask_mode = mask_mode
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.streams: dict[str, torch.Generator] = {}
        self.grad_sync: Callable[[list[nn.Parameter]], None] | None = None
        self.batch_networks = True  # forward() may join inputs into one call (see there)
        self._stream_seed = stream_seed or (lambda index: train.seed + index)
        self._per_sample: dict[int, bool] = {}

    # --- building ------------------------------------------------------------------------

    def random(self, name: str) -> torch.Generator:
        """The named random stream (created on first use, in that order), checkpointed."""
        if name in _RESERVED_STREAMS or not name.isidentifier():
            raise ValueError(f"random stream {name!r}: use a plain name other than torch, cuda")
        if name not in self.streams:
            seed = self._stream_seed(len(self.streams) + 1)
            self.streams[name] = torch.Generator().manual_seed(seed)
        return self.streams[name]

    @staticmethod
    def build_networks(resolved: ResolvedSpec, description: Description) -> dict[str, nn.Module]:
        """The objective's networks from their spec slots, in the description's order."""
        nets = {}
        for name, network in description.networks.items():
            net = resolved.build(network.slot, **network.channels())
            if not isinstance(net, nn.Module):
                component = resolved.components[network.slot][0]
                raise FaceoffError(
                    f"{network.slot}: {component.kind} {component.name!r} "
                    f"({component.plugin.distribution}) built a {type(net).__name__}, not a "
                    "torch.nn.Module"
                )
            nets[name] = net
        return nets

    def attach(self, objective: Objective) -> None:
        """Move the objective to the device, make its optimisers, speed its networks up."""
        if not isinstance(objective, nn.Module):
            raise FaceoffError(
                f"the objective built a {type(objective).__name__}, not a torch.nn.Module"
            )
        objective.to(self.device)
        if self.channels_last:
            objective.to(memory_format=torch.channels_last)
        for group, params in objective.parameter_groups().items():
            self.optimizers[group] = self._optimizer(list(params))
        for net in objective.networks.values():
            fast_padding(net)
        if self.compile:  # in place: parameter names and checkpoints stay as they are
            for net in objective.networks.values():
                for _, member in weighted_members(net):  # the objective calls members directly
                    member.compile()

    def _optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return make_optimizer(
            self.optimizer_spec, params, fused=self.fused_optimizer, device=self.device
        )

    def reapply_optimizer_options(self) -> None:
        """Rebuild the optimisers with this run's foreach/fused choice, keeping their state
        (after loading a checkpoint written with another choice)."""
        options = optimizer_options(self.optimizer_spec.name, self.fused_optimizer, self.device)
        for group, old in self.optimizers.items():
            state = old.state_dict()
            for entry in state["param_groups"]:
                entry["foreach"] = options.get("foreach", False)
                if "fused" in entry:
                    entry["fused"] = options.get("fused", False)
            new = self._optimizer([p for entry in old.param_groups for p in entry["params"]])
            new.load_state_dict(state)
            self.optimizers[group] = new

    # --- what an objective calls -----------------------------------------------------------

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST_DTYPES.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def forward(self, net: nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """``net`` on each input, in fp32. With a per-sample network the inputs go through as one
        batch: one call instead of several (fewer launches, larger and faster convolutions, one
        weight cast under autocast); the results are the same up to float rounding."""
        key = id(net)
        if key not in self._per_sample:
            self._per_sample[key] = per_sample(net)
        if len(inputs) > 1 and self.batch_networks and self._per_sample[key]:
            out = net(torch.cat(inputs)).float()
            return list(out.split([len(x) for x in inputs]))
        return [net(x).float() for x in inputs]

    def zero_grad(self, group: str) -> None:
        self.optimizers[group].zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, group: str) -> None:
        opt = self.optimizers[group]
        if self.grad_sync is not None:
            self.grad_sync([p for entry in opt.param_groups for p in entry["params"]])
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()

    # --- what the loop calls -----------------------------------------------------------------

    def set_lr(self, lr: float) -> None:
        for opt in self.optimizers.values():
            for entry in opt.param_groups:
                entry["lr"] = lr

    def prepare(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A batch as objectives see it: images float [-1, 1] on the device; masks applied in
        ``crop`` mode, passed on (float) only in ``weight`` mode; channels-last if asked."""
        dev = self.device
        out: dict[str, torch.Tensor] = {}
        for label in ("A", "B"):
            images = to_float(batch[label].to(dev, non_blocking=True))
            mask = batch[f"mask_{label}"].to(dev).float() if f"mask_{label}" in batch else None
            if self.mask_mode == "crop" and mask is not None:
                images = _crop_to_mask(images, mask.clamp(max=1))
            if self.channels_last and images.dim() == 4:
                images = images.contiguous(memory_format=torch.channels_last)
            out[label] = images
            if self.mask_mode == "weight" and mask is not None:
                out[f"mask_{label}"] = mask
        return out

    def end_step(self) -> None:
        """After an objective's step: the fp16 scaler's update."""
        if self.scaler is not None:
            self.scaler.update()

    # --- checkpoints -------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Optimiser tensors and random streams for a checkpoint, with their metadata."""
        tensors: dict[str, torch.Tensor] = {}
        metadata: dict[str, str] = {}
        for group, opt in self.optimizers.items():
            state = opt.state_dict()
            for index, entry in state["state"].items():
                for key, value in entry.items():
                    tensors[f"opt_{group}.{index}.{key}"] = value.detach().clone().contiguous()
            metadata[f"opt_{group}.param_groups"] = json.dumps(state["param_groups"])
        for name, generator in self.streams.items():
            tensors[f"rng.{name}"] = generator.get_state()
        return tensors, metadata

    def load_state(self, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
        """Restore :meth:`state` (random streams absent from an old checkpoint are left). A state
        that does not fit (a tensor of another shape, a stream's state cut short) is a
        ValueError here, not a failure at the next step."""
        for group, opt in self.optimizers.items():
            prefix = f"opt_{group}."
            state: dict[int, dict[str, torch.Tensor]] = {}
            for name, value in tensors.items():
                if name.startswith(prefix):
                    _, index, key = name.split(".", 2)
                    state.setdefault(int(index), {})[key] = value
            _check_optimizer_state(group, opt, state)
            groups = json.loads(metadata[f"opt_{group}.param_groups"])
            opt.load_state_dict({"state": state, "param_groups": groups})
        for name, generator in self.streams.items():
            if f"rng.{name}" in tensors:
                saved, like = tensors[f"rng.{name}"], generator.get_state()
                if saved.dtype != like.dtype or saved.shape != like.shape:
                    raise ValueError(f"random stream rng.{name}: {saved.dtype} {list(saved.shape)}")
                generator.set_state(saved)

    def reseed_streams(self, offset: int) -> None:
        """Fresh streams (seed + ``offset``): another process's resumed run, which cannot continue
        rank 0's streams."""
        for index, generator in enumerate(self.streams.values(), start=1):
            generator.manual_seed((self._stream_seed(index) + offset) % 2**63)


def _check_optimizer_state(
    group: str, opt: torch.optim.Optimizer, state: Mapping[int, Mapping[str, torch.Tensor]]
) -> None:
    """Each saved per-parameter tensor (Adam's moments, ...) has its parameter's shape."""
    params = [p for g in opt.param_groups for p in g["params"]]
    for index, entry in state.items():
        if not 0 <= index < len(params):
            raise ValueError(f"opt_{group}.{index}: the optimiser has {len(params)} parameters")
        for key, value in entry.items():
            if value.dim() > 0 and value.shape != params[index].shape:
                raise ValueError(
                    f"opt_{group}.{index}.{key}: {list(value.shape)}, the parameter is "
                    f"{list(params[index].shape)}"
                )
