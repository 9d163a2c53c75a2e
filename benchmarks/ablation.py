"""The paper's ablation at 64 px on the CPU, in one command: train, evaluate, tabulate, draw.

    python benchmarks/ablation.py                      # 8 configurations x seeds 0 1, 2 jobs
    python benchmarks/ablation.py --stage report       # re-tabulate finished runs

Stages (``--stage all`` runs them in order, each skipping work already done):
- ``train``: ``faceoff run examples/ablation/NAME.json --set train.seed=S`` into
  ``OUT/NAME-sS`` for every configuration and seed, ``--jobs`` at a time, one OpenMP thread
  each when several run at once (two threads sharing a core run tiny networks ~100x slower).
  A finished run is skipped, an interrupted one resumed.
- ``eval``: ``faceoff eval`` of each run (direction a2b), saved as ``OUT/NAME-sS/eval.json``.
- ``report``: mean and spread over seeds per configuration -> ``OUT/ablation.json``, the
  markdown table (also written between the ``ablation-table`` markers of ``docs/results.md``),
  a Figure-6-style grid (``faceoff compare``) and Figure-7-style curves (``faceoff plot``) of the
  first seed's runs into ``docs/images/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "ablation"
CONFIGS = (
    "baseline",
    "ssim",
    "unet",
    "wgan",
    "mask-crop",
    "mask-weight",
    "deep-d",
    "dual-d",
)
MARKER_START, MARKER_END = "<!-- ablation-table -->", "<!-- /ablation-table -->"


def run_name(config: str, seed: int) -> str:
    return f"{config}-s{seed}"


def total_steps(run: Path) -> int | None:
    """The run's planned number of steps, from its resolved spec (None before it starts)."""
    meta = run / "train_time.json"
    if meta.is_file():
        return json.loads(meta.read_text())["steps"]
    return None


def finished(run: Path) -> bool:
    return (run / "train_time.json").is_file()


def train_one(config: str, seed: int, out: Path, threads: int, extra: list[str]) -> str:
    """Train (or resume, or skip) one run; returns a one-line status."""
    run = out / run_name(config, seed)
    if finished(run):
        return f"{run.name}: done before"
    resume = (run / "checkpoints").is_dir() and any((run / "checkpoints").glob("step_*"))
    cmd = [
        sys.executable,
        "-m",
        "faceoff",
        "run",
        str(SPECS / f"{config}.json"),
        "--out",
        str(run),
        "--set",
        f"train.seed={seed}",
        "--no-progress",
        *extra,
    ]
    cmd += ["--resume"] if resume else ["--overwrite"]
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{run.name}.log", "a", encoding="utf-8") as log:
        code = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        return f"{run.name}: FAILED (exit {code}; see {out / (run.name + '.log')})"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = max(row["step"] for row in rows)
    (run / "train_time.json").write_text(
        json.dumps({"seconds": seconds, "steps": steps, "threads": threads, "resumed": resume})
    )
    return f"{run.name}: {steps} steps in {seconds / 60:.1f} min"


def stage_train(args: argparse.Namespace) -> None:
    jobs = [(c, s) for s in args.seeds for c in args.configs]
    threads = args.threads or (1 if args.jobs > 1 else 2)
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(train_one, c, s, args.out, threads, args.set_args) for c, s in jobs]
        for future in futures:
            print(future.result(), flush=True)


def stage_eval(args: argparse.Namespace) -> None:
    from faceoff.eval import evaluate

    for seed in args.seeds:
        for config in args.configs:
            run = args.out / run_name(config, seed)
            target = run / "eval.json"
            if not finished(run):
                print(f"{run.name}: not trained yet", flush=True)
                continue
            if target.is_file() and not args.force:
                continue
            started = time.perf_counter()
            result = evaluate(run, direction="a2b")
            target.write_text(json.dumps(result, indent=2) + "\n")
            print(f"{run.name}: evaluated in {time.perf_counter() - started:.0f} s", flush=True)


def stage_report(args: argparse.Namespace) -> None:
    raise SystemExit("report: not written yet")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=["all", "train", "eval", "report"], default="all")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2, help="Runs trained at once.")
    parser.add_argument("--threads", type=int, default=0, help="Threads per run (0: auto).")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ablation")
    parser.add_argument("--force", action="store_true", help="Evaluate again.")
    parser.add_argument(
        "--set",
        dest="set_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra spec override for every run, e.g. --set train.max_steps=100.",
    )
    args = parser.parse_args(argv)
    args.set_args = [a for item in args.set_args for a in ("--set", item)]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stages = ["train", "eval", "report"] if args.stage == "all" else [args.stage]
    for stage in stages:
        {"train": stage_train, "eval": stage_eval, "report": stage_report}[stage](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
