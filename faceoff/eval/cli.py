"""The `faceoff eval` command: parsing and printing only; the work is in faceoff.eval.core."""

from __future__ import annotations

import click

MAX_SEED = 2**32 - 1  # as train.seed's (faceoff.spec_models.MAX_SEED): the judges' generators
# take seed + 1 as a 64-bit seed, and the judges' cache is keyed by it


@click.command("eval")
@click.argument("run", type=click.Path(path_type=str))
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default="a2b",
    show_default=True,
    help="a2b: A's test frames translated into B (and back, where the objective can); "
    "b2a the other way.",
)
@click.option("--frames", type=int, help="Only the first N test frames (default: all).")
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, MAX_SEED),
    help="Seed of the judges (at most 2**32 - 1, as train.seed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the result as JSON.")
def eval_command(run: str, direction: str, frames: int | None, seed: int, as_json: bool) -> None:
    """Face-off quality of RUN's latest checkpoint on its test frames.

    Expression transfer (a probe trained on the target's real frames reads the ground truth back
    from the outputs; synthetic data only), identity (an A-vs-B classifier), fidelity to the true
    face-off (SSIM, PSNR and detail against the target redrawn with the source's ground truth,
    where the data source can draw it), temporal stability, cycle reconstruction and, for real
    faces, landmark agreement. The probe and classifier are trained once per data set and seed,
    then cached. See docs/eval.md.
    """
    from faceoff.eval.core import evaluate
    from faceoff.eval.report import table, to_json

    result = evaluate(run, direction=direction, frames=frames, seed=seed)
    if as_json:
        click.echo(to_json(result))
        return
    from faceoff.console import stdout

    stdout.print(table(result))


COMMANDS: list[click.Command] = [eval_command]
