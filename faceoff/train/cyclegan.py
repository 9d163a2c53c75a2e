"""One CycleGAN training step, in the reference's order (Zhu et al. 2017).

Naming: G_AB maps A to B, G_BA maps B to A; D_A judges domain A, D_B judges domain B.
(The reference calls G_AB "G_A", G_BA "G_B", and its D_A judges domain B.)
"""

from __future__ import annotations

import torch
from torch import nn

from faceoff.losses import AdversarialLoss, weighted_members
from faceoff.spec import OptimizerSpec, ResolvedSpec
from faceoff.train.batches import to_float
from faceoff.train.pool import ImagePool

NETWORKS = ("G_AB", "G_BA", "D_A", "D_B")


def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def make_optimizer(spec: OptimizerSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """One optimiser for a group of networks, as the resolved optimizer section says."""
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.alpha)
    return torch.optim.Adam(params, lr=spec.lr, betas=(spec.beta1, spec.beta2))


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
        self.to(device)
        self.device = device
        gens = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        discs = [*self.D_A.parameters(), *self.D_B.parameters()]
        self.opt_G = make_optimizer(spec.optimizer, gens)
        self.opt_D = make_optimizer(spec.optimizer, discs)
        self.pool_A = ImagePool(spec.train.pool_size, pool_rng)  # generated A images, for D_A
        self.pool_B = ImagePool(spec.train.pool_size, pool_rng)

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
        return torch.stack(terms).sum()

    def _generator_adversarial(self, discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
        terms = [
            w * self.adversarial.generator_loss(member(fake))
            for w, member in weighted_members(discriminator)
        ]
        return torch.stack(terms).sum()

    def _discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor:
        terms = []
        for w, member in weighted_members(discriminator):
            loss = self.adversarial.discriminator_loss(member(real), member(fake))
            penalty = self.adversarial.penalty(member, real, fake)
            terms.append(w * (loss if penalty is None else loss + penalty))
        return torch.stack(terms).sum()

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
        return real_A, real_B, mask_A, mask_B

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One generator step, then ``critic_steps`` discriminator steps; detached loss terms."""
        real_A, real_B, mask_A, mask_B = self._inputs(batch)
        fake_B = self.G_AB(real_A)
        rec_A = self.G_BA(fake_B)
        fake_A = self.G_BA(real_B)
        rec_B = self.G_AB(fake_A)

        _set_requires_grad([self.D_A, self.D_B], False)
        self.opt_G.zero_grad(set_to_none=True)
        terms: dict[str, torch.Tensor] = {}
        if self.identity > 0:
            terms["idt_B"] = self._reconstruction(self.G_AB(real_B), real_B, mask_B, self.identity)
            terms["idt_A"] = self._reconstruction(self.G_BA(real_A), real_A, mask_A, self.identity)
        terms["G_AB"] = self._generator_adversarial(self.D_B, fake_B)
        terms["G_BA"] = self._generator_adversarial(self.D_A, fake_A)
        terms["cycle_A"] = self._reconstruction(rec_A, real_A, mask_A, 1.0)
        terms["cycle_B"] = self._reconstruction(rec_B, real_B, mask_B, 1.0)
        loss_G = torch.stack(list(terms.values())).sum()
        loss_G.backward()
        self.opt_G.step()
        terms["G"] = loss_G

        _set_requires_grad([self.D_A, self.D_B], True)
        pooled_B = self.pool_B.query(fake_B)
        pooled_A = self.pool_A.query(fake_A)
        for _ in range(self.adversarial.critic_steps):
            self.opt_D.zero_grad(set_to_none=True)
            loss_D_B = self._discriminator_loss(self.D_B, real_B, pooled_B)
            loss_D_B.backward()
            loss_D_A = self._discriminator_loss(self.D_A, real_A, pooled_A)
            loss_D_A.backward()
            self.opt_D.step()
            if self.adversarial.clip_weights is not None:
                bound = self.adversarial.clip_weights
                with torch.no_grad():
                    for p in [*self.D_A.parameters(), *self.D_B.parameters()]:
                        p.clamp_(-bound, bound)
        terms["D_A"], terms["D_B"] = loss_D_A, loss_D_B
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def translate(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """fake and reconstructed images for sample grids, in eval mode."""
        self.eval()
        try:
            fake_B = self.G_AB(real_A)
            fake_A = self.G_BA(real_B)
            return {
                "real_A": real_A,
                "fake_B": fake_B,
                "rec_A": self.G_BA(fake_B),
                "real_B": real_B,
                "fake_A": fake_A,
                "rec_B": self.G_AB(fake_A),
            }
        finally:
            self.train()
