"""End to end: the paper's full-scale denoising run (1024 colour crops of 96x96, budget 3e5
computations), wall time and peak memory, for ISGD and MAID.

Data: ``--data`` (default: the CBSD68 folder beside the repository, 68 photographs x 15 grid crops
= 1020 crops; STL-10 via ``stl10:PATH`` gives the paper's 1024). Evaluation is done only at the
start and the end (``eval_every = budget``) so the wall time is the algorithm's. Goal on an
H100-class GPU: within 10 s per run. Writes ``benchmarks/results/end_to_end_<device>.json``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, portable_path, save_result, shared_data

from bilevel.data import TASKS
from bilevel.train import TrainConfig, train

log = logging.getLogger("bench_end_to_end")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=shared_data("CBSD68"))
    ap.add_argument("--count", type=int, default=1024, help="training crops (at most what the photographs give)")
    ap.add_argument("--crop", type=int, default=None,
                    help="side of the training crops (default: the denoising task's, the paper's 96x96)")
    ap.add_argument("--budget", type=int, default=300000)
    ap.add_argument("--test-count", type=int, default=None,
                    help="test crops evaluated at the start and the end (default: every crop of the test photographs)")
    ap.add_argument("--methods", nargs="+", default=["isgd", "maid"], choices=["isgd", "maid", "igd"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bilevel.datasets import load_crops

    if args.crop is not None and args.crop < 8:
        ap.error(f"--crop must be at least 8 pixels, got {args.crop}")
    available = load_crops(args.data, args.crop or TASKS["denoising"].crop, None).shape[0]
    count = min(args.count, available)
    results = {}
    runs = (Path(args.out).resolve().parent if args.out else RESULTS) / "runs"
    for method in args.methods:
        changes = {"isgd": dict(step="inverse_sqrt", alpha0=1e-3, batch_size=32),
                   "maid": dict(alpha0=1e-3, eps0=1e-1), "igd": dict(alpha0=3e-4)}[method]
        cfg = TrainConfig(task="denoising", method=method, data=args.data, test_data=None, train_count=count,
                          crop=args.crop, test_count=args.test_count, budget=args.budget, eval_every=args.budget,
                          checkpoint_every=10**6, chunk_size=args.chunk_size, device=args.device, **changes)
        res = train(cfg, runs / f"end-to-end-{method}", resume=True)
        results[method] = {k: res.summary[k] for k in ("iterations", "computations", "algorithm_wall_time",
                                                          "session_seconds", "peak_memory_bytes", "device", "stop_reason")}
        results[method]["final"] = res.summary["final"]
        results[method]["config"] = {**cfg.as_dict(), "data": portable_path(cfg.data)}
        log.info("%s: %d computations in %.1f s (algorithm), peak memory %.0f MiB", method, res.summary["computations"],
                 res.summary["algorithm_wall_time"], res.summary["peak_memory_bytes"] / 2**20)
    dev = "cuda" if (args.device == "auto" and torch.cuda.is_available()) or args.device.startswith("cuda") else "cpu"
    save_result({"benchmark": "end_to_end", "m": count, "data": portable_path(args.data), "budget": args.budget,
                 "results": results, "goal_seconds_h100": 10.0}, args.out, f"end_to_end_{dev}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
