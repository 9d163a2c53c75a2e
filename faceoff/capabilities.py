"""What a component may offer beyond its kind's contract, as documented protocols.

faceoff checks for these with ``isinstance`` (they are ``runtime_checkable``), never by guessing
at attribute names, so a plugin author can read here what each one means and implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from faceoff.data import Domain


@runtime_checkable
class WeightedMembers(Protocol):
    """A discriminator made of several (the paper's two discriminators of different depth).

    ``weighted_members()`` returns ``[(weight, discriminator), ...]``: each member judges as a
    discriminator of its own and its adversarial losses are added with these weights,
    L = sum_i w_i L(D_i). Calling the whole network directly is an error; the engine compiles
    the members one by one.
    """

    def weighted_members(self) -> list[tuple[float, nn.Module]]: ...


@runtime_checkable
class MixesBatch(Protocol):
    """A network whose output for one image depends on the other images of its batch in a way
    faceoff cannot see (batch norm and dropout it does see): ``mixes_batch = True`` keeps the
    engine from joining several of a step's inputs into one call."""

    mixes_batch: bool


@runtime_checkable
class GroundTruthMasks(Protocol):
    """A mask provider that knows each frame's mask from the data source's ground truth instead
    of detecting a face: called once per domain (``domain.truth`` says what the source knows),
    one mask or None per frame, and never cached (redrawing costs what reading would)."""

    def domain_masks(self, domain: Domain) -> list[np.ndarray | None]: ...


@runtime_checkable
class LocatesFace(Protocol):
    """A mask provider that can find the face itself, for ``extract --face`` and
    ``apply --paste-back``: ``face_box(frame)`` is the largest face's (left, top, right,
    bottom) in pixels of the uint8 RGB frame, or None."""

    def face_box(self, frame: np.ndarray) -> tuple[float, float, float, float] | None: ...


@runtime_checkable
class LocatesFaces(Protocol):
    """Like :class:`LocatesFace` for a provider that finds every face: ``faces(frame)`` is an
    array [K, >= 4] whose first four columns are (left, top, right, bottom); the largest is
    used."""

    def faces(self, frame: np.ndarray) -> Any: ...


@runtime_checkable
class FindsLandmarks(Protocol):
    """A mask provider that gives facial landmarks: ``landmarks(frame)`` is [K, 2] (x, y) of the
    largest face, or None."""

    def landmarks(self, frame: np.ndarray) -> np.ndarray | None: ...


@runtime_checkable
class RendersPeople(Protocol):
    """A data source that draws its people from ground truth, so the true face-off is known:
    ``render_person(person, params, size)`` is person ``"A"``'s or ``"B"``'s frames drawn with
    ``params`` (name -> float array [N], the names of its own ``Domain.params``), uint8 RGB
    [N, size, size, 3]. For the same parameters these must be the very frames ``load`` gives,
    and the same on every call. ``faceoff eval`` draws the target with the source frames'
    parameters and measures the translation's fidelity to it (``synthetic``, ``puppets``)."""

    def render_person(
        self, person: str, params: Mapping[str, np.ndarray], size: int
    ) -> np.ndarray: ...


@runtime_checkable
class FeatureTaps(Protocol):
    """A generator whose inner layers can be read, for objectives that compare features (CUT's
    PatchNCE): ``encode(x, layers)`` returns the outputs of those layers (indices into the
    network's own layer sequence) for the batch ``x``; ``taps`` are the layers it can read (a
    spec naming another is refused at validation), ``default_taps`` those used when a spec names
    none. The bundled ``resnet`` generator has it."""

    taps: range
    default_taps: tuple[int, ...]

    def encode(self, x: Any, layers: tuple[int, ...]) -> list[Any]: ...


CAPABILITIES: dict[str, type] = {"FeatureTaps": FeatureTaps}
"""The capabilities an objective may require of a network (``Network(needs=(...))``), by name."""


GuessParams = Callable[[Mapping[str, tuple[int, ...]]], "dict[str, Any] | None"]
"""A network's registration option ``guess_params``: from a state dict's tensor shapes (name ->
shape), the params that would build a network with exactly those shapes, or None. Used by
``import-weights`` to say what a file that does not fit looks like it was made with."""

CheckInput = Callable[[Any, int], "str | None"]
"""Registration option ``check_input(params, size)``, any kind: why a square ``size`` px input
(the spec's ``data.crop_size``) would not work with these params, or None. Phrased to follow the
component's name: ``"needs an image size divisible by 4 (got 66; try 64 or 68)"``."""


def locates_faces(provider: Any) -> bool:
    """Whether a mask provider can find faces itself (either protocol above)."""
    return isinstance(provider, LocatesFace | LocatesFaces)
