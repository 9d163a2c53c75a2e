"""Several processes: gloo on the CPU, two ranks.

What is compared, and why it must agree:

- After every step the two ranks' weights are identical (bit for bit): both start from rank 0's
  weights (broadcast; the ranks are deliberately initialised differently), and both apply the
  same averaged gradients with the same optimiser.
- They equal one process trained on the concatenated global batch, within float rounding. That is
  the expected outcome only when nothing else differs between the two: no image pool
  (``pool_size 0``, so no pool randomness and the discriminators see the current fakes), no flip,
  the same initial weights and the same crops (the test cuts both ranks' batches from one global
  batch and calls the real CycleGAN objective's step with the real gradient averaging). Then, as
  instance norm works per sample and every loss is a mean over a batch of equal size on each
  rank, the mean of the ranks' gradients is the gradient of the global batch's loss.
  Left out of this comparison: the biases of convolutions followed by an instance norm, which
  subtracts them again. Their true gradient is zero, so what they get is rounding noise, which
  Adam scales up to steps of about ``lr`` in random directions; they change no output.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from torch import nn

from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.build import Training, build_training
from faceoff.train.distributed import setup
from tiny import QUICKSTART, TINY, cancelled_biases, run_args

WORLD = 2
STEPS = 3
PER_RANK = 2
EXACT = ["objective.params.pool_size=0", "data.flip=false"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flat(model: Training) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.objective.parameters()])


def _cancelled(model: Training) -> torch.Tensor:
    """Which entries of :func:`_flat` are such biases."""
    names = cancelled_biases(model.objective)
    params = model.objective.named_parameters()
    return torch.cat([torch.full((p.numel(),), n in names) for n, p in params])


def _record(model: Training, sync: Callable[[list[nn.Parameter]], None] | None) -> list[dict]:
    """Hook ``sync`` in before each optimiser step; the gradients it leaves, by name, per step."""
    names = {id(p): n for n, p in model.objective.named_parameters()}
    seen: list[dict[str, torch.Tensor]] = []

    def grad_sync(params: list[nn.Parameter]) -> None:
        if sync is not None:
            sync(params)
        seen.append({names[id(p)]: p.grad.clone() for p in params if p.grad is not None})

    model.engine.grad_sync = grad_sync
    return seen


def _global_batches() -> list[dict[str, torch.Tensor]]:
    """Cropped uint8 batches of WORLD x PER_RANK images per domain, one per step."""
    g = torch.Generator().manual_seed(0)
    shape = (WORLD * PER_RANK, 3, 32, 32)
    return [
        {k: torch.randint(0, 256, shape, generator=g, dtype=torch.uint8) for k in ("A", "B")}
        for _ in range(STEPS)
    ]


def _snapshot(model: Training) -> dict:
    """Everything a step starts from: weights and both optimisers' state."""
    return copy.deepcopy(
        {
            "nets": model.objective.state_dict(),
            **{g: opt.state_dict() for g, opt in model.engine.optimizers.items()},
        }
    )


def _restore(model: Training, snapshot: dict) -> None:
    model.objective.load_state_dict(snapshot["nets"])
    for group, opt in model.engine.optimizers.items():
        opt.load_state_dict(copy.deepcopy(snapshot[group]))


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    dist = setup(torch.device("cpu"))
    try:
        resolved = load_spec(QUICKSTART, get_registry(), [*TINY, *EXACT])
        torch.manual_seed(100 + rank)  # different weights on each rank: the broadcast fixes them
        model = build_training(resolved, dist.device)
        dist.broadcast_parameters(model.objective)
        grads = _record(model, dist.average_gradients)  # the real averaging, then recorded
        states, gathered_after = [_snapshot(model)], []
        for batch in _global_batches():
            model.step({k: v[rank::WORLD] for k, v in batch.items()})  # this rank's shard
            flat = _flat(model)
            gathered = [torch.empty_like(flat) for _ in range(WORLD)]
            torch_dist.all_gather(gathered, flat)
            gathered_after.append(gathered)
            states.append(_snapshot(model))
        if rank == 0:
            saved = {"states": states, "gathered": gathered_after, "grads": grads}
            torch.save(saved, Path(out) / "ranks.pt")
    finally:
        dist.teardown()


def test_two_ranks_stay_identical_and_match_one_process_on_the_global_batch(
    tmp_path: Path,
) -> None:
    """Each step is compared from the same starting state (weights and optimiser state, taken
    from rank 0): one process's step on the global batch must give the ranks' averaged gradients
    and their new weights. Run freely for several steps instead, the two drift apart by more than
    rounding, as Adam scales the rounding of near-zero gradients up to steps of about ``lr``."""
    context = mp.start_processes(
        _worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False, start_method="spawn"
    )
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError("the two ranks did not finish within 120 s")
    saved = torch.load(tmp_path / "ranks.pt", weights_only=False)

    for step, (rank0, rank1) in enumerate(saved["gathered"], 1):
        assert torch.equal(rank0, rank1), f"the ranks' weights differ after step {step}"

    resolved = load_spec(QUICKSTART, get_registry(), [*TINY, *EXACT])
    single = build_training(resolved, torch.device("cpu"))
    cancelled = cancelled_biases(single.objective)
    keep = ~_cancelled(single)
    assert 0 < int((~keep).sum()) < 0.05 * len(keep)
    assert len(saved["grads"]) == 2 * STEPS  # a generator and a critic step each
    for step, batch in enumerate(_global_batches(), 1):
        _restore(single, saved["states"][step - 1])
        before = _flat(single)[keep]
        grads = _record(single, None)
        single.step(batch)  # one process, the whole global batch
        # The averaged gradients themselves (Adam would hide a wrong scale: it divides it out).
        for i, (mine, theirs) in enumerate(zip(grads, saved["grads"][2 * step - 2 :])):
            assert mine.keys() == theirs.keys()
            kept = [k for k in mine if k not in cancelled]
            expected = torch.cat([mine[k].reshape(-1) for k in kept])
            got = torch.cat([theirs[k].reshape(-1) for k in kept])
            relative = float((got - expected).norm() / expected.norm())
            assert relative < 1e-5, f"step {step}, optimiser {'GD'[i]}: gradients {relative:.2e}"
        expected, got = _flat(single)[keep], saved["gathered"][step - 1][0][keep]
        relative = float((got - expected).norm() / expected.norm())
        assert relative < 1e-5, f"step {step}: weights differ by {relative:.2e}"
        # the difference is rounding, far smaller than what a step changes
        assert float((got - expected).norm()) < 1e-2 * float((expected - before).norm())


def test_faceoff_run_nproc_2_writes_one_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "faceoff", *run_args(run, ["train.max_steps=2"], "--nproc", "2")],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2], "one metrics line per step: rank 0 alone logs"
    assert rows[0]["epoch"] == 0.5, "8 frames, 2 ranks x 2 images: 2 global steps an epoch"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_00000002.safetensors"]
    assert done.stdout.count("run folder") == 1, "one summary, from rank 0"
    assert not list(run.rglob("*.tmp*"))
