"""Plugins that break their contracts get one line naming them, never a traceback (issue 16).

One test plugin, ``faceoff-contracts``, written below as source: an adversarial loss whose
optimiser proposal is whatever its ``kind`` param says, a data source whose frames break the
contract as its ``mode`` says, a mask provider answering a constant ``weight``, and a data source
whose params model has no JSON Schema. In-process tests register the module directly; command-line
tests install it as a real distribution (a ``.dist-info`` folder on ``PYTHONPATH``, no pip).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

import tiny
from faceoff import plugins
from faceoff.cli import cli
from faceoff.components import PluginInfo
from faceoff.console import progress_bars, track
from faceoff.data import Domain, load_split, source_label
from faceoff.data.export import export_source
from faceoff.errors import FaceoffError
from faceoff.listing import plugin_rows
from faceoff.masks import MAX_WEIGHT, MaskCache, check_mask, compute_masks
from faceoff.plugins import load_registry
from faceoff.schema import spec_schema

DIST = "faceoff-contracts"
LOSS = f"loss 'bad-propose' ({DIST})"
SOURCE = f"data source 'floaty' ({DIST})"
PROVIDER = f"mask provider 'heavy' ({DIST})"
QUICKSTART = str(tiny.QUICKSTART)

PLUGIN = '''
"""faceoff-contracts: components that break their contracts on request."""

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from faceoff.data import Domain
from faceoff.hookspecs import hookimpl

PROPOSALS = {
    "none": None,
    "good": {"name": "rmsprop", "lr": 1e-4},
    "list": ["rmsprop"],
    "noname": {"lr": 1e-4},
    "unknown": {"name": "sgd", "lr": 0.1},
    "stray": {"name": "rmsprop", "beta1": 0.5},
    "extra": {"name": "adam", "momentum": 0.9},
    "negative": {"name": "adam", "lr": -1.0},
    "text": {"name": "adam", "lr": "fast"},
    "null": {"name": "adam", "lr": None},
    "beta": {"name": "adam", "beta2": 1.5},
}


class ProposeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "none"


def propose(params):
    if params.kind == "raises":
        return 1 / 0
    return PROPOSALS[params.kind]


class FloatyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["float", "float01", "late", "size", "single", "ok"] = "float"


class Floaty:
    def __init__(self, mode):
        self.mode = mode

    def load(self, split, size):
        n = 4 if split == "train" else 2
        frames = np.full((n, size, size, 3), 128, np.uint8)
        names = [f"{i:03d}.png" for i in range(n)]
        if self.mode == "float":
            return Domain(frames.astype(np.float32), names), Domain(frames, names)
        if self.mode == "float01":
            return Domain(frames, names), Domain(frames / 255.0, names)
        a, b = Domain(frames, names), Domain(frames.copy(), names)
        if self.mode == "late":  # made right, then replaced
            b.frames = b.frames.astype(np.float64)
        elif self.mode == "size":
            a = Domain(np.zeros((n, size + 2, size + 2, 3), np.uint8), names)
        elif self.mode == "single":
            return a
        return a, b


class HeavyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = 1.0


class Heavy:
    """A mask of one constant weight all over every frame."""

    def __init__(self, weight):
        self.weight = weight

    def __call__(self, frame):
        return np.full(frame.shape[:2], self.weight, np.float32)


class Handle:
    """Not a type pydantic can describe in JSON Schema."""


class OpaqueParams(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    handle: Handle | None = None


@hookimpl
def register_losses(register: Any) -> None:
    register(
        "bad-propose", lambda params: None, params=ProposeParams, role="adversarial",
        optimizer=propose,
    )


@hookimpl
def register_data_sources(register: Any) -> None:
    register("floaty", lambda params: Floaty(params.mode), params=FloatyParams)
    register("opaque", lambda params: None, params=OpaqueParams)


@hookimpl
def register_mask_providers(register: Any) -> None:
    register("heavy", lambda params: Heavy(params.weight), params=HeavyParams)
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the plugin as an installed distribution (put it on the path)."""
    root = tmp_path_factory.mktemp("contracts-site")
    (root / "faceoff_contracts.py").write_text(PLUGIN)
    meta = root / "faceoff_contracts-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text("[faceoff]\ncontracts = faceoff_contracts\n")
    return root


@pytest.fixture(scope="module")
def module(site: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "faceoff_contracts", site / "faceoff_contracts.py"
    )
    found = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(found)
    return found


@pytest.fixture(scope="module")
def registry(module: ModuleType):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(plugins.LOAD_ENV, raising=False)
        info = PluginInfo("contracts", DIST, "1.0", "faceoff_contracts")
        return load_registry(extra=[(module, info)])


def faceoff(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m faceoff ARGS`` with the plugin installed."""
    env = {k: v for k, v in __import__("os").environ.items() if k != plugins.LOAD_ENV}
    env["PYTHONPATH"] = str(site)
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "faceoff", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def one_error_line(code: int, stderr: str) -> str:
    """The single ``error: ...`` line of a refused command: exit 2, no traceback."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def refused(call, *args, **kwargs) -> str:
    """The message of the FaceoffError ``call`` raises: one line."""
    with pytest.raises(FaceoffError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- faceoff schema


def test_schema_leaves_out_a_params_model_without_json_schema_with_one_warning(
    registry, capsys
) -> None:
    schema = spec_schema(registry)
    jsonschema.Draft202012Validator.check_schema(schema)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert f"data source 'opaque' ({DIST} 1.0) is left out of the schema" in warnings[0]
    (row,) = [r for r in plugin_rows(registry) if r["name"] == "opaque"]
    assert row["status"] == "broken" and row["error"] in warnings[0]  # the same reason
    assert "data_source_opaque" not in schema["$defs"] and "data_source_floaty" in schema["$defs"]
    good = {"data": {"source": {"plugin": "floaty", "params": {"mode": "ok"}}}}
    jsonschema.validate(good, schema)


def test_a_kind_whose_only_component_has_no_json_schema_still_gets_a_schema(module, capsys) -> None:
    registry = plugins.Registry()
    registry.add(
        SimpleNamespace(register_data_sources=module.register_data_sources),
        PluginInfo("contracts", DIST, "1.0", "faceoff_contracts"),
    )
    only = SimpleNamespace(register_mask_providers=_opaque_provider_hook(module))
    registry.add(only, PluginInfo("opaque-mask", "faceoff-opaque-mask", "2.0", "x"))
    schema = spec_schema(registry)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "mask provider 'blind' (faceoff-opaque-mask 2.0) is left out" in capsys.readouterr().err
    spec = {"mask": {"provider": {"plugin": "anything", "params": {"x": 1}}}}
    jsonschema.validate(spec, schema)  # the slot takes any component, as with none installed


def _opaque_provider_hook(module: ModuleType):
    from faceoff.hookspecs import hookimpl

    @hookimpl
    def register_mask_providers(register) -> None:
        register("blind", lambda params: None, params=module.OpaqueParams)

    return register_mask_providers


def test_the_schema_command_warns_and_prints_valid_json(site, tmp_path) -> None:
    done = faceoff(site, "schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"data source 'opaque' ({DIST} 1.0) is left out of the schema" in done.stderr
    jsonschema.Draft202012Validator.check_schema(json.loads(done.stdout))


# ---------------------------------------------------------------- optimiser proposals


def proposing(registry, kind: str, *extra: str):
    adversarial = {"plugin": "bad-propose", "params": {"kind": kind}}
    return tiny.tiny_spec(
        f"losses.adversarial={json.dumps(adversarial)}", *extra, registry=registry
    )


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("list", "a list, not a dict"),
        ("noname", 'settings: {"lr": 0.0001}, without a name'),
        ("unknown", 'an unknown optimiser, name "sgd"'),
        ("stray", '"beta1", which rmsprop does not take'),
        ("extra", '"momentum", which adam does not take'),
        ("negative", "optimizer.lr: Input should be greater than 0 (got -1.0)"),
        ("text", 'optimizer.lr: Input should be a valid number (got "fast")'),
        ("null", "optimizer.lr: None, not a number"),
        ("beta", "optimizer.beta2: Input should be less than 1 (got 1.5)"),
        ("raises", "proposing optimiser settings failed (ZeroDivisionError: division by zero)"),
    ],
)
def test_a_bad_optimiser_proposal_names_the_loss_and_what_is_valid(
    registry, kind: str, problem: str
) -> None:
    message = refused(proposing, registry, kind)
    assert message.startswith(f"{QUICKSTART}: losses.adversarial.plugin: {LOSS}")
    assert problem in message
    if kind != "raises":
        assert message.endswith(
            'a proposal is None (no proposal) or a dict {"name": "adam"} with any of lr, beta1, '
            'beta2 or {"name": "rmsprop"} with any of lr, alpha, numbers within the bounds of '
            "the spec's optimizer section"
        )


def test_the_docs_quote_what_a_proposal_may_be() -> None:
    from faceoff.spec_optimizer import _VALID_PROPOSAL

    page = (tiny.ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"which adam does not take; {_VALID_PROPOSAL}\n" in page


def test_a_bad_proposal_is_refused_even_where_the_spec_names_the_optimiser(registry) -> None:
    message = refused(proposing, registry, "unknown", 'optimizer={"name": "adam"}')
    assert LOSS in message


def test_no_proposal_and_a_good_one_are_taken(registry) -> None:
    none = proposing(registry, "none", "optimizer={}").spec.optimizer
    assert (none.name, none.lr, none.beta1, none.beta2) == ("adam", 2e-4, 0.5, 0.999)
    good = proposing(registry, "good", "optimizer={}").spec.optimizer
    assert (good.name, good.lr, good.alpha) == ("rmsprop", 1e-4, 0.99)
    mine = proposing(registry, "good", 'optimizer={"lr": 3e-5}').spec.optimizer
    assert (mine.name, mine.lr) == ("rmsprop", 3e-5)  # the spec's value wins


def test_validate_of_a_bad_proposal_is_one_line(site, tmp_path) -> None:
    adversarial = {"plugin": "bad-propose", "params": {"kind": "unknown"}}
    args = ["validate", QUICKSTART, "--set", f"losses.adversarial={json.dumps(adversarial)}"]
    done = faceoff(site, *args, cwd=tmp_path)
    line = one_error_line(done.returncode, done.stderr)
    assert LOSS in line and "an unknown optimiser" in line


# ---------------------------------------------------------------- mask weights


def test_mask_weights_above_16_negative_or_not_finite_name_the_provider_and_frame() -> None:
    frame = np.zeros((4, 4, 3), np.uint8)
    for value, problem in [
        (40.0, "returned weights above 16 (max 40)"),
        (16.5, "returned weights above 16 (max 16.5)"),
        (-0.5, "returned negative weights (min -0.5)"),
        (np.nan, "returned non-finite weights (NaN or infinity)"),
        (np.inf, "returned non-finite weights (NaN or infinity)"),
    ]:
        mask = np.ones((4, 4), np.float32)
        mask[1, 2] = value
        message = refused(check_mask, mask, frame, "007.png", "A", PROVIDER)
        assert message.startswith(f"{PROVIDER} {problem} for frame '007.png' of A")
    message = refused(check_mask, np.ones((3, 4)), frame, "007.png", "A", PROVIDER)
    assert message == f"{PROVIDER} returned shape (3, 4) for frame '007.png' of A; expected (4, 4)"
    message = refused(check_mask, "mask", frame, "007.png", "A", PROVIDER)
    assert message.startswith(f"{PROVIDER} returned a str for frame '007.png' of A")
    top = check_mask(np.full((4, 4), MAX_WEIGHT), frame, "007.png", "A", PROVIDER)
    assert top.dtype == np.float32 and top.max() == 16.0


def test_a_run_refuses_a_provider_weighting_above_16(registry) -> None:
    from faceoff.train.data import load_data

    heavy = {"provider": {"plugin": "heavy", "params": {"weight": 40}}, "cache": False}
    resolved = tiny.tiny_spec(f"mask={json.dumps(heavy)}", registry=registry)
    message = refused(load_data, resolved)
    assert message.startswith(f"{PROVIDER} returned weights above 16 (max 40) for frame ")
    assert " of A; " in message


def test_a_weight_of_16_survives_the_mask_cache_exactly(registry, tmp_path) -> None:
    component = registry.get("mask_provider", "heavy")
    cache = MaskCache(component, {"weight": 16.0}, root=tmp_path)
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[1] = 1  # two different frames
    domain = Domain(frames, ["a.png", "b.png"])
    for weight, expected in [(16.0, 16.0), (15.9999, 16.0), (1 / 4096, 1 / 4096), (3.5, 3.5)]:
        provider = component.make({"weight": weight})
        first = compute_masks(provider, domain, "A", cache=cache, who=PROVIDER)
        again = compute_masks(provider, domain, "A", cache=cache, who=PROVIDER)
        assert again.cached == 2 and float(again.masks.max()) == pytest.approx(expected, abs=1e-4)
        assert float(first.masks.max()) == pytest.approx(expected, abs=1e-4)
        cache = MaskCache(component, {"weight": weight + 1}, root=tmp_path)  # a fresh folder
    hit, mask = MaskCache(component, {"weight": 16.0}, root=tmp_path).get(
        MaskCache.frame_key(frames[0])
    )
    assert hit and mask.dtype == np.float32 and (mask == 16.0).all()


def test_the_bundled_providers_take_weights_up_to_16() -> None:
    from faceoff_dlib import DlibParams
    from faceoff_synthetic import SyntheticMaskParams

    for model in (DlibParams, SyntheticMaskParams):
        assert model(eye_weight=16, mouth_weight=16).eye_weight == 16
        with pytest.raises(ValidationError, match="less than or equal to 16"):
            model(eye_weight=16.5)
        with pytest.raises(ValidationError, match="less than or equal to 16"):
            model(mouth_weight=17)


# ---------------------------------------------------------------- data sources' frames


def floaty(registry, mode: str):
    return registry.get("data_source", "floaty").make({"mode": mode})


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("float", "the train split: frames must be uint8 [N, H, W, 3], got float32 (4, 36, 36, 3)"),
        ("float01", "the train split: frames must be uint8 [N, H, W, 3], got float64"),
        ("late", "the train split of B: frames must be uint8 [N, H, W, 3], got float64"),
        ("size", "the train split of A: frames are 38 x 38 px; they must be resized to 36 x 36"),
        ("single", "load('train', 36) returned a Domain, not a pair of faceoff.data.Domain"),
    ],
)
def test_frames_against_the_contract_name_the_data_source(registry, mode, problem) -> None:
    who = source_label(registry.get("data_source", "floaty"))
    assert who == SOURCE
    message = refused(load_split, floaty(registry, mode), "train", 36, who)
    assert message.startswith(f"{SOURCE}: {problem}")
    if mode.startswith("float"):
        assert "floats are refused, in [0, 255] or [0, 1] alike" in message


def test_float_frames_are_refused_by_a_run_by_eval_and_by_export(
    registry, monkeypatch, tmp_path
) -> None:
    from faceoff.eval.data import load_eval_data
    from faceoff.train.data import load_data

    source = {"plugin": "floaty", "params": {"mode": "late"}}
    resolved = tiny.tiny_spec(f"data.source={json.dumps(source)}", registry=registry)
    assert SOURCE in refused(load_data, resolved)
    monkeypatch.setattr(plugins, "get_registry", lambda: registry)
    spec = {"data": {"source": source, "load_size": 36, "crop_size": 32}}
    assert refused(load_eval_data, spec, "runs/x").startswith(f"{SOURCE}: the train split of B")
    out = tmp_path / "out"
    message = refused(export_source, floaty(registry, "float"), out, 36, SOURCE)
    assert message.startswith(f"{SOURCE}: the train split: frames must be uint8")
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no partial folder left


def test_faceoff_data_of_float_frames_is_one_line(site, tmp_path) -> None:
    done = faceoff(site, "data", "floaty", "out", "--size", "16", cwd=tmp_path)
    line = one_error_line(done.returncode, done.stderr)
    assert line.startswith(f"error: {SOURCE}: the train split: frames must be uint8")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- --no-progress


def test_track_draws_a_bar_unless_bars_are_off(capsys) -> None:
    assert list(track(range(3), 3, "masks A")) == [0, 1, 2]
    assert "masks A" in capsys.readouterr().err  # drawn even where stderr is not a terminal
    with progress_bars(False):
        assert list(track(range(3), 3, "masks A")) == [0, 1, 2]
        with progress_bars(True):  # an inner block cannot turn them back on
            assert list(track(range(3), 3, "masks B")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_run_no_progress_draws_no_bar_not_even_the_masks(registry, tmp_path, capsys) -> None:
    """What ``faceoff run --no-progress`` does (``train(show_progress=False)``), in-process."""
    from faceoff.train.run import train

    heavy = {"provider": {"plugin": "heavy", "params": {"weight": 2}}, "cache": False}
    resolved = tiny.tiny_spec("train.max_steps=1", f"mask={json.dumps(heavy)}", registry=registry)
    train(resolved, tmp_path / "shown", show_progress=True)
    assert "masks A" in capsys.readouterr().err  # the bars that are to be silenced
    train(resolved, tmp_path / "run", show_progress=False)
    quiet = capsys.readouterr()
    for bar in ("masks A", "masks B", "━", " eta "):  # what a bar draws
        assert bar not in quiet.err + quiet.out, quiet.err
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


# ---------------------------------------------------------------- the command line


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def test_param_errors_say_param(tmp_path) -> None:
    src, dest = str(tmp_path / "G.pth"), str(tmp_path / "G.safetensors")
    for args, expected in [
        (
            ["import-weights", src, dest, "--generator", "resnet", "--param", "n_blocks=NaN"],
            "error: --param 'n_blocks=NaN': NaN is not allowed: numbers must be finite",
        ),
        (
            ["data", "synthetic", str(tmp_path / "out"), "--param", "frames"],
            "error: --param 'frames': expected KEY=VALUE, e.g. NAME=4, a parameter's name",
        ),
        (
            ["data", "synthetic", str(tmp_path / "out"), "--param", "frames=1e999"],
            "error: --param 'frames=1e999': the number 1e999 is beyond the largest float",
        ),
    ]:
        result = invoke(*args)
        line = one_error_line(result.exit_code, result.stderr)
        assert line.startswith(expected) and "--set" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("out", "bad", "kind"),
    [
        ("a\x00b", "\x00", "a NUL byte"),
        ("runs/a\nb", "\n", "a line break"),
        ("x\x1b[2J", "\x1b", "a control character"),
    ],
)
def test_run_out_with_a_nul_byte_or_a_line_break_is_one_line(
    tmp_path, monkeypatch, out: str, bad: str, kind: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", QUICKSTART, "--out", out, "--no-progress", *tiny.set_args(tiny.TINY))
    line = one_error_line(result.exit_code, result.stderr)
    assert line == (
        f"error: --out {out!r}: a run folder's name may not hold {kind} ({bad!r}); choose "
        "another name"
    )
    assert list(tmp_path.iterdir()) == []


def test_run_refuses_an_output_dir_with_a_line_break(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["run", QUICKSTART, "--no-progress", "--set", 'output.dir="runs/one\\ntwo"']
    result = invoke(*args)
    line = one_error_line(result.exit_code, result.stderr)
    assert line.startswith(
        "error: output.dir 'runs/one\\ntwo': a run folder's name may not hold a line break"
    )
    assert list(tmp_path.iterdir()) == []


def test_validate_escapes_the_spec_name_in_its_ok_line(tmp_path) -> None:
    spec = tmp_path / "two\nlines.json"
    spec.write_text(Path(QUICKSTART).read_text())
    result = invoke("validate", str(spec))
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"ok: {str(spec)!r} (") and "two\\nlines.json" in line
