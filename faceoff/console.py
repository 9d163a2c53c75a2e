"""Where the library talks to a person: results on stdout; warnings, progress bars and errors on
stderr.

Whatever is printed passes :func:`printable` here, so that a file name, a plugin's summary or a
network name read from a file cannot colour the terminal, move its cursor or forge a line; and
:func:`guard_streams` (the CLI's first call) makes the standard streams survive any encoding and
a closed descriptor.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

T = TypeVar("T")


def printable(text: object, keep: str = "") -> str:
    """``text`` with every character that is not printable (C0 and C1 controls, DEL, ESC, line
    breaks, a lone surrogate standing for a byte of a file name that is not UTF-8) written as
    its Python escape (``\\x1b``, ``\\n``, ``\\udcff``), except the characters in ``keep``. The
    result holds no control character and encodes in UTF-8."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


class _Console(Console):
    """A rich console that reads no markup (a name holding ``[/]`` is text) and passes every
    string it is given (a table's cells, a line) through :func:`printable`, line breaks kept."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(markup=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text, keep="\n"), **kwargs)


console = _Console(stderr=True)  # progress, warnings, errors
stdout = _Console()  # results a person may pipe: tables, summaries
_bars_shown: ContextVar[bool] = ContextVar("faceoff_progress_bars", default=True)


class _Escaping(io.TextIOBase):
    """A standard stream that writes every control character as its escape (line breaks kept),
    so that a name printed by ``click.echo`` or ``print`` anywhere reaches the terminal as text.
    rich's consoles write beneath it (``rich_proxied_file``, rich's own door): their colours
    and cursor moves pass, and :class:`_Console` escapes what they are given."""

    def __init__(self, stream: Any) -> None:
        self.rich_proxied_file = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click asks whether a stream takes bytes this way
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.rich_proxied_file.write(printable(text, keep="\n"))
        return len(text)

    def flush(self) -> None:
        self.rich_proxied_file.flush()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.rich_proxied_file.fileno()

    def isatty(self) -> bool:
        return self.rich_proxied_file.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.rich_proxied_file.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.rich_proxied_file.errors


class _ClosedStdout(io.TextIOBase):
    """stdout of a command started with it closed (``>&-``): a write fails as one to a closed
    descriptor does, and the CLI says so in one line (exit code 2)."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "stdout is closed; give the command an open stdout (>/dev/null)")


def guard_streams() -> None:
    """Make the standard streams safe for a command: a descriptor 0-2 closed at start gets a
    stand-in (``/dev/null``, read-only for stdout so that writes fail), so that no file opened
    later takes its number and receives a child process's output; stdout closed writes nothing
    and fails (:class:`_ClosedStdout`); a character the encoding lacks is written as its
    backslash escape (``PYTHONIOENCODING=ascii``, ``LC_ALL=C``); control characters are
    escaped (:class:`_Escaping`)."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            stand_in = os.open(os.devnull, flags)
            if stand_in != fd:
                os.dup2(stand_in, fd)
                os.close(stand_in)
            os.set_inheritable(fd, True)
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (the process's own)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
        if not isinstance(stream, _Escaping):
            setattr(sys, name, _Escaping(stream))


def flush_stdout(code: int) -> int:
    """The command's exit code once stdout is flushed: a result that could not be written (a
    full disk, a closed stdout) turns a success into exit code 2 with one line. stdout then
    points at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if code == 0:  # else the command has already said what went wrong
            with suppress(OSError):
                sys.stderr.write(f"error: writing the output: {printable(exc.strerror or exc)}\n")
                sys.stderr.flush()
            return 2
    return code


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
    line = Text.assemble(("warning:", "yellow"), " ", printable(message))
    console.print(line, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    """One line of information for a person watching."""
    console.print(Text(printable(message)), highlight=False, soft_wrap=True)


class _Description(TextColumn):
    """A task's description as plain text: a folder name holding ``[`` is not markup."""

    def __init__(self) -> None:
        super().__init__("{task.description}", style="bold", markup=False)

    def render(self, task: Task) -> Text:
        return Text(printable(task.description), style="bold")


def progress(*extra: TextColumn) -> Progress:
    """A progress bar with count, elapsed time, ETA and any extra text columns; disabled
    (drawing nothing) inside ``progress_bars(False)``. It leaves the standard streams as they
    are (no redirection: they escape what they are given, see :func:`guard_streams`)."""
    return Progress(
        _Description(),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra,
        console=console,
        transient=False,
        disable=not bars_shown(),
        redirect_stdout=False,
        redirect_stderr=False,
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
