"""Networks that build but break the contract: ``not-a-module`` builds a function, ``shrink``
halves the image size, ``tuple-d`` scores as a tuple; ``fine-net`` keeps to it (an identity)."""

from typing import Any

from faceoff.hookspecs import hookimpl


def build_not_a_module(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
    """A generator that builds a plain function, not an nn.Module."""
    return lambda x: x


def build_shrink(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
    """A generator whose output is half the input's size."""
    from faceoff_hostile.nets import Shrink

    return Shrink(in_channels, out_channels)


def build_fine(params: Any, in_channels: int = 3, out_channels: int = 3) -> Any:
    """A generator that keeps to the contract: one 1x1 convolution and a tanh."""
    from faceoff_hostile.nets import Fine

    return Fine(in_channels, out_channels)


def build_tuple_d(params: Any, in_channels: int = 3) -> Any:
    """A discriminator that returns a tuple of scores."""
    from faceoff_hostile.nets import TupleScores

    return TupleScores(in_channels)


@hookimpl
def register_generators(register: Any) -> None:
    register("not-a-module", build_not_a_module)
    register("shrink", build_shrink)
    register("fine-net", build_fine)


@hookimpl
def register_discriminators(register: Any) -> None:
    register("tuple-d", build_tuple_d)
