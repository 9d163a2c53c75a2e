"""One CycleGAN training step, in the reference's order (Zhu et al. 2017).

Naming: G_AB maps A to B, G_BA maps B to A; D_A judges domain A, D_B judges domain B.
(The reference calls G_AB "G_A", G_BA "G_B", and its D_A judges domain B.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.losses import AdversarialLoss, weighted_members
from faceoff.spec import OptimizerSpec, ResolvedSpec
from faceoff.train.batches import to_float
from faceoff.train.pool import ImagePool

NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def optimizer_options(name: str, fused: bool, device: torch.device) -> dict[str, bool]:
    """``foreach``/``fused`` for an optimiser: fused kernels where the optimiser has them (Adam
    on CUDA and, since torch 2.4, the CPU: 2.8x faster than foreach for the quickstart's
    generators here; RMSprop has none), foreach elsewhere; both off for one tensor at a time."""
    if not fused:
        return {"foreach": False}
    if device.type in ("cuda", "cpu") and name == "adam":
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(
    spec: OptimizerSpec,
    params: list[nn.Parameter],
    *,
    fused: bool = False,
    device: torch.device | None = None,
) -> torch.optim.Optimizer:
    """One optimiser for a group of networks, as the resolved optimizer section says."""
    options = optimizer_options(spec.name, fused, device or torch.device("cpu"))
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.alpha, **options)
    return torch.optim.Adam(params, lr=spec.lr, betas=(spec.beta1, spec.beta2), **options)


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs CUDA (its gradient scaler and kernels); bf16 and fp32 run anywhere."""
    if precision == "fp16" and device.type != "cuda":
        raise FaceoffError(
            f"train.precision 'fp16' needs a CUDA device, and this run is on {device.type}; "
            "use 'bf16' (CUDA and CPU) or 'fp32'"
        )


def fold_reflection(grad: torch.Tensor, p: int) -> torch.Tensor:
    """The gradient of reflection padding by ``p`` on H and W: the border rows and columns of
    ``grad`` added, mirrored, onto the ones they were copied from, then the interior.

    Equals torch's ``reflection_pad2d_backward`` (to rounding) in a few sliced adds; that kernel
    took 7% of a bf16 CPU step and ran 1.5-3.8x slower than this on the project's CPU.
    """
    h, w = grad.shape[-2] - 2 * p, grad.shape[-1] - 2 * p
    cols = grad[..., :, p : p + w].clone()
    cols[..., :, 1 : p + 1] += grad[..., :, :p].flip(-1)
    cols[..., :, w - p - 1 : w - 1] += grad[..., :, p + w :].flip(-1)
    out = cols[..., p : p + h, :].clone()
    out[..., 1 : p + 1, :] += cols[..., :p, :].flip(-2)
    out[..., h - p - 1 : h - 1, :] += cols[..., p + h :, :].flip(-2)
    return out


class _ReflectPad(torch.autograd.Function):
    """Reflection padding (the same on all four sides) whose backward is :func:`fold_reflection`."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: int) -> torch.Tensor:
        ctx.p = p
        return F.pad(x, (p, p, p, p), mode="reflect")

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return fold_reflection(grad, ctx.p), None


class _ReflectionPad2d(nn.ReflectionPad2d):
    """Reflection padding in the dtype of its input, with a faster backward on the CPU.

    CPU autocast runs padding in fp32, which turns every padded bf16 activation into an fp32 copy
    that the next convolution casts back: two copies and twice the bytes for an operation that
    only moves values. The backward is :func:`fold_reflection` where the padding is even.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            p = self.padding[0]
            if x.device.type == "cpu" and x.dim() == 4 and all(q == p for q in self.padding):
                return _ReflectPad.apply(x, p)
            return super().forward(x)


class _ReplicationPad2d(nn.ReplicationPad2d):
    """Replication padding in the dtype of its input (see :class:`_ReflectionPad2d`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)


_PADS = {nn.ReflectionPad2d: _ReflectionPad2d, nn.ReplicationPad2d: _ReplicationPad2d}


def fast_padding(net: nn.Module) -> None:
    """Make the padding layers of ``net`` keep their input's dtype under autocast and, for
    reflection on the CPU, use the faster backward (both exact up to rounding: padding only
    copies values). In place; parameters and state-dict keys are unchanged."""
    for module in net.modules():
        if type(module) in _PADS:
            module.__class__ = _PADS[type(module)]


def per_sample(net: nn.Module) -> bool:
    """Whether a batch through ``net`` gives each image's output as if it went alone: no batch
    statistics (batch norm) and no dropout (whose random masks depend on the batch layout). Only
    such networks see several of the step's inputs as one batch. A plugin network whose outputs
    depend on the other images of its batch in another way sets ``mixes_batch = True``."""
    mixing = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.Dropout)
    return not any(isinstance(m, mixing) for m in net.modules()) and not getattr(
        net, "mixes_batch", False
    )


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    """The sum of loss terms; a single term as it is (no stack, no extra kernel)."""
    return terms[0] if len(terms) == 1 else torch.stack(terms).sum()


def _crop_to_mask(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Image x mask in [0, 1] space: the background becomes black (the paper's mask-out)."""
    return (images + 1) * mask - 1


class CycleGAN(nn.Module):
    """Two generators, two discriminators, their losses and optimisers, and the image pools."""

    def __init__(self, resolved: ResolvedSpec, device: torch.device, pool_rng: torch.Generator):
        super().__init__()
        spec = resolved.spec
        self.G_AB = resolved.build("generator", in_channels=3, out_channels=3)
        self.G_BA = resolved.build("generator", in_channels=3, out_channels=3)
        self.D_A = resolved.build("discriminator", in_channels=3)
        self.D_B = resolved.build("discriminator", in_channels=3)
        self.adversarial: AdversarialLoss = resolved.build("losses.adversarial")
        self.cycle = nn.ModuleList(
            resolved.build(f"losses.cycle.{i}") for i in range(len(spec.losses.cycle))
        )
        self.cycle_weights = [item.weight for item in spec.losses.cycle]
        self.identity = spec.losses.identity
        self.mask_mode = spec.mask.mode if spec.mask else None
        train = spec.train
        check_precision(train.precision, device)
        self.precision = train.precision
        self.channels_last = train.channels_last
        self.to(device)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        self.device = device
        self.fused_optimizer = train.fused_optimizer
        gens = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        discs = [*self.D_A.parameters(), *self.D_B.parameters()]
        fused = train.fused_optimizer
        self.opt_G = make_optimizer(spec.optimizer, gens, fused=fused, device=device)
        self.opt_D = make_optimizer(spec.optimizer, discs, fused=fused, device=device)
        self._optimizer_spec = spec.optimizer
        self.scaler = torch.amp.GradScaler("cuda") if train.precision == "fp16" else None
        for net in (self.G_AB, self.G_BA, self.D_A, self.D_B):
            fast_padding(net)
        self.batch_generators = all(per_sample(net) for net in (self.G_AB, self.G_BA))
        if train.compile:  # in place: parameter names and checkpoints stay as they are
            for net in (self.G_AB, self.G_BA):
                net.compile()
            for disc in (self.D_A, self.D_B):
                for _, member in weighted_members(disc):
                    member.compile()
        self.pool_A = ImagePool(spec.train.pool_size, pool_rng)  # generated A images, for D_A
        self.pool_B = ImagePool(spec.train.pool_size, pool_rng)
        # Called with an optimiser's parameters right before each of its steps: several
        # processes average their gradients here (faceoff.train.distributed); None for one.
        self.grad_sync: Callable[[list[nn.Parameter]], None] | None = None

    def apply_optimizer_options(self) -> None:
        """Rebuild the optimisers with this run's foreach/fused choice, keeping their state
        (after loading a checkpoint written with another choice)."""
        options = optimizer_options(self._optimizer_spec.name, self.fused_optimizer, self.device)
        for name in ("opt_G", "opt_D"):
            old: torch.optim.Optimizer = getattr(self, name)
            state = old.state_dict()
            for group in state["param_groups"]:
                group["foreach"] = options.get("foreach", False)
                if "fused" in group:
                    group["fused"] = options.get("fused", False)
            params = [p for group in old.param_groups for p in group["params"]]
            new = make_optimizer(
                self._optimizer_spec, params, fused=self.fused_optimizer, device=self.device
            )
            new.load_state_dict(state)
            setattr(self, name, new)

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST_DTYPES.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _step(self, opt: torch.optim.Optimizer) -> None:
        if self.grad_sync is not None:
            self.grad_sync([p for group in opt.param_groups for p in group["params"]])
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr

    def _reconstruction(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, scale: float
    ) -> torch.Tensor:
        terms = [
            w * scale * loss(output, target, mask)
            for w, loss in zip(self.cycle_weights, self.cycle)
        ]
        return _total(terms)

    def _generate(self, net: nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """``net`` on each input, in fp32. With per-sample generators the inputs go through as one
        batch: one call instead of several (fewer launches, larger and faster convolutions, one
        weight cast under autocast); the results are the same up to float rounding."""
        if len(inputs) > 1 and self.batch_generators:
            out = net(torch.cat(inputs)).float()
            return list(out.split([len(x) for x in inputs]))
        return [net(x).float() for x in inputs]

    @staticmethod
    def _scores(discriminator: nn.Module, images: torch.Tensor) -> list[tuple[float, torch.Tensor]]:
        return [(w, member(images).float()) for w, member in weighted_members(discriminator)]

    def _adversarial_from_scores(self, scores: list[tuple[float, torch.Tensor]]) -> torch.Tensor:
        return _total([w * self.adversarial.generator_loss(s) for w, s in scores])

    def _generator_adversarial(self, discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss against every member of ``discriminator``."""
        with self._autocast():
            scores = self._scores(discriminator, fake)
        return self._adversarial_from_scores(scores)

    def _discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor:
        with self._autocast():
            real_scores = self._scores(discriminator, real)
            fake_scores = self._scores(discriminator, fake)
        terms = []
        for (w, r), (_, f), (_, member) in zip(
            real_scores, fake_scores, weighted_members(discriminator)
        ):
            loss = self.adversarial.discriminator_loss(r, f)
            penalty = self.adversarial.penalty(member, real, fake)  # in fp32
            terms.append(w * (loss if penalty is None else loss + penalty))
        return _total(terms)

    def _inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        dev = self.device
        real_A = to_float(batch["A"].to(dev, non_blocking=True))
        real_B = to_float(batch["B"].to(dev, non_blocking=True))
        mask_A = batch["mask_A"].to(dev).float() if "mask_A" in batch else None
        mask_B = batch["mask_B"].to(dev).float() if "mask_B" in batch else None
        if self.mask_mode == "crop" and mask_A is not None and mask_B is not None:
            real_A = _crop_to_mask(real_A, mask_A.clamp(max=1))
            real_B = _crop_to_mask(real_B, mask_B.clamp(max=1))
        if self.mask_mode != "weight":
            mask_A = mask_B = None
        if self.channels_last:
            real_A = real_A.contiguous(memory_format=torch.channels_last)
            real_B = real_B.contiguous(memory_format=torch.channels_last)
        return real_A, real_B, mask_A, mask_B

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One generator step, then ``critic_steps`` discriminator steps; detached loss terms.

        Every network call of a phase runs in one autocast region (weights cast once), and the
        losses after it, in fp32, on fp32 outputs.
        """
        real_A, real_B, mask_A, mask_B = self._inputs(batch)
        idt = self.identity > 0
        _set_requires_grad([self.D_A, self.D_B], False)
        with self._autocast():
            fake_B, *idt_B = self._generate(self.G_AB, real_A, *([real_B] if idt else []))
            fake_A, rec_A, *idt_A = self._generate(
                self.G_BA, real_B, fake_B, *([real_A] if idt else [])
            )
            (rec_B,) = self._generate(self.G_AB, fake_A)
            scores_B = self._scores(self.D_B, fake_B)
            scores_A = self._scores(self.D_A, fake_A)

        self.opt_G.zero_grad(set_to_none=True)
        terms: dict[str, torch.Tensor] = {}
        if idt:
            terms["idt_B"] = self._reconstruction(idt_B[0], real_B, mask_B, self.identity)
            terms["idt_A"] = self._reconstruction(idt_A[0], real_A, mask_A, self.identity)
        terms["G_AB"] = self._adversarial_from_scores(scores_B)
        terms["G_BA"] = self._adversarial_from_scores(scores_A)
        terms["cycle_A"] = self._reconstruction(rec_A, real_A, mask_A, 1.0)
        terms["cycle_B"] = self._reconstruction(rec_B, real_B, mask_B, 1.0)
        loss_G = _total(list(terms.values()))
        self._backward(loss_G)
        self._step(self.opt_G)
        terms["G"] = loss_G

        _set_requires_grad([self.D_A, self.D_B], True)
        # detached: with pool_size 0 the pool hands back its input as it is
        pooled_B = self.pool_B.query(fake_B.detach())
        pooled_A = self.pool_A.query(fake_A.detach())
        for _ in range(self.adversarial.critic_steps):
            self.opt_D.zero_grad(set_to_none=True)
            loss_D_B = self._discriminator_loss(self.D_B, real_B, pooled_B)
            self._backward(loss_D_B)
            loss_D_A = self._discriminator_loss(self.D_A, real_A, pooled_A)
            self._backward(loss_D_A)
            self._step(self.opt_D)
            if self.adversarial.clip_weights is not None:
                bound = self.adversarial.clip_weights
                with torch.no_grad():
                    for p in [*self.D_A.parameters(), *self.D_B.parameters()]:
                        p.clamp_(-bound, bound)
        if self.scaler is not None:
            self.scaler.update()
        terms["D_A"], terms["D_B"] = loss_D_A, loss_D_B
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def translate(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """fake and reconstructed images for sample grids, in eval mode."""
        self.eval()
        try:
            with self._autocast():
                fake_B = self.G_AB(real_A).float()
                fake_A = self.G_BA(real_B).float()
                rec_A = self.G_BA(fake_B).float()
                rec_B = self.G_AB(fake_A).float()
            return {
                "real_A": real_A,
                "fake_B": fake_B,
                "rec_A": rec_A,
                "real_B": real_B,
                "fake_A": fake_A,
                "rec_B": rec_B,
            }
        finally:
            self.train()
