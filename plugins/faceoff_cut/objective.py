"""The CUT / FastCUT step, in the reference's order: the discriminator first, then G and F.

The MLP heads (F) are made when the objective is built, from the generator's feature widths
(one forward of a blank image): the reference makes them on the first batch
(``data_dependent_initialize``), which a checkpoint, a resumed run or a second process would
have to repeat. Here they are networks like the others: checkpointed, broadcast, resumed.
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
)
from faceoff.objective import Context, Engine, Objective, set_requires_grad
from faceoff.pool import ImagePool
from faceoff_cut.patchnce import PatchSampler, patch_nce


@torch.no_grad()
def feature_widths(generator: nn.Module, layers: tuple[int, ...], size: int) -> list[int]:
    """The channels of each tapped layer, from one forward of a blank image in eval mode."""
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        features = generator.encode(torch.zeros(1, 3, size, size, device=device), layers)
    finally:
        generator.train(was_training)
    return [f.shape[1] for f in features]


class CUT(nn.Module, Objective):
    """Generator G (A -> B), discriminator D of B, MLP heads F; PatchNCE on G's features."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        self.p = params
        self.G, self.D = networks["G"], networks["D"]
        self.layers = tuple(params.nce_layers or self.G.default_taps)
        widths = feature_widths(self.G, self.layers, context.spec.data.crop_size)
        self.F = PatchSampler(widths, params.netf_nc)
        self.networks = {**networks, "F": self.F}
        self.adversarial: AdversarialLoss = context.build("losses.adversarial")
        self.rng = context.random("patches")  # patch locations and flips, checkpointed
        self.pool = ImagePool(params.pool_size, context.random("pool"))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "D": list(self.D.parameters()),
            "G": list(self.G.parameters()),
            "F": list(self.F.parameters()),
        }

    def _nce(self, source: torch.Tensor, made: torch.Tensor, flipped: bool, engine: Engine):
        """PatchNCE between the input and what G made of it, averaged over the layers."""
        with engine.autocast():
            queries = [f.float() for f in self.G.encode(made, self.layers)]
        if flipped:
            queries = [torch.flip(f, [3]) for f in queries]
        with torch.no_grad(), engine.autocast():  # keys carry no gradient (MoCo's choice)
            keys = [f.float() for f in self.G.encode(source, self.layers)]
        keys, ids = self.F(keys, self.p.num_patches, None, self.rng)
        queries, _ = self.F(queries, self.p.num_patches, ids)
        total = sum(
            (patch_nce(q, k, len(source), self.p.nce_t, self.p.negatives_from_batch)
             * self.p.lambda_nce).mean()
            for q, k in zip(queries, keys)
        )  # fmt: skip
        return total / len(self.layers)

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Engine) -> dict[str, Any]:
        real_A, real_B = batch["A"], batch["B"]
        n = len(real_A)
        real = torch.cat([real_A, real_B]) if self.p.nce_idt else real_A
        flipped = bool(self.p.flip_equivariance and torch.rand(1, generator=self.rng).item() < 0.5)
        if flipped:
            real = torch.flip(real, [3])
        with engine.autocast():
            (made,) = engine.forward(self.G, real)
        fake_B = made[:n]

        set_requires_grad([self.D], True)
        shown = self.pool.query(fake_B.detach())  # with pool_size 0 (CUT's): fake_B itself
        for _ in range(self.adversarial.critic_steps):
            engine.zero_grad("D")
            loss_D = discriminator_adversarial(
                self.adversarial, self.D, real_B, shown, engine.autocast
            )
            engine.backward(loss_D)
            engine.step("D")
            clip_weights(self.adversarial, [self.D])

        set_requires_grad([self.D], False)
        engine.zero_grad("G")
        engine.zero_grad("F")
        terms: dict[str, torch.Tensor] = {}
        with engine.autocast():
            judged = scores(self.D, fake_B)
        terms["G_GAN"] = self.p.lambda_gan * generator_adversarial(self.adversarial, judged)
        terms["NCE"] = self._nce(real_A, fake_B, flipped, engine)
        nce = terms["NCE"]
        if self.p.nce_idt:
            terms["NCE_Y"] = self._nce(real_B, made[n:], flipped, engine)
            nce = 0.5 * (terms["NCE"] + terms["NCE_Y"])
        terms["G"] = terms["G_GAN"] + nce
        engine.backward(terms["G"])
        engine.step("G")
        engine.step("F")
        set_requires_grad([self.D], True)
        terms["D"] = loss_D
        return {k: v.detach() for k, v in terms.items()}

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        """A's test frames translated, and B's through G (what the identity NCE keeps)."""
        with engine.autocast():
            fake_B = self.G(images["A"]).float()
            same_B = self.G(images["B"]).float()
        return [{"real A": images["A"], "A->B": fake_B}, {"real B": images["B"], "G(B)": same_B}]

    def extra_state(self) -> dict[str, torch.Tensor]:
        images = self.pool.state()
        return {} if images is None else {"pool": images}

    def load_extra_state(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.pool.load(tensors.get("pool"), next(self.G.parameters()).device)
