"""Quality: does the learned FoE beat the best smoothed total-variation denoiser?

1. Training crops (default: 96x96 crops of CBSD68) and test crops (default: McMaster), Gaussian
   noise sigma = 25/255 fixed by the seed.
2. Smoothed anisotropic TV, ``R(x) = lambda sum_{c,p} |D_h x_c|_nu + |D_v x_c|_nu`` (per-channel forward
   differences, ``nu = 1e-2``): its one weight ``lambda`` is tuned on the training crops by a
   golden-section search in ``log lambda`` maximizing mean PSNR.
3. The FoE is learned with ISGD on the same training crops (``isgd train`` defaults otherwise).
4. Both are evaluated on the test crops at certified accuracy ``1e-3``: mean PSNR.

Writes ``benchmarks/results/quality.json`` (and the training run directory under
``benchmarks/results/runs/``). Usage::

    python benchmarks/bench_quality.py --train-data ../shared/data/CBSD68 --test-data ../shared/data/McMaster
"""
from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, portable_path, save_result, shared_data


from bilevel.data import DENOISING_SIGMA, make_measurements, psnr
from bilevel.datasets import describe_source, load_crops
from bilevel.foe import FieldOfExperts, difference_kernels
from bilevel.operators import Identity
from bilevel.problem import LowerLevelProblem
from bilevel.solvers import solve_lower
from bilevel.train import TrainConfig, train

log = logging.getLogger("bench_quality")

TV_NU = 1e-2


def tv_problem() -> tuple[LowerLevelProblem, FieldOfExperts]:
    fam = FieldOfExperts(num_experts=6, kernel_size=3)
    return LowerLevelProblem(Identity(), fam, 0.0), fam


def tv_theta(fam: FieldOfExperts, lam: float, dtype) -> torch.Tensor:
    ker = difference_kernels(6, 3, 3)  # unit-norm forward differences per channel: |D x| / sqrt(2)
    return fam.pack(math.log(lam * math.sqrt(2.0)), torch.zeros(6), torch.tensor([math.log(TV_NU)]), ker).to(dtype)


def mean_psnr(problem, theta, y, x_star, eps=1e-3, chunk=32) -> float:
    vals = []
    for i in range(0, y.shape[0], chunk):
        x = solve_lower(problem.bind(theta, y[i:i + chunk]), eps).x
        vals.append(psnr(x, x_star[i:i + chunk]))
    return float(torch.cat(vals).mean())


def tune_tv(y, x_star, dtype, lo=1e-3, hi=1.0, iters=14) -> tuple[float, float, list]:
    """Golden-section search of log(lambda) for the best mean PSNR (unimodal in practice)."""
    problem, fam = tv_problem()
    trace = []

    def score(loglam):
        p = mean_psnr(problem, tv_theta(fam, math.exp(loglam), dtype), y, x_star)
        trace.append({"lambda": math.exp(loglam), "psnr": p})
        return p

    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = score(c), score(d)
    for _ in range(iters):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = score(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = score(d)
    best = max(trace, key=lambda r: r["psnr"])
    return best["lambda"], best["psnr"], trace


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-data", default=shared_data("CBSD68"),
                    help="training photographs (folder; default: ../shared/data/CBSD68)")
    ap.add_argument("--test-data", default=shared_data("McMaster"),
                    help="test photographs (folder; default: ../shared/data/McMaster)")
    ap.add_argument("--train-count", type=int, default=512)
    ap.add_argument("--test-count", type=int, default=64)
    ap.add_argument("--budget", type=int, default=150000, help="ISGD budget in computations")
    ap.add_argument("--alpha0", type=float, default=1e-3)
    ap.add_argument("--step", default="inverse_sqrt", help="ISGD step schedule (default: inverse_sqrt)")
    ap.add_argument("--init-scale", type=float, default=0.02, help="FoE initial scale (isgd train's default 0.02)")
    ap.add_argument("--init-nu", type=float, default=0.05, help="FoE initial smoothing (isgd train's default 0.05)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(RESULTS / "quality.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dtype = torch.float32
    train_x = load_crops(args.train_data, 96, args.train_count)
    test_x = load_crops(args.test_data, 96, args.test_count, split="test")
    tr = make_measurements(Identity(), train_x.to(dtype), DENOISING_SIGMA, 0)
    te = make_measurements(Identity(), test_x.to(dtype), DENOISING_SIGMA, 1)
    lam, tv_train_psnr, trace = tune_tv(tr.y, tr.x_star, dtype)
    tvp, tvf = tv_problem()
    tv_test = mean_psnr(tvp, tv_theta(tvf, lam, dtype), te.y, te.x_star)
    log.info("smoothed TV: lambda %.4g, train PSNR %.2f, test PSNR %.2f", lam, tv_train_psnr, tv_test)

    run_dir = Path(args.out).resolve().parent / "runs" / (f"quality-isgd-{args.step}-{args.alpha0:g}-{args.budget}-m{args.train_count}"
                                                 f"-s{args.init_scale:g}-nu{args.init_nu:g}")
    cfg = TrainConfig(task="denoising", method="isgd", data=str(Path(args.train_data).resolve()),
                      test_data=str(Path(args.test_data).resolve()), train_count=args.train_count,
                      test_count=args.test_count, budget=args.budget, eval_every=max(1, args.budget // 4),
                      alpha0=args.alpha0, step=args.step, init_scale=args.init_scale, init_nu=args.init_nu,
                      device=args.device, progress=False)
    res = train(cfg, run_dir, resume=True)
    foe_problem = LowerLevelProblem(Identity(), FieldOfExperts(), 0.0)
    theta = res.theta.to(dtype=dtype, device="cpu")
    foe_test = mean_psnr(foe_problem, theta, te.y, te.x_star)
    foe_train = mean_psnr(foe_problem, theta, tr.y, tr.x_star)
    noisy = float(psnr(te.y, te.x_star).mean())
    log.info("learned FoE: train PSNR %.2f, test PSNR %.2f (noisy %.2f); beats TV on test: %s",
             foe_train, foe_test, noisy, foe_test > tv_test)
    save_result({
        "benchmark": "quality",
        "train_data": {**describe_source(args.train_data, 96, args.train_count), "source": portable_path(args.train_data), "path": portable_path(args.train_data)},
        "test_data": {**describe_source(args.test_data, 96, args.test_count, split="test"), "source": portable_path(args.test_data), "path": portable_path(args.test_data)},
        "sigma": DENOISING_SIGMA,
        "noisy_test_psnr": noisy,
        "tv": {"lambda": lam, "nu": TV_NU, "train_psnr": tv_train_psnr, "test_psnr": tv_test, "search": trace},
        "foe": {"train_psnr": foe_train, "test_psnr": foe_test, "run_dir": portable_path(str(run_dir)),
                "config": {**cfg.as_dict(), "data": portable_path(cfg.data), "test_data": portable_path(cfg.test_data)},
                "stop": res.stop_reason, "computations": res.summary["computations"]},
        "foe_beats_tv_on_test": foe_test > tv_test,
    }, args.out, "quality.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
