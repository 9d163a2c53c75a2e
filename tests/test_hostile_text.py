"""Hostile text and output streams (issue 25, class 4): names that are not UTF-8, hold control
characters, markup or HTML; streams that cannot encode them (``PYTHONIOENCODING=ascii``,
``LC_ALL=C``) or are closed. Every command runs to its end or refuses in one line ``error: ...``
(exit code 2), and no name reaches the terminal or the run page as anything but text."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from test_run_page import rendered

from faceoff.cli import cli
from faceoff.train.run import train
from tiny import QUICKSTART, run_args, tiny_spec

HOSTILE = "\x1b[31m\x9b2J\x7f"  # ESC (a colour), CSI (C1: clear the screen), DEL
ESCAPED = "\\x1b[31m\\x9b2J\\x7f"  # HOSTILE as printed
ASCII_STREAMS = {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}


def faceoff(
    *args: object, env: dict[str, str] | None = None, redirect: str = "", stdout: Any = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m faceoff ARGS`` in a fresh process (``redirect``: bash redirections, such as
    ``>&-`` to start it with stdout closed; ``stdout``: a descriptor instead of a pipe); its
    output as bytes, unread."""
    command = [sys.executable, "-m", "faceoff", *map(str, args)]
    if redirect:
        command = ["bash", "-c", f'exec "$@" {redirect}', "bash", *command]
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    out = subprocess.PIPE if stdout is None else stdout
    return subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=full, timeout=300)


def error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    """The one line ``error: ...`` of a refused command: exit code 2, nothing else on stderr."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def no_control_characters(text: str) -> None:
    """Only printable characters and line breaks: nothing a terminal would obey."""
    assert all(c.isprintable() or c == "\n" for c in text), repr(text)


def test_a_run_folder_name_not_utf8_trains_and_writes_its_page_and_plot(tmp_path: Path) -> None:
    """A folder name with a byte that is not UTF-8 (``\\xff``), a non-ASCII letter, HTML and
    mathtext, trained by a command whose streams are ASCII."""
    run = tmp_path / "run\udcffé<b>$x^$"
    done = faceoff(*run_args(run, ["train.max_steps=2"]), env=ASCII_STREAMS)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    assert list((run / "checkpoints").glob("step_*.safetensors"))
    assert (run / "losses.png").stat().st_size > 0  # the title shown, not read as mathtext
    page = (run / "index.html").read_bytes().decode("utf-8")  # strict: nothing unencodable
    assert "<h1>run\\udcffé&lt;b&gt;$x^$</h1>" in page
    printed = done.stdout.decode("ascii")
    no_control_characters(printed + done.stderr.decode("ascii"))
    assert "run\\udcff\\xe9<b>$x^$" in printed  # the summary names it


class _Page(HTMLParser):
    """What a browser made of the page: its images' attributes, the missing-image notes' text."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.notes: list[str] = []
        self.body: dict[str, str | None] = {}
        self._note = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.images += [dict(attrs)] if tag == "img" else []
        self.body = dict(attrs) if tag == "body" else self.body
        self._note = tag == "p" and dict(attrs).get("class") == "missing"
        self.notes += [""] if self._note else []

    def handle_endtag(self, tag: str) -> None:
        self._note = self._note and tag != "p"

    def handle_data(self, data: str) -> None:
        if self._note:
            self.notes[-1] += data


def test_the_run_page_shows_hostile_sample_names_as_text(tmp_path: Path) -> None:
    """A sample whose name is markup, one whose name is not UTF-8: the page that a resumed run
    writes lists them, Chromium shows them as text and loads the second."""
    run = tmp_path / "run"
    train(tiny_spec("train.max_steps=2"), run, show_progress=False)
    samples = run / "samples"
    trap = "step_<img src=x onerror=alert(1)>.png"
    (samples / trap).write_bytes(b"not a PNG")  # listed, fails to load: the script notes it
    shutil.copy(samples / "step_00000002.png", samples / "step_\udcfe copy.png")
    train(tiny_spec("train.max_steps=3"), run, resume=True, show_progress=False)
    page = _Page(rendered(run / "index.html"))
    assert all(set(image) == {"src", "alt"} for image in page.images), page.images
    assert page.notes == [f"missing: samples/{trap}"]
    assert page.body["data-loaded"] == str(len(page.images) - 1)  # the non-UTF-8 name loads


@pytest.mark.parametrize(
    "env",
    [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}, ASCII_STREAMS],
    ids=["ascii", "c-locale-no-utf8-mode", "c-locale-ascii"],
)
def test_streams_that_cannot_encode_a_name_print_it_escaped(env, tmp_path: Path) -> None:
    spec = tmp_path / "spéc ☃.json"
    shutil.copy(QUICKSTART, spec)
    for args in (["list-plugins"], ["validate", spec]):
        done = faceoff(*args, env={**env, "COLUMNS": "80"})  # summaries cut short with '…'
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert b"Traceback" not in done.stderr
        no_control_characters(done.stdout.decode("ascii"))
    assert "sp\\" in done.stdout.decode("ascii")  # the spec's name, escaped


@pytest.mark.parametrize("args", [["list-plugins"], ["schema"], ["validate", QUICKSTART]])
def test_a_closed_stdout_is_one_error_line(args: list[object]) -> None:
    line = error_line(faceoff(*args, redirect=">&-"))
    assert line.startswith("error: writing the output: stdout is closed;"), line


def test_with_stdout_closed_the_command_s_own_error_comes_first(tmp_path: Path) -> None:
    line = error_line(faceoff("validate", tmp_path / "missing.json", redirect=">&-"))
    assert line.endswith("missing.json: no such spec file"), line


def test_a_closed_stderr_still_exits_2_quietly(tmp_path: Path) -> None:
    done = faceoff("validate", tmp_path / "missing.json", redirect="2>&-")
    assert (done.returncode, done.stdout) == (2, b"")


def test_no_file_opened_later_takes_a_closed_stream_s_number(tmp_path: Path) -> None:
    """A file opened after start would get descriptor 1, and a child process would write its
    output into it; the CLI's first call puts a stand-in there."""
    script = (
        "import sys; from faceoff.console import guard_streams; guard_streams(); "
        "sys.stderr.write(str(open(sys.argv[1], 'w').fileno()))"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "f")]
    done = subprocess.run(
        ["bash", "-c", 'exec "$@" <&- >&-', "bash", *command], capture_output=True, timeout=60
    )
    assert done.returncode == 0 and int(done.stderr) > 2, done.stderr


def test_control_characters_and_markup_in_names_are_printed_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder name with markup and a colour code (in the progress bar, the warning), a frame's
    name with a line break (in the warning): text, escaped, one line each."""
    monkeypatch.chdir(tmp_path)
    folder = f"frames[bold]{HOSTILE}"
    Path(folder).mkdir()
    for i in range(2):
        cv2.imwrite(f"{folder}/f{i}.png", np.full((40, 40, 3), 60 * i, np.uint8))
    Path(folder, f"bad{HOSTILE}\nname.png").write_bytes(b"not an image")
    result = CliRunner().invoke(cli, ["masks", "synthetic", folder, "out"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    no_control_characters(result.stderr)
    shown = folder.replace(HOSTILE, ESCAPED)
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"reading {shown} ") for line in lines), lines
    (warning,) = [line for line in lines if line.startswith("warning: ")]
    assert warning.startswith(f"warning: {shown}: ") and f"(first: bad{ESCAPED}\\nname.png)" in (
        warning
    )
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert result.stderr.rstrip().endswith(error)


def test_a_result_line_on_a_terminal_escapes_the_name_it_prints(tmp_path: Path) -> None:
    """``click.echo`` keeps colour codes on a terminal (a pseudo-terminal here)."""
    args = ["data", "synthetic", tmp_path / f"out{HOSTILE}", "--size", "8"]
    args += ["--param", "frames=2", "--param", "test_frames=1"]
    terminal, stdout = pty.openpty()
    with os.fdopen(terminal, "rb") as screen:
        done = faceoff(*args, stdout=stdout)
        os.close(stdout)
        shown = screen.read1(65536).decode().replace("\r\n", "\n")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    no_control_characters(shown)
    assert shown.startswith(f"wrote {tmp_path}/out{ESCAPED}: "), shown


@pytest.fixture
def texty(tmp_path: Path) -> Path:
    """A folder to put on PYTHONPATH: an installed distribution (a ``.dist-info``) with a plugin
    whose component's summary holds control characters and markup, and one whose import fails
    with such a message."""
    site = tmp_path / "site"
    info = site / "faceoff_texty-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: faceoff-texty\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[faceoff]\ntexty = faceoff_texty\ntexty-broken = faceoff_texty_broken\n"
    )
    (site / "faceoff_texty.py").write_text(
        "from faceoff.hookspecs import hookimpl\n\n"
        "def build(params):\n    raise AssertionError('never built')\n\n"
        "@hookimpl\ndef register_generators(register):\n"
        f"    register('texty', build, summary={'[red]Red[/] ' + HOSTILE + 'tail'!r})\n"
    )
    (site / "faceoff_texty_broken.py").write_text(f"raise RuntimeError({HOSTILE + '[/]'!r})\n")
    return site


def test_list_plugins_prints_a_plugin_s_text_as_text(texty: Path) -> None:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(texty), os.environ.get("PYTHONPATH")]))}
    done = faceoff("list-plugins", env=env)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    table = done.stdout.decode()
    no_control_characters(table)
    assert f"[red]Red[/] {ESCAPED}tail" in table and f"RuntimeError: {ESCAPED}[/]" in table
    rows = json.loads(faceoff("list-plugins", "--json", env=env).stdout)
    (row,) = [r for r in rows if r["name"] == "texty"]
    assert row["summary"] == f"[red]Red[/] {HOSTILE}tail"  # JSON keeps the text as it is
