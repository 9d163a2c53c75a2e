"""The Recycle-GAN step, in the reference's order: both generators and predictors, then D_B and
D_A on each real frame against each generated one (the predicted frame included).

Naming as the cyclegan objective's: G_AB maps A to B, D_B judges B; P_A predicts A's next frame.
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
from faceoff_cyclegan.local import LocalDiscriminators
from faceoff_cyclegan.two_way import TwoWay


class RecycleGAN(TwoWay, nn.Module, Objective):
    """G_AB, G_BA, temporal predictors P_A, P_B, discriminators D_A, D_B, image pools."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        spec = context.spec
        self.G_AB, self.G_BA = networks["G_AB"], networks["G_BA"]
        self.P_A, self.P_B = networks["P_A"], networks["P_B"]
        self.D_A, self.D_B = networks["D_A"], networks["D_B"]
        self.networks = dict(networks)
        self.local = None
        if params.local_discriminator is not None:
            self.D_A_local, self.D_B_local = networks["D_A_local"], networks["D_B_local"]
            self.local = LocalDiscriminators(params, networks)
        self.adversarial: AdversarialLoss = context.build("losses.adversarial")
        self.losses = nn.ModuleList(
            context.build(f"losses.cycle.{i}") for i in range(len(spec.losses.cycle))
        )
        self.weights = [item.weight for item in spec.losses.cycle]
        self.p = params
        rng = context.random("pool")
        self.pool_A = ImagePool(params.pool_size, rng)  # generated A frames, for D_A
        self.pool_B = ImagePool(params.pool_size, rng)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """One optimiser over both generators and both predictors, as the reference's."""
        makers = (self.G_AB, self.G_BA, self.P_A, self.P_B)
        return {
            "G": [p for net in makers for p in net.parameters()],
            "D": [p for net in self._discriminators() for p in net.parameters()],
        }

    def _discriminators(self) -> list[nn.Module]:
        return [self.D_A, self.D_B, *(self.local.nets() if self.local else [])]

    def _l1(self, output: torch.Tensor, target: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return total(
            [w * scale * loss(output, target) for w, loss in zip(self.weights, self.losses)]
        )

    def _gan(self, discriminator: nn.Module, *images: torch.Tensor) -> torch.Tensor:
        return total(
            [generator_adversarial(self.adversarial, scores(discriminator, x)) for x in images]
        )

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Engine) -> dict[str, Any]:
        A, B = batch["A"], batch["B"]  # [n, 3 frames, 3, H, W]
        a0, a1, a2 = A[:, 0], A[:, 1], A[:, 2]
        b0, b1, b2 = B[:, 0], B[:, 1], B[:, 2]
        idt = self.p.identity > 0
        set_requires_grad(self._discriminators(), False)
        with engine.autocast():
            fake_b0, fake_b1, *idt_b = engine.forward(self.G_AB, a0, a1, *([b0] if idt else []))
            fake_a0, fake_a1, *idt_a = engine.forward(self.G_BA, b0, b1, *([a0] if idt else []))
            fake_a2, pred_a2 = engine.forward(
                self.P_A, torch.cat([fake_a0, fake_a1], 1), torch.cat([a0, a1], 1)
            )
            fake_b2, pred_b2 = engine.forward(
                self.P_B, torch.cat([fake_b0, fake_b1], 1), torch.cat([b0, b1], 1)
            )
            (rec_a2,) = engine.forward(self.G_BA, fake_b2)
            (rec_b2,) = engine.forward(self.G_AB, fake_a2)
            terms: dict[str, torch.Tensor] = {
                "G_AB": self._gan(self.D_B, fake_b0, fake_b1, fake_b2),
                "G_BA": self._gan(self.D_A, fake_a0, fake_a1, fake_a2),
            }
            if self.p.adversarial_p:
                terms["P_A"] = self._gan(self.D_A, pred_a2)
                terms["P_B"] = self._gan(self.D_B, pred_b2)
            if self.local:
                local = self._local_pairs(
                    batch, (fake_a0, fake_a1, fake_a2), (fake_b0, fake_b1, fake_b2)
                )
                fakes = {d: [fake for _, fake in pairs] for d, pairs in local.items()}
                terms.update(self.local.generator_terms(self.adversarial, fakes))
        engine.zero_grad("G")
        terms["recycle_A"] = self._l1(rec_a2, a2)
        terms["recycle_B"] = self._l1(rec_b2, b2)
        terms["recurrent_A"] = self._l1(pred_a2, a2)
        terms["recurrent_B"] = self._l1(pred_b2, b2)
        if idt:
            terms["idt_B"] = self._l1(idt_b[0], b0, self.p.identity)
            terms["idt_A"] = self._l1(idt_a[0], a0, self.p.identity)
        loss_G = total(list(terms.values()))
        engine.backward(loss_G)
        engine.step("G")
        terms["G"] = loss_G

        set_requires_grad(self._discriminators(), True)
        # Each real frame against a generated one: t, t+1, the translated prediction of t+2,
        # and the domain's own prediction of t+2 (the reference trains D on it always).
        pairs_B = [(b0, fake_b0), (b1, fake_b1), (b2, fake_b2), (b2, pred_b2)]
        pairs_A = [(a0, fake_a0), (a1, fake_a1), (a2, fake_a2), (a2, pred_a2)]
        pooled_B = [(r, self.pool_B.query(f.detach())) for r, f in pairs_B]
        pooled_A = [(r, self.pool_A.query(f.detach())) for r, f in pairs_A]
        for _ in range(self.adversarial.critic_steps):
            engine.zero_grad("D")
            loss_D_B = self._discriminate(self.D_B, pooled_B, engine)
            loss_D_A = self._discriminate(self.D_A, pooled_A, engine)
            if self.local:
                terms.update(
                    self.local.discriminator_losses(
                        self.adversarial, local, engine.autocast, engine.backward
                    )
                )
            engine.step("D")
            clip_weights(self.adversarial, self._discriminators())
        terms["D_A"], terms["D_B"] = loss_D_A, loss_D_B
        return {k: v.detach() for k, v in terms.items()}

    def _discriminate(
        self, discriminator: nn.Module, pairs: list[tuple[torch.Tensor, torch.Tensor]], engine
    ) -> torch.Tensor:
        """The discriminator's loss over the pairs, each backpropagated as it is made."""
        losses = []
        for real, fake in pairs:
            loss = discriminator_adversarial(
                self.adversarial, discriminator, real, fake, engine.autocast
            )
            engine.backward(loss)
            losses.append(loss.detach())
        return total(losses)

    def _local_pairs(
        self,
        batch: Mapping[str, torch.Tensor],
        fakes_a: tuple[torch.Tensor, ...],
        fakes_b: tuple[torch.Tensor, ...],
    ) -> dict[str, list[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]]]:
        """Per domain and frame of the clip, (real frame, its mask) against (translation, its
        source's mask): a translation keeps its source's pose, so its region is there."""
        A, B = batch["A"], batch["B"]
        assert self.local is not None
        mask_A, mask_B = (
            self.local.masks(batch.get("mask_A")),
            self.local.masks(batch.get("mask_B")),
        )
        return {
            "B": [((B[:, t], mask_B[:, t]), (fakes_b[t], mask_A[:, t])) for t in range(3)],
            "A": [((A[:, t], mask_A[:, t]), (fakes_a[t], mask_B[:, t])) for t in range(3)],
        }
