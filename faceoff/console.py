"""Where the library talks to a person: warnings and progress bars, on stderr."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
console = Console(stderr=True)  # progress, warnings, errors
stdout = Console()  # results a person may pipe: tables, summaries


def warn(message: str) -> None:
    """One warning line; the run goes on."""
    console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """One line of information for a person watching."""
    console.print(message, highlight=False, soft_wrap=True)


def progress(*extra: TextColumn) -> Progress:
    """A progress bar with count, elapsed time, ETA and any extra text columns."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra,
        console=console,
        transient=False,
    )


def track(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Iterate with a progress bar (for long, countable work such as decoding frames)."""
    with progress() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
