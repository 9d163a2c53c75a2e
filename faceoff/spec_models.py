"""The spec file's sections as pydantic models: the outer structure, pass one of validation.

Every ``{"plugin", "params"}`` place is a :class:`ComponentSpec`, resolved in pass two by
:func:`faceoff.spec.resolve` against the component's own params model.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_SEED = 2**32 - 1
"""The largest seed (``train.seed``, ``faceoff eval --seed``): seeds are mixed into 64-bit
generator seeds (``seed * 1_000_003 + epoch``), which larger ones would overflow."""


class _Strict(BaseModel):
    """Unknown keys are errors; numbers must be finite (no NaN, no infinity)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ComponentSpec(_Strict):
    """A component by registry name, with its parameters."""

    plugin: str = Field(description="Registered name of the component.")
    params: dict[str, Any] = Field(default_factory=dict, description="The component's parameters.")


class GeneratorSpec(ComponentSpec):
    """A generator by registry name, with its parameters, inside another component's params
    (an objective's temporal predictor)."""

    kind: ClassVar[str] = "generator"


class DiscriminatorSpec(ComponentSpec):
    """A discriminator by registry name, with its parameters, inside another component's params
    (an objective's local discriminator)."""

    kind: ClassVar[str] = "discriminator"


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
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description=(
            "Arithmetic of the networks: 'auto', bf16 where the hardware runs it natively (a GPU"
            " with bf16; a CPU with AVX-512 BF16 or AMX), else fp32; 'fp32'; 'bf16' autocast"
            " (CUDA and CPU; emulated, and far slower, on other CPUs); 'fp16' autocast with a"
            " gradient scaler (CUDA only). Losses are always computed in fp32."
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

    @field_validator("seed")
    @classmethod
    def _seed_fits(cls, value: int) -> int:
        if value > MAX_SEED:
            raise ValueError(f"the seed must be 0 to {MAX_SEED} (2**32 - 1)")
        return value

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
