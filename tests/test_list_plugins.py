"""``faceoff list-plugins``: bundled, third-party and broken plugins, as JSON and as a table."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import faceoff

BUNDLED = [
    ("generator", "resnet"),
    ("discriminator", "patchgan"),
    ("loss", "lsgan"),
    ("loss", "l1"),
    ("data_source", "frames"),
    ("data_source", "synthetic"),
]
KEYS = {
    "kind",
    "name",
    "role",
    "entry_point",
    "distribution",
    "version",
    "summary",
    "status",
    "error",
    "params",
}


@pytest.fixture(scope="module")
def rows(cli, third_party) -> list[dict[str, Any]]:
    done = cli("list-plugins", "--json", path=third_party)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data, list)
    return data


def find(rows: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (row,) = [r for r in rows if r["kind"] == kind and r["name"] == name]
    return row


def test_every_row_has_the_documented_keys(rows) -> None:
    assert rows
    for row in rows:
        assert set(row) == KEYS
        assert row["status"] in ("ok", "broken")
        assert (row["error"] is None) == (row["status"] == "ok")


@pytest.mark.parametrize(("kind", "name"), BUNDLED)
def test_bundled_components_are_ok_with_a_params_schema(rows, kind: str, name: str) -> None:
    row = find(rows, kind, name)
    assert row["status"] == "ok"
    assert row["distribution"] == "faceoff"
    assert row["version"] == faceoff.__version__
    assert row["summary"]
    schema = row["params"]
    assert schema["type"] == "object"
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate({}, schema)  # every bundled component has defaults for all params
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"no_such_param": 1}, schema)


def test_bundled_losses_declare_their_roles(rows) -> None:
    assert find(rows, "loss", "lsgan")["role"] == "adversarial"
    assert find(rows, "loss", "l1")["role"] == "reconstruction"
    assert find(rows, "generator", "resnet")["role"] is None


def test_resnet_schema_carries_bounds_and_descriptions(rows) -> None:
    schema = find(rows, "generator", "resnet")["params"]
    jsonschema.validate({"ngf": 8, "n_blocks": 2}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"ngf": 0}, schema)
    assert schema["properties"]["ngf"]["description"]


def test_third_party_components_name_their_distribution(rows) -> None:
    l2 = find(rows, "loss", "l2")
    assert (l2["status"], l2["distribution"], l2["version"]) == ("ok", "faceoff-hello", "0.2.0")
    assert (l2["entry_point"], l2["role"]) == ("hello", "reconstruction")
    reduction = l2["params"]["properties"]["reduction"]
    assert reduction["enum"] == ["mean", "sum"]
    assert reduction["default"] == "mean"
    assert reduction["description"]
    ellipse = find(rows, "mask_provider", "ellipse")
    assert ellipse["distribution"] == "faceoff-hello"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"scale": 0}, ellipse["params"])
    assert find(rows, "loss", "masked-l2")["status"] == "ok"


def test_broken_plugins_are_listed_not_fatal(rows) -> None:
    broken = [r for r in rows if r["status"] == "broken"]
    by_entry_point = {r["entry_point"]: r for r in broken}
    assert set(by_entry_point) == {"broken", "typo"}
    for row in broken:
        assert row["distribution"] == "faceoff-broken"
        assert row["version"] == "0.0.1"
        assert row["kind"] is None and row["name"] is None and row["params"] is None
        assert "\n" not in row["error"]
    assert "needs libfoo" in by_entry_point["broken"]["error"]
    assert by_entry_point["broken"]["error"].startswith("ImportError")
    assert "register_generator" in by_entry_point["typo"]["error"]


def test_broken_rows_come_after_the_components(rows) -> None:
    statuses = [r["status"] for r in rows]
    assert statuses == sorted(statuses, key=lambda s: s == "broken")


def test_table_lists_components_and_broken_plugins(cli, third_party) -> None:
    done = cli("list-plugins", path=third_party)
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr  # the table goes to the console (stderr at present)
    assert "Traceback" not in text
    for _, name in BUNDLED:
        assert name in text
    assert "faceoff-hello" in text
    assert "broken" in text
    assert "needs libfoo" in text


def test_json_is_empty_when_no_plugin_is_selected(cli, third_party) -> None:
    done = cli("list-plugins", "--json", path=third_party, load="")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_load_env_limits_the_listing_to_named_entry_points(cli, third_party) -> None:
    done = cli("list-plugins", "--json", path=third_party, load="hello")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {r["distribution"] for r in data} == {"faceoff-hello"}
    assert sorted(r["name"] for r in data) == ["ellipse", "l2", "masked-l2"]
    assert all(r["status"] == "ok" for r in data)


@pytest.mark.parametrize("columns", [80, 140])
def test_the_table_fits_the_terminal_one_line_per_component(cli, columns: int) -> None:
    done = cli("list-plugins", env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    for name in ("resnet", "cyclegan", "recycle-gan", "tensorboard"):
        assert sum(f" {name} " in line for line in lines) == 1, name
    assert ("distribution" in done.stdout) == (columns >= 110)
