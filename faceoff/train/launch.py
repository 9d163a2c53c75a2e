"""``faceoff run --nproc N``: N training processes on this machine, started and watched here.

torchrun would do the same for one machine, but it turns a rank's clean exit code (2: stopped by
Ctrl-C with a checkpoint written, or a one-line error) into its own 1 and a traceback of its
own. Starting the ranks ourselves keeps the ranks' code and messages, and lets a rank that died
take the others down instead of leaving them blocked in an all-reduce. Use ``torchrun`` for
several machines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

GRACE_SECONDS = 30.0
"""How long the other ranks may take to stop after one has exited with an error."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rank_env(rank: int, nproc: int, port: int) -> dict[str, str]:
    """The environment torchrun would give rank ``rank`` of ``nproc`` on one machine."""
    env = dict(os.environ)
    env.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    # N processes sharing the cores: without this each would start one thread per core.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return env


def _exit_code(codes: Sequence[int | None]) -> int:
    """The run's exit code: 0 if all ranks succeeded, else the first non-zero code seen."""
    failed = [c for c in codes if c not in (None, 0)]
    if not failed:
        return 0
    return failed[0] if failed[0] > 0 else 1  # a rank killed by a signal: generic failure


def launch(args: Sequence[str], nproc: int) -> int:
    """Run ``python -m faceoff run ARGS`` as ranks 0..nproc-1; their exit code.

    SIGINT and SIGTERM sent to the launcher are passed on to every rank (a rank that gets one
    twice, from the terminal and from here, stops once): each finishes its step, rank 0 writes
    the checkpoint, and all exit 2. If a rank exits with an error while others still run, the
    others get SIGTERM after :data:`GRACE_SECONDS`, then SIGKILL.
    """
    port = free_port()
    command = [sys.executable, "-m", "faceoff", "run", *args]
    ranks = [subprocess.Popen(command, env=rank_env(r, nproc, port)) for r in range(nproc)]

    def forward(signum: int, frame: object) -> None:
        for p in ranks:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _watch(ranks)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _watch(ranks: list[subprocess.Popen]) -> int:
    """Wait for all ranks; stop the rest when one has failed and they outlive the grace time."""
    failed_at: float | None = None
    terminated = False
    while True:
        codes = [p.poll() for p in ranks]
        if all(c is not None for c in codes):
            return _exit_code(codes)
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > GRACE_SECONDS:
            for p in ranks:
                if p.poll() is None:
                    p.kill() if terminated else p.terminate()
            terminated, failed_at = True, time.monotonic()
        time.sleep(0.2)
