"""The `faceoff compare` and `faceoff plot` commands: parsing and printing only.

The work lives beside it, in :mod:`faceoff.video.figures`.
"""

from __future__ import annotations

import click


@click.command()
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("--out", required=True, type=click.Path(), help="The PNG to write, e.g. grid.png.")
@click.option(
    "--frames",
    default=4,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Test frames (rows), evenly spaced over the first run's test split.",
)
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default="a2b",
    show_default=True,
    help="a2b: A's test frames translated into B; b2a: B's into A.",
)
def compare(runs: tuple[str, ...], out: str, frames: int, direction: str) -> None:
    """Test frames side by side with each run's face-off (the paper's Figure 6).

    Rows are test frames of the FIRST run's data source (rebuilt from its spec.json,
    centre-cropped to its crop size); columns are Input, then one per RUN (its latest checkpoint),
    labelled with the run folder's name.
    """
    from faceoff.video.figures import compare as make

    result = make(runs, out, frames=frames, direction=direction)
    used = ", ".join(f"{label} {path.name}" for label, path in result.checkpoints.items())
    click.echo(
        f"wrote {out}: {len(result.inputs)} frames x {1 + len(result.outputs)} columns ({used})"
    )


@click.command()
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("--out", required=True, type=click.Path(), help="The PNG to write, e.g. losses.png.")
@click.option(
    "--by",
    type=click.Choice(["epoch", "step"]),
    default="epoch",
    show_default=True,
    help="One point per epoch (the paper's figure), or per logged step (for short runs).",
)
def plot(runs: tuple[str, ...], out: str, by: str) -> None:
    """Loss curves per epoch, one line per RUN (the paper's Figure 7).

    The curves are those of each run's objective (cyclegan: generator G, discriminator D_A + D_B,
    cycle consistency cycle_A + cycle_B). Each epoch's value is the mean of the run's
    metrics.jsonl rows in that epoch (weighted by the steps each row covers); with --by step,
    every metrics.jsonl row is a point.
    """
    from faceoff.video.plot import plot as make

    series = make(runs, out, by=by)
    points = ", ".join(
        f"{label} {max((len(x) for x, _ in s.values()), default=0)} {by}s"
        for label, s in series.items()
    )
    click.echo(f"wrote {out}: {points}")


COMMANDS: list[click.Command] = [compare, plot]
