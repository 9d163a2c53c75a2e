"""The run page (index.html) in a real headless browser, and samples/latest.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import pytest

import tiny
from faceoff.train.run import train

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered(page: Path) -> str:
    """The page's DOM after Chromium loaded it (and ran its script)."""
    if CHROMIUM is None:
        pytest.skip("needs Chromium (Debian: apt-get install chromium; .ci/run installs it)")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_run_page_shows_every_grid_and_the_losses(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny.tiny_spec("train.max_steps=4"), run, show_progress=False)
    latest = cv2.imread(str(run / "samples" / "latest.png"))
    assert (
        latest is not None
        and (latest == cv2.imread(str(run / "samples" / "step_00000004.png"))).all()
    )
    dom = rendered(run / "index.html")
    sources = re.findall(r'<img src="([^"]+)"', dom)
    assert sources == ["losses.png", "samples/step_00000004.png", "samples/step_00000002.png"]
    assert 'data-loaded="3"' in dom and "missing:" not in dom.split("<script>")[0]
    assert "step 4 of 4 (finished)" in dom and "cycle_A" in dom
    (run / "samples" / "step_00000002.png").unlink()  # a picture gone: the page says so
    dom = rendered(run / "index.html")
    assert 'data-loaded="2"' in dom and "missing: samples/step_00000002.png" in dom
