"""The plugin contract: one register-style hook per kind of component.

Each hook receives a ``register`` callable (see :class:`faceoff.components.Register`) and calls it
once per component the plugin provides. A plugin module must stay cheap to import: heavy or
optional libraries are imported inside the component's ``build`` function.
"""

from __future__ import annotations

import pluggy

PROJECT = "faceoff"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_generators(register):
    """Register generators: ``build(params, in_channels, out_channels) -> nn.Module``."""


@hookspec
def register_discriminators(register):
    """Register discriminators: ``build(params, in_channels) -> nn.Module`` returning score maps."""


@hookspec
def register_losses(register):
    """Register losses, each with ``role="adversarial"`` or ``role="reconstruction"``.

    Adversarial: ``build(params) -> faceoff.losses.AdversarialLoss``.
    Reconstruction: ``build(params) -> faceoff.losses.ReconstructionLoss``.
    """


@hookspec
def register_mask_providers(register):
    """Register mask providers: ``build(params) -> faceoff.masks.MaskProvider``."""


@hookspec
def register_data_sources(register):
    """Register data sources: ``build(params) -> faceoff.data.DataSource``."""


@hookspec
def register_objectives(register):
    """Register training objectives: ``build(params, networks, context) -> Objective``, with
    ``describe=`` (see :mod:`faceoff.objective`)."""


@hookspec
def register_loggers(register):
    """Register loggers, run observers a spec switches on in ``output.loggers``:
    ``build(params) -> faceoff.observers.Observer``."""
