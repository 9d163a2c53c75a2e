"""The CycleGAN objective (Zhu et al. 2017), one training step in the reference's order.

Naming: G_AB maps A to B, G_BA maps B to A; D_A judges domain A, D_B judges domain B.
(The reference calls G_AB "G_A", G_BA "G_B", and its D_A judges domain B.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from faceoff.losses import (
    AdversarialLoss,
    clip_weights,
    discriminator_adversarial,
    generator_adversarial,
    scores,
    total,
)
from faceoff.objective import Context, Engine, Objective, set_requires_grad
from faceoff.pool import ImagePool


class CycleGAN(nn.Module, Objective):
    """Two generators, two discriminators, their losses, and the image pools."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        spec = context.spec
        self.G_AB, self.G_BA = networks["G_AB"], networks["G_BA"]
        self.D_A, self.D_B = networks["D_A"], networks["D_B"]
        self.networks = dict(networks)
        self.adversarial: AdversarialLoss = context.build("losses.adversarial")
        self.cycle = nn.ModuleList(
            context.build(f"losses.cycle.{i}") for i in range(len(spec.losses.cycle))
        )
        self.cycle_weights = [item.weight for item in spec.losses.cycle]
        self.identity = params.identity
        pool_rng = context.random("pool")
        self.pool_A = ImagePool(params.pool_size, pool_rng)  # generated A images, for D_A
        self.pool_B = ImagePool(params.pool_size, pool_rng)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "G": [*self.G_AB.parameters(), *self.G_BA.parameters()],
            "D": [*self.D_A.parameters(), *self.D_B.parameters()],
        }

    def _reconstruction(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, scale: float
    ) -> torch.Tensor:
        terms = [
            w * scale * loss(output, target, mask)
            for w, loss in zip(self.cycle_weights, self.cycle)
        ]
        return total(terms)

    def train_step(
        self, batch: Mapping[str, torch.Tensor], engine: Engine
    ) -> dict[str, torch.Tensor]:
        """One generator step, then ``critic_steps`` discriminator steps; detached loss terms.

        Every network call of a phase runs in one autocast region (weights cast once), and the
        losses after it, in fp32, on fp32 outputs.
        """
        real_A, real_B = batch["A"], batch["B"]
        mask_A, mask_B = batch.get("mask_A"), batch.get("mask_B")
        idt = self.identity > 0
        set_requires_grad([self.D_A, self.D_B], False)
        with engine.autocast():
            fake_B, *idt_B = engine.forward(self.G_AB, real_A, *([real_B] if idt else []))
            fake_A, rec_A, *idt_A = engine.forward(
                self.G_BA, real_B, fake_B, *([real_A] if idt else [])
            )
            (rec_B,) = engine.forward(self.G_AB, fake_A)
            scores_B = scores(self.D_B, fake_B)
            scores_A = scores(self.D_A, fake_A)

        engine.zero_grad("G")
        terms: dict[str, torch.Tensor] = {}
        if idt:
            terms["idt_B"] = self._reconstruction(idt_B[0], real_B, mask_B, self.identity)
            terms["idt_A"] = self._reconstruction(idt_A[0], real_A, mask_A, self.identity)
        terms["G_AB"] = generator_adversarial(self.adversarial, scores_B)
        terms["G_BA"] = generator_adversarial(self.adversarial, scores_A)
        terms["cycle_A"] = self._reconstruction(rec_A, real_A, mask_A, 1.0)
        terms["cycle_B"] = self._reconstruction(rec_B, real_B, mask_B, 1.0)
        loss_G = total(list(terms.values()))
        engine.backward(loss_G)
        engine.step("G")
        terms["G"] = loss_G

        set_requires_grad([self.D_A, self.D_B], True)
        # detached: with pool_size 0 the pool hands back its input as it is
        pooled_B = self.pool_B.query(fake_B.detach())
        pooled_A = self.pool_A.query(fake_A.detach())
        for _ in range(self.adversarial.critic_steps):
            engine.zero_grad("D")
            loss_D_B = discriminator_adversarial(
                self.adversarial, self.D_B, real_B, pooled_B, engine.autocast
            )
            engine.backward(loss_D_B)
            loss_D_A = discriminator_adversarial(
                self.adversarial, self.D_A, real_A, pooled_A, engine.autocast
            )
            engine.backward(loss_D_A)
            engine.step("D")
            clip_weights(self.adversarial, [self.D_A, self.D_B])
        terms["D_A"], terms["D_B"] = loss_D_A, loss_D_B
        return {k: v.detach() for k, v in terms.items()}

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        """Each direction's translation and round trip of the test frames."""
        real_A, real_B = images["A"], images["B"]
        with engine.autocast():
            fake_B = self.G_AB(real_A).float()
            fake_A = self.G_BA(real_B).float()
            rec_A = self.G_BA(fake_B).float()
            rec_B = self.G_AB(fake_A).float()
        return [
            {"real A": real_A, "A->B": fake_B, "A->B->A": rec_A},
            {"real B": real_B, "B->A": fake_A, "B->A->B": rec_B},
        ]

    def extra_state(self) -> dict[str, torch.Tensor]:
        out = {}
        for label, pool in (("A", self.pool_A), ("B", self.pool_B)):
            images = pool.state()
            if images is not None:
                out[f"pool.{label}"] = images
        return out

    def load_extra_state(self, tensors: Mapping[str, torch.Tensor]) -> None:
        device = next(self.G_AB.parameters()).device
        self.pool_A.load(tensors.get("pool.A"), device)
        self.pool_B.load(tensors.get("pool.B"), device)
