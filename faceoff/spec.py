"""The spec file: pydantic models, two-pass validation, ``--set`` overrides.

Pass one validates the outer structure; pass two validates every component's ``params`` against
that component's own model and fills in its defaults. The result, a :class:`ResolvedSpec`, is what
the trainer consumes and what a run folder stores.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from faceoff.components import Component
from faceoff.errors import FaceoffError
from faceoff.objective import Description
from faceoff.plugins import Registry
from faceoff.spec_file import apply_overrides, migrate, read_spec_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentSpec(_Strict):
    """A component by registry name, with its parameters."""

    plugin: str = Field(description="Registered name of the component.")
    params: dict[str, Any] = Field(default_factory=dict, description="The component's parameters.")


class WeightedComponentSpec(ComponentSpec):
    """A loss with its weight in the total."""

    weight: float | None = Field(
        None,
        ge=0,
        description="Multiplier of this loss term; default: the loss's own "
        "(l1: 10, the reference's lambda; ssim: 0.01, the paper's).",
    )


class DataSpec(_Strict):
    """Where frames come from and how they are augmented while training."""

    source: ComponentSpec = Field(
        default_factory=lambda: ComponentSpec(plugin="synthetic"),
        description="Data source plugin providing the A and B frames.",
    )
    load_size: int = Field(
        286, ge=8, le=4096, description="Frames are resized to this square size."
    )
    crop_size: int = Field(256, ge=8, le=4096, description="Random square crop used for training.")
    flip: bool = Field(True, description="Random horizontal flip while training.")
    cache: Literal["memory", "disk", "auto"] = Field(
        "auto",
        description=(
            "Where decoded train frames are kept: 'memory'; 'disk', a memory-mapped uint8 file"
            " in $FACEOFF_CACHE/frames written once and reused by later runs; 'auto', disk when"
            " the train frames exceed cache_auto_gib."
        ),
    )
    cache_auto_gib: float = Field(
        4.0, gt=0, description="Size of the decoded train frames (GiB) above which 'auto' is disk."
    )

    @model_validator(mode="after")
    def _crop_fits(self) -> DataSpec:
        if self.crop_size > self.load_size:
            raise ValueError(
                f"crop_size {self.crop_size} is larger than load_size {self.load_size}; "
                "use a crop_size <= load_size"
            )
        return self


class LossesSpec(_Strict):
    """The adversarial loss and the reconstruction losses the objective uses.

    (faceoff 0.1's ``losses.identity`` is the ``cyclegan`` objective's ``identity`` now; a spec
    that sets it here still works.)
    """

    adversarial: ComponentSpec = Field(
        default_factory=lambda: ComponentSpec(plugin="lsgan"),
        description="Adversarial loss (role 'adversarial').",
    )
    cycle: list[WeightedComponentSpec] = Field(
        default_factory=lambda: [WeightedComponentSpec(plugin="l1")],
        min_length=1,
        description="Reconstruction losses, added with their weights (cyclegan: the cycle "
        "a -> b -> a against a and the identity terms; the weight is the reference's lambda_A = "
        "lambda_B).",
    )


class MaskSpec(_Strict):
    """A face-mask provider and how masks are used."""

    provider: ComponentSpec = Field(description="Mask provider plugin.")
    mode: Literal["weight", "crop"] = Field(
        "weight",
        description="'weight': masks go to reconstruction losses that take them; "
        "'crop': the networks see image x mask.",
    )
    no_face: Literal["empty", "previous", "skip"] = Field(
        "empty",
        description="Frames where no face is found: an empty mask, the previous frame's mask, "
        "or skip the frame.",
    )
    cache: bool = Field(
        True, description="Keep masks in $FACEOFF_CACHE (default ~/.cache/faceoff) for later runs."
    )


class OptimizerSpec(_Strict):
    """The settings of every optimiser: one per parameter group of the objective (cyclegan: one
    for both generators, one for both discriminators).

    Unset values come from what the adversarial loss proposes (WGAN: RMSprop at 5e-5), else
    from the reference (Adam, 2e-4, betas 0.5 and 0.999); the resolved spec holds the result.
    """

    name: Literal["adam", "rmsprop"] | None = Field(
        None,
        description="'adam' or 'rmsprop'; default: the adversarial loss's proposal, else adam.",
    )
    lr: float | None = Field(
        None, gt=0, description="Initial learning rate; default 2e-4 (adam), 5e-5 (rmsprop)."
    )
    beta1: float | None = Field(None, ge=0, lt=1, description="Adam's beta1; default 0.5.")
    beta2: float | None = Field(None, ge=0, lt=1, description="Adam's beta2; default 0.999.")
    alpha: float | None = Field(None, gt=0, lt=1, description="RMSprop's smoothing; default 0.99.")


OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "adam": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999},
    "rmsprop": {"lr": 5e-5, "alpha": 0.99},
}


class ScheduleSpec(_Strict):
    """Constant learning rate for ``epochs``, then linear decay to zero over ``decay_epochs``."""

    epochs: int = Field(100, ge=0, description="Epochs at the initial learning rate.")
    decay_epochs: int = Field(100, ge=0, description="Epochs of linear decay after that.")
    steps_per_epoch: int | None = Field(
        None,
        ge=1,
        description="Steps in one epoch; default max(frames in A, frames in B) // batch_size.",
    )

    @model_validator(mode="after")
    def _some_training(self) -> ScheduleSpec:
        if self.epochs + self.decay_epochs < 1:
            raise ValueError("epochs + decay_epochs must be at least 1")
        return self


class TrainSpec(_Strict):
    """Batch, device, seed, speed options.

    (faceoff 0.1's ``train.pool_size`` is the ``cyclegan`` objective's ``pool_size`` now; a spec
    that sets it here still works.)
    """

    batch_size: int = Field(1, ge=1, le=4096, description="Images per domain per step.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' uses CUDA when available, else the CPU."
    )
    seed: int = Field(
        0, ge=0, description="Seed for weights, data order, crops and the objective's randomness."
    )
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many steps (default: the whole schedule)."
    )
    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32",
        description=(
            "Arithmetic of the networks: 'fp32'; 'bf16' autocast (CUDA and CPU); 'fp16' autocast"
            " with a gradient scaler (CUDA only). Losses are always computed in fp32."
        ),
    )
    channels_last: bool = Field(
        False, description="Keep the networks and images in channels-last memory format."
    )
    compile: bool = Field(
        False,
        description="torch.compile the objective's networks: the fastest step (about 1.4x eager "
        "bf16 on a CPU), after a minute or more of compiling at the start of a run.",
    )
    cudnn_benchmark: bool = Field(
        True, description="On CUDA, let cuDNN pick the fastest convolution algorithms."
    )
    fused_optimizer: bool = Field(
        True,
        description=(
            "Multi-tensor optimiser updates: fused kernels where the optimiser has them (Adam,"
            " on CUDA and the CPU), foreach otherwise; off: one tensor at a time."
        ),
    )
    workers: int | Literal["auto"] = Field(
        "auto",
        description=(
            "DataLoader worker processes (0 or more) making batches ahead of the step (0: in"
            " the training process); 'auto': 0 on the CPU, min(4, CPU count) on CUDA."
        ),
    )
    prefetch_factor: int = Field(
        2, ge=1, description="Batches each DataLoader worker prepares ahead."
    )

    @field_validator("workers")
    @classmethod
    def _workers_not_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError("workers must be 0 or more, or 'auto'")
        return value


class OutputSpec(_Strict):
    """The run folder and how often it is written to."""

    dir: str | None = Field(None, description="Run folder; default runs/<spec file name>.")
    log_every: int = Field(50, ge=1, description="Steps between lines of metrics.jsonl.")
    sample_every: int = Field(500, ge=1, description="Steps between sample grids.")
    checkpoint_every: int = Field(1000, ge=1, description="Steps between checkpoints.")
    keep_checkpoints: int = Field(3, ge=1, description="Most recent checkpoints kept.")
    samples: int = Field(4, ge=1, le=64, description="Test frames per domain in a sample grid.")
    loggers: list[ComponentSpec] = Field(
        default_factory=list,
        description='Logger plugins that also record the run, e.g. [{"plugin": '
        '"tensorboard"}] (pip install faceoff[tensorboard]).',
    )


class Spec(_Strict):
    """A whole training run."""

    data: DataSpec = Field(default_factory=DataSpec)
    objective: ComponentSpec = Field(
        default_factory=lambda: ComponentSpec(plugin="cyclegan"),
        description="The training objective: which networks are trained, and how.",
    )
    generator: ComponentSpec = Field(
        default_factory=lambda: ComponentSpec(plugin="resnet"),
        description="The generator network (cyclegan: one for each direction).",
    )
    discriminator: ComponentSpec = Field(
        default_factory=lambda: ComponentSpec(plugin="patchgan"),
        description="The discriminator network (cyclegan: one for each domain).",
    )
    losses: LossesSpec = Field(default_factory=LossesSpec)
    mask: MaskSpec | None = Field(None, description="Optional face masks.")
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)


@dataclass(frozen=True)
class Slot:
    """One place in the spec that names a component."""

    path: str
    kind: str
    role: str | None = None


@dataclass
class ResolvedSpec:
    """A validated spec with every default filled in, and its components looked up."""

    spec: Spec
    components: dict[str, tuple[Component, BaseModel]]
    registry: Registry | None = None

    @property
    def description(self) -> Description:
        """What the spec's objective is made of: its networks, translations, layout."""
        component, params = self.components["objective"]
        return describe(component, params)

    def build(self, path: str, **kwargs: Any) -> Any:
        """Build the component at a slot path such as ``generator`` or ``losses.cycle.0``."""
        component, params = self.components[path]
        return component.make(params, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as JSON-ready data."""
        return self.spec.model_dump(mode="json")

    def plugin_versions(self) -> dict[str, dict[str, str]]:
        """Which distribution and version provided each component used."""
        return {
            path: {
                "kind": c.kind,
                "name": c.name,
                "entry_point": c.plugin.entry_point,
                "distribution": c.plugin.distribution,
                "version": c.plugin.version,
            }
            for path, (c, _) in self.components.items()
        }


def slots(spec: Spec) -> list[Slot]:
    """Every component slot of a spec, with the kind (and loss role) it must have."""
    found = [
        Slot("data.source", "data_source"),
        Slot("objective", "objective"),
        Slot("generator", "generator"),
        Slot("discriminator", "discriminator"),
        Slot("losses.adversarial", "loss", "adversarial"),
    ]
    found += [
        Slot(f"losses.cycle.{i}", "loss", "reconstruction") for i in range(len(spec.losses.cycle))
    ]
    if spec.mask is not None:
        found.append(Slot("mask.provider", "mask_provider"))
    found += [Slot(f"output.loggers.{i}", "logger") for i in range(len(spec.output.loggers))]
    return found


def describe(component: Component, params: BaseModel) -> Description:
    """An objective's description, or a FaceoffError naming the plugin if it cannot give one."""
    try:
        found = component.describe(params)  # type: ignore[misc]
    except FaceoffError:
        raise
    except Exception as exc:  # a plugin's bug, named as such
        raise FaceoffError(
            f"objective {component.name!r} ({component.plugin.distribution}): describe failed "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from None
    if not isinstance(found, Description):
        raise FaceoffError(
            f"objective {component.name!r} ({component.plugin.distribution}): describe returned "
            f"{type(found).__name__}, not a faceoff.objective.Description"
        )
    return found


def _node(spec: Spec, path: str) -> ComponentSpec:
    node: Any = spec
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line: every error as ``dotted.location: message (got value)``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in (prefix.split(".") if prefix else []) + list(err["loc"]))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] != "missing" and "input" in err:
            got = json.dumps(err["input"], default=str)
            if len(got) <= 60:
                message += f" (got {got})"
        parts.append(f"{loc or '(top level)'}: {message}")
    return "; ".join(parts)


def resolve(raw: dict[str, Any], registry: Registry, source: str = "spec") -> ResolvedSpec:
    """Validate a raw spec in two passes and fill in every default.

    A spec in faceoff 0.1's form (``losses.identity``, ``train.pool_size``) is read as today's
    (:func:`faceoff.spec_file.migrate`); the resolved spec is in today's form.
    """
    if not isinstance(raw, dict):
        raise FaceoffError(f"{source}: the spec must be a JSON object, not {type(raw).__name__}")
    raw, moved = migrate(raw, source)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise FaceoffError(f"{source}: {format_validation_error(exc)}") from None
    components: dict[str, tuple[Component, BaseModel]] = {}
    for slot in slots(spec):
        node = _node(spec, slot.path)
        if slot.path == "objective":
            _check_moved(registry, node, moved, source)
        _resolve_component(registry, slot, node, source, components)
    _check_masks(spec, components, source)
    _check_sizes(spec, components, source)
    _check_networks(components, source)
    spec.optimizer = _resolve_optimizer(spec.optimizer, *components["losses.adversarial"], source)
    return ResolvedSpec(spec=spec, components=components, registry=registry)


def _check_moved(
    registry: Registry, node: ComponentSpec, moved: dict[str, str], source: str
) -> None:
    """A 0.1 key moved into an objective that has no such option: say where it came from."""
    if not moved:
        return
    try:
        fields = registry.get("objective", node.plugin).params.model_fields
    except FaceoffError:
        return  # reported when the slot itself is resolved
    for new, old in moved.items():
        name = new.rsplit(".", 1)[1]
        if name not in fields:
            raise FaceoffError(
                f"{source}: {old}: objective {node.plugin!r} has no {name} (0.1's {old} is an "
                f"option of the cyclegan objective); leave it out"
            )


def _check_networks(components: dict[str, tuple[Component, BaseModel]], source: str) -> None:
    """Every network the objective builds comes from a slot of the spec of the right kind."""
    component, params = components["objective"]
    for name, network in describe(component, params).networks.items():
        found = components.get(network.slot)
        if found is None or found[0].kind != network.kind:
            have = f"a {found[0].kind}" if found else "nothing"
            raise FaceoffError(
                f"{source}: objective.plugin: objective {component.name!r} builds its network "
                f"{name} from a {network.kind} at {network.slot}, and the spec has {have} there"
            )


def _resolve_component(
    registry: Registry,
    slot: Slot,
    node: ComponentSpec,
    source: str,
    out: dict[str, tuple[Component, BaseModel]],
) -> None:
    """Look up and validate one component, then any components nested in its params.

    A params field holding a ComponentSpec (or a list of them), such as the members of a
    discriminator made of several, is resolved the same way with the same kind, so its errors
    carry the full dotted location (``discriminator.params.members.1.params.n_layers``).
    """
    where = f"{source}: {slot.path}.plugin"
    component = registry.get(slot.kind, node.plugin, where=where, role=slot.role)
    if slot.role and component.role != slot.role:
        raise FaceoffError(
            f"{where}: loss {node.plugin!r} is for {component.role}; "
            f"this place needs a loss for {slot.role} "
            f"({', '.join(registry.names('loss', slot.role))})"
        )
    try:
        params = component.params.model_validate(node.params)
    except ValidationError as exc:
        message = format_validation_error(exc, prefix=f"{slot.path}.params")
        raise FaceoffError(f"{source}: {message}") from None
    out[slot.path] = (component, params)
    if isinstance(node, WeightedComponentSpec) and node.weight is None:
        node.weight = float(component.weight if component.weight is not None else 1.0)
    for name in type(params).model_fields:
        value = getattr(params, name)
        many = isinstance(value, list)
        for i, item in enumerate(value if many else [value]):
            if isinstance(item, ComponentSpec):
                path = f"{slot.path}.params.{name}" + (f".{i}" if many else "")
                _resolve_component(registry, Slot(path, slot.kind, slot.role), item, source, out)
    node.params = params.model_dump(mode="json")


def _check_masks(
    spec: Spec, components: dict[str, tuple[Component, BaseModel]], source: str
) -> None:
    """A loss that needs masks gets them only from a mask section in ``weight`` mode."""
    if spec.mask is not None and spec.mask.mode == "weight":
        return
    for path, (component, _) in components.items():
        if component.needs_mask:
            how = "set mask.mode to 'weight'" if spec.mask else "add a 'mask' section"
            raise FaceoffError(
                f"{source}: {path}.plugin: loss {component.name!r} needs face masks; "
                f"{how} with a mask provider, or use a loss without masks"
            )


def _resolve_optimizer(
    given: OptimizerSpec, loss: Component, params: BaseModel, source: str
) -> OptimizerSpec:
    proposal = dict(loss.optimizer(params)) if loss.optimizer else {}
    name = given.name or proposal.get("name") or "adam"
    if proposal.get("name", name) != name:
        proposal = {}  # the user chose another optimiser: its own defaults apply
    explicit = given.model_dump(exclude_none=True, exclude={"name"})
    stray = sorted(set(explicit) - set(OPTIMIZER_DEFAULTS[name]))
    if stray:
        raise FaceoffError(f"{source}: optimizer.{stray[0]}: does not apply to {name}")
    proposal.pop("name", None)
    return OptimizerSpec(name=name, **{**OPTIMIZER_DEFAULTS[name], **proposal, **explicit})


def _check_sizes(
    spec: Spec, components: dict[str, tuple[Component, BaseModel]], source: str
) -> None:
    for path, (component, params) in components.items():
        problem = component.input_problem(params, spec.data.crop_size)
        if problem:
            raise FaceoffError(
                f"{source}: {path}: {component.name} {problem}; change data.crop_size or the params"
            )


def params_from_options(component: Component, options: list[str]) -> BaseModel:
    """A component's params from ``--param KEY=VALUE`` options, validated, one-line errors."""
    try:
        return component.params.model_validate(apply_overrides({}, options))
    except ValidationError as exc:
        raise FaceoffError(f"--param: {format_validation_error(exc)}") from None


def load_spec(
    path: str | Path, registry: Registry, overrides: list[str] | None = None
) -> ResolvedSpec:
    """Read, override and resolve a spec file."""
    raw = read_spec_file(path)
    if isinstance(raw, dict) and overrides:
        raw, _ = migrate(raw, str(path))  # 0.1 keys in the file first, so --set can change them
        raw = apply_overrides(raw, overrides)
    resolved = resolve(raw, registry, source=str(path))
    return resolved
