"""The `faceoff apply` command(s): parsing and printing only; the work lives beside it."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []


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
@click.option("--batch", default=8, show_default=True, help="Frames per generator call.")
@click.option(
    "--size",
    type=int,
    default=None,
    help="Square size given to the generator [default: the run's data.crop_size, else 256].",
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (the GPU when there is one), cpu or cuda.",
)
@click.option(
    "--fps",
    type=float,
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
    no_progress: bool,
) -> None:
    """Apply a trained generator to a video or a folder of frames.

    RUN_OR_CHECKPOINT is a run folder (its latest checkpoint), a run checkpoint, or a network
    file from `faceoff import-weights`. INPUT is a video or a folder of images. OUTPUT is an
    .mp4 (H.264) or a folder of PNGs; it is written under a temporary name and renamed at the end.
    The summary reports temporal stability: the output's mean frame-to-frame change over the
    input's (1 = as steady as the input, above 1 = flicker added).
    """
    from faceoff.video.apply import apply_video

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
    )
    click.echo(f"wrote {summary.output}: {summary.line()}")


COMMANDS.append(apply_command)
