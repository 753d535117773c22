"""Cost ratios of the core, measured in one run on this machine (never asserted in tests).

On a batch of 8 colour 96x96 embedded crops (float32):

1. Hessian-vector product versus gradient evaluation (goal: <= 1.3x);
2. gradient evaluation versus the bare ``conv2d + conv_transpose2d`` pair it needs (goal: <= 1.2x);
3. one certified hypergradient at eps = delta = 1e-3 versus an autograd reference (lower-level
   gradients by autograd, Hessian-vector products by double backward, fixed-step FISTA with a
   power-method step size) reaching the same accuracy (goal: >= 5x faster), at a trained-looking
   theta: the initial kernels with scale and smoothing tuned for PSNR on the batch (grid search).

Timings interleave the candidates round-robin and report medians, so machine noise hits all of them
alike. Writes ``benchmarks/results/core_<device>.json``.

Usage: ``python benchmarks/bench_core.py [--device cpu|cuda] [--threads N] [--out FILE] [--quick]``
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bilevel.data import DENOISING_SIGMA, embedded_crops, make_measurements, psnr  # noqa: E402
from bilevel.foe import FieldOfExperts  # noqa: E402
from bilevel.hypergradient import hypergradient  # noqa: E402
from bilevel.io import write_json_atomic  # noqa: E402
from bilevel.operators import Identity  # noqa: E402
from bilevel.padding import pad  # noqa: E402
from bilevel.problem import LowerLevelProblem  # noqa: E402
from bilevel.reference import autograd_hypergradient  # noqa: E402
from bilevel.rundir import git_commit, machine_description, package_versions  # noqa: E402
from bilevel.solvers import solve_lower  # noqa: E402

log = logging.getLogger("bench_core")


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, calling them round-robin ``repeats`` times."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():  # warm-up
        f()
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(repeats):
        for k, f in fns.items():
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def tuned_theta(problem, fam, y, x_star, dtype, device):
    """Scale and smoothing of the initial kernels that maximize mean PSNR on the batch."""
    best = None
    for scale in (0.05, 0.1, 0.15, 0.25):
        for nu in (0.005, 0.01, 0.03):
            th = fam.init_theta(scale=scale, nu=nu, dtype=dtype, device=device)
            x = solve_lower(problem.bind(th, y), 1e-2).x
            p = float(psnr(x, x_star).mean())
            if best is None or p > best[0]:
                best = (p, scale, nu, th)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="skip the slow autograd reference")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    dev, dtype = torch.device(args.device), torch.float32
    x_star = embedded_crops("train", 96, 8).to(dtype=dtype, device=dev)
    y = make_measurements(Identity(), x_star, DENOISING_SIGMA, 0).y
    fam = FieldOfExperts()
    problem = LowerLevelProblem(Identity(), fam, 0.0)
    best_psnr, scale, nu, theta = tuned_theta(problem, fam, y, x_star, dtype, dev)
    log.info("trained-looking theta: scale %.3g, nu %.3g (PSNR %.2f dB)", scale, nu, best_psnr)
    lower = problem.bind(theta, y)
    reg = lower.reg
    x = solve_lower(lower, 1e-2).x
    curv = lower.curvature(x)
    v = torch.randn_like(x)
    W = reg.kernels.contiguous()
    xp = pad(x, 3, "reflect")
    u = F.conv2d(xp, W)
    t = interleaved({
        "bare_pair": lambda: (F.conv2d(xp, W), F.conv_transpose2d(u, W)),
        "gradient": lambda: lower.gradient(x),
        "hvp": lambda: lower.hvp(curv, v),
    }, args.repeats)
    result = {
        "benchmark": "core",
        "device": str(dev),
        "dtype": str(dtype),
        "batch": list(x.shape),
        "machine": machine_description(),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "theta": {"scale": scale, "nu": nu, "psnr_at_eps_1e-2": best_psnr},
        "seconds": t,
        "ratios": {"hvp_over_gradient": t["hvp"] / t["gradient"], "gradient_over_bare_pair": t["gradient"] / t["bare_pair"]},
        "goals": {"hvp_over_gradient": 1.3, "gradient_over_bare_pair": 1.2, "speedup_vs_autograd": 5.0},
    }
    log.info("HVP / gradient = %.2f (goal <= 1.3); gradient / bare pair = %.2f (goal <= 1.2)",
             result["ratios"]["hvp_over_gradient"], result["ratios"]["gradient_over_bare_pair"])
    if not args.quick:
        eps = delta = 1e-3
        t0 = time.perf_counter()
        ours = hypergradient(problem, theta, y, x_star, eps, delta)
        t_ours = time.perf_counter() - t0
        ref = autograd_hypergradient(fam, Identity(), 0.0, 1.0, theta, y, x_star, eps, delta)
        agree = float((ref.grad - ours.grad).norm() / ours.grad.norm())
        result["hypergradient"] = {
            "eps": eps, "delta": delta,
            "ours": {"seconds": t_ours, "lower_iterations_per_image": ours.lower.iterations.tolist(),
                     "cg_iterations_per_image": ours.cg.iterations.tolist(), "certified": bool(ours.lower.converged.all())},
            "autograd_reference": {"seconds": ref.wall_time, "lower_iterations_batch": ref.lower_iterations // x.shape[0],
                                   "cg_iterations_batch": ref.cg_iterations // x.shape[0],
                                   "power_iterations": ref.power_iterations},
            "relative_difference": agree,
        }
        result["ratios"]["speedup_vs_autograd"] = ref.wall_time / t_ours
        log.info("hypergradient: ours %.2f s, autograd reference %.2f s, speed-up %.1fx (goal >= 5); relative difference %.2e",
                 t_ours, ref.wall_time, ref.wall_time / t_ours, agree)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"core_{dev.type}.json"
    write_json_atomic(out, result)
    log.info("written %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
