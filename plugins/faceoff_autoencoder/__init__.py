"""The face-swap autoencoder (deepfakes/faceswap's "original", DeepFaceLab's SAEHD df and liae)
as a faceoff objective, with its encoder, inters and decoder as generator components.

One encoder is shared by both people; each person's faces are rebuilt from randomly warped
copies, and the swap decodes A's code with what was trained to draw B. Where faceoff differs
from those tools, and why:

- Images are in [-1, 1]: the decoder ends in tanh, not sigmoid (its learned mask keeps sigmoid).
- The warp and the affine jitter run in torch on the batch, after faceoff's crop and flip
  (:mod:`faceoff_autoencoder.warp`), drawn from the objective's checkpointed random stream, so
  they run on the device and a resumed run is bit-exact. No warp to the other person's
  landmarks (faceswap's ``--warp-to-landmarks``): faceoff's batches carry no landmarks.
- Masks come from faceoff's mask providers as one weight map (0 background, 1 face, more for the
  eyes and mouth); the loss floors it at ``background`` (faceswap and DFL: 0, the background
  ignored) since faceoff's outputs are whole frames, and weights DSSIM and L1/MSE per pixel,
  normalised by the weights' sum (:mod:`faceoff_autoencoder.loss`).
- The adversarial terms use the spec's adversarial loss (DFL: sigmoid cross-entropy), and the
  image discriminator judges each person's rebuilt face (DFL: only src's, on masked images).
- Not here: LR dropout, the style powers, DFL's ``-u``/``-d``/``-t`` options, colour transfer.

Importing this module is cheap: torch is imported when a component is built.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl
from faceoff.objective import Curve, Description, Network, Translation
from faceoff_autoencoder.params import (
    DECODER,
    ENCODER,
    INTER,
    INTER_LIAE,
    INTERS,
    AutoencoderParams,
    DecoderParams,
    EncoderParams,
    InterParams,
)

SLOTS = {
    "encoder": "objective.params.encoder",
    "inter": "objective.params.inter",
    "decoder": "objective.params.decoder",
    "code": "objective.params.code_discriminator",
}


def _params(spec: Any, plugin: str, model: type) -> Any:
    """A nested spec's params as the bundled component's model, or None for another plugin."""
    if spec is None or spec.plugin != plugin:
        return None
    try:
        return model.model_validate(spec.params)
    except ValidationError:
        return None  # reported where the nested slot itself is resolved


def _inter(params: AutoencoderParams) -> InterParams | None:
    return _params(params.inter, params.inter.plugin if params.inter else "", InterParams)


def describe_autoencoder(params: AutoencoderParams) -> Description:
    """Encoder, inter, decoders (df: one per person; liae: one), optional discriminators."""
    code = params.code_channels
    nets = {
        "encoder": Network("generator", SLOTS["encoder"], 3, params.encoder_channels),
        "inter": Network("generator", SLOTS["inter"], params.encoder_channels, code),
    }
    decoders = ("decoder_A", "decoder_B") if params.archi == "df" else ("decoder",)
    nets |= {name: Network("generator", SLOTS["decoder"], code, 3) for name in decoders}
    if params.gan:
        nets |= {name: Network("discriminator", "discriminator") for name in ("D_A", "D_B")}
    if params.true_face:
        inter = _inter(params)
        side = inter.map_size * 2 if inter else None
        nets["D_code"] = Network("discriminator", SLOTS["code"], in_channels=code, size=side)
    if params.archi == "df":
        ways = {
            "a2b": Translation(("encoder", "inter", "decoder_B"), "A", "B", inverse="b2a"),
            "b2a": Translation(("encoder", "inter", "decoder_A"), "B", "A", inverse="a2b"),
        }
    else:
        ways = {"a2b": Translation(("encoder", "inter", "decoder"), "A", "B")}
    panels = {"reconstruction": ("rec_A", "rec_B")}
    curves = {
        "G": Curve("autoencoder loss", ("G",)),
        "rec": Curve("reconstruction loss", ("rec_A", "rec_B")),
    }
    if params.learn_mask:
        panels["learned mask"] = ("mask_A", "mask_B")
    if params.gan:
        panels["adversarial"] = ("G_A", "G_B", "D_A", "D_B")
        curves["D"] = Curve("discriminator loss", ("D_A", "D_B"))
    if params.true_face:
        panels["true face"] = ("G_code", "D_code")
    return Description(
        networks=nets,
        translations=ways,
        panels=panels,
        curves=curves,
        shown=("G", "rec_A", "rec_B"),
        needs_masks=params.learn_mask,
    )


def check_autoencoder(params: AutoencoderParams, size: int) -> str | None:
    """The chain's sizes line up at this crop size (for the bundled networks), the inter suits
    the archi, and the learned mask has a branch to learn in."""
    inter_plugin = params.inter.plugin if params.inter else INTERS[params.archi]
    if inter_plugin in (INTER, INTER_LIAE) and inter_plugin != INTERS[params.archi]:
        return (
            f"with archi {params.archi} needs objective.params.inter.plugin "
            f"{INTERS[params.archi]} (got {inter_plugin})"
        )
    if params.archi == "liae" and params.code_channels % 2:
        return f"with archi liae needs an even code_channels (got {params.code_channels})"
    decoder = _params(params.decoder, DECODER, DecoderParams)
    if decoder is not None and params.learn_mask != (decoder.mask_ch > 0):
        if params.learn_mask:
            return "learn_mask needs a decoder mask branch: set decoder.params.mask_ch (DFL: 22)"
        return (
            f"decoder.params.mask_ch {decoder.mask_ch} builds a mask branch nothing trains; "
            "set learn_mask true (with a mask section) or mask_ch 0"
        )
    return _check_sizes(params, size, decoder)


def _check_sizes(params: AutoencoderParams, size: int, decoder: Any) -> str | None:
    encoder = _params(params.encoder, ENCODER, EncoderParams)
    inter = _inter(params)
    if encoder is not None and check_encoder(encoder, size):
        return None  # the encoder's own check says why, naming its slot
    if encoder is not None and inter is not None:
        want = size // 2**encoder.n_downs
        if inter.map_size != want:
            return (
                f"needs inter.params.map_size {want} at {size} px (crop_size / 2^n_downs of "
                f"the encoder; got {inter.map_size})"
            )
    if inter is not None and decoder is not None:
        side = inter.map_size * 2 * 2**decoder.n_ups
        if side != size:
            return (
                f"draws {side} px faces (inter map_size {inter.map_size} x 2 x 2^n_ups "
                f"{decoder.n_ups} of the decoder) where the crop is {size} px; change "
                "inter.params.map_size or decoder.params.n_ups"
            )
    return None


def check_encoder(params: EncoderParams, size: int) -> str | None:
    """Each stride-2 convolution halves an even side: 2^n_downs must divide the size."""
    step = 2**params.n_downs
    if size % step:
        lower = size - size % step
        sizes = " or ".join(str(s) for s in (lower, lower + step) if s >= step)
        return (
            f"with n_downs {params.n_downs} needs an image size divisible by {step} "
            f"(got {size}; try {sizes})"
        )
    return None


def build_autoencoder(params: AutoencoderParams, networks: Any, context: Any) -> Any:
    """The face-swap autoencoder: a shared encoder, decoders rebuilding each person (df, liae)."""
    from faceoff_autoencoder.objective import Autoencoder

    return Autoencoder(params, networks, context)


def build_encoder(params: EncoderParams, in_channels: int = 3, out_channels: int = 512) -> Any:
    """Strided 5x5 convolutions down to a map of out_channels (DFL's and faceswap's encoder)."""
    from faceoff_autoencoder.networks import Encoder

    return Encoder(in_channels, out_channels, params.ch, params.n_downs)


def build_inter(params: InterParams, in_channels: int = 512, out_channels: int = 256) -> Any:
    """Dense bottleneck of ae_dims, back to a map, upscaled once (df's inter)."""
    from faceoff_autoencoder.networks import Inter

    return Inter(in_channels, out_channels, params.ae_dims, params.map_size)


def build_inter_liae(params: InterParams, in_channels: int = 512, out_channels: int = 256) -> Any:
    """liae's two inters: one for both people, one for A only; each gives half the code."""
    from faceoff_autoencoder.networks import LiaeInter

    if out_channels % 2:
        raise FaceoffError(f"ae-inter-liae: needs an even code width (got {out_channels})")
    return LiaeInter(in_channels, out_channels, params.ae_dims, params.map_size)


def build_decoder(params: DecoderParams, in_channels: int = 256, out_channels: int = 3) -> Any:
    """Pixel-shuffle upscales from the code to an image in [-1, 1], optional learned mask."""
    from faceoff_autoencoder.networks import Decoder

    return Decoder(
        in_channels, out_channels, params.ch, params.n_ups, params.res_blocks, params.mask_ch
    )


@hookimpl
def register_objectives(register: Any) -> None:
    register(
        "autoencoder",
        build_autoencoder,
        params=AutoencoderParams,
        describe=describe_autoencoder,
        check_input=check_autoencoder,
    )


@hookimpl
def register_generators(register: Any) -> None:
    register(ENCODER, build_encoder, params=EncoderParams, check_input=check_encoder)
    register(INTER, build_inter, params=InterParams)
    register(INTER_LIAE, build_inter_liae, params=InterParams)
    register(DECODER, build_decoder, params=DecoderParams)
