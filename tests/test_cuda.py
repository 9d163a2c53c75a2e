"""What only a CUDA device shows: the same step as on the CPU, the pinned-memory pipeline, a
checkpoint that moves between devices, compile, and the out-of-memory message.

Skipped where there is no GPU (CI has none); ``benchmarks/gpu_check.sh`` runs them on one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from faceoff.errors import FaceoffError
from faceoff.train.build import build_training
from faceoff.train.run import train
from tiny import tiny_spec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

DEV = "cuda"  # a module name, so the logic can be dry-run on the CPU: test_cuda.DEV = "cpu"


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def exact_fp32() -> Iterator[None]:
    """TF32 off, so CUDA convolutions and matmuls round like the CPU's fp32."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _two_steps(device: torch.device, weights: dict, batches: list[dict]) -> list[dict]:
    resolved = tiny_spec(f"train.device={device.type}")
    model = build_training(resolved, device)
    model.objective.load_state_dict(weights)
    return [{k: float(v) for k, v in model.step(b).items()} for b in batches]


def test_a_cuda_step_computes_what_the_cpu_step_computes(exact_fp32: None) -> None:
    """Same weights, same batches, fp32: the CPU path (our group-norm instance norm, folded
    reflection pads, fused Adam) and the CUDA path (cuDNN) give the same losses, before and after
    one optimiser step. A wrong kernel, layout or optimiser on either side would not."""
    resolved = tiny_spec()
    torch.manual_seed(0)
    weights = build_training(resolved, torch.device("cpu")).objective
    weights = {k: v.clone() for k, v in weights.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    shape = (2, 3, 32, 32)
    batches = [
        {k: torch.randint(0, 256, shape, dtype=torch.uint8, generator=g) for k in "AB"}
        for _ in range(2)
    ]
    cpu = _two_steps(torch.device("cpu"), weights, batches)
    gpu = _two_steps(torch.device(DEV), weights, batches)
    for step, (a, b) in enumerate(zip(cpu, gpu)):
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-3, abs=1e-5), (step, k)


def test_training_on_cuda_with_workers_and_pinned_memory(tmp_path: Path) -> None:
    """The CUDA pipeline (two workers, pinned memory, non-blocking copies) trains, checkpoints
    and resumes; the checkpoint then resumes on the CPU, as for a user who trained on a GPU."""
    run = tmp_path / "r"
    on_cuda = (f"train.device={DEV}", "train.workers=2")
    first = train(tiny_spec("train.max_steps=4", *on_cuda), run, show_progress=False)
    assert first.steps == 4 and first.checkpoint is not None
    train(tiny_spec("train.max_steps=6", *on_cuda), run, resume=True, show_progress=False)
    last = train(tiny_spec("train.max_steps=8"), run, resume=True, show_progress=False)
    assert last.steps == 8
    rows = metrics(run)
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert all(torch.isfinite(torch.tensor(r["G"])) for r in rows)


def test_compile_on_cuda_computes_the_same_losses(exact_fp32: None) -> None:
    """``train.compile`` (Triton kernels on CUDA) starts from the same weights and gives the
    same losses as the eager step."""
    g = torch.Generator().manual_seed(3)
    batches = [
        {k: torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=g) for k in "AB"}
        for _ in range(2)
    ]
    out = []
    for extra in ((), ("train.compile=true",)):
        torch.manual_seed(0)
        model = build_training(tiny_spec(f"train.device={DEV}", *extra), torch.device(DEV))
        out.append([{k: float(v) for k, v in model.step(b).items()} for b in batches])
    for a, b in zip(*out):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=2e-3, abs=1e-5), k


def test_out_of_memory_names_the_batch_and_crop_size(tmp_path: Path) -> None:
    """A step that does not fit says which settings to lower, and writes no checkpoint."""
    big = (f"train.device={DEV}", "data.load_size=144", "data.crop_size=128", "train.batch_size=16")
    spec = tiny_spec("train.max_steps=2", "data.source.params.frames=32", *big)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(8e6 / total)  # ~8 MB: the weights, no step
    try:
        with pytest.raises(FaceoffError, match=r"batch_size 16 and data.crop_size 128"):
            train(spec, tmp_path / "r", show_progress=False)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert not list((tmp_path / "r").rglob("*.safetensors"))
