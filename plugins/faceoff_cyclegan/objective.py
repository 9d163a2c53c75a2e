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
from faceoff_cyclegan.flow import random_flow, warp
from faceoff_cyclegan.local import LocalDiscriminators
from faceoff_cyclegan.two_way import TwoWay


class CycleGAN(TwoWay, nn.Module, Objective):
    """Two generators, two discriminators, their losses, and the image pools."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        spec = context.spec
        self.G_AB, self.G_BA = networks["G_AB"], networks["G_BA"]
        self.D_A, self.D_B = networks["D_A"], networks["D_B"]
        self.networks = dict(networks)
        self.local = None
        if params.local_discriminator is not None:
            self.D_A_local, self.D_B_local = networks["D_A_local"], networks["D_B_local"]
            self.local = LocalDiscriminators(params, networks)
        self.adversarial: AdversarialLoss = context.build("losses.adversarial")
        self.cycle = nn.ModuleList(
            context.build(f"losses.cycle.{i}") for i in range(len(spec.losses.cycle))
        )
        self.cycle_weights = [item.weight for item in spec.losses.cycle]
        self.identity = params.identity
        self.params = params
        pool_rng = context.random("pool")
        self.pool_A = ImagePool(params.pool_size, pool_rng)  # generated A images, for D_A
        self.pool_B = ImagePool(params.pool_size, pool_rng)
        if params.cycle_noise or params.pseudo or params.spatial:  # only then: a stream more
            self.rng = context.random("cycle")

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "G": [*self.G_AB.parameters(), *self.G_BA.parameters()],
            "D": [p for net in self._discriminators() for p in net.parameters()],
        }

    def _discriminators(self) -> list[nn.Module]:
        return [self.D_A, self.D_B, *(self.local.nets() if self.local else [])]

    def _reconstruction(
        self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, scale: float
    ) -> torch.Tensor:
        terms = [
            w * scale * loss(output, target, mask)
            for w, loss in zip(self.cycle_weights, self.cycle)
        ]
        return total(terms)

    def _warped(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh random flow for ``images`` (one for the batch) and the noisy warped images;
        the flow warps the term's target alike."""
        p = self.params
        flow = random_flow(
            images.shape[-1], self.rng, motion=p.flow_motion, shift=p.flow_shift,
            device=images.device,
        )  # fmt: skip
        std = p.flow_noise * (1 + torch.rand(1, generator=self.rng).item())
        noise = torch.randn(images.shape, generator=self.rng).to(images.device) * std
        return flow, warp(images, flow) + noise

    def _noisy(self, translation: torch.Tensor) -> torch.Tensor:
        """The translation as the way back sees it: with ``cycle_noise``, plus Gaussian noise."""
        if not self.params.cycle_noise:
            return translation
        noise = torch.randn(translation.shape, generator=self.rng).to(translation.device)
        return translation + noise * self.params.cycle_noise

    def _generate(self, real_A: torch.Tensor, real_B: torch.Tensor, engine: Engine):
        """Every generator output of a step, the networks called in batches where exact: the
        translations, round trips, identity images and (with ``pseudo``/``spatial``) the
        warped terms' outputs with their targets."""
        p, idt = self.params, self.identity > 0
        out: dict[str, torch.Tensor] = {}
        flows = {}
        if p.spatial:
            flows["spatial_A"], spatial_a = self._warped(real_A)
            flows["spatial_B"], spatial_b = self._warped(real_B)
        first = [*([real_B] if idt else []), *([spatial_a] if p.spatial else [])]
        fake_B, *rest = engine.forward(self.G_AB, real_A, *first)
        if idt:
            out["idt_B"] = rest.pop(0)
        if p.spatial:
            out["spatial_A"] = rest.pop(0)
        second = [*([real_A] if idt else [])]
        if p.pseudo:
            flows["pseudo_A"], pseudo_a = self._warped(fake_B)
            second.append(pseudo_a)
        second += [spatial_b] if p.spatial else []
        fake_A, rec_A, *rest = engine.forward(self.G_BA, real_B, self._noisy(fake_B), *second)
        if idt:
            out["idt_A"] = rest.pop(0)
        if p.pseudo:
            out["pseudo_A"] = rest.pop(0)
        if p.spatial:
            out["spatial_B"] = rest.pop(0)
        third = []
        if p.pseudo:
            flows["pseudo_B"], pseudo_b = self._warped(fake_A)
            third.append(pseudo_b)
        rec_B, *rest = engine.forward(self.G_AB, self._noisy(fake_A), *third)
        if p.pseudo:
            out["pseudo_B"] = rest.pop(0)
        out.update(fake_B=fake_B, fake_A=fake_A, rec_A=rec_A, rec_B=rec_B)
        # the warped terms' targets: the source (pseudo) or the translation (spatial), warped
        sources = {"pseudo_A": real_A, "pseudo_B": real_B, "spatial_A": fake_B, "spatial_B": fake_A}
        targets = {k: warp(sources[k], flow) for k, flow in flows.items()}
        return out, targets

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
        set_requires_grad(self._discriminators(), False)
        terms: dict[str, torch.Tensor] = {}
        with engine.autocast():
            made, targets = self._generate(real_A, real_B, engine)
            fake_B, fake_A = made["fake_B"], made["fake_A"]
            rec_A, rec_B = made["rec_A"], made["rec_B"]
            scores_B = scores(self.D_B, fake_B)
            scores_A = scores(self.D_A, fake_A)
            if self.local:  # a translation's region is where its source's mask puts it
                fakes = {"B": [(fake_B, mask_A)], "A": [(fake_A, mask_B)]}
                terms.update(self.local.generator_terms(self.adversarial, fakes))

        engine.zero_grad("G")
        if idt:
            terms["idt_B"] = self._reconstruction(made["idt_B"], real_B, mask_B, self.identity)
            terms["idt_A"] = self._reconstruction(made["idt_A"], real_A, mask_A, self.identity)
        terms["G_AB"] = generator_adversarial(self.adversarial, scores_B)
        terms["G_BA"] = generator_adversarial(self.adversarial, scores_A)
        terms["cycle_A"] = self._reconstruction(rec_A, real_A, mask_A, 1.0)
        terms["cycle_B"] = self._reconstruction(rec_B, real_B, mask_B, 1.0)
        for name, target in targets.items():  # masks are not warped: these terms take none
            weight = self.params.pseudo if name.startswith("pseudo") else self.params.spatial
            terms[name] = self._reconstruction(made[name], target, None, weight)
        loss_G = total(list(terms.values()))
        engine.backward(loss_G)
        engine.step("G")
        terms["G"] = loss_G

        set_requires_grad(self._discriminators(), True)
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
            if self.local:
                pairs = {
                    "B": [((real_B, mask_B), (fake_B, mask_A))],
                    "A": [((real_A, mask_A), (fake_A, mask_B))],
                }
                terms.update(
                    self.local.discriminator_losses(
                        self.adversarial, pairs, engine.autocast, engine.backward
                    )
                )
            engine.step("D")
            clip_weights(self.adversarial, self._discriminators())
        terms["D_A"], terms["D_B"] = loss_D_A, loss_D_B
        return {k: v.detach() for k, v in terms.items()}
