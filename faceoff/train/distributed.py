"""Training on several processes (GPUs): data-parallel, one process per device.

Launched by ``torchrun --nproc_per_node N -m faceoff run SPEC`` (or ``faceoff run --nproc N``),
which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. Each rank trains on its own
shard of the global batch (``train.batch_size`` images per rank, so the effective batch is
``batch_size x world``); before every optimiser step the gradients are averaged over the ranks,
and every rank applies the same averaged gradients to the same weights, so the weights stay
identical on all ranks.

This is DistributedDataParallel's semantics, done explicitly rather than with the
``DistributedDataParallel`` wrapper: the training step calls the members of a ``multi``
discriminator directly (:func:`faceoff.losses.weighted_members`) and runs the generators and
discriminators several times per step, which would bypass DDP's forward hooks and its
one-forward-one-backward bookkeeping. One all-reduce per dtype and device per optimiser step.

Without WORLD_SIZE > 1 everything here is a no-op: one process, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as torch_dist
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.train.batches import UnpairedBatches


@dataclass
class Dist:
    """This process's place in the group; a single process when ``world == 1``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this Dist initialised the process group, and tears it down

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only one that writes files and prints the progress."""
        return self.rank == 0

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Replace every gradient by its mean over the ranks (all_reduce SUM, divide by world).

        The gradients are flattened into one buffer per (dtype, device): one call each."""
        if not self.active:
            return
        groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
        for p in params:
            if p.grad is not None:
                groups.setdefault((p.grad.dtype, p.grad.device), []).append(p.grad)
        for grads in groups.values():
            flat = torch.cat([g.reshape(-1) for g in grads])
            torch_dist.all_reduce(flat, op=torch_dist.ReduceOp.SUM)
            flat.div_(self.world)
            offset = 0
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset : offset + n].view_as(g))
                offset += n

    def broadcast_parameters(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank (identical starting weights)."""
        if not self.active:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                torch_dist.broadcast(tensor.data, src=0)

    def all_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of a tensor (a copy; the tensor itself when one process)."""
        if not self.active:
            return values
        out = values.detach().clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
        return out.div_(self.world)

    def any(self, flags: torch.Tensor) -> torch.Tensor:
        """Elementwise: whether any rank's flag is set (MAX over the ranks)."""
        if not self.active:
            return flags
        out = flags.detach().clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.MAX)
        return out

    def barrier(self) -> None:
        if self.active:
            torch_dist.barrier()

    def teardown(self) -> None:
        """Leave the process group, if this Dist joined it."""
        if self.owns_group and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
            self.owns_group = False


_MEANING = {
    "WORLD_SIZE": "the number of processes",
    "RANK": "this process's number",
    "LOCAL_RANK": "this process's number on its machine",
    "MASTER_PORT": "the port of rank 0",
}
_HINT = (
    "torchrun sets it; to train in several processes use `faceoff run --nproc N` or torchrun, "
    "to train in one unset it"
)


def _env_int(name: str, default: int, low: int = 0, high: int | None = None) -> int:
    """The environment variable ``name`` as a whole number in [low, high] (``default`` when unset
    or empty), or a FaceoffError naming it, read before torch.distributed reads it."""
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"{low} or more" if high is None else f"{low} to {high}"
        raise FaceoffError(
            f"environment variable {name}={text!r}: expected a whole number, {bounds} "
            f"({_MEANING[name]}); {_HINT}"
        )
    return value


def world_size() -> int:
    """WORLD_SIZE, checked: 1 when unset (one process)."""
    return _env_int("WORLD_SIZE", 1, low=1)


def _rank(world: int) -> int:
    """RANK, checked against the world (0 for one process, whatever RANK says)."""
    if world <= 1:
        return 0
    return _env_int("RANK", 0, high=world - 1)


def is_main() -> bool:
    """Whether this process is rank 0 (also before or after the process group exists)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank() == 0
    return _rank(world_size()) == 0


def _check_rendezvous(world: int) -> None:
    """What ``init_process_group``'s ``env://`` needs besides the ranks: MASTER_ADDR and a
    MASTER_PORT, so that it fails here in one line rather than in torch."""
    for name, what in (("MASTER_ADDR", "the address"), ("MASTER_PORT", "the port")):
        if not os.environ.get(name):
            raise FaceoffError(
                f"environment variable WORLD_SIZE={world} asks for {world} processes, and {name} "
                f"({what} of rank 0) is not set; {_HINT.replace('sets it; ', 'sets both; ')}"
            )
    _env_int("MASTER_PORT", 0, low=1, high=65535)


def setup(device: torch.device) -> Dist:
    """Join the process group that torchrun describes in the environment, if any.

    ``device`` is the one the spec chose: on CUDA each rank takes ``cuda:LOCAL_RANK`` and the
    backend is NCCL; on the CPU the backend is gloo. With WORLD_SIZE unset or 1: a single-process
    Dist on ``device``, nothing initialised. A process group that already exists is used as it is
    (and left alone by :meth:`Dist.teardown`).
    """
    initialized = torch_dist.is_available() and torch_dist.is_initialized()
    world = torch_dist.get_world_size() if initialized else world_size()
    if world <= 1:
        return Dist(device=device)
    rank = torch_dist.get_rank() if initialized else _rank(world)
    local_rank = _env_int("LOCAL_RANK", rank)
    if not initialized:
        _check_rendezvous(world)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise FaceoffError(
                f"process {rank} of {world} needs CUDA device {local_rank}, and there are "
                f"{torch.cuda.device_count()}; start at most that many processes per machine"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns = False
    if not torch_dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch_dist.init_process_group(backend=backend, rank=rank, world_size=world)
        owns = True
    rank = torch_dist.get_rank()
    return Dist(rank=rank, world=world, local_rank=local_rank, device=device, owns_group=owns)


def rank_seed(seed: int, rank: int, stream: int) -> int:
    """The seed of one stateful random stream (1: the image pools) on one rank; rank 0 keeps the
    single-process seeds (``seed + stream``), so one process trains exactly as before. The data
    needs none: its randomness is a function of (seed, epoch, step, rank)."""
    if rank == 0:
        return seed + stream
    return (seed * 1_000_003 + rank * 7919 + stream) % (2**63)


class ShardedBatches(UnpairedBatches):
    """:class:`UnpairedBatches` for one rank of ``world``: every rank has the same per-epoch order
    (from seed and epoch); global step ``s`` covers positions ``s*n*world ... (s+1)*n*world - 1``
    of it (``n`` = batch_size per rank), and rank ``r`` takes positions ``r, r + world, ...`` of
    those. B's indices, the crops and flips come from (seed, epoch, step, rank): different on
    each rank, and the same after a resume."""

    def __init__(self, *args: Any, rank: int, world: int, **kwargs: Any) -> None:
        super().__init__(*args, rank=rank, **kwargs)
        self.world = world
        self._shard: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        # The base class takes positions i + step*n (mod E) of this; as (j mod E)*world = j*world
        # (mod E), entry j being position j*world + rank of the shared order gives exactly the
        # positions above.
        full = super().order(epoch)
        if self.world == 1:
            return full
        if self._shard is None or self._shard[0] != epoch:
            j = torch.arange(self.epoch_size)
            self._shard = (epoch, full[(j * self.world + self.rank) % self.epoch_size])
        return self._shard[1]
