"""The face-swap autoencoder's step: rebuild each person from warped copies, then the optional
discriminators (one per person on the rebuilt faces, one on the codes).

Naming in faceoff's terms: A is the driving person (DeepFaceLab's dst), B the one who appears
(DFL's src). df: ``decoder_A`` is DFL's ``decoder_dst``, ``decoder_B`` its ``decoder_src``; the
swap A -> B is ``decoder_B(inter(encoder(A)))``. liae: A is rebuilt from its own code (A's own
half and the shared half, DFL's dst code), B from the shared half doubled (DFL's src code), and
the swap decodes A's shared half doubled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from faceoff.errors import FaceoffError
from faceoff.losses import (
    AdversarialLoss,
    clip_weights,
    discriminator_adversarial,
    generator_adversarial,
    scores,
    total,
)
from faceoff.objective import Context, Engine, Objective, set_requires_grad
from faceoff_autoencoder.loss import loss_weights, reconstruction
from faceoff_autoencoder.warp import Augment, augment

PEOPLE = ("A", "B")


class Autoencoder(nn.Module, Objective):
    """A shared encoder and inter, decoders, optional discriminators; see the module docstring."""

    def __init__(self, params: Any, networks: Mapping[str, nn.Module], context: Context) -> None:
        super().__init__()
        self.p = params
        self.networks = dict(networks)
        for name, net in networks.items():  # registered: .to() and .train() reach them all
            self.add_module(name, net)
        self.encoder, self.inter = networks["encoder"], networks["inter"]
        if params.archi == "df":
            self.decoders = {"A": networks["decoder_A"], "B": networks["decoder_B"]}
        else:
            self.decoders = {"A": networks["decoder"], "B": networks["decoder"]}
        self.how = Augment(
            params.warp, params.warp_points, params.rotation, params.zoom, params.shift
        )
        self.rng = context.random("warp")
        self.gan = {p: networks[f"D_{p}"] for p in PEOPLE} if params.gan else {}
        self.code_d = networks.get("D_code") if params.true_face else None
        if params.gan or params.true_face:
            self.adversarial: AdversarialLoss = context.build("losses.adversarial")
        masked = all(getattr(d, "has_mask", False) for d in self.decoders.values())
        if params.learn_mask and not masked:
            raise FaceoffError(
                "objective.params.learn_mask: the decoder has no mask branch; set "
                "objective.params.decoder.params.mask_ch (DFL: 22) or learn_mask false"
            )

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        makers = [self.encoder, self.inter, *dict.fromkeys(self.decoders.values())]
        groups = {"G": [p for net in makers for p in net.parameters()]}
        if self.gan:
            groups["D"] = [p for net in self.gan.values() for p in net.parameters()]
        if self.code_d is not None:
            groups["D_code"] = list(self.code_d.parameters())
        return groups

    def _discriminators(self) -> list[nn.Module]:
        return [*self.gan.values(), *([self.code_d] if self.code_d is not None else [])]

    def _codes(self, features: list[torch.Tensor], engine: Engine) -> dict[str, torch.Tensor]:
        """Each person's own code (from the encoder's ``features`` of A and of B): the one its
        decoder is trained to rebuild it from."""
        if self.p.archi == "df":
            return dict(zip(PEOPLE, engine.forward(self.inter, *features)))
        return {
            "A": self.inter(features[0], own=True).float(),
            "B": self.inter(features[1]).float(),
        }

    def _decode(self, person: str, code: torch.Tensor) -> tuple[torch.Tensor, Any]:
        decoder = self.decoders[person]
        if self.p.learn_mask:
            image, mask = decoder(code, mask=True)
            return image.float(), mask.float()
        return decoder(code).float(), None

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Engine) -> dict[str, Any]:
        """The autoencoders' step, then the discriminators'; detached loss terms."""
        n = len(batch["A"])
        images = torch.cat([batch["A"], batch["B"]])
        masks = None
        if "mask_A" in batch and "mask_B" in batch:
            masks = torch.cat([batch["mask_A"], batch["mask_B"]])
        inputs, targets, moved = augment(images, masks, self.how, self.rng)
        inp, tgt = dict(zip(PEOPLE, inputs.split(n))), dict(zip(PEOPLE, targets.split(n)))
        mask = dict(zip(PEOPLE, moved.split(n))) if moved is not None else {}
        set_requires_grad(self._discriminators(), False)
        with engine.autocast():
            codes = self._codes(engine.forward(self.encoder, inp["A"], inp["B"]), engine)
            made = {p: self._decode(p, codes[p]) for p in PEOPLE}
            judged = {p: scores(d, made[p][0]) for p, d in self.gan.items()}
            code_scores = scores(self.code_d, codes["B"]) if self.code_d is not None else None
        terms = self._generator_terms(made, tgt, mask, judged, code_scores)
        engine.zero_grad("G")
        terms["G"] = total(list(terms.values()))
        engine.backward(terms["G"])
        engine.step("G")
        set_requires_grad(self._discriminators(), True)
        if self.gan:
            terms.update(self._gan_step({p: (tgt[p], made[p][0]) for p in PEOPLE}, "D", engine))
        if self.code_d is not None:
            pair = {"code": (codes["A"].detach(), codes["B"].detach())}
            terms.update(self._gan_step(pair, "D_code", engine))
        return {k: v.detach() for k, v in terms.items()}

    def _generator_terms(self, made, targets, masks, judged, code_scores) -> dict[str, Any]:
        """Each person's reconstruction (and learned mask), adversarial and true-face terms."""
        p = self.p
        terms: dict[str, Any] = {}
        for person in PEOPLE:
            image, predicted = made[person]
            mask = masks.get(person)
            weights = loss_weights(mask, p.background)
            terms[f"rec_{person}"] = reconstruction(
                image, targets[person], weights, dssim=p.dssim, pixel=p.pixel,
                pixel_loss=p.pixel_loss,
            )  # fmt: skip
            if predicted is not None:
                face = mask.clamp(0, 1)
                terms[f"mask_{person}"] = p.mask_weight * ((predicted - face) ** 2).mean()
        for person, found in judged.items():
            terms[f"G_{person}"] = p.gan * generator_adversarial(self.adversarial, found)
        if code_scores is not None:  # B's codes judged as A's (DFL: src's as dst's)
            terms["G_code"] = p.true_face * generator_adversarial(self.adversarial, code_scores)
        return terms

    def _gan_step(self, pairs: dict[str, tuple], group: str, engine: Engine) -> dict[str, Any]:
        """``critic_steps`` steps of a group's discriminators on (real, made) pairs."""
        nets = self.gan if group == "D" else {"code": self.code_d}
        out = {}
        for _ in range(self.adversarial.critic_steps):
            engine.zero_grad(group)
            for name, (real, fake) in pairs.items():
                loss = discriminator_adversarial(
                    self.adversarial, nets[name], real, fake.detach(), engine.autocast
                )
                engine.backward(loss)
                out[f"D_{name}"] = loss
            engine.step(group)
            clip_weights(self.adversarial, list(nets.values()))
        return out

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        """Each person's face-off and rebuilt face of the test frames (df: both ways)."""
        a, b = images["A"], images["B"]
        df = self.p.archi == "df"
        with engine.autocast():
            features = engine.forward(self.encoder, a, b)
            own = self._codes(features, engine)
            swap = own["A"] if df else self.inter(features[0]).float()  # what a2b decodes
            to_b = self.decoders["B"](swap).float()
            rebuilt = {p: self.decoders[p](own[p]).float() for p in PEOPLE}
            to_a = {"B->A": self.decoders["A"](own["B"]).float()} if df else {}
        first = {"real A": a, "A->B": to_b, "A rebuilt": rebuilt["A"]}
        return [first, {"real B": b, **to_a, "B rebuilt": rebuilt["B"]}]
