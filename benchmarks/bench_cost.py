"""Cost: ISGD and MAID on the same data and budget, computations to reach a training PSNR.

Trains FoE denoising with ISGD (constant step), ISGD (decreasing step) and MAID with both error
oracles (certified bound, estimate) on the same
training crops with the same budget, evaluating the full training PSNR at certified accuracy
``1e-3`` every ``--eval-every`` computations, and reports for each method the computations after
which the training PSNR first reached ``--target`` dB (``null`` if never). Writes
``benchmarks/results/cost.json``, ``cost.csv`` (one row per evaluation) and ``cost.png`` (loss and
PSNR versus computations); for MAID also its accepted and rejected steps and where its computations
went (lower level, CG, certification, refused gradients, backtracking trials). Finished runs (in ``results/runs/``) are reused.

Usage: ``python benchmarks/bench_cost.py [--data embedded|FOLDER] [--budget N] [--target DB]``
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, save_result

from bilevel.io import write_bytes_atomic

from bilevel.main_job import DEMO_METHODS, format_maid_breakdown, maid_breakdown
from bilevel.plots import plot_training_curves
from bilevel.train import TrainConfig, train

log = logging.getLogger("bench_cost")


def computations_to_reach(evaluations: list[dict], target: float) -> int | None:
    for row in evaluations:
        if float(row["train_psnr"]) >= target:
            return int(row["computations"])
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="embedded", help="training images: 'embedded' or a folder")
    ap.add_argument("--train-count", type=int, default=48)
    ap.add_argument("--crop", type=int, default=None, help="crop side in pixels (default: the task's 96)")
    ap.add_argument("--budget", type=int, default=30000)
    ap.add_argument("--eval-every", type=int, default=1500)
    ap.add_argument("--target", type=float, default=26.0, help="training PSNR to reach, dB")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(RESULTS / "cost.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    rows, summary, curves = [], {}, {}
    for label, changes in DEMO_METHODS.items():
        cfg = TrainConfig(task="denoising", data=args.data, train_count=args.train_count, crop=args.crop, test_count=None if args.data != "embedded" else 6,
                          budget=args.budget, eval_every=args.eval_every, device=args.device, progress=False, **changes)
        res = train(cfg, out.parent / "runs" / f"cost-{label.lower().replace(' ', '-')}", resume=True)
        reach = computations_to_reach(res.evaluations, args.target)
        curves[label] = {"records": res.records, "evaluations": res.evaluations}
        summary[label] = {"computations_to_target": reach, "final_train_psnr": res.evaluations[-1]["train_psnr"],
                          "iterations": res.summary["iterations"], "stop": res.stop_reason,
                          "algorithm_seconds": res.summary["algorithm_wall_time"], "config": cfg.as_dict()}
        if maid_breakdown(res.records):
            summary[label]["maid"] = maid_breakdown(res.records)
        for r in res.evaluations:
            rows.append({"method": label, "computations": r["computations"], "train_psnr": r["train_psnr"],
                         "test_psnr": r.get("test_psnr", "")})
        log.info("%s: reaches %.1f dB after %s computations (final %.2f dB)", label, args.target, reach,
                 res.evaluations[-1]["train_psnr"])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["method", "computations", "train_psnr", "test_psnr"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_bytes_atomic(out.with_suffix(".csv"), buf.getvalue().encode())
    save_result({"benchmark": "cost", "target_psnr": args.target, "budget": args.budget, "methods": summary}, out, out.name)
    plot_training_curves(curves, out.with_suffix(".png"),
                         title=f"ISGD and MAID, same data and budget ({args.budget:g} computations); "
                               f"target {args.target:g} dB: " + ", ".join(
                                   f"{k} {v['computations_to_target'] or 'not reached'}" for k, v in summary.items()))
    maids = {k: v["maid"] for k, v in summary.items() if "maid" in v}
    if maids:
        log.info("\n%s", format_maid_breakdown(maids))
    log.info("written %s", out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
