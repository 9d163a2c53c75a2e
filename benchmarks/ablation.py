"""The paper's ablation at 64 px on the CPU, in one command: train, evaluate, tabulate, draw.

    python benchmarks/ablation.py                      # 8 configurations x seeds 0 1, 2 jobs
    python benchmarks/ablation.py --table objectives   # the 6 objectives' table instead
    python benchmarks/ablation.py --stage report       # re-tabulate finished runs

Two tables (``--table``): ``paper``, the paper's eight configurations of CycleGAN, and
``objectives``, the objectives beyond it (cyclegan, with cycle noise, with pseudo-supervision,
recycle-gan, cut, fastcut), each with its own markers in ``docs/results.md`` and its figures.

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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "ablation"
TABLES = {
    "paper": (
        "baseline",
        "ssim",
        "unet",
        "wgan",
        "mask-crop",
        "mask-weight",
        "deep-d",
        "dual-d",
    ),
    "objectives": (
        "baseline",
        "cyclegan-noise",
        "cyclegan-pseudo",
        "recycle-gan",
        "cut",
        "fastcut",
    ),
    "quality": (
        "baseline",
        "recycle-gan",
        "baseline-mouth",
        "recycle-gan-mouth",
        "cyclegan-identity",
        "cyclegan-noise-strong",
        "cyclegan-identity-strong",
        "recycle-gan-identity",
        "cyclegan-identity-puppets",
        "cyclegan-identity-96",
        "cyclegan-identity-b1",
        "recycle-gan-b1",
        "fastcut-b1",
    ),
}
CONFIGS = tuple(dict.fromkeys(c for configs in TABLES.values() for c in configs))
MARKERS = {"paper": "ablation-table", "objectives": "objectives-table", "quality": "quality-table"}
FIGURES = {"paper": "ablation", "objectives": "objectives", "quality": "quality"}


def run_name(config: str, seed: int) -> str:
    return f"{config}-s{seed}"


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
            result["final_nce"] = final_term(run, "NCE")  # CUT's figure where there is no cycle
            target.write_text(json.dumps(result, indent=2) + "\n")
            print(f"{run.name}: evaluated in {time.perf_counter() - started:.0f} s", flush=True)


def _param(name: str):
    def read(e: dict[str, Any]) -> float | None:
        per = e["expression"].get("per_param", {}).get(name)
        return None if per is None else per.get("translated")

    return read


def _section(name: str, key: str):
    return lambda e: e.get(name, {}).get(key)


FIDELITY_COLUMNS = (
    ("fidelity_ssim", "fidelity SSIM", _section("fidelity", "ssim")),
    ("fidelity_psnr", "fidelity PSNR", _section("fidelity", "psnr")),
    ("detail", "detail", _section("fidelity", "detail")),
)
"""Against the ideal face-off (``faceoff eval``'s ``fidelity``; n/a in an eval.json made
before it: ``--stage eval --force``)."""
PAPER_COLUMNS = (
    ("expression", "expression error", lambda e: e["expression"].get("translated")),
    ("identity", "identity", lambda e: e["identity"].get("score")),
    ("stability", "stability", lambda e: e["stability"].get("ratio")),
    ("psnr", "cycle PSNR", lambda e: e["cycle"].get("psnr")),
    ("ssim", "cycle SSIM", lambda e: e["cycle"].get("ssim")),
    ("mouth_corr", "mouth corr.", lambda e: e["landmarks"].get("mouth_corr")),
    *FIDELITY_COLUMNS,
)
OBJECTIVE_COLUMNS = (
    ("expression", "expression error", lambda e: e["expression"].get("translated")),
    ("mouth_open", "mouth_open", _param("mouth_open")),
    ("identity", "identity", lambda e: e["identity"].get("score")),
    ("psnr", "cycle PSNR", lambda e: e["cycle"].get("psnr")),
    ("nce", "final NCE", lambda e: e.get("final_nce")),
    ("warping", "warping error x1e4", lambda e: _scaled(_section("warping", "output")(e))),
    ("warping_ratio", "warping / input's", _section("warping", "ratio")),
    ("tof", "tOF (px)", _section("tof", "output")),
    *FIDELITY_COLUMNS,
)
COLUMN_SETS = {
    "paper": PAPER_COLUMNS,
    "objectives": OBJECTIVE_COLUMNS,
    "quality": OBJECTIVE_COLUMNS,
}
"""(key, table header, how to read it from an eval result)."""
_DIGITS = {"psnr": 1, "fidelity_psnr": 1, "warping": 2, "tof": 2, "nce": 2}


def _scaled(value: float | None, factor: float = 1e4) -> float | None:
    return None if value is None else value * factor


def final_term(run: Path, term: str, rows: int = 4) -> float | None:
    """The mean of a loss term over the last ``rows`` rows of a run's metrics.jsonl."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    values = [json.loads(line).get(term) for line in lines[-rows:]]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _stats(values: list[float | None]) -> dict[str, float | int | None]:
    """Mean and sample standard deviation over seeds (None where a seed had no value)."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return {"mean": None, "sd": None, "n": 0}
    mean = sum(kept) / len(kept)
    sd = (sum((v - mean) ** 2 for v in kept) / (len(kept) - 1)) ** 0.5 if len(kept) > 1 else None
    return {"mean": mean, "sd": sd, "n": len(kept)}


def _cell(stat: dict[str, Any], digits: int = 2) -> str:
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    return text + (f" ± {stat['sd']:.{digits}f}" if stat["sd"] is not None else "")


def ideal_frames(spec: dict[str, Any], data: Any) -> Any:
    """B redrawn with A's ground-truth test parameters by the data source itself, prepared as
    eval's frames (``EvalData.ideal``: any source with ``faceoff.capabilities.RendersPeople``).

    ``data`` was loaded from ``spec`` (``load_eval_data``) and knows its source; ``spec`` is
    kept for the callers that pass both.
    """
    del spec
    ideal = data.ideal(0)
    if isinstance(ideal, str):
        raise SystemExit(f"no ideal face-off: {ideal}")
    return ideal


def references(run: Path) -> dict[str, dict[str, Any]]:
    """The metrics' ends of the scale with the same judges: no face-off and the ideal one.

    ``none``: the generator returns its input; ``ideal``: B redrawn by the data source's
    renderer (the synthetic people or the puppets) with A's ground-truth expression and pose
    (what a perfect face-off would output; its fidelity to itself reads SSIM 1, detail 1).
    """
    from faceoff.eval.core import measure
    from faceoff.eval.data import load_eval_data

    spec = json.loads((run / "spec.json").read_text())
    data = load_eval_data(spec, str(run / "spec.json"))
    inputs = data.test[0]
    return {
        "none": measure(data, "a2b", inputs, inputs),
        "ideal": measure(data, "a2b", ideal_frames(spec, data), None),
    }


def _reference_row(result: dict[str, Any], params: list[str], columns: tuple) -> dict[str, Any]:
    expression = result["expression"]
    return {
        **{key: read(result) for key, _, read in columns},
        "per_param": {n: expression["per_param"][n]["translated"] for n in params},
        "held_out": expression.get("held_out"),
        "held_out_per_param": {n: expression["per_param"][n]["held_out"] for n in params},
    }


def stage_report(args: argparse.Namespace) -> None:
    runs: dict[str, list[Path]] = {
        c: [
            args.out / run_name(c, s)
            for s in args.seeds
            if (args.out / run_name(c, s) / "eval.json").is_file()
        ]
        for c in args.configs
    }
    if not any(runs.values()):
        raise SystemExit(f"no evaluated runs in {args.out}; run --stage train and eval first")
    columns = COLUMN_SETS[args.table]
    results: dict[str, Any] = {"table": args.table, "seeds": args.seeds, "configs": {}}
    params: list[str] = []
    for config, paths in runs.items():
        evals = [json.loads((p / "eval.json").read_text()) for p in paths]
        times = [json.loads((p / "train_time.json").read_text()) for p in paths]
        entry: dict[str, Any] = {"runs": [p.name for p in paths]}
        for key, _, read in columns:
            entry[key] = _stats([read(e) for e in evals])
        entry["minutes"] = _stats([t["seconds"] / 60 for t in times])
        per_param: dict[str, Any] = {}
        for e in evals:
            for name in e["expression"].get("readable", []):
                per_param.setdefault(name, []).append(
                    e["expression"]["per_param"][name]["translated"]
                )
        entry["per_param"] = {k: _stats(v) for k, v in per_param.items()}
        params = params or sorted(per_param, key=lambda n: (n != "mouth_open", n))
        results["configs"][config] = entry
    first = next(p for paths in runs.values() for p in paths)
    results["references"] = {
        name: _reference_row(result, params, columns) for name, result in references(first).items()
    }
    report = args.out / ("ablation.json" if args.table == "paper" else f"{args.table}.json")
    report.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, params, columns)
    print(table)
    _write_table(table, args.docs / "results.md", MARKERS[args.table])
    _figures(runs, args.docs / "images", FIGURES[args.table])


def markdown(results: dict[str, Any], params: list[str], columns: tuple = PAPER_COLUMNS) -> str:
    """The main table (metrics by configuration) and the per-parameter expression table."""
    n = max(len(e["runs"]) for e in results["configs"].values())
    head = ["configuration", *(c[1] for c in columns), "train min"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for config, e in results["configs"].items():
        cells = [_cell(e[c[0]], _DIGITS.get(c[0], 2)) for c in columns]
        lines.append(f"| {config} | " + " | ".join(cells) + f" | {_cell(e['minutes'], 1)} |")
    for name, label in (
        ("none", "no face-off (output = input)"),
        ("ideal", "ideal face-off (rendered)"),
    ):
        ref = results["references"][name]
        cells = [
            "n/a" if ref[c[0]] is None else f"{ref[c[0]]:.{_DIGITS.get(c[0], 2)}f}" for c in columns
        ]
        lines.append(f"| *{label}* | " + " | ".join(cells) + " | |")
    held_out = results["references"]["none"]["held_out"]
    floor = "n/a" if held_out is None else f"{held_out:.2f}"
    lines.append("")
    lines.append(
        f"Mean ± standard deviation over {n} seeds. The probe's own error on held-out real B "
        f"frames, the floor of the expression error: {floor}."
    )
    lines.append("")
    lines.append("Expression error per parameter the probe can read (normalised as above):")
    lines.append("")
    lines.append("| configuration | " + " | ".join(params) + " |")
    lines.append("|" + "---|" * (len(params) + 1))
    for config, e in results["configs"].items():
        lines.append(
            f"| {config} | "
            + " | ".join(_cell(e["per_param"].get(p, {"mean": None})) for p in params)
            + " |"
        )
    for name, label, key in (
        ("none", "no face-off", "per_param"),
        ("ideal", "ideal face-off", "per_param"),
        ("none", "probe on real B (held out)", "held_out_per_param"),
    ):
        ref = results["references"][name][key]
        lines.append(f"| *{label}* | " + " | ".join(f"{ref[p]:.2f}" for p in params) + " |")
    return "\n".join(lines)


def _write_table(table: str, doc: Path, marker: str = "ablation-table") -> None:
    """The table between the ``<!-- marker -->`` markers of ``doc`` (left alone without them)."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if not doc.is_file():
        return
    text = doc.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    doc.write_text(f"{before}{start}\n{table}\n{end}{after}", encoding="utf-8")


def _figures(runs: dict[str, list[Path]], images: Path, stem: str = "ablation") -> None:
    """Figure 6 and 7 of the first seed's runs, through the faceoff commands themselves."""
    chosen = [paths[0] for paths in runs.values() if paths]
    images.mkdir(parents=True, exist_ok=True)
    for command, name in (("compare", f"{stem}-compare.png"), ("plot", f"{stem}-losses.png")):
        extra = ["--frames", "5"] if command == "compare" else ["--by", "step"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "faceoff",
                command,
                *map(str, chosen),
                "--out",
                str(images / name),
                *extra,
            ],
            check=True,
        )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=["all", "train", "eval", "report"], default="all")
    parser.add_argument("--table", choices=list(TABLES), default="paper")
    parser.add_argument(
        "--configs", nargs="+", choices=CONFIGS, help="Default: the table's configurations."
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2, help="Runs trained at once.")
    parser.add_argument("--threads", type=int, default=0, help="Threads per run (0: auto).")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ablation")
    parser.add_argument("--force", action="store_true", help="Evaluate again.")
    parser.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs",
        help="Where the report goes: the table into DOCS/results.md, figures into DOCS/images.",
    )
    parser.add_argument(
        "--set",
        dest="set_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Extra spec override for every run, e.g. --set train.max_steps=100.",
    )
    args = parser.parse_args(argv)
    args.configs = args.configs or list(TABLES[args.table])
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
