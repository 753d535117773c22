"""Throughput of the core: image-iterations per second of gradient, Hessian-vector product,
lower-level solve, CG and full hypergradient, per dtype and batch size, with roofline fractions,
for the paper's FoE and the weakly convex ridge family (cost per image-iteration relative to the FoE).

For every (dtype, batch size): median seconds of one gradient and one HVP, of a lower-level solve
and a CG solve of a fixed number of iterations (all of them, for both families, interleaved, so the
ratios compare like with like), and of one certified hypergradient at eps = delta = 1e-3 from a
cold start (image-iterations = its computations). The work one image-iteration must move
(``benchmarks.common.foe_work``, with the family's filter count and size) and the measured peaks of
the device give achieved fractions of compute peak, bandwidth bound and roofline. The FoE rows keep
their place (``rows``); the ridge family's are ``rows_ridge`` with ``ridge_over_foe`` (seconds per
image-iteration of the ridge over the FoE's, per operation and batch).

Writes ``benchmarks/results/throughput_<device>.json``. Usage::

    python benchmarks/bench_throughput.py [--device cpu|cuda] [--batches 1 2 4 ... 256] [--dtypes float32 float64]
        [--families foe ridge] [--filters 48] [--kernel-size 7]
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
from bilevel.ridge import WeaklyConvexRidge
from bilevel.solvers import conjugate_gradient, solve_lower

log = logging.getLogger("bench_throughput")


def batch_of(n: int, side: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    base = embedded_crops("train", side)
    reps = -(-n // base.shape[0])
    x = torch.cat([base] * reps)[:n]
    y = make_measurements(Identity(), x, DENOISING_SIGMA, 0).y
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def family_setup(name: str, dtype, device, filters: int, kernel_size: int):
    """The family, its lower-level problem and a representative theta (the FoE of earlier runs; the
    ridge family's documented TV start with the weakly convex part half used)."""
    if name == "foe":
        fam = FieldOfExperts()
        return fam, LowerLevelProblem(Identity(), fam, 0.0), fam.init_theta(scale=0.1, nu=0.01, dtype=dtype, device=device)
    fam = WeaklyConvexRidge(num_filters=filters, kernel_size=kernel_size)
    return fam, LowerLevelProblem(Identity(), fam, 0.0), fam.init_theta(budget=0.5, dtype=dtype, device=device)


def measure(batch: int, dtype, device, side: int, iters: int, repeats: int, families: list[str], filters: int,
            kernel_size: int) -> dict[str, dict]:
    """One row per family at this batch size (the timed operations of all families interleaved)."""
    x_star, y = batch_of(batch, side, dtype, device)
    fns, setups = {}, {}
    for name in families:
        fam, problem, theta = family_setup(name, dtype, device, filters, kernel_size)
        lower = problem.bind(theta, y)
        x = y.clone()
        curv = lower.curvature(x)
        v = torch.randn_like(x)
        b = 2 * (x - x_star)
        setups[name] = (fam, problem, theta)
        fns.update({
            f"{name}:gradient": lambda lower=lower, x=x: lower.gradient(x),
            f"{name}:hvp": lambda lower=lower, curv=curv, v=v: lower.hvp(curv, v),
            # eps tiny and max_iter fixed: exactly `iters` iterations per image
            f"{name}:lower_solve": lambda lower=lower: solve_lower(lower, 1e-30, max_iter=iters, stall_iters=10**9),
            f"{name}:cg": lambda lower=lower, curv=curv, b=b: conjugate_gradient(lambda w, i: lower.hvp(curv, w, i), b, 1e-30,
                                                                              max_iter=iters, max_restarts=0),
        })
    t = interleaved(fns, repeats, device)
    rows = {}
    for name, (fam, problem, theta) in setups.items():
        synchronize(device)
        t0 = time.perf_counter()
        res = hypergradient(problem, theta, y, x_star, 1e-3, 1e-3)
        synchronize(device)
        t_hg = time.perf_counter() - t0
        secs = {op: t[f"{name}:{op}"] for op in ("gradient", "hvp", "lower_solve", "cg")}
        per = {
            "gradient": secs["gradient"] / batch,
            "hvp": secs["hvp"] / batch,
            "lower_solve": secs["lower_solve"] / (batch * (iters + 1)),  # iters steps + the final stopping check
            "cg": secs["cg"] / (batch * (iters + 1)),  # iters products + the residual confirmation
            "hypergradient": t_hg / res.cost.computations,
        }
        rows[name] = {"batch": batch, "family": fam.describe(), "seconds": secs, "hypergradient_seconds": t_hg,
                      "hypergradient_computations": res.cost.computations, "seconds_per_image_iteration": per,
                      "image_iterations_per_s": {k: 1.0 / v for k, v in per.items()}}
    return rows


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
    ap.add_argument("--families", nargs="+", default=["foe", "ridge"], choices=["foe", "ridge"],
                    help="regularizer families to measure (default: both; the ratios need both)")
    ap.add_argument("--filters", type=int, default=48, help="filters of the ridge family (default: 48)")
    ap.add_argument("--kernel-size", type=int, default=7, help="filter size of the ridge family (default: 7)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("bilevel.solvers").setLevel(logging.ERROR)  # the fixed-length solves stop early on purpose
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batches = args.batches or ([2**k for k in range(9)] if device.type == "cuda" else [1, 2, 4, 8, 16, 32])
    out = {"benchmark": "throughput", "device": str(device), "side": args.side, "families": args.families, "results": {}}
    for name in args.dtypes:
        dtype = getattr(torch, name)
        peaks = measured_peaks(device, dtype)
        itemsize = torch.finfo(dtype).bits // 8
        works = {"foe": foe_work(args.side, args.side, itemsize=itemsize),
                 "ridge": foe_work(args.side, args.side, experts=args.filters, kernel=args.kernel_size, itemsize=itemsize)}
        per_family: dict[str, list] = {f: [] for f in args.families}
        for B in batches:
            rows = measure(B, dtype, device, args.side, args.iters, args.repeats, args.families, args.filters,
                           args.kernel_size)
            for fam, r in rows.items():
                r["roofline"] = {k: roofline(works[fam][k], peaks, r["seconds_per_image_iteration"][k]) for k in ("gradient", "hvp")}
                per_family[fam].append(r)
                log.info("%s %s B=%3d: gradient %.0f, HVP %.0f, solve %.0f, CG %.0f, hypergradient %.0f image-it/s; "
                         "gradient at %.0f%% of compute peak", fam, name, B, *(r["image_iterations_per_s"][k] for k in
                         ("gradient", "hvp", "lower_solve", "cg", "hypergradient")),
                         100 * r["roofline"]["gradient"]["fraction_of_flops_peak"])
            if "foe" in rows and "ridge" in rows:
                ratio = {k: rows["ridge"]["seconds_per_image_iteration"][k] / rows["foe"]["seconds_per_image_iteration"][k]
                         for k in rows["foe"]["seconds_per_image_iteration"]}
                rows["ridge"]["ridge_over_foe"] = ratio
                log.info("ridge / FoE seconds per image-iteration, B=%d: %s", B,
                         ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))
        entry = {"peaks": peaks}
        if "foe" in per_family:
            entry.update(work_per_image_iteration=works["foe"], rows=per_family["foe"])
        if "ridge" in per_family:
            entry.update(work_per_image_iteration_ridge=works["ridge"], rows_ridge=per_family["ridge"])
        out["results"][name] = entry
    save_result(out, args.out, f"throughput_{device.type}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
