#!/usr/bin/env bash
# GPU check, about 8 minutes (at most 13) on one GPU: the CUDA tests, the benchmark at 256 px
# and 64 px in fp32, bf16 and fp16 (and bf16 with torch.compile), the quickstart trained on the
# GPU, and the clear refusal of more processes than GPUs. Everything goes to $OUT (default
# benchmarks/out): log.txt, bench_gpu.json, bench_compile.json, and the quickstart's metrics,
# last sample grid, resolved spec and generators (so `faceoff eval` can score it elsewhere).
#
#   bash benchmarks/gpu_check.sh
#
# On a machine without package registries, put wheels of what is missing in .whl/ (see
# benchmarks/README.md); they are installed into /tmp/site.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1
say() { echo "== $*" | tee -a "$LOG"; }
step() {  # step SECONDS NAME COMMAND...: run with a time limit, log, report the exit code
    local limit=$1 name=$2 t0=$SECONDS
    shift 2
    say "$name"
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    say "$name: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s"
}

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl >>"$LOG" 2>&1
    export PYTHONPATH=/tmp/site
else
    timeout 300 python3 -m pip install -q -e ".[all,dev]" >>"$LOG" 2>&1
fi
python3 - <<'PY' 2>&1 | tee -a "$LOG" || exit 1
import faceoff, pydantic, torch
assert torch.cuda.is_available(), "no CUDA device"
p = torch.cuda.get_device_properties(0)
print(torch.__version__, torch.version.cuda, p.name, f"{p.total_memory / 2**30:.0f} GiB")
PY
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$LOG"

step 200 "CUDA tests" python3 -m pytest -q -x -p no:cacheprovider --durations=6 \
    tests/test_cuda.py "tests/test_speed.py::test_mixed_precision_on_cuda"

step 120 "benchmark: paper (256 px) and small (64 px), fp32/bf16/fp16, channels-last" \
    python3 benchmarks/bench.py --device cuda --config paper --config small \
    --precision fp32,bf16,fp16 --channels-last --steps 30 --warmup 5 --json "$OUT/bench_gpu.json"

QS=$(mktemp -d)/quickstart
step 150 "quickstart on the GPU (1,500 steps, fp32)" \
    python3 -m faceoff run examples/quickstart.json --set train.device=cuda --out "$QS" \
    --no-progress
if [ -f "$QS/metrics.jsonl" ]; then
    cp "$QS/metrics.jsonl" "$OUT/qs_metrics.jsonl"
    cp "$QS/spec.json" "$OUT/qs_spec.json"
    cp "$(ls "$QS"/samples/*.png | tail -n 1)" "$OUT/qs_samples.png"
    python3 - "$QS" "$OUT/qs_generators.safetensors" <<'PY' 2>&1 | tee -a "$LOG"
import sys
from pathlib import Path
from safetensors import safe_open
from safetensors.torch import load_file, save_file
last = sorted(Path(sys.argv[1], "checkpoints").glob("*.safetensors"))[-1]
with safe_open(str(last), "pt") as f:
    meta = f.metadata()
nets = {k: v for k, v in load_file(str(last)).items() if k.startswith("net.G_")}
save_file(nets, sys.argv[2], metadata=meta)
print("generators of", last.name, "->", sys.argv[2])
PY
fi

say "two processes on $(python3 -c 'import torch; print(torch.cuda.device_count())') GPU(s)"
timeout 60 python3 -m faceoff run examples/quickstart.json --set train.device=cuda \
    --set train.max_steps=4 --out "$(mktemp -d)/two" --no-progress --nproc 2 2>&1 \
    | tail -n 4 | tee -a "$LOG"

step 240 "benchmark: paper (256 px), bf16 with torch.compile" \
    python3 benchmarks/bench.py --device cuda --config paper --precision bf16 --compile \
    --steps 30 --warmup 5 --json "$OUT/bench_compile.json"
say "done"
