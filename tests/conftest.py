"""Shared fixtures: the third-party test plugins installed for real, and a clean plugin registry."""

from __future__ import annotations

import os
import tempfile

# Tiny networks run ~100x slower with two OpenMP threads when another process shares the two
# cores (measured: 4.2 s vs 0.04 s a step). Set before torch loads; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Masks are cached on disk; tests keep theirs out of the user's ~/.cache.
os.environ.setdefault("FACEOFF_CACHE", tempfile.mkdtemp(prefix="faceoff-test-cache-"))

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faceoff import plugins

ROOT = Path(__file__).resolve().parents[1]
TEST_DISTS = ("faceoff-hello", "faceoff-broken", "faceoff-simgan")


@pytest.fixture(scope="session")
def third_party(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder holding the test distributions under ``tests/plugins/``, installed by pip.

    One offline pip call builds real wheels with the installed setuptools; the sources are copied
    first so the build leaves nothing in the repository. Put the folder on ``PYTHONPATH`` (or
    ``sys.path``) to make its entry points visible.
    """
    sources = tmp_path_factory.mktemp("dist-src")
    for name in TEST_DISTS:
        shutil.copytree(ROOT / "tests" / "plugins" / name, sources / name)
    target = tmp_path_factory.mktemp("site")
    command = [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
        *("--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir"),
        *("--target", str(target)),
        *(str(sources / name) for name in TEST_DISTS),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    yield target


@pytest.fixture(scope="session")
def cli(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m faceoff ARGS`` in a fresh process, in an empty folder.

    ``path`` goes first on PYTHONPATH; ``load`` sets FACEOFF_LOAD_PLUGINS (None: unset, so every
    entry point loads); ``env`` adds to the environment.
    """
    cwd = tmp_path_factory.mktemp("cwd")

    def run(
        *args: str,
        path: Path | None = None,
        load: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        full = {k: v for k, v in os.environ.items() if k != plugins.LOAD_ENV}
        full["COLUMNS"] = "200"
        if path is not None:
            full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), full.get("PYTHONPATH")]))
        if load is not None:
            full[plugins.LOAD_ENV] = load
        full.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "faceoff", *args],
            capture_output=True,
            text=True,
            env=full,
            cwd=cwd,
            timeout=timeout,
        )

    return run


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FACEOFF_LOAD_PLUGINS from the caller; an empty ``get_registry`` cache before and after."""
    monkeypatch.delenv(plugins.LOAD_ENV, raising=False)
    plugins.get_registry.cache_clear()
    yield
    plugins.get_registry.cache_clear()
