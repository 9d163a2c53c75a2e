"""The docs: generated tables are current; every hook, bundled component and command is named."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faceoff import docgen, hookspecs
from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import LOAD_ENV, load_registry

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_generated_tables_are_current() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faceoff.docgen", "--check", "--docs", str(DOCS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_docgen_needs_no_torch() -> None:
    code = (
        "import sys; from faceoff import docgen; docgen.update(check=True); "
        "assert 'torch' not in sys.modules, 'docgen imported torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_every_hook_is_documented() -> None:
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert len(hooks) >= 5
    page = _read("plugins.md")
    assert [hook for hook in hooks if hook not in page] == []


def test_every_bundled_component_is_documented() -> None:
    components = docgen.bundled_components(load_registry())
    assert {c.kind for c in components} >= {"generator", "discriminator", "loss", "data_source"}
    page = _read("components.md")
    assert [c.name for c in components if f"#### `{c.name}`" not in page] == []


def test_every_command_is_documented() -> None:
    page = _read("cli.md")
    assert set(cli.commands) >= {"run", "validate", "schema", "list-plugins", "data"}
    assert [name for name in cli.commands if f"## `faceoff {name}`" not in page] == []


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "docs"
    shutil.copytree(DOCS, copy)
    return copy


@pytest.mark.parametrize("page", ["spec.md", "components.md"])
def test_check_detects_an_edited_table(
    docs_copy: Path, capsys: pytest.CaptureFixture[str], page: str
) -> None:
    path = docs_copy / page
    text = path.read_text(encoding="utf-8")
    head, marker, block = text.partition("<!-- BEGIN GENERATED")
    row = next(line for line in block.splitlines() if line.startswith("| `"))
    path.write_text(head + marker + block.replace(row, "| `edited` | by hand |", 1), "utf-8")

    assert docgen.update(docs_copy, check=True) == [path]
    assert "| `edited` | by hand |" in path.read_text(encoding="utf-8"), "--check wrote"
    assert docgen.main(["--check", "--docs", str(docs_copy)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err

    assert docgen.update(docs_copy) == [path]
    assert path.read_text(encoding="utf-8") == text
    assert docgen.update(docs_copy, check=True) == []


def test_prose_is_kept_and_not_stale(docs_copy: Path) -> None:
    path = docs_copy / "spec.md"
    edited = "Hand-written words.\n\n" + path.read_text(encoding="utf-8") + "\nMore words.\n"
    path.write_text(edited, encoding="utf-8")
    assert docgen.update(docs_copy, check=True) == []
    assert docgen.update(docs_copy) == []
    assert path.read_text(encoding="utf-8") == edited


def test_missing_markers_are_an_error(docs_copy: Path) -> None:
    path = docs_copy / "components.md"
    path.write_text(path.read_text(encoding="utf-8").replace("END GENERATED", "END"), "utf-8")
    with pytest.raises(FaceoffError, match=r"components\.md.*marker"):
        docgen.update(docs_copy, check=True)


def test_plugin_selection_does_not_change_the_docs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOAD_ENV, "synthetic")
    assert docgen.update(DOCS, check=True) == []
