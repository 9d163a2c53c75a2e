"""The SimGAN step: the refiner against the discriminator, then the discriminator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from faceoff.losses import clip_weights, discriminator_adversarial, generator_adversarial, scores
from faceoff.objective import Context, Engine, Objective, set_requires_grad
from faceoff.pool import ImagePool


class SimGAN(nn.Module, Objective):
    """Refiner R (A -> B), discriminator D of B, a history buffer of refined images."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        self.R, self.D = networks["R"], networks["D"]
        self.networks = dict(networks)
        self.adversarial = context.build("losses.adversarial")
        self.weight = params.self_regularization
        self.history = ImagePool(params.pool_size, context.random("history"))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"R": list(self.R.parameters()), "D": list(self.D.parameters())}

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Engine) -> dict[str, Any]:
        real_a, real_b = batch["A"], batch["B"]
        set_requires_grad([self.D], False)
        with engine.autocast():
            (refined,) = engine.forward(self.R, real_a)
            judged = scores(self.D, refined)
        engine.zero_grad("R")
        adversarial = generator_adversarial(self.adversarial, judged)
        regularization = self.weight * (refined - real_a).abs().mean()
        loss_r = adversarial + regularization
        engine.backward(loss_r)
        engine.step("R")

        set_requires_grad([self.D], True)
        shown = self.history.query(refined.detach())
        for _ in range(self.adversarial.critic_steps):
            engine.zero_grad("D")
            loss_d = discriminator_adversarial(
                self.adversarial, self.D, real_b, shown, engine.autocast
            )
            engine.backward(loss_d)
            engine.step("D")
            clip_weights(self.adversarial, [self.D])
        terms = {"R": loss_r, "R_adv": adversarial, "R_reg": regularization, "D": loss_d}
        return {k: v.detach() for k, v in terms.items()}

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        with engine.autocast():
            refined = self.R(images["A"]).float()
        return [{"real A": images["A"], "refined": refined}]

    def extra_state(self) -> dict[str, torch.Tensor]:
        images = self.history.state()
        return {} if images is None else {"history": images}

    def load_extra_state(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self.history.load(tensors.get("history"), next(self.R.parameters()).device)
