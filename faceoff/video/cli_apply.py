"""The `faceoff apply` command(s): parsing and printing only; the work lives beside it."""

from __future__ import annotations

import math
from typing import Any

import click

COMMANDS: list[click.Command] = []

MAX_FPS = 1000.0
MAX_BATCH = 1024


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange that also refuses NaN (which every comparison lets through) and
    infinities: a usage error, exit code 2, no traceback."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


@click.command("apply")
@click.argument("run_or_checkpoint", type=click.Path())
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.argument("output", type=click.Path())
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default=None,
    help="a2b: A's frames into B's person (default), b2a the other way, where the run's "
    "objective translates both ways; a network file holds one generator.",
)
@click.option("--side-by-side", is_flag=True, help="Write input | face-off next to each other.")
@click.option(
    "--batch",
    default=8,
    show_default=True,
    type=click.IntRange(1, MAX_BATCH),
    help="Frames per generator call.",
)
@click.option(
    "--size",
    type=click.IntRange(8, 4096),
    default=None,
    help="Square size given to the generator, one it gives back unchanged [default: the run's "
    "data.crop_size, else 256].",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (the GPU when there is one), cpu or cuda.",
)
@click.option(
    "--fps",
    type=FiniteFloatRange(0, MAX_FPS, min_open=True),
    default=None,
    help="Frame rate of an .mp4 output [default: the source's; 25 for a folder of frames].",
)
@click.option(
    "--paste-back",
    is_flag=True,
    help="Locate the face in every frame, apply to its crop, blend it back into the full frame.",
)
@click.option(
    "--detector",
    default="dlib",
    show_default=True,
    help="Mask provider that locates faces for --paste-back.",
)
@click.option(
    "--color",
    type=click.Choice(["mean", "reinhard", "histogram", "none"]),
    default="mean",
    show_default=True,
    help="With --paste-back: match the face's colours to the frame's inside the mask: mean "
    "colour (faceswap's default), Reinhard's mean and spread in L*a*b*, histogram, or none.",
)
@click.option(
    "--erode",
    type=FiniteFloatRange(-50, 50),
    default=0.0,
    show_default=True,
    help="With --paste-back: shrink the face mask by this percent of the face size (negative: "
    "grow it).",
)
@click.option(
    "--blur",
    type=FiniteFloatRange(0, 50),
    default=8.0,
    show_default=True,
    help="With --paste-back: feather the mask's edge, in percent of the face size (0: hard).",
)
@click.option(
    "--seamless", is_flag=True, help="With --paste-back: OpenCV's seamless clone instead."
)
@click.option(
    "--boxes",
    "boxes_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --paste-back: the boxes.json that extract --face wrote for this video (no "
    "second detection).",
)
@click.option(
    "--preview",
    type=click.IntRange(0),
    default=0,
    help="Write only this many frames, evenly spaced, as PNGs into OUTPUT (a folder): to tune "
    "the blend before a long render.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
def apply_command(
    run_or_checkpoint: str,
    input_path: str,
    output: str,
    direction: str | None,
    side_by_side: bool,
    batch: int,
    size: int | None,
    device: str,
    fps: float | None,
    paste_back: bool,
    detector: str,
    color: str,
    erode: float,
    blur: float,
    seamless: bool,
    boxes_file: str | None,
    preview: int,
    no_progress: bool,
) -> None:
    """Apply a trained generator to a video or a folder of frames.

    RUN_OR_CHECKPOINT is a run folder (its latest checkpoint), a run checkpoint, a network
    file from `faceoff import-weights`, or an .onnx file from `faceoff export` (run by
    onnxruntime). INPUT is a video or a folder of images. OUTPUT is an
    .mp4 (H.264) or a folder of PNGs; it is written under a temporary name and renamed at the end.
    The summary reports temporal stability: the output's mean frame-to-frame change over the
    input's (1 = as steady as the input, above 1 = flicker added).
    """
    from faceoff.video.apply import apply_video
    from faceoff.video.blend import Blend

    summary = apply_video(
        run_or_checkpoint,
        input_path,
        output,
        direction=direction or "a2b",
        side_by_side=side_by_side,
        batch=batch,
        size=size,
        device=device,
        paste_back=paste_back,
        detector=detector,
        fps=fps,
        show_progress=not no_progress,
        blend=Blend(color=color, erode=erode, blur=blur, seamless=seamless),  # type: ignore[arg-type]
        boxes_file=boxes_file,
        preview=preview,
    )
    click.echo(f"wrote {summary.output}: {summary.line()}")


@click.command("export")
@click.argument("run_or_checkpoint", type=click.Path())
@click.argument("output", type=click.Path())
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default="a2b",
    show_default=True,
    help="Which of the run's translations to export.",
)
@click.option(
    "--size",
    type=click.IntRange(8, 4096),
    default=None,
    help="Square input size [default: the run's crop size]; one the network gives back unchanged.",
)
@click.option("--opset", type=click.IntRange(11, 21), default=17, show_default=True)
def export_command(
    run_or_checkpoint: str, output: str, direction: str, size: int | None, opset: int
) -> None:
    """Export a run's (or network file's) generator to ONNX, checked with onnxruntime.

    The model takes float images in [-1, 1], [N, 3, H, W] (any batch; any size the network
    takes), and `faceoff apply` runs the .onnx file as it runs a checkpoint.
    """
    from faceoff.export import export_onnx

    summary = export_onnx(run_or_checkpoint, output, direction=direction, size=size, opset=opset)
    click.echo(f"wrote {summary.out}: {summary.line()}")


COMMANDS.append(apply_command)
COMMANDS.append(export_command)
