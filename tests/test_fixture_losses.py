"""A refactor changes no number: today's training computes the stored fixture's loss terms.

``tests/fixtures/losses.json`` holds every loss term of the quickstart's first 50 steps and of
tiny variants (each adversarial loss, masks, several discriminators, U-Net, dropout, RMSprop,
channels-last, bf16) and of a 0.1 run folder resumed (``tests/fixtures/run-0.1``), recorded by
``tests/loss_record.py`` with the code from before the training objective became a plugin. The
run happens in a fresh process with the pinned arithmetic of :data:`loss_record.PINNED_ENV`;
even so, rounding differs between CPU kinds in a few variants (RMSprop, Adam with beta1 0), so
each kind has its own recording by the code from before the refactor
(``losses-amd-avx512.json``: an AMD EPYC with AVX-512, recorded by 59e0201) and is compared bit
for bit to that one; a kind without one is compared to a tolerance, with a warning.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import loss_record

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "losses.json"  # the first recording, on an Intel Sapphire Rapids


def _stored_for(machine: dict) -> tuple[dict, bool]:
    """The fixture recorded on this kind of CPU (by the code from before the refactor), and
    True; else the first recording and False: only agreement to a tolerance can be asked."""
    for path in sorted(FIXTURES.glob("losses*.json")):
        stored = json.loads(path.read_text())
        if stored.get("machine") == machine:
            return stored, True
    return json.loads(FIXTURE.read_text()), False


def _recorded(tmp_path: Path) -> dict:
    out = tmp_path / "now.json"
    env = {**os.environ, **loss_record.PINNED_ENV, "FACEOFF_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(Path(loss_record.__file__)), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_training_computes_the_fixture_losses_bit_for_bit(tmp_path: Path) -> None:
    now = _recorded(tmp_path)
    stored, same_kind = _stored_for(now["machine"])
    assert now["runs"].keys() == stored["runs"].keys()
    same_arithmetic = same_kind and now["probe"] == stored["probe"]
    for name, run in stored["runs"].items():
        got = now["runs"][name]
        assert len(got["steps"]) == len(run["steps"]), name
        for i, (want, have) in enumerate(zip(run["steps"], got["steps"])):
            assert have.keys() == want.keys(), f"{name} step {i + 1}: other loss terms"
            if same_arithmetic:
                assert have == want, f"{name} step {i + 1}: {have} != {want}"
            elif i == 0:  # rounding differences grow chaotically after the first steps
                for k in want:
                    assert math.isclose(have[k], want[k], rel_tol=1e-4), f"{name} step 1 {k}"
        if same_arithmetic:
            assert got["networks"] == run["networks"], f"{name}: final weights differ"
    if same_arithmetic:
        assert now["apply-0.1"] == stored["apply-0.1"], "apply makes other frames of the 0.1 run"
    # Whatever the arithmetic, the quickstart learns: a broken backward or optimiser would not.
    cycle = [step["cycle_A"] for step in now["runs"]["quickstart"]["steps"]]
    assert sum(cycle[-10:]) < 0.6 * sum(cycle[:10])
    if not same_arithmetic:
        warnings.warn(
            f"no fixture was recorded on this kind of CPU ({now['machine']}), or it rounds "
            f"differently even in the pinned arithmetic (probe {now['probe']} vs "
            f"{stored['probe']}): only the first step was compared, to 1e-4",
            stacklevel=1,
        )
