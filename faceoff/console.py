"""Where the library talks to a person: warnings and progress bars, on stderr."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
_bars_shown: ContextVar[bool] = ContextVar("faceoff_progress_bars", default=True)


@contextmanager
def progress_bars(shown: bool) -> Iterator[None]:
    """Within the block, every progress bar (:func:`progress`, :func:`track`) is drawn only if
    ``shown``: ``faceoff run --no-progress`` silences them all, the mask bars included. Blocks
    nest; a block with ``shown=True`` inside a silenced one stays silent."""
    token = _bars_shown.set(shown and _bars_shown.get())
    try:
        yield
    finally:
        _bars_shown.reset(token)


def bars_shown() -> bool:
    """Whether progress bars are drawn here (see :func:`progress_bars`)."""
    return _bars_shown.get()


def warn(message: str) -> None:
    """One warning line; the run goes on."""
    console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """One line of information for a person watching."""
    console.print(message, highlight=False, soft_wrap=True)


def progress(*extra: TextColumn) -> Progress:
    """A progress bar with count, elapsed time, ETA and any extra text columns; disabled
    (drawing nothing) inside ``progress_bars(False)``."""
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
        disable=not bars_shown(),
    )


def track(items: Iterable[T], total: int, description: str) -> Iterator[T]:
    """Iterate with a progress bar (for long, countable work such as decoding frames); no bar
    inside ``progress_bars(False)``."""
    if not bars_shown():
        yield from items
        return
    with progress() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
