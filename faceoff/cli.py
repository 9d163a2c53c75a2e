"""The command line: argument parsing and printing only; the work lives in the library."""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import sys
import unicodedata
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from faceoff import __version__
from faceoff.console import flush_stdout, guard_streams, printable, progress_bars, stdout
from faceoff.errors import FaceoffError
from faceoff.spec_file import shown


class _Group(click.Group):
    """Turns FaceoffError, an interrupt (Ctrl-C, SIGTERM) and a failed write (a full disk, a
    closed terminal) into one line on stderr and exit code 2, the same in every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FaceoffError as exc:
            _fail(ctx, str(exc))
        except KeyboardInterrupt:
            _fail(ctx, "interrupted; files being written were removed, finished ones kept")
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # `faceoff list-plugins | head`: click's quiet exit
                raise
            where = f"{exc.filename}: " if exc.filename else "writing the output: "
            _fail(ctx, f"{where}{exc.strerror or exc}")


def _fail(ctx: click.Context, message: str) -> None:
    """``error: MESSAGE`` on one line: a line break or control character in it (a file name's)
    is written as its escape."""
    with contextlib.suppress(OSError):  # stderr itself may be gone
        click.echo(f"error: {printable(message.strip())}", err=True)
    ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faceoff")
def cli() -> None:
    """faceoff: CycleGAN face-off, composed from plugins by one spec file."""


_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a spec value, e.g. --set train.batch_size=4 (repeatable; values are JSON).",
)


def _resolve(spec_path: str, overrides: tuple[str, ...]):
    from faceoff.plugins import get_registry
    from faceoff.spec import load_spec

    return load_spec(spec_path, get_registry(), list(overrides))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_set_option
@click.option(
    "--print", "show", is_flag=True, help="Print the resolved spec (every default filled in)."
)
def validate(spec: str, overrides: tuple[str, ...], show: bool) -> None:
    """Check a spec file without training."""
    resolved = _resolve(spec, overrides)
    if show:
        click.echo(json.dumps(resolved.to_dict(), indent=2))
        return
    name = resolved.components["objective"][0].name
    description = resolved.description
    nets = ", ".join(description.networks)
    ways = ", ".join(description.translations)
    click.echo(
        f"ok: {shown(spec)} ({len(resolved.components)} components; objective {name}: networks "
        f"{shown(nets)}; translates {shown(ways)})"
    )


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines splits


def _check_folder_name(name: str, what: str) -> None:
    """Refuse a folder name holding a NUL byte (no file name can), a line break or another
    control character (every message and the run's page would quote it), in one line."""
    bad = next((c for c in name if unicodedata.category(c) == "Cc" or c in _LINE_BREAKS), None)
    if bad is None:
        return
    if bad == "\x00":
        kind = "a NUL byte"
    elif bad in _LINE_BREAKS:
        kind = "a line break"
    else:
        kind = "a control character"
    raise FaceoffError(
        f"{what} {shown(name)}: a run folder's name may not hold {kind} ({bad!r}); choose "
        "another name"
    )


class _RunFolder(click.Path):
    """A run folder (``run --out``): a name holding a NUL byte, a line break or another control
    character is refused in one line before click looks at it (a NUL byte would be a
    ValueError in ``os.stat``)."""

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise FaceoffError(f"--out {value!r}: empty; give the run folder's name")
            _check_folder_name(value, "--out")
        return super().convert(value, param, ctx)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=_RunFolder(), help="Run folder (overrides output.dir).")
@_set_option
@click.option("--resume", is_flag=True, help="Continue from the run folder's latest checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in the run folder.")
@click.option("--no-progress", is_flag=True, help="No progress bar (for logs).")
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train in this many processes on this machine (one per GPU).",
)
def run(
    spec: str,
    out: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    overwrite: bool,
    no_progress: bool,
    nproc: int,
) -> None:
    """Train the objective a spec describes (by default the CycleGAN)."""
    resolved = _resolve(spec, overrides)
    if out is None and resolved.spec.output.dir:
        _check_folder_name(str(resolved.spec.output.dir), "output.dir")
    run_dir = Path(out or resolved.spec.output.dir or Path("runs") / Path(spec).stem)
    _check_folder_name(str(run_dir), "the run folder (from the spec file's name; give --out)")
    from faceoff.train.run import train

    if nproc > 1:
        from faceoff.train.folder import check_run_dir, run_inputs

        # refused here, before N processes start
        check_run_dir(run_dir, resume=resume, overwrite=overwrite, inputs=run_inputs(resolved))
        _run_in_processes(spec, out, overrides, resume, overwrite, no_progress, nproc, run_dir)
        return
    with progress_bars(not no_progress):  # every bar of the run: masks, frames, training
        result = train(
            resolved, run_dir, resume=resume, overwrite=overwrite, show_progress=not no_progress
        )
    from faceoff.train.distributed import is_main, world_size

    if not is_main():  # one summary, from rank 0
        if result.interrupted:
            sys.exit(2)
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("run folder", str(result.run_dir))
    table.add_row("steps", f"{result.steps} of {result.total_steps}")
    table.add_row("seconds per step", f"{result.seconds_per_step:.3f}")
    table.add_row("losses", " ".join(f"{k} {v:.3f}" for k, v in result.last_losses.items()))
    table.add_row("checkpoint", str(result.checkpoint))
    if result.samples:
        table.add_row("samples", str(result.samples[-1]))
    table.add_row("loss curves", str(result.run_dir / "losses.png"))
    table.add_row("metrics", str(result.run_dir / "metrics.jsonl"))
    stdout.print(table)
    if result.interrupted:
        world = world_size()
        raise FaceoffError(
            f"interrupted at step {result.steps}; checkpoint written; continue with "
            f"faceoff run {spec} --out {result.run_dir} --resume"
            + (f" --nproc {world}" if world > 1 else "")
        )


def _run_in_processes(
    spec: str,
    out: str | None,
    overrides: tuple[str, ...],
    resume: bool,
    overwrite: bool,
    no_progress: bool,
    nproc: int,
    run_dir: Path,
) -> None:
    """``faceoff run --nproc N``: the same command in N processes on this machine; their code."""
    from faceoff.train.distributed import world_size
    from faceoff.train.launch import launch

    if world_size() > 1:
        raise FaceoffError("--nproc: already running under torchrun; leave --nproc out")
    args = [spec, "--out", str(run_dir)]
    args += [arg for item in overrides for arg in ("--set", item)]
    args += [flag for flag, on in (("--resume", resume), ("--overwrite", overwrite)) if on]
    args += ["--no-progress"] if no_progress else []
    code = launch(args, nproc)
    if code != 0:
        sys.exit(code)


@cli.command()
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)
def schema(out: str | None) -> None:
    """Print the JSON Schema of spec files, with the installed plugins' parameters."""
    from faceoff.io import write_json
    from faceoff.plugins import get_registry
    from faceoff.schema import spec_schema

    data = spec_schema(get_registry())
    if out:
        write_json(out, data)
    else:
        click.echo(json.dumps(data, indent=2))


@cli.command("list-plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, one object per component.")
def list_plugins(as_json: bool) -> None:
    """The installed components by kind, and any plugin that failed to load."""
    from faceoff.listing import plugin_rows, plugin_table
    from faceoff.plugins import get_registry

    rows = plugin_rows(get_registry())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    stdout.print(plugin_table(rows, stdout.width))


@cli.command()
@click.argument("source")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A data-source parameter (JSON value).",
)
@click.option(
    "--size", default=286, show_default=True, type=click.IntRange(8, 4096), help="Frame size in px."
)
def data(source: str, out: str, params: tuple[str, ...], size: int) -> None:
    """Write a data source's frames as image folders: OUT/{A,B}/{train,test}/*.png.

    `faceoff data synthetic OUT` writes the synthetic face-off set in the paper's layout.
    """
    from faceoff.data import source_label
    from faceoff.data.export import export_source
    from faceoff.plugins import get_registry
    from faceoff.spec import params_from_options

    component = get_registry().get("data_source", source, where="SOURCE")
    built = component.make(params_from_options(component, list(params)))
    counts = export_source(built, out, size, source_label(component))
    click.echo(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@cli.command("import-weights")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--generator", metavar="NAME", help="The file holds this generator, e.g. resnet.")
@click.option(
    "--discriminator", metavar="NAME", help="The file holds this discriminator, e.g. patchgan."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A network parameter (JSON value), repeatable: --param n_blocks=6.",
)
def import_weights(
    src: str,
    dest: str,
    generator: str | None,
    discriminator: str | None,
    params: tuple[str, ...],
) -> None:
    """Convert a reference CycleGAN checkpoint (.pth state_dict) into a faceoff network file.

    The .pth is read with torch.load(weights_only=True): a file that would run code is refused.
    """
    from faceoff.spec_file import apply_overrides
    from faceoff.weights import import_reference

    if (generator is None) == (discriminator is None):
        raise FaceoffError("give exactly one of --generator NAME or --discriminator NAME")
    for item in params:
        if "=" not in item or not item.partition("=")[0].strip():
            raise FaceoffError(f"--param {item!r}: expected KEY=VALUE, e.g. n_blocks=6")
    kind, name = ("generator", generator) if generator else ("discriminator", discriminator)
    overrides = apply_overrides({}, list(params), "--param")
    summary = import_reference(src, dest, kind, str(name), overrides)
    click.echo(
        f"wrote {summary.dest}: {summary.kind} {summary.plugin} {json.dumps(summary.params)}, "
        f"{summary.tensors} tensors, {summary.parameters:,} parameters (from {summary.source})"
    )


@cli.command()
@click.argument("provider")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A provider parameter (JSON value).",
)
@click.option(
    "--size",
    default=286,
    show_default=True,
    type=click.IntRange(8, 4096),
    help="Frames are resized to this square size first, as training sees them.",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the mask cache.")
def masks(
    provider: str, source: Path, out: Path, params: tuple[str, ...], size: int, no_cache: bool
) -> None:
    """Write a mask provider's masks for a folder of images or a video, with overlays.

    OUT gets masks/*.png and overlay/*.png (the mask tinted over the frame); look at them before
    training on them.
    """
    from faceoff.mask_preview import preview_masks
    from faceoff.plugins import get_registry
    from faceoff.spec import params_from_options

    component = get_registry().get("mask_provider", provider, where="PROVIDER")
    validated = params_from_options(component, list(params))
    summary = preview_masks(component, validated, source, out, size, use_cache=not no_cache)
    click.echo(f"wrote {out}: {summary.line()}")


def _add_video_commands() -> None:
    """extract, apply, compare, plot (faceoff.video) and eval (faceoff.eval), one module each."""
    from faceoff.eval import cli as cli_eval
    from faceoff.video import cli_apply, cli_extract, cli_figures

    for module in (cli_extract, cli_apply, cli_figures, cli_eval):
        for command in module.COMMANDS:
            cli.add_command(command)


_add_video_commands()


def main() -> None:
    """Entry point of the ``faceoff`` script and ``python -m faceoff``.

    SIGTERM is treated as Ctrl-C (training finishes its step and checkpoints; anything else
    stops, removing its half-written files); both exit 2 with one line. A result that cannot
    be written to stdout (``faceoff schema > /dev/full``, a stdout closed at start) is an
    error, not a silent success. The streams first escape what they print and survive any
    encoding (:func:`faceoff.console.guard_streams`).
    """
    guard_streams()
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(flush_stdout(_run_cli()))


def _run_cli() -> int:
    try:
        cli.main(prog_name="faceoff")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:  # outside a command (click's own parsing)
        with contextlib.suppress(OSError):
            click.echo("error: interrupted", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
