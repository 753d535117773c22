"""Throughput of the core: image-iterations per second of gradient, Hessian-vector product,
lower-level solve, CG and full hypergradient, per dtype and batch size, with roofline fractions.

For every (dtype, batch size): median seconds of one gradient and one HVP (interleaved), of a
lower-level solve and a CG solve of a fixed number of iterations, and of one certified
hypergradient at eps = delta = 1e-3 from a cold start (image-iterations = its computations). The
work one image-iteration must move (``benchmarks.common.foe_work``) and the measured peaks of the
device give achieved fractions of compute peak, bandwidth bound and roofline.

Writes ``benchmarks/results/throughput_<device>.json``. Usage::

    python benchmarks/bench_throughput.py [--device cpu|cuda] [--batches 1 2 4 ... 256] [--dtypes float32 float64]
"""
from __future__ import annotations

import argparse
import logging
import time

import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import foe_work, interleaved, measured_peaks, roofline, save_result, synchronize

from bilevel.data import DENOISING_SIGMA, embedded_crops, make_measurements
from bilevel.foe import FieldOfExperts
from bilevel.hypergradient import hypergradient
from bilevel.operators import Identity
from bilevel.problem import LowerLevelProblem
from bilevel.solvers import conjugate_gradient, solve_lower

log = logging.getLogger("bench_throughput")


def batch_of(n: int, side: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    base = embedded_crops("train", side)
    reps = -(-n // base.shape[0])
    x = torch.cat([base] * reps)[:n]
    y = make_measurements(Identity(), x, DENOISING_SIGMA, 0).y
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def measure(batch: int, dtype, device, side: int, iters: int, repeats: int) -> dict:
    x_star, y = batch_of(batch, side, dtype, device)
    fam = FieldOfExperts()
    problem = LowerLevelProblem(Identity(), fam, 0.0)
    theta = fam.init_theta(scale=0.1, nu=0.01, dtype=dtype, device=device)
    lower = problem.bind(theta, y)
    x = y.clone()
    curv = lower.curvature(x)
    v = torch.randn_like(x)
    b = 2 * (x - x_star)
    t = interleaved({
        "gradient": lambda: lower.gradient(x),
        "hvp": lambda: lower.hvp(curv, v),
        # eps tiny and max_iter fixed: exactly `iters` iterations per image
        "lower_solve": lambda: solve_lower(lower, 1e-30, max_iter=iters, stall_iters=10**9),
        "cg": lambda: conjugate_gradient(lambda w, i: lower.hvp(curv, w, i), b, 1e-30, max_iter=iters, max_restarts=0),
    }, repeats, device)
    synchronize(device)
    t0 = time.perf_counter()
    res = hypergradient(problem, theta, y, x_star, 1e-3, 1e-3)
    synchronize(device)
    t_hg = time.perf_counter() - t0
    per = {
        "gradient": t["gradient"] / batch,
        "hvp": t["hvp"] / batch,
        "lower_solve": t["lower_solve"] / (batch * (iters + 1)),  # iters steps + the final stopping check
        "cg": t["cg"] / (batch * (iters + 1)),  # iters products + the residual confirmation
        "hypergradient": t_hg / res.cost.computations,
    }
    return {"batch": batch, "seconds": t, "hypergradient_seconds": t_hg, "hypergradient_computations": res.cost.computations,
            "seconds_per_image_iteration": per, "image_iterations_per_s": {k: 1.0 / v for k, v in per.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    ap.add_argument("--batches", nargs="+", type=int, default=None,
                    help="batch sizes (default: 1 2 4 ... 256 on cuda, 1 2 4 8 16 32 on cpu)")
    ap.add_argument("--side", type=int, default=96)
    ap.add_argument("--iters", type=int, default=10, help="iterations of the fixed-length solves")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("bilevel.solvers").setLevel(logging.ERROR)  # the fixed-length solves stop early on purpose
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batches = args.batches or ([2**k for k in range(9)] if device.type == "cuda" else [1, 2, 4, 8, 16, 32])
    out = {"benchmark": "throughput", "device": str(device), "side": args.side, "results": {}}
    for name in args.dtypes:
        dtype = getattr(torch, name)
        peaks = measured_peaks(device, dtype)
        work = foe_work(args.side, args.side, itemsize=torch.finfo(dtype).bits // 8)
        rows = []
        for B in batches:
            r = measure(B, dtype, device, args.side, args.iters, args.repeats)
            r["roofline"] = {k: roofline(work[k], peaks, r["seconds_per_image_iteration"][k]) for k in ("gradient", "hvp")}
            rows.append(r)
            log.info("%s B=%3d: gradient %.0f, HVP %.0f, solve %.0f, CG %.0f, hypergradient %.0f image-it/s; "
                     "gradient at %.0f%% of compute peak", name, B, *(r["image_iterations_per_s"][k] for k in
                     ("gradient", "hvp", "lower_solve", "cg", "hypergradient")),
                     100 * r["roofline"]["gradient"]["fraction_of_flops_peak"])
        out["results"][name] = {"peaks": peaks, "work_per_image_iteration": work, "rows": rows}
    save_result(out, args.out, f"throughput_{device.type}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
