"""The parameter models of the autoencoder objective and its networks (no torch: cheap to import).

The objective's params hold its networks as nested generator specs (spec slots
``objective.params.encoder``, ``.inter``, ``.decoder``), so a spec swaps or resizes each part
like any other component.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faceoff.spec import DiscriminatorSpec, GeneratorSpec

ENCODER, INTER, INTER_LIAE, DECODER = "ae-encoder", "ae-inter", "ae-inter-liae", "ae-decoder"
INTERS = {"df": INTER, "liae": INTER_LIAE}


class EncoderParams(BaseModel):
    """Strided 5x5 convolutions down to a small map (DeepFaceLab's and faceswap's encoder)."""

    model_config = ConfigDict(extra="forbid")
    ch: int = Field(
        64,
        ge=1,
        le=1024,
        description="Filters of the first convolution; each next one doubles them, up to 8x; the "
        "last has the objective's encoder_channels (DFL's e_dims: 64; faceswap original: 128).",
    )
    n_downs: int = Field(
        4,
        ge=1,
        le=8,
        description="Stride-2 5x5 convolutions: the map the inter reads is crop_size / 2^n_downs "
        "(DFL and faceswap: 4, a 4x4 map at 64 px).",
    )


class InterParams(BaseModel):
    """The dense bottleneck: the encoder's map flattened to ``ae_dims`` numbers and back to a map,
    then upscaled once (DFL's Inter; faceswap original's two Dense layers and upscale)."""

    model_config = ConfigDict(extra="forbid")
    ae_dims: int = Field(
        256,
        ge=1,
        le=8192,
        description="Width of the dense code every face passes through (DFL's ae_dims: 256; "
        "Quick96: 128; faceswap original: 1024 at 64 px).",
    )
    map_size: int = Field(
        4,
        ge=1,
        le=256,
        description="Side of the encoder's map the inter reads: crop_size / 2^n_downs of the "
        "encoder (4 at 64 px, 8 at 128 px); its output map is twice that.",
    )


class DecoderParams(BaseModel):
    """Upscale blocks (3x3 convolution, then pixel shuffle) from the code to the image in [-1, 1],
    with an optional learned mask (DFL's Decoder)."""

    model_config = ConfigDict(extra="forbid")
    ch: int = Field(
        64,
        ge=1,
        le=1024,
        description="Width scale: the upscale blocks have ch x 2^k filters, from ch x 2^n_ups "
        "down to ch x 2 (DFL's d_dims: 64; faceswap original: ch 32, n_ups 3).",
    )
    n_ups: int = Field(
        3,
        ge=1,
        le=8,
        description="Upscale blocks, each doubling the side: the image is the code map's side x "
        "2^n_ups (DFL and faceswap: 3, 8 -> 64 px).",
    )
    res_blocks: bool = Field(
        True,
        description="A residual block of two 3x3 convolutions after each upscale (DFL; faceswap "
        "original has none).",
    )
    mask_ch: int = Field(
        0,
        ge=0,
        le=1024,
        description="Width scale of a second branch of upscales that outputs a face mask in "
        "[0, 1] (DFL's d_mask_dims: 22); 0: no mask branch. Trained by the objective's "
        "learn_mask.",
    )


def _encoder() -> GeneratorSpec:
    return GeneratorSpec(plugin=ENCODER, params={})


def _decoder() -> GeneratorSpec:
    return GeneratorSpec(plugin=DECODER, params={})


def _patch_code() -> DiscriminatorSpec:
    return DiscriminatorSpec(plugin="patchgan", params={"ndf": 64, "n_layers": 1, "norm": "none"})


class AutoencoderParams(BaseModel):
    """The face-swap autoencoder's options: architecture, networks, warp, losses, extra terms."""

    model_config = ConfigDict(extra="forbid")
    archi: Literal["df", "liae"] = Field(
        "df",
        description="'df': a shared encoder and inter, one decoder per person (swap: decoder_B "
        "of A's code). 'liae': a shared encoder, an inter for both people and one for A only, "
        "one decoder (swap: the both-people half of A's code, doubled).",
    )
    encoder: GeneratorSpec = Field(
        default_factory=_encoder, description="The shared encoder (ae-encoder)."
    )
    inter: GeneratorSpec | None = Field(
        None,
        description="The bottleneck: ae-inter for df, ae-inter-liae (two inters) for liae; "
        "null: the archi's.",
    )
    decoder: GeneratorSpec = Field(
        default_factory=_decoder,
        description="The decoder (ae-decoder): one per person for df, one shared for liae.",
    )
    encoder_channels: int = Field(
        512,
        ge=1,
        le=8192,
        description="Channels of the encoder's map, which the inter reads (DFL: e_dims x 8).",
    )
    code_channels: int = Field(
        256,
        ge=2,
        le=8192,
        description="Channels of the code map the decoders read (df: DFL's ae_dims; liae: two "
        "halves of code_channels / 2, so it must be even).",
    )
    warp: float = Field(
        5 / 256,
        ge=0,
        le=0.5,
        description="Std of the random warp's control-point jitter, in image sides (faceswap: "
        "5/256); warps the input only. 0: no warp (for late fine-tuning only).",
    )
    warp_points: int = Field(
        5, ge=2, le=64, description="Control points per side of the warp's grid (faceswap: 5)."
    )
    rotation: float = Field(
        10.0,
        ge=0,
        le=180,
        description="Largest random rotation in degrees, of input and target alike (DFL: 10).",
    )
    zoom: float = Field(
        0.05, ge=0, lt=1, description="Largest random scale change, input and target alike."
    )
    shift: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Largest random shift in image sides, input and target alike (DFL: 0.05).",
    )
    dssim: float = Field(
        1.0, ge=0, description="Weight of the DSSIM term, (1 - SSIM) / 2 per pixel (DFL: 10)."
    )
    pixel: float = Field(1.0, ge=0, description="Weight of the pixel term (DFL: 10 x MSE).")
    pixel_loss: Literal["l1", "mse"] = Field(
        "l1", description="The pixel term: 'l1' (mean absolute error) or 'mse' (DFL, faceswap)."
    )
    background: float = Field(
        0.25,
        ge=0,
        le=1,
        description="With masks as weights: the least weight of a pixel, so the background "
        "(mask 0) weighs this much and the face its mask's weight (1, more for eyes and mouth). "
        "faceswap and DFL: 0.",
    )
    learn_mask: bool = Field(
        False,
        description="Train the decoder's mask branch (decoder.params.mask_ch > 0) on the batch's "
        "face masks (MSE, mask weight); needs a mask section in weight mode.",
    )
    mask_weight: float = Field(
        10.0, ge=0, description="Weight of the learned mask's MSE (DFL's masked_training: 10)."
    )
    gan: float = Field(
        0.0,
        ge=0,
        description="Weight of an adversarial term on each person's rebuilt face, judged by the "
        "spec's discriminator (one per person) with losses.adversarial (DFL's gan_power: 0.1). "
        "0: off.",
    )
    true_face: float = Field(
        0.0,
        ge=0,
        description="Weight of DFL's 'true face' term: a discriminator on the code pulls B's "
        "codes towards A's, so the decoder B's faces come from sees codes like A's "
        "(typical: 0.01). 0: off.",
    )
    code_discriminator: DiscriminatorSpec = Field(
        default_factory=_patch_code,
        description="The code discriminator of true_face, fed the code map (code_channels "
        "channels).",
    )

    @model_validator(mode="after")
    def _fill_inter(self) -> AutoencoderParams:
        if self.dssim == 0 and self.pixel == 0:
            raise ValueError("dssim and pixel are both 0: nothing would rebuild the faces")
        if self.inter is None:
            self.inter = GeneratorSpec(plugin=INTERS[self.archi], params={})
        return self
