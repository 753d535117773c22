#!/usr/bin/env bash
# One prepared GPU session: install, GPU tests, throughput, end-to-end full-scale runs.
# Usage (on a CUDA machine, from the repository root):  bash benchmarks/gpu_check.sh [OUTDIR]
# Results (JSON, logs) go to OUTDIR (default benchmarks/results). Each step has its own time limit
# so a slow step cannot eat the others' time.
set -uo pipefail
OUT=${1:-benchmarks/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
if ! $PY -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  $PY -m pip install -q "torch" || exit 1
fi
$PY -m pip install -q -e '.[test]' --no-deps >/dev/null 2>&1 || $PY -m pip install -q -e '.[test]'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu_info.csv"
timeout 240 $PY -m pytest -q -m gpu tests 2>&1 | tail -5 | tee "$OUT/gpu_tests.log"
timeout 240 $PY benchmarks/bench_throughput.py --device cuda --out "$OUT/throughput_cuda.json" 2>&1 | tail -25
timeout 420 $PY benchmarks/bench_end_to_end.py --device cuda --out "$OUT/end_to_end_cuda.json" 2>&1 | tail -8
timeout 120 $PY benchmarks/bench_scaling.py --device cuda --out "$OUT/scaling_cuda.json" 2>&1 | tail -6
