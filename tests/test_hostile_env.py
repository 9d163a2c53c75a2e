"""Hostile environments and data, and messages that must not mislead (issue 25, classes 4 and 5):
one line ``error: ...`` with exit code 2, no traceback, the user's files kept, or, where the
input can be used, the right result."""

from __future__ import annotations

import json
import math
import pwd
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceoff.cli import cli
from faceoff.eval import judges
from faceoff.eval.nets import JudgeConfig
from faceoff.eval.report import to_json
from faceoff.masks import cache_root
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from tiny import QUICKSTART, TINY, run_args, set_args

TINY_JUDGE = JudgeConfig(width=4, layers=2, steps=3, batch_size=4)


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(*args: object) -> str:
    """Run the CLI; assert exit code 2 and one line ``error: ...``, no traceback; the line."""
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def strict_json(text: str) -> object:
    """``text`` parsed as RFC 8259 JSON: NaN and Infinity tokens are refused."""

    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def tiny_judges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Judges of a few steps, cached in a folder of the test's own."""
    monkeypatch.setattr(judges, "PROBE_CONFIG", TINY_JUDGE)
    monkeypatch.setattr(judges, "CLASSIFIER_CONFIG", TINY_JUDGE)
    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def homeless(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME unset and no password-database entry for this user (as in a container run with an
    arbitrary uid). Running as such a uid needs the interpreter readable by it, which it is not
    here (under /root), so the database lookup is made to fail as it does for such a uid."""

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "FACEOFF_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)


# Class 5: messages that mislead


@pytest.mark.parametrize("layers", ["[999]", "[-1]", "[0, 20]"])
def test_nce_layers_the_generator_lacks_are_refused_at_validation(
    layers: str, tmp_path: Path
) -> None:
    cut = ['objective={"plugin": "cut"}', f"objective.params.nce_layers={layers}"]
    line = refused("validate", QUICKSTART, *set_args([*TINY, *cut]))
    wrong = json.loads(layers)[-1]
    assert f"objective.params.nce_layers: {wrong} is not a layer" in line
    assert "layers 0 to 19" in line and "default taps [0, 4, 7, 10]" in line, line
    refused(*run_args(tmp_path / "run", [*cut, "train.max_steps=1"]))
    assert not (tmp_path / "run").exists()


def test_nce_layers_the_generator_has_train() -> None:
    cut = ['objective={"plugin": "cut"}', "objective.params.nce_layers=[0, 19]"]
    done = invoke("validate", QUICKSTART, *set_args([*TINY, *cut]))
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("where", ["file", "--set"])
def test_0_1_identity_given_to_cut_names_the_key_written(where: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    if where == "file":  # a 0.1 spec, then another objective on the command line
        spec.write_text(json.dumps({"losses": {"identity": 0.5}}))
        extra = ["--set", 'objective={"plugin": "cut"}']
    else:  # today's spec of cut, then 0.1's key on the command line
        spec.write_text(json.dumps({"objective": {"plugin": "cut"}}))
        extra = ["--set", "losses.identity=0.5"]
    line = refused("validate", spec, *extra)
    assert line == (
        f"error: {spec}: losses.identity: objective 'cut' has no identity (0.1's "
        "losses.identity is an option of the cyclegan objective); leave it out"
    )


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run at a 16 px crop: its 2-layer PatchGAN takes 16 px, the default 3-layer one
    would not."""
    run = tmp_path_factory.mktemp("small") / "run"
    small = ["data.load_size=18", "data.crop_size=16", "train.max_steps=2"]
    train(load_spec(QUICKSTART, get_registry(), [*TINY, *small]), run, show_progress=False)
    return run


def test_eval_checks_the_runs_own_networks_and_prints_strict_json(
    small_run: Path, tiny_judges: None
) -> None:
    done = invoke("eval", small_run, "--json", "--frames", "2")
    assert done.exit_code == 0, done.output
    result = strict_json(done.stdout)
    assert isinstance(result, dict) and result["crop_size"] == 16


def test_eval_json_writes_a_non_finite_number_as_null() -> None:
    result = {"cycle": {"psnr": math.nan, "ssim": 0.5}, "per": [math.inf, -math.inf, 1]}
    assert strict_json(to_json(result)) == {
        "cycle": {"psnr": None, "ssim": 0.5},
        "per": [None, None, 1],
    }


# Class 4: the environment


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WORLD_SIZE": "abc"}, "environment variable WORLD_SIZE='abc': expected a whole number"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE='0': expected a whole number, 1 or more"),
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 asks for 2 processes, and MASTER_ADDR"),
        ({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}, "and MASTER_PORT (the port of rank 0)"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK='2': expected a whole number, 0 to 1"),
        (
            {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "http"},
            "MASTER_PORT='http': expected a whole number, 1 to 65535",
        ),
    ],
)
def test_a_broken_torchrun_environment_is_one_line_before_anything_is_written(
    env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = refused(*run_args(tmp_path / "run", ["train.max_steps=1"]))
    assert expected in line and "faceoff run --nproc N" in line, line
    assert not (tmp_path / "run").exists()


def test_nproc_under_a_broken_world_size_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    line = refused(*run_args(tmp_path / "run", ["train.max_steps=1"], "--nproc", "2"))
    assert "WORLD_SIZE='two'" in line
    assert not (tmp_path / "run").exists()


def test_without_a_home_folder_eval_says_where_to_put_the_cache(
    small_run: Path, homeless: None
) -> None:
    line = refused("eval", small_run, "--frames", "2")
    assert "HOME is not set" in line and "set FACEOFF_CACHE" in line, line


def test_without_a_home_folder_the_puppets_source_says_where_to_put_the_cache(
    tmp_path: Path, homeless: None
) -> None:
    line = refused("data", "puppets", tmp_path / "out", "--size", "32")
    assert "HOME is not set" in line and "set FACEOFF_CACHE" in line, line
    assert not (tmp_path / "out").exists()


def test_without_a_home_folder_caches_go_to_xdg_cache_home(
    small_run: Path, homeless: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(judges, "PROBE_CONFIG", TINY_JUDGE)
    monkeypatch.setattr(judges, "CLASSIFIER_CONFIG", TINY_JUDGE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "faceoff"
    done = invoke("eval", small_run, "--frames", "2", "--json")
    assert done.exit_code == 0, done.output
    assert list((tmp_path / "xdg" / "faceoff" / "probes").glob("*.safetensors"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec: ignored
    assert "HOME is not set" in refused("eval", small_run, "--frames", "2")


# Class 4: the data


@pytest.fixture(scope="module")
def frames_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A synthetic set exported as frame folders with params.csv, and a tiny run trained on it."""
    root = tmp_path_factory.mktemp("frames")
    out = root / "set"
    done = invoke("data", "synthetic", out, *("--param", "frames=6", "--param", "test_frames=2"))
    assert done.exit_code == 0, done.output
    source = f'data.source={{"plugin": "frames", "params": {{"root": "{out}"}}}}'
    spec = load_spec(QUICKSTART, get_registry(), [*TINY, source, "train.max_steps=2"])
    train(spec, root / "run", show_progress=False)
    yield out, root / "run"


BAD_PARAMS = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8 text (byte 0x89 at offset 0)"),
    "nul": (None, "column 'mouth_open': '0\\x00' is not a number"),
    "nan": (None, "line 2 (frame 'A_00000.png'), column 'mouth_open': 'nan' is not a finite"),
    "inf": (None, "column 'mouth_open': '-inf' is not a finite number"),
    "float32": (None, "column 'mouth_open': '1e39' is not a finite number"),
    "text": (None, "column 'mouth_open': 'open' is not a number"),
    "header": (b"frame,mouth_open\nA_00000.png,0\n", "no 'split' and 'name' columns"),
}


def _damaged(original: str, case: str) -> bytes:
    """params.csv with the first train row's mouth_open replaced as ``case`` says."""
    value = {"nan": "nan", "inf": "-inf", "float32": "1e39", "text": "open", "nul": "0\x00"}[case]
    lines = original.splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("mouth_open")] = value
    return "\n".join([lines[0], ",".join(row), *lines[2:]]).encode()


@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_a_damaged_params_csv_is_one_line_in_run_and_eval(
    case: str, frames_run: tuple[Path, Path], tmp_path: Path, tiny_judges: None
) -> None:
    out, run = frames_run
    params = out / "A" / "params.csv"
    original = params.read_bytes()
    content, expected = BAD_PARAMS[case]
    params.write_bytes(content if content is not None else _damaged(original.decode(), case))
    try:
        source = f'data.source={{"plugin": "frames", "params": {{"root": "{out}"}}}}'
        line = refused(*run_args(tmp_path / "run", [source, "train.max_steps=1"]))
        assert line.startswith(f"error: {params}: ") and expected in line, line
        assert not (tmp_path / "run").exists()
        line = refused("eval", run, "--frames", "2")
        assert line.startswith(f"error: {params}: ") and expected in line, line
        assert params.read_bytes() != original  # the user's file is left as it is
    finally:
        params.write_bytes(original)


def test_puppet_landmarks_cached_as_nan_or_far_off_the_photo_are_found_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceoff_puppets.photos import default_photos, find_landmarks, read_photo

    monkeypatch.setenv("FACEOFF_CACHE", str(tmp_path))
    path, _, box = default_photos()[0]
    image = read_photo(path, "default photo")
    found = find_landmarks(image, path, box)
    (cached,) = (tmp_path / "puppets").glob("*.json")
    height, width = image.shape[:2]
    for bad in (np.nan, 1e30):
        poisoned = found.astype(np.float64)
        poisoned[30] = bad
        cached.write_text(json.dumps({"landmarks": poisoned.tolist(), "photo": str(path)}))
        capsys.readouterr()
        again = find_landmarks(image, path, box)
        assert (
            "are not 68 finite points on the photo; finding them again" in capsys.readouterr().err
        )
        assert np.isfinite(again).all() and np.allclose(again, found)
        assert (again >= 0).all() and (again[:, 0] < width).all() and (again[:, 1] < height).all()
        assert np.allclose(json.loads(cached.read_text())["landmarks"], found)
