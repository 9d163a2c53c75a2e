"""The `faceoff extract` command(s): parsing and printing only; the work lives beside it."""

from __future__ import annotations

from pathlib import Path

import click

from faceoff.errors import FaceoffError
from faceoff.video.cli_apply import FiniteFloatRange

MAX_FRAMES = 10_000_000  # 46 hours at 60 fps


@click.command()
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--frames",
    default=2200,
    show_default=True,
    type=click.IntRange(1, MAX_FRAMES),
    help="Frames to take from the video, train and test together.",
)
@click.option(
    "--test",
    default=200,
    show_default=True,
    type=click.IntRange(0, MAX_FRAMES),
    help="Of those, test frames: the last ones of the video, consecutive.",
)
@click.option(
    "--size", default=286, show_default=True, type=click.IntRange(8, 4096), help="Frame size in px."
)
@click.option("--face", is_flag=True, help="Crop each frame around the detected face.")
@click.option(
    "--detector",
    default="dlib",
    show_default=True,
    help="With --face: the mask provider that finds faces.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --face: a detector parameter (JSON value), repeatable: --param upsample=0.",
)
@click.option(
    "--scale",
    default=1.8,
    show_default=True,
    type=FiniteFloatRange(0.1, 10.0),
    help="With --face: the crop's side over the detected face's.",
)
@click.option(
    "--smooth",
    default=15,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="With --face: the boxes' moving-average window, in source frames.",
)
@click.option(
    "--detect-size",
    default=640,
    show_default=True,
    type=click.IntRange(0, 16384),
    help="With --face: look for faces in frames shrunk to this longer side (0: full size).",
)
@click.option(
    "--clip",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Train frames as runs of this many consecutive source frames, for objectives that "
    "train on clips (recycle-gan: 3).",
)
def extract(
    video: Path,
    out: Path,
    frames: int,
    test: int,
    size: int,
    face: bool,
    detector: str,
    params: tuple[str, ...],
    scale: float,
    smooth: int,
    detect_size: int,
    clip: int,
) -> None:
    """Frames of a video as OUT/train and OUT/test PNGs, and OUT/boxes.json.

    The test frames are the last --test frames of the video, consecutive, so they play as a
    sequence; the train frames are evenly spaced over the rest (in runs of --clip consecutive
    frames). Files are named by source frame index (frame_000123.png): the frames data source
    reads which frames are consecutive from the names. Frames are centre-cropped to a square
    and resized, or, with --face, cropped around the face (boxes smoothed over time so the crop
    does not jitter).
    """
    from pydantic import ValidationError

    from faceoff.spec import apply_overrides, format_validation_error
    from faceoff.video.extract import extract as run_extract

    for item in params:
        if "=" not in item or not item.partition("=")[0].strip():
            raise FaceoffError(f"--param {item!r}: expected KEY=VALUE, e.g. upsample=0")
    try:
        summary = run_extract(
            video,
            out,
            frames=frames,
            test=test,
            size=size,
            face=face,
            detector=detector,
            params=apply_overrides({}, list(params), "--param"),
            scale=scale,
            smooth=smooth,
            detect_size=detect_size,
            clip=clip,
        )
    except ValidationError as exc:
        raise FaceoffError(f"--param: {format_validation_error(exc)}") from None
    click.echo(f"wrote {summary.out}: {summary.line()}")


COMMANDS: list[click.Command] = [extract]
