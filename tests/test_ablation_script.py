"""benchmarks/ablation.py end to end on tiny runs: train, skip what is done, evaluate, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from faceoff.eval import judges
from faceoff.eval.nets import JudgeConfig
from tiny import ROOT, TINY

sys.path.insert(0, str(ROOT / "benchmarks"))
import ablation

# The tiny overrides, with enough frames for the judges and a test sequence (later ones win).
TINY_RUN = [*TINY, "data.source.params.frames=24", "data.source.params.test_frames=6"]
TINY_RUN += ["train.max_steps=2", "objective.params.pool_size=2"]


def test_the_ablation_script_trains_evaluates_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    small = JudgeConfig(width=8, layers=4, steps=30, batch_size=8, lr=3e-3)
    monkeypatch.setattr(judges, "PROBE_CONFIG", small)
    monkeypatch.setattr(judges, "CLASSIFIER_CONFIG", small)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "results.md").write_text(
        "before\n<!-- ablation-table -->\nold\n<!-- /ablation-table -->\nafter\n"
    )
    out = tmp_path / "runs"
    args = ["--configs", "baseline", "mask-weight", "--seeds", "0", "--jobs", "2"]
    args += ["--out", str(out), "--docs", str(docs)]
    args += [a for item in TINY_RUN for a in ("--set", item)]
    assert ablation.main(args) == 0
    for name in ("baseline-s0", "mask-weight-s0"):
        assert json.loads((out / name / "train_time.json").read_text())["steps"] == 2
        result = json.loads((out / name / "eval.json").read_text())
        assert result["direction"] == "a2b" and result["frames"] == 6
    report = json.loads((out / "ablation.json").read_text())
    assert set(report["configs"]) == {"baseline", "mask-weight"}
    assert report["configs"]["baseline"]["psnr"]["n"] == 1
    assert report["references"]["none"]["psnr"] == 100.0  # output = input: a perfect "cycle"
    assert report["references"]["ideal"]["identity"] == pytest.approx(1.0, abs=0.34)
    text = (docs / "results.md").read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| baseline |" in text and "| mask-weight |" in text and "ideal face-off" in text
    assert (docs / "images" / "ablation-compare.png").stat().st_size > 0
    assert (docs / "images" / "ablation-losses.png").stat().st_size > 0
    capsys.readouterr()
    assert ablation.main([*args, "--stage", "train"]) == 0  # nothing left to train
    assert capsys.readouterr().out.count("done before") == 2
    # the objectives' table: the finished baseline is reused, cut trained; its own markers
    (docs / "results.md").write_text(
        "a\n<!-- objectives-table -->\nold\n<!-- /objectives-table -->\nb\n"
    )
    objectives = ["--table", "objectives", "--configs", "baseline", "cut", *args[3:]]
    assert ablation.main(objectives) == 0
    report = json.loads((out / "objectives.json").read_text())
    assert report["configs"]["cut"]["psnr"]["n"] == 0  # one way: no cycle to measure
    assert (
        report["configs"]["cut"]["nce"]["n"] == 1 and report["configs"]["baseline"]["nce"]["n"] == 0
    )
    assert report["configs"]["baseline"]["warping"]["mean"] > 0
    text = (docs / "results.md").read_text()
    assert "| cut |" in text and "final NCE" in text and "mouth_open" in text
    assert (docs / "images" / "objectives-compare.png").stat().st_size > 0
