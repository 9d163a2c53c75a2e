"""Hostile input to spec files, ``--set`` values and command-line numbers: a one-line error and
exit code 2 (or click's usage error), never a traceback, a hang or a file written."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import resolve
from faceoff.spec_file import MAX_SPEC_BYTES, apply_overrides, read_spec_file
from tiny import QUICKSTART

BIG_INT = "9" * 5000
DEEP = "[" * 10_000
POSIX = os.name == "posix"


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(*args: str) -> str:
    """Run the CLI; assert exit code 2, one line ``error: ...`` on stderr, no traceback; the
    line."""
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def usage_error(*args: str) -> str:
    """Run the CLI; assert click's usage error (exit code 2, no traceback); its last line."""
    result = invoke(*args)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    assert "Error: Invalid value for" in result.stderr, result.stderr
    return result.stderr.splitlines()[-1]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quickstart spec in an empty working folder (its run folder would be runs/quickstart
    there), shrunk so that a run that wrongly starts ends at once."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.json"
    path.write_text(QUICKSTART.read_text())
    return path


def written(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


SAFE = ("--set", "train.max_steps=1", "--set", "data.source.params.frames=8")


# --- spec files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"train": {"seed": ' + BIG_INT + "}}", "an integer of 5000 digits; at most 100"),
        (DEEP, "nested deeper than 64 levels"),
        ('{"a": ' * 65 + "1" + "}" * 65, "nested deeper than 64 levels"),
        ('{"optimizer": {"lr": NaN}}', "NaN is not allowed: numbers must be finite"),
        ('{"optimizer": {"lr": Infinity}}', "Infinity is not allowed"),
        ('{"objective": {"params": {"identity": -Infinity}}}', "-Infinity is not allowed"),
        ('{"optimizer": {"lr": 1e999}}', "the number 1e999 is beyond the largest float"),
        ('{"output": {"dir": "runs/a\\u0000b"}}', "output.dir: a NUL byte is not allowed"),
        (
            '{"data": {"source": {"plugin": "frames", "params": {"root": "x\\u0000"}}}}',
            "data.source.params.root: a NUL byte is not allowed",
        ),
        (
            '{"data": {"source": {"plugin": "frames", "params": {"a": "a", "b": "\\u0000"}}}}',
            "data.source.params.b: a NUL byte",
        ),
        ('{"output": {"dir": "\\ud800"}}', "output.dir: not valid Unicode text"),
        ('{"train": {"seed": 4294967296}}', "train.seed: the seed must be 0 to 4294967295"),
        ('{"schedule": {"epochs": 1e300}}', "schedule.epochs:"),
        ('{"tr\\nain": {}}', "'tr\\nain': unknown key"),
        ('{"train": {"device": "a\\nb\\u2028c"}}', 'got "a\\nb\\u2028c"'),
        ('{"generator": {"plugin": "res\\nnet"}}', "unknown generator 'res\\nnet'"),
    ],
)
def test_hostile_spec_files_are_one_line_errors(spec: Path, content: str, expected: str) -> None:
    spec.write_text(content)
    for command in ("validate", "run"):
        line = refused(command, spec, "--set", "train.max_steps=1")
        assert expected in line, line
        assert line.startswith(f"error: {spec}: ")
    assert written(spec.parent) == ["spec.json"]


def test_a_spec_file_that_is_not_utf8_says_where(spec: Path) -> None:
    spec.write_bytes(b'{"train":\n {"device": "\xff"}}')
    line = refused("validate", spec)
    assert "not UTF-8 text (byte 0xff at line 2, column 14)" in line


def test_a_byte_order_mark_is_allowed(spec: Path) -> None:
    spec.write_bytes(b"\xef\xbb\xbf{}")
    assert invoke("validate", spec).exit_code == 0


def test_a_spec_file_over_the_limit_is_refused_unread(spec: Path) -> None:
    with spec.open("r+b") as file:
        file.truncate(MAX_SPEC_BYTES + 1)  # sparse: no 16 MiB written
    assert "larger than 16 MiB, the most a spec file may be" in refused("validate", spec)
    spec.write_text(" " * (MAX_SPEC_BYTES - 2) + "{}")  # at the limit: read
    assert invoke("validate", spec).exit_code == 0


@pytest.mark.skipif(not POSIX, reason="devices and FIFOs")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null", "fifo"])
def test_devices_and_fifos_are_refused_without_reading(cli, tmp_path: Path, device: str) -> None:
    if device == "fifo":  # no writer: opening it to read would block
        device = str(tmp_path / "spec.fifo")
        os.mkfifo(device)
    done = cli("validate", device, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    kind = "a pipe (FIFO)" if device.endswith("fifo") else "a character device"
    assert done.stderr == (
        f"error: {device}: is {kind}, not a file; a spec is read only from a regular .json "
        "file (write it to one first)\n"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="newlines in file names")
def test_a_newline_in_the_spec_files_name_is_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "two\nlines"
    folder.mkdir()
    (folder / "spec.json").write_text('{"trian": {}}')
    assert refused("validate", folder / "spec.json") == (
        f"error: {str(folder / 'spec.json')!r}: trian: unknown key"
    )
    missing = folder / "gone\r.json"
    assert refused("validate", missing) == f"error: {str(missing)!r}: no such spec file"


def test_library_messages_are_one_line_themselves(tmp_path: Path) -> None:
    """The messages, not only the CLI's printing of them, are one line."""
    registry = get_registry()
    cases = [
        lambda: resolve({"out\nput": {}}, registry, source="a\nb.json"),
        lambda: resolve({"train": {"device": "x\ny"}}, registry),
        lambda: resolve({"output": {"dir": "a\x00b"}}, registry),
        lambda: read_spec_file(tmp_path / "no\nfile.json"),
        lambda: apply_overrides({"losses": {"cycle": []}}, ["losses.cycle.x\ny=1"]),
        lambda: apply_overrides({}, ["a\nb"]),
    ]
    for case in cases:
        with pytest.raises(FaceoffError) as caught:
            case()
        assert len(str(caught.value).splitlines()) == 1, str(caught.value)


# --- --set values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (f"train.seed={BIG_INT}", "an integer of 5000 digits; at most 100 are allowed"),
        (f"output.dir={DEEP}", "nested deeper than 64 levels"),
        ("a." * 70 + "b=1", "the key and value nest deeper than 64 levels"),
        ("optimizer.lr=1e999", "the number 1e999 is beyond the largest float"),
        ("optimizer.lr=-1e999", "the number -1e999 is beyond"),
        ("optimizer.lr=NaN", "NaN is not allowed: numbers must be finite"),
        ("objective.params.identity=Infinity", "Infinity is not allowed"),
        ('losses.cycle.0.weight=[1, {"x": -Infinity}]', "-Infinity is not allowed"),
        ('output.dir="runs/a\\u0000b"', "output.dir: a NUL byte is not allowed"),
        ('data.source={"plugin": "frames", "params": {"root": "\\u0000"}}', "params.root: a NUL"),
        ("train.seed=99999999999999999999999", "train.seed: the seed must be 0 to 4294967295"),
        ("train.seed=1e300", "train.seed:"),
        ("out\nput.dir=x", "'out\\nput': unknown key"),
        ('train.device="cpu\\n"', 'got "cpu\\n"'),
        (f"losses.cycle.{BIG_INT}=1", "losses.cycle is a list of 1; use an index 0..0"),
        ("losses.cycle.\u00b2=1", "losses.cycle is a list of 1"),
        ("train.seed.x\ny=1", "train.seed is a value, not a section"),
    ],
)
def test_hostile_set_values_are_refused_at_validation(spec: Path, item: str, expected: str) -> None:
    for command in ("validate", "run"):
        line = refused(command, spec, "--set", item, *SAFE)
        assert expected in line, line
    assert written(spec.parent) == ["spec.json"]


def test_the_string_nan_is_still_a_string_when_quoted(spec: Path) -> None:
    result = invoke("validate", spec, "--set", 'output.dir="NaN"', "--print")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["output"]["dir"] == "NaN"


def test_non_finite_numbers_from_python_are_refused_too() -> None:
    registry = get_registry()
    with pytest.raises(FaceoffError, match=r"optimizer.lr: Input should be a finite number"):
        resolve({"optimizer": {"lr": float("inf")}}, registry)
    nan = {"objective": {"plugin": "cyclegan", "params": {"identity": float("nan")}}}
    with pytest.raises(FaceoffError, match=r"objective.params.identity: must be a finite number"):
        resolve(nan, registry)
    with pytest.raises(FaceoffError, match=r"schedule.epochs: must fit in a 64-bit integer"):
        resolve({"schedule": {"epochs": 2**70}}, registry)
    looped: dict = {"plugin": "synthetic", "params": {}}
    looped["params"]["me"] = looped  # refused as an unknown key, not walked forever
    with pytest.raises(FaceoffError, match=r"data.source.params.me: unknown key"):
        resolve({"data": {"source": looped}}, registry)
    assert resolve({"train": {"seed": 2**32 - 1}}, registry).spec.train.seed == 2**32 - 1


# --- numbers on the command line --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--fps", "1e30"], "not in the range 0<x<=1000"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--fps", "0"], "not in the range 0<x<=1000"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--fps", "nan"], "'nan' is not a finite number"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--fps", "inf"], "not in the range"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--batch", "0"], "not in the range 1<=x<=1024"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--batch", BIG_INT], "not a valid integer"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--size", "1e30"], "not a valid integer"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--size", "99999"], "not in the range 8<=x<=4096"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--erode", "nan"], "not a finite number"),
        (["apply", "RUN", "in.mp4", "OUT.mp4", "--blur", "nan"], "not a finite number"),
        (["eval", "RUN", "--seed", "99999999999999999999999"], "0<=x<=4294967295"),
        (["eval", "RUN", "--seed", "-1"], "0<=x<=4294967295"),
        (["extract", "in.mp4", "OUT", "--scale", "nan"], "not a finite number"),
        (["extract", "in.mp4", "OUT", "--smooth", "1" + "0" * 30], "1<=x<=10000"),
        (["extract", "in.mp4", "OUT", "--detect-size", "99999999"], "0<=x<=16384"),
        (["extract", "in.mp4", "OUT", "--frames", "1" + "0" * 30], "1<=x<=10000000"),
        (["extract", "in.mp4", "OUT", "--clip", "100000"], "1<=x<=1000"),
    ],
)
def test_command_line_numbers_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert expected in usage_error(*args)
    assert written(tmp_path) == []


# --- fuzzing -----------------------------------------------------------------------------------

KEYS = [
    "train.seed",
    "train.batch_size",
    "train.workers",
    "optimizer.lr",
    "optimizer.name",
    "output.dir",
    "output.loggers",
    "data",
    "data.source",
    "data.source.params.root",
    "data.crop_size",
    "losses.cycle",
    "losses.cycle.0",
    "losses.cycle.0.weight",
    "objective.params.identity",
    "generator.params",
    "mask",
    "schedule.epochs",
    "losses.identity",
    "train.pool_size",
]
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["resnet", "frames", "l1", "cpu", "weight", "auto", "\x00", "a\nb"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["plugin", "params", "root", "x"]) | st.text(), children)
    ),
    max_leaves=12,
)
VALUE_TEXT = JSONISH.map(json.dumps) | st.text(max_size=40)
FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_clean(result) -> None:
    """Exit code 0, or 2 with one line ``error: ...``; never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


@FUZZ
@given(
    items=st.lists(
        st.tuples(st.sampled_from(KEYS) | st.text(max_size=20), VALUE_TEXT), min_size=1, max_size=3
    )
)
def test_fuzzed_set_values_never_trace_back(items: list[tuple[str, str]]) -> None:
    args = [arg for key, value in items for arg in ("--set", f"{key}={value}")]
    assert_clean(invoke("validate", QUICKSTART, *args))


@FUZZ
@given(
    content=st.binary(max_size=200)
    | JSONISH.map(lambda v: json.dumps({"train": v, "output": {"dir": v}}).encode())
    | JSONISH.map(lambda v: json.dumps(v).encode())
)
def test_fuzzed_spec_files_never_trace_back(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(content)
    assert_clean(invoke("validate", path))
