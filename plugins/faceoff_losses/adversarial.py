"""Adversarial losses: the original GAN's cross-entropy, WGAN and WGAN-GP.

Every discriminator loss is halved, (real + fake) x 0.5, as the reference CycleGAN does for all of
its GAN modes. Scores are the discriminator's raw outputs (no sigmoid), a map per image for a
PatchGAN; a loss is the mean over the whole map and the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from faceoff.losses import AdversarialLoss


class VanillaGANLoss(AdversarialLoss):
    """Binary cross-entropy with logits against 1 (real) and 0 (fake); D's loss is halved.

    The generator's loss is the non-saturating -log sigmoid(D(G(x))) (targets 1 for its images),
    as in the reference's ``vanilla`` mode.
    """

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
        fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
        return 0.5 * (real + fake)


class WGANLoss(AdversarialLoss):
    """Wasserstein GAN (Arjovsky et al. 2017) with weight clipping, as the paper's text lists it.

    Generator: -mean(D(fake)). Critic: (mean(D(fake)) - mean(D(real))) x 0.5, the reference's
    halving of every discriminator loss (so the logged D loss is half the negative Wasserstein
    estimate; with RMSprop or Adam the halving barely changes the steps, both being invariant to
    the scale of the loss up to their epsilon). The loop clips the critic's weights (biases too)
    to +-``clip`` after each of its ``n_critic`` steps per generator step.
    """

    def __init__(self, clip: float = 0.01, n_critic: int = 5) -> None:
        super().__init__()
        self.clip_weights = float(clip)
        self.critic_steps = int(n_critic)

    def generator_loss(self, fake_scores: torch.Tensor) -> torch.Tensor:
        return -fake_scores.mean()

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return 0.5 * (fake_scores.mean() - real_scores.mean())


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor,
) -> torch.Tensor:
    """E[(||grad_x f(x_hat)||_2 - 1)^2] at x_hat = alpha * real + (1 - alpha) * fake.

    ``f`` is the critic's score for an image: the mean of its score map, which is what the
    Wasserstein estimate mean(D(real)) - mean(D(fake)) uses (for a one-score critic the same as
    the score itself). ``alpha`` is [B, 1, 1, 1]. The graph is kept (create_graph), so the
    penalty's gradient reaches the critic's parameters.
    """
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(x_hat).flatten(1).mean(1)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).pow(2).sum(1).add(1e-12).sqrt()  # finite gradient at a zero gradient
    return (norm - 1).pow(2).mean()


class WGANGPLoss(WGANLoss):
    """WGAN with a gradient penalty (Gulrajani et al. 2017) instead of weight clipping.

    Same generator and critic losses as ``wgan``; :meth:`penalty` adds
    0.5 x lambda_gp x E[(||grad f(x_hat)||_2 - 1)^2] on random interpolates
    x_hat = a * real + (1 - a) * fake, a ~ U[0, 1] per image from torch's global random generator
    (saved in checkpoints, so a resumed run draws the same). The 0.5 is the same halving as the
    critic term's, so the whole critic loss is half the WGAN-GP paper's and lambda_gp keeps its
    meaning (10). f is the mean of the critic's score map. The reference CycleGAN's ``wgangp``
    mode never applies its penalty function (it trains as an unclipped WGAN); this one does.
    Its gradient-penalty function, unused, takes the gradient of the score map's sum rather
    than its mean, which asks a critic with P scores for a P times smaller slope.
    """

    def __init__(self, lambda_gp: float = 10.0, n_critic: int = 5) -> None:
        super().__init__(n_critic=n_critic)
        self.clip_weights = None
        self.lambda_gp = float(lambda_gp)

    def penalty(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> torch.Tensor | None:
        if self.lambda_gp == 0:
            return None
        if real.shape[1:] != fake.shape[1:]:
            raise ValueError(
                f"wgan-gp: real and fake images differ in shape ({tuple(real.shape)} and "
                f"{tuple(fake.shape)})"
            )
        n = min(len(real), len(fake))
        real, fake = real[:n].detach(), fake[:n].detach()
        alpha = torch.rand(n, 1, 1, 1, device=real.device, dtype=real.dtype)
        return 0.5 * self.lambda_gp * gradient_penalty(discriminator, real, fake, alpha)
