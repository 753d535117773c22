"""GPU against CPU on the same full-scale denoising run: wall time and peak memory side by side.

Reads two results of ``bench_end_to_end.py`` (the committed CPU run, ``end_to_end_cpu.json``, and a
GPU run, ``end_to_end_cuda.json``), checks that every method ran the same configuration (up to the
device, the chunk size and the progress bar) on the same number of crops and budget, and writes one
row per method: algorithm wall time and peak memory on each device, the speed-up, and whether the
GPU run meets the goal (a full-scale 3e5-computation denoising run within 10 s). Usage::

    python benchmarks/compare_end_to_end.py --cpu benchmarks/results/end_to_end_cpu.json \\
        --gpu benchmarks/results/end_to_end_cuda.json --out benchmarks/results/end_to_end_gpu_vs_cpu.json
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python benchmarks/compare_end_to_end.py) from a source checkout
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import save_result

log = logging.getLogger("compare_end_to_end")

#: Configuration keys that may differ between the two runs (they do not change the algorithm).
RUNTIME_KEYS = frozenset({"device", "chunk_size", "progress"})


def compare(cpu: dict, gpu: dict) -> dict:
    """Rows per method present in both results; raises ``ValueError`` when the runs differ."""
    for key in ("m", "budget"):
        if cpu.get(key) != gpu.get(key):
            raise ValueError(f"the runs differ in {key}: CPU {cpu.get(key)}, GPU {gpu.get(key)}; rerun the GPU "
                             "benchmark with the CPU run's --count and --budget")
    rows = {}
    for method in sorted(set(cpu["results"]) & set(gpu["results"])):
        c, g = cpu["results"][method], gpu["results"][method]
        diff = sorted(k for k in c["config"] if k not in RUNTIME_KEYS and c["config"][k] != g["config"].get(k))
        if diff:
            raise ValueError(f"{method}: the runs' configurations differ in {diff}; compare runs of one configuration")
        rows[method] = {
            "cpu_algorithm_seconds": c["algorithm_wall_time"], "gpu_algorithm_seconds": g["algorithm_wall_time"],
            "speedup": c["algorithm_wall_time"] / g["algorithm_wall_time"] if g["algorithm_wall_time"] else None,
            "cpu_peak_memory_bytes": c["peak_memory_bytes"], "gpu_peak_memory_bytes": g["peak_memory_bytes"],
            "cpu_computations": c["computations"], "gpu_computations": g["computations"],
            "cpu_final_train_psnr": c["final"].get("train_psnr"), "gpu_final_train_psnr": g["final"].get("train_psnr"),
            "gpu_device": g.get("device"),
            "goal_seconds": gpu.get("goal_seconds_h100", 10.0),
            "meets_goal": g["algorithm_wall_time"] <= gpu.get("goal_seconds_h100", 10.0),
        }
    if not rows:
        raise ValueError("the two results share no method")
    return {"benchmark": "end_to_end_gpu_vs_cpu", "m": cpu["m"], "budget": cpu["budget"], "rows": rows,
            "cpu_git_commit": cpu.get("git_commit"), "gpu_git_commit": gpu.get("git_commit"),
            "note": "peak memory: resident set size of the process on the CPU, torch.cuda.max_memory_allocated on the GPU"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", required=True, help="bench_end_to_end.py result of the CPU run (JSON)")
    ap.add_argument("--gpu", required=True, help="bench_end_to_end.py result of the GPU run (JSON)")
    ap.add_argument("--out", default=None, help="output JSON (default: benchmarks/results/end_to_end_gpu_vs_cpu.json)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cpu, gpu = (json.loads(Path(p).read_text()) for p in (args.cpu, args.gpu))
        result = compare(cpu, gpu)
    except (OSError, ValueError, KeyError) as exc:
        log.error("error: %s", exc)
        return 2
    for method, r in result["rows"].items():
        log.info("%s: CPU %.1f s, GPU %.2f s (x%.1f); peak memory CPU %.0f MiB, GPU %.0f MiB; goal %s", method,
                 r["cpu_algorithm_seconds"], r["gpu_algorithm_seconds"], r["speedup"] or float("nan"),
                 r["cpu_peak_memory_bytes"] / 2**20, r["gpu_peak_memory_bytes"] / 2**20,
                 "met" if r["meets_goal"] else "NOT met")
    save_result(result, args.out, "end_to_end_gpu_vs_cpu.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
