"""The TensorBoard logger: real event files, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from faceoff.train.run import train
from tiny import tiny_spec

LOGGER = 'output.loggers=[{"plugin": "tensorboard"}]'


def events(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    accumulator.Reload()
    return accumulator


def test_a_three_step_run_logs_losses_samples_and_the_spec(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(tiny_spec("train.max_steps=3", LOGGER), run, show_progress=False)
    read = events(run)
    tags = read.Tags()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for term in ("G", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "idt_B"):
        scalars = read.Scalars(f"loss/{term}")
        assert [s.step for s in scalars] == [1, 2, 3]
        assert [s.value for s in scalars] == pytest.approx([m[term] for m in metrics])
    assert read.Scalars("train/lr")[0].value == pytest.approx(2e-4)
    (first, last) = read.Images("samples")  # the grids of steps 2 and 3 (sample_every 2, end)
    assert (first.step, last.step) == (2, 3)
    grid = np.frombuffer(last.encoded_image_string, np.uint8)
    import cv2

    picture = cv2.imdecode(grid, cv2.IMREAD_COLOR)
    written = cv2.imread(str(result.samples[-1]))
    assert picture.shape == written.shape and np.array_equal(picture, written)
    assert "spec/text_summary" in tags["tensors"]
    text = read.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"plugin": "cyclegan"' in text


def test_a_resumed_run_drops_the_events_past_its_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_spec("train.max_steps=3", "output.checkpoint_every=2", LOGGER), run,
          show_progress=False)  # fmt: skip
    (run / "checkpoints" / "step_00000003.safetensors").unlink()  # as if killed after step 3
    train(tiny_spec("train.max_steps=4", LOGGER), run, resume=True, show_progress=False)
    steps = [s.step for s in events(run).Scalars("loss/G")]
    assert steps == [1, 2, 3, 4]
