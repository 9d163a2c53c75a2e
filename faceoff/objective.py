"""The objective contract: a training algorithm (CycleGAN, Recycle-GAN, CUT) as a plugin.

An objective does the maths of one training step. The engine (:class:`Engine`, handed to every
call) does what no objective should re-implement: devices, precision and autocast, the fp16
gradient scaler, gradient averaging across processes, the optimisers (fused or foreach),
``torch.compile``, channels-last, the CPU padding speed-ups; the loop around it does the data,
checkpoints, logs, sample grids and the progress bar. A plugin registers one with::

    @hookimpl
    def register_objectives(register):
        register("simgan", build_simgan, params=SimGANParams, describe=describe_simgan)

``describe(params) -> Description``, cheap (no torch work: ``validate``, ``list-plugins`` and the
readers of old runs call it), says:

- ``networks``: name -> :class:`Network` (component kind, the spec slot it is built from, its
  channels). The engine builds them in this order (the seeded global RNG draws their initial
  weights in this order), on the CPU, and moves them to the device after ``build``.
- ``translations``: name (``"a2b"``) -> :class:`Translation` (its network, or a chain of networks
  applied in order, source and target domain, the translation back if there is one): what
  ``apply``, ``eval``, ``export`` and ``compare`` run. A chain as a whole maps images to images
  ([n, 3, H, W] -> [n, 3, H, W]); its links may pass anything between them (an encoder's code).
- ``layout``: the batches it trains on (:class:`Layout`).
- ``panels``, ``curves``, ``shown``: how its loss terms are plotted and shown while training.
- ``needs_masks``: it reads the batch's face masks itself (the spec must have them as weights).
- ``masks_to_losses``: it passes those masks on to its reconstruction losses (``masked-l1``
  needs them; without this flag a spec that uses it is refused).

An objective may also register ``check_spec=check``: ``check(params, view) -> str | None`` sees
the whole validated spec (:class:`SpecView`: every slot's component and params) and says why it
would not work, starting with the dotted key it is about; the spec is then refused at validation.

``build(params, networks, context) -> Objective`` makes the objective: an ``nn.Module`` that also
subclasses :class:`Objective`, holding ``networks`` (name -> the built ``nn.Module``) and whatever
else it needs, built through ``context`` (:class:`Context`: the spec's other components, named
random streams). It implements:

- ``parameter_groups() -> {group: [parameters]}``: one optimiser per group, made by the engine
  from the spec's ``optimizer`` section (CycleGAN: ``G`` for both generators, ``D`` for both
  discriminators).
- ``train_step(batch, engine) -> {term: tensor}``: one step. ``batch`` maps ``"A"`` and ``"B"`` to
  float images in [-1, 1] on the device ([n, 3, H, W]; [n, T, 3, H, W] for a layout of ``T``
  frames) and, when the spec uses masks as weights, ``"mask_A"``/``"mask_B"`` to [n, 1, H, W]
  weight maps. Run the networks under ``engine.autocast()`` (``engine.forward(net, *inputs)``
  batches several inputs into one call where that is exact), then per group
  ``engine.zero_grad(g)``, ``engine.backward(loss)``, ``engine.step(g)``. Return the loss terms
  as detached scalar tensors: they are logged, plotted and checked for NaN.
- ``sample(images, engine) -> [{label: images}, ...]``: the columns of a sample grid for the test
  frames ``images`` (``{"A": ..., "B": ...}``, float [-1, 1], [k, 3, H, W]), in groups shown side
  by side. Called in eval mode under ``torch.no_grad()``.
- ``extra_state()`` / ``load_extra_state(tensors)`` (optional): tensors besides the networks and
  optimisers to checkpoint, such as image pools. Random streams from ``context.random`` are
  checkpointed by the engine.

Networks may share parts (a block tied between two decoders): a checkpoint stores each tensor once
and records the other names as aliases. Every trainable parameter of the objective must belong
to one of ``networks`` (add a module the objective makes itself, such as CUT's MLP heads, to
``networks``): one that does not would not be checkpointed, so building refuses it. Frozen
parameters outside them (``requires_grad`` off, in no group) are rebuilt by ``build`` instead.

An objective plugin imports this module, :mod:`faceoff.losses`, :mod:`faceoff.pool`,
:mod:`faceoff.masks` and :mod:`faceoff.data`, never ``faceoff.train``: the engine is typed by the
:class:`Engine` protocol here. This module imports no torch, so ``describe`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import torch
    from pydantic import BaseModel
    from torch import nn

DOMAINS = ("A", "B")


@dataclass(frozen=True)
class Network:
    """One network an objective owns: built from the component at spec slot ``slot`` (of kind
    ``kind``) with these channels. Discriminators take ``in_channels`` only. ``needs`` names
    capabilities the network must have (:data:`faceoff.capabilities.CAPABILITIES`, such as
    ``"FeatureTaps"``): a spec whose component lacks one is refused at validation."""

    kind: str
    slot: str
    in_channels: int = 3
    out_channels: int = 3
    needs: tuple[str, ...] = ()
    size: int | None = None
    """The side of the square images it sees, checked at validation; None: the crop size (a
    local discriminator sees a region cut out of the frame)."""

    def channels(self) -> dict[str, int]:
        """The keyword arguments of the component's ``build``."""
        if self.kind == "generator":
            return {"in_channels": self.in_channels, "out_channels": self.out_channels}
        return {"in_channels": self.in_channels}


@dataclass(frozen=True)
class Translation:
    """What the objective's networks translate: ``source`` frames into ``target``'s person
    (``"A"`` or ``"B"``); ``inverse`` names the translation back, for round trips. ``network`` is
    one network's name, or a chain of them applied in order (``("encoder", "decoder_B")``: the
    face-swap autoencoder's ``decoder_B(encoder(x))``)."""

    network: str | tuple[str, ...]
    source: str
    target: str
    inverse: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.network, str):
            object.__setattr__(self, "network", tuple(self.network))

    @property
    def chain(self) -> tuple[str, ...]:
        """The networks applied in order (one, for a translation by one network)."""
        return (self.network,) if isinstance(self.network, str) else self.network

    @property
    def label(self) -> str:
        """The chain as one readable name (``encoder+decoder_B``; the network's own name for
        one network): what ``apply`` prints and ``export`` records."""
        return "+".join(self.chain)

    @property
    def source_index(self) -> int:
        return DOMAINS.index(self.source)

    @property
    def target_index(self) -> int:
        return DOMAINS.index(self.target)


@dataclass(frozen=True)
class Layout:
    """The batches an objective trains on: single unpaired frames of A and B (``frames`` 1), or
    clips of ``frames`` consecutive frames with one crop and flip per clip."""

    frames: int = 1


@dataclass(frozen=True)
class Curve:
    """One line of a run's loss figure (the paper's Figure 7): the sum of ``terms``."""

    label: str
    terms: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"{self.label} ({' + '.join(self.terms)})"


@dataclass(frozen=True)
class Description:
    """What an objective is made of and offers; see the module's docstring."""

    networks: Mapping[str, Network]
    translations: Mapping[str, Translation]
    layout: Layout = field(default_factory=Layout)
    panels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    curves: Mapping[str, Curve] = field(default_factory=dict)
    shown: tuple[str, ...] = ()
    needs_masks: bool = False
    """It reads the batch's ``mask_A``/``mask_B`` itself (a local discriminator finds its region
    there): the spec must then have a ``mask`` section in ``weight`` mode."""
    masks_to_losses: bool = False
    """It passes the batch's masks to its reconstruction losses (``loss(output, target, mask)``);
    a loss that needs masks (``masked-l1``) is refused in an objective that does not."""

    def __post_init__(self) -> None:
        for name, translation in self.translations.items():
            if not translation.chain:
                raise ValueError(f"translation {name!r}: an empty chain of networks")
            for network in translation.chain:
                if network not in self.networks:
                    raise ValueError(f"translation {name!r}: no network {network!r}")
            if {translation.source, translation.target} != set(DOMAINS):
                raise ValueError(f"translation {name!r}: source and target must be A and B")
            if translation.inverse is not None and translation.inverse not in self.translations:
                raise ValueError(f"translation {name!r}: no inverse {translation.inverse!r}")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, for checkpoint metadata."""
        data = asdict(self)
        data["curves"] = {
            k: {"label": c.label, "terms": list(c.terms)} for k, c in self.curves.items()
        }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Description:
        return cls(
            networks={
                k: Network(**{**v, "needs": tuple(v.get("needs", ()))})
                for k, v in data["networks"].items()
            },
            translations={k: Translation(**v) for k, v in data["translations"].items()},
            layout=Layout(**data.get("layout", {})),
            panels={k: tuple(v) for k, v in data.get("panels", {}).items()},
            curves={
                k: Curve(v["label"], tuple(v["terms"])) for k, v in data.get("curves", {}).items()
            },
            shown=tuple(data.get("shown", ())),
            needs_masks=bool(data.get("needs_masks", False)),
            masks_to_losses=bool(data.get("masks_to_losses", False)),
        )


@dataclass(frozen=True)
class SlotView:
    """One place of a validated spec as ``check_spec`` sees it: the kind and registered name of
    the component there and its validated params (a copy: changing it changes nothing)."""

    kind: str
    plugin: str
    params: Any


@dataclass(frozen=True)
class SpecView:
    """A validated spec as an objective's ``check_spec`` sees it, every default filled in.

    ``spec``: a copy of the :class:`faceoff.spec.Spec` (``spec.data.crop_size``, ``spec.mask``);
    ``slots``: every place naming a component, nested ones included (``"generator"``,
    ``"losses.cycle.0"``, ``"objective.params.encoder"``) -> :class:`SlotView`, read only."""

    spec: Any
    slots: Mapping[str, SlotView]


class Engine(Protocol):
    """What an objective may ask of the engine during ``train_step`` and ``sample``."""

    device: torch.device

    def autocast(self) -> AbstractContextManager[Any]:
        """The precision region for network calls (losses are computed after it, in fp32)."""
        ...

    def forward(self, net: nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
        """``net`` on each input, outputs in fp32; one batched call where that is exact."""
        ...

    def zero_grad(self, group: str) -> None: ...

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate (scaled, under fp16)."""
        ...

    def step(self, group: str) -> None:
        """One optimiser step of ``group``, gradients averaged over processes first."""
        ...


@dataclass(frozen=True)
class Context:
    """What an objective's ``build`` may use besides its networks.

    ``spec``: the validated spec (:class:`faceoff.spec.Spec`); ``build(path, **kwargs)``: build the
    component at a spec slot (``"losses.adversarial"``, ``"losses.cycle.0"``); ``random(name)``: a
    named ``torch.Generator``, seeded per process and checkpointed (create them in a fixed
    order); ``device``: where the networks will run.
    """

    spec: Any
    build: Callable[..., Any]
    random: Callable[[str], torch.Generator]
    device: torch.device


class Objective:
    """Base of every objective (subclass it together with ``torch.nn.Module``); see the module's
    docstring for the contract. The defaults here: no extra state."""

    networks: Mapping[str, nn.Module]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        raise NotImplementedError

    def train_step(self, batch: Mapping[str, torch.Tensor], engine: Engine) -> dict[str, Any]:
        raise NotImplementedError

    def sample(
        self, images: Mapping[str, torch.Tensor], engine: Engine
    ) -> list[dict[str, torch.Tensor]]:
        raise NotImplementedError

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint besides networks, optimisers and random streams."""
        return {}

    def load_extra_state(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Restore what :meth:`extra_state` returned (missing names: a checkpoint without them)."""


Describe = Callable[["BaseModel"], Description]


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    """Switch gradients of every parameter of ``nets`` (the discriminators during a G step)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)
