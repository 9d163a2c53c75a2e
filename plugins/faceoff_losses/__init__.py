"""The paper's loss variants: vanilla GAN, WGAN, WGAN-GP, SSIM, MS-SSIM and mask-weighted L1.

Importing this module is cheap: torch and pytorch_msssim are imported when a loss is built
(``faceoff_losses.adversarial`` and ``faceoff_losses.reconstruction``), and the input-size
checks are plain arithmetic, so validating a spec needs neither.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faceoff.hookspecs import hookimpl

# pytorch_msssim's default MS-SSIM weights (Wang et al. 2003), finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


class WganParams(BaseModel):
    """Weight clipping, critic steps and the learning rate the loss proposes (the paper's text)."""

    model_config = ConfigDict(extra="forbid")
    clip: float = Field(
        0.01, gt=0, le=10, description="Critic weights are clipped to +-clip after each step."
    )
    n_critic: int = Field(
        5, ge=1, le=100, description="Discriminator (critic) steps per generator step."
    )
    lr: float = Field(
        5e-5,
        gt=0,
        le=1,
        description="Learning rate proposed with RMSprop (the paper's 5e-5); used unless the "
        "spec's optimizer section sets lr or names another optimizer.",
    )


class WganGpParams(BaseModel):
    """Gradient-penalty weight, critic steps and the Adam settings of Gulrajani et al. (2017)."""

    model_config = ConfigDict(extra="forbid")
    lambda_gp: float = Field(
        10.0, ge=0, le=10000, description="Weight of the gradient penalty (WGAN-GP paper: 10)."
    )
    n_critic: int = Field(
        5, ge=1, le=100, description="Discriminator (critic) steps per generator step."
    )
    lr: float = Field(
        1e-4,
        gt=0,
        le=1,
        description="Learning rate proposed with Adam; used unless the spec's optimizer "
        "section sets lr or names another optimizer.",
    )
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam's beta1 proposed (WGAN-GP: 0).")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam's beta2 proposed (WGAN-GP: 0.9).")


class _Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    win_size: int = Field(
        11, ge=3, le=21, description="Side of the Gaussian window (sigma 1.5); must be odd."
    )

    @field_validator("win_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"must be odd, e.g. {value - 1} or {value + 1}")
        return value


class SsimParams(_Window):
    """The Gaussian window of SSIM (Wang et al. 2004; pytorch-msssim's defaults: 11, sigma 1.5)."""


class MsSsimParams(_Window):
    """The window and the number of scales of MS-SSIM (Wang et al. 2003)."""

    scales: int = Field(
        5,
        ge=1,
        le=5,
        description="Scales, finest first; each halves the image. Fewer than 5 use the first "
        "`scales` of the standard weights, renormalised to sum 1.",
    )


class MaskedL1Params(BaseModel):
    """The extra weight of masked (face) pixels: each weighs w * mask + 1."""

    model_config = ConfigDict(extra="forbid")
    w: float = Field(
        1.0,
        ge=0,
        le=1000,
        description="Extra weight inside the mask: face pixels weigh w + 1, the rest 1 "
        "(0: plain L1). The paper's code used w = 2 in the form m(w - 1) + 1, the same as 1 here.",
    )


def build_vanilla(params: BaseModel) -> Any:
    """The original GAN loss: cross-entropy of the raw scores (with logits) against 1 and 0."""
    from faceoff_losses.adversarial import VanillaGANLoss

    return VanillaGANLoss()


def build_wgan(params: WganParams) -> Any:
    """Wasserstein GAN: raw scores, weight clipping, several critic steps, RMSprop at 5e-5."""
    from faceoff_losses.adversarial import WGANLoss

    return WGANLoss(clip=params.clip, n_critic=params.n_critic)


def build_wgan_gp(params: WganGpParams) -> Any:
    """WGAN with a gradient penalty instead of clipping (Gulrajani et al. 2017), Adam (0, 0.9)."""
    from faceoff_losses.adversarial import WGANGPLoss

    return WGANGPLoss(lambda_gp=params.lambda_gp, n_critic=params.n_critic)


def propose_wgan(params: WganParams) -> dict[str, Any]:
    return {"name": "rmsprop", "lr": params.lr}


def propose_wgan_gp(params: WganGpParams) -> dict[str, Any]:
    return {"name": "adam", "lr": params.lr, "beta1": params.beta1, "beta2": params.beta2}


def build_ssim(params: SsimParams) -> Any:
    """1 - SSIM on images mapped from [-1, 1] to [0, 1] (pytorch-msssim); ignores masks."""
    from faceoff_losses.reconstruction import SSIMLoss

    return SSIMLoss(win_size=params.win_size)


def build_ms_ssim(params: MsSsimParams) -> Any:
    """1 - multi-scale SSIM on images mapped from [-1, 1] to [0, 1] (pytorch-msssim)."""
    from faceoff_losses.reconstruction import MSSSIMLoss

    return MSSSIMLoss(win_size=params.win_size, scales=params.scales)


def build_masked_l1(params: MaskedL1Params) -> Any:
    """L1 weighted per pixel by w * mask + 1: the paper's face mask as loss weight."""
    from faceoff_losses.reconstruction import MaskedL1Loss

    return MaskedL1Loss(w=params.w)


def _largest_odd_window(size: int) -> int:
    return size if size % 2 else size - 1


def check_ssim(params: SsimParams, size: int) -> str | None:
    """The Gaussian window must fit in the image: crop size >= win_size."""
    if size < params.win_size:
        return (
            f"needs images of at least win_size = {params.win_size} px (got {size}); "
            f"use data.crop_size >= {params.win_size} or win_size <= {_largest_odd_window(size)}"
        )
    return None


def ms_ssim_smallest_side(win_size: int, scales: int) -> int:
    """pytorch-msssim's bound: the smaller side must be larger than this many pixels."""
    return (win_size - 1) * 2 ** (scales - 1)


def check_ms_ssim(params: MsSsimParams, size: int) -> str | None:
    """Crop size > (win_size - 1) x 2^(scales - 1): more than 160 px at 5 scales with win_size 11.

    Each scale halves the image and the window must still fit at the coarsest one (the bound
    pytorch-msssim asserts). The crop size suggested is the next multiple of 4 above the bound
    (the ResNet generator needs multiples of 4); the scales suggested are the most that fit.
    """
    bound = ms_ssim_smallest_side(params.win_size, params.scales)
    if size > bound:
        return None
    crop = (bound // 4 + 1) * 4
    fit = [s for s in range(1, params.scales) if size > ms_ssim_smallest_side(params.win_size, s)]
    window = f"win_size <= {_largest_odd_window(size)}"
    if fit:
        instead = f"scales <= {max(fit)}"
    else:
        instead = window if params.scales == 1 else f"scales = 1 with {window}"
    return (
        f"with {params.scales} scales needs images larger than {bound} px (got {size}); "
        f"use data.crop_size >= {crop} or {instead}"
    )


@hookimpl
def register_losses(register: Any) -> None:
    register("vanilla", build_vanilla, role="adversarial")
    register("wgan", build_wgan, params=WganParams, role="adversarial", optimizer=propose_wgan)
    register(
        "wgan-gp",
        build_wgan_gp,
        params=WganGpParams,
        role="adversarial",
        optimizer=propose_wgan_gp,
    )
    register(
        "ssim",
        build_ssim,
        params=SsimParams,
        role="reconstruction",
        check_input=check_ssim,
        weight=0.01,
    )
    register(
        "ms-ssim",
        build_ms_ssim,
        params=MsSsimParams,
        role="reconstruction",
        check_input=check_ms_ssim,
        weight=0.01,
    )
    register(
        "masked-l1",
        build_masked_l1,
        params=MaskedL1Params,
        role="reconstruction",
        needs_mask=True,
        weight=10.0,
    )
