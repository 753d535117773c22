#!/usr/bin/env bash
# One prepared GPU session: install, GPU tests, throughput, end-to-end full-scale runs, GPU versus CPU.
# Usage (on a CUDA machine, from the repository root):  bash benchmarks/gpu_check.sh [OUTDIR] [DATA]
# Results (JSON, logs) go to OUTDIR (default benchmarks/results). DATA is the folder of training
# photographs of the full-scale denoising run (default: $ISGD_DATA, else ../shared/data/CBSD68); it must
# be the data of the committed CPU run (benchmarks/results/end_to_end_cpu.json) for the comparison.
# Each step has its own time limit so a slow step cannot eat the others' time (about 15 minutes in all).
set -uo pipefail
OUT=${1:-benchmarks/results}
DATA=${2:-${ISGD_DATA:-../shared/data/CBSD68}}
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
# The full-scale denoising runs (ISGD and MAID, 1020-1024 crops of 96x96, 3e5 computations): the same
# configuration as the committed CPU run, then wall time and peak memory side by side.
if [ -d "$DATA" ] || [[ "$DATA" == *:* ]]; then
  timeout 420 $PY benchmarks/bench_end_to_end.py --device cuda --data "$DATA" --out "$OUT/end_to_end_cuda.json" 2>&1 | tail -8
  timeout 60 $PY benchmarks/compare_end_to_end.py --cpu benchmarks/results/end_to_end_cpu.json \
    --gpu "$OUT/end_to_end_cuda.json" --out "$OUT/end_to_end_gpu_vs_cpu.json" 2>&1 | tail -4
else
  echo "no training photographs at $DATA: pass the folder of the CPU run (CBSD68) as the second argument" \
    | tee "$OUT/end_to_end_cuda.log"
fi
timeout 120 $PY benchmarks/bench_scaling.py --device cuda --out "$OUT/scaling_cuda.json" 2>&1 | tail -6
