#!/usr/bin/env bash
# GPU check, under 5 minutes on one GPU: install, the CUDA tests, and the benchmark at 256 px
# in fp32, bf16 and fp16. Results go to $OUT (or benchmarks/out) as JSON and text.
#
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/out}"
mkdir -p "$OUT"

if ! timeout 120 python -m pip install -q -e ".[all,dev]" >"$OUT/pip.txt" 2>&1; then
    echo "pip install -e .[all,dev] failed (see $OUT/pip.txt); installing faceoff alone"
    timeout 60 python -m pip install -q --no-deps --no-build-isolation -e . >>"$OUT/pip.txt" 2>&1 || true
fi
python -c "import faceoff, pytest" || { echo "faceoff or pytest missing"; exit 1; }
python - <<'PY' | tee "$OUT/gpu.txt"
import torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))
PY

# the CUDA-relevant tests (mixed precision on CUDA runs only where there is a GPU)
timeout 150 python -m pytest -q -x tests/test_speed.py tests/test_train.py 2>&1 \
    | tee "$OUT/tests.txt" | tail -n 15

# the paper's size (256 px, ResNet-9 ngf 64, 3-layer D ndf 64, batch 1), and the small one
timeout 120 python benchmarks/bench.py --device cuda --config paper --config small \
    --precision fp32,bf16,fp16 --channels-last --steps 20 --warmup 5 \
    --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
