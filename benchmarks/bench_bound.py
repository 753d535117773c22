"""Bound and estimate: certified bound, error estimate and true error of FoE hypergradients, term by term.

For each task (denoising 96x96 crops, deblurring 256x256 crops: the demo's embedded test crops),
each theta (the initial one and a learned one) and each accuracy ``eps = delta`` (1e-1 ... 1e-5),
computes per image, against a float64 reference (lower level solved to ``||grad h|| <= 1e-11``,
adjoint to a true residual of ``1e-13``, :func:`bilevel.reference.tight_reference`):

* the true error ``||z_i - grad f_i||`` of the hypergradient ``z_i``;
* the error estimate ``||z_i - z-_i||`` and the refined certified bound ``||z_i - z-_i|| +
  omega(x-, q-)`` (``hypergradient(certify="refined")``), and the direct bound ``omega(x~, q~)``;
* every named term of the direct bound next to its true counterpart (adjoint residual
  ``||B^T H^^{-1} r||``, loss variation ``||B^T H^^{-1}(grad g(x^) - grad g(x~))||``, Hessian variation
  ``||B^T H^^{-1}(H(x^) - H(x~)) q~||``, Jacobian variation ``||(B(x^) - B(x~))^T q~||``, second order
  ``||(B(x^) - B(x~))^T (q* - q~)||``; see :mod:`bilevel.hypergradient`), and the terms of the
  refined bound;
* iterations of the lower level, CG and certification.

Writes ``benchmarks/results/bound.json`` (rows per image, a summary per task, theta and eps with the
bound/true-error factors and the estimate's accuracy, and the goals of the benchmark evaluated) and
``bound.png``. The learned theta is ``--theta learned=FILE`` or, by default, trained here with the
demo's ISGD configuration (decreasing step, 12,000 computations; reused when stored).

Usage: ``python benchmarks/bench_bound.py [--tasks ...] [--eps ...] [--theta LABEL=FILE ...] [--out FILE]``
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_bound.py) from a source checkout
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, portable_path, save_result

from bilevel.data import TASKS, embedded_crops, make_measurements
from bilevel.foe import FieldOfExperts
from bilevel.hypergradient import SquaredError, error_bound, hypergradient
from bilevel.io import write_json_atomic
from bilevel.operators import make_operator
from bilevel.problem import LowerLevelProblem
from bilevel.reference import tight_reference
from bilevel.solvers import conjugate_gradient

log = logging.getLogger("bench_bound")

TERMS = ("adjoint_residual", "loss_variation", "hessian_variation", "jacobian_variation", "second_order")


def learned_theta(path: str | None, budget: int, out_dir: Path) -> tuple[torch.Tensor, str]:
    """A learned theta from ``path``, or trained with the demo's ISGD configuration into ``out_dir``."""
    if path:
        return torch.load(path, map_location="cpu", weights_only=False)["theta"].double(), portable_path(path)
    from bilevel.main_job import DEMO_METHODS, demo_config
    from bilevel.train import train

    run = out_dir / "bound-learned-theta"
    cfg = demo_config(budget, "cpu", False, **DEMO_METHODS["ISGD decreasing"])
    res = train(cfg, run, resume=True)
    return res.theta.detach().cpu().double(), portable_path(str(run / "theta_final.pt"))


def true_terms(lower, loss, x_star, ref, x, q, curv) -> dict[str, torch.Tensor]:
    """The exact pieces of ``E = B(x^)^T q* - B(x~)^T q~`` that the direct bound's terms bound."""
    xh = ref.x
    curv_h = lower.curvature(xh)
    r = lower.hvp(curv, q) - loss.grad(x, x_star)
    rhs = torch.cat([-r, loss.grad(xh, x_star) - loss.grad(x, x_star), lower.hvp(curv_h, q) - lower.hvp(curv, q)])
    B = x.shape[0]
    curv3 = type(curv_h)(*(c.repeat(3, 1, 1, 1) for c in curv_h))
    sol = conjugate_gradient(lambda v, idx: lower.hvp(curv3, v, idx), rhs, 1e-12 * (1 + rhs.flatten(1).norm(dim=1)),
                             max_iter=20000, warn=False).q
    x3, c3 = x.repeat(3, 1, 1, 1), type(curv)(*(c.repeat(3, 1, 1, 1) for c in curv))
    pieces = lower.reg.mixed_vjp(x3, sol, c3, per_image=True).view(3, B, -1)
    jac_h = lower.reg.mixed_vjp(xh, q, curv_h, per_image=True) - lower.reg.mixed_vjp(x, q, curv, per_image=True)
    dq = ref.q - q
    second = lower.reg.mixed_vjp(xh, dq, curv_h, per_image=True) - lower.reg.mixed_vjp(x, dq, curv, per_image=True)
    total = pieces[0] + pieces[1] - pieces[2] + jac_h + second
    return {"adjoint_residual": pieces[0].norm(dim=1), "loss_variation": pieces[1].norm(dim=1),
            "hessian_variation": pieces[2].norm(dim=1), "jacobian_variation": jac_h.norm(dim=1),
            "second_order": second.norm(dim=1), "sum_of_pieces": total}


def run_case(task: str, theta_label: str, theta: torch.Tensor, count: int, crop: int, eps_list: list[float],
             refine_tol: float, dtype: torch.dtype, seed: int) -> list[dict]:
    spec = TASKS[task]
    x_star = embedded_crops("test", crop, count)
    op = make_operator(spec.operator)
    y = make_measurements(op, x_star, spec.sigma, seed).y
    fam = FieldOfExperts()
    problem = LowerLevelProblem(op, fam, spec.mu)
    loss = SquaredError()
    t0 = time.perf_counter()
    ref = tight_reference(problem, theta, y, x_star)
    log.info("%s / %s: float64 reference in %.1f s (||grad h|| <= %.1e, residual <= %.1e)", task, theta_label,
             time.perf_counter() - t0, float(ref.grad_norm.max()), float(ref.residual_norm.max()))
    lower = problem.bind(theta, y)
    rows = []
    x0 = q0 = None
    for eps in sorted(eps_list, reverse=True):
        t1 = time.perf_counter()
        res = hypergradient(problem, theta.to(dtype), y.to(dtype), x_star.to(dtype), eps, eps, x0=x0, q0=q0,
                            per_image=True, certify="refined", refine_tol=refine_tol)
        seconds = time.perf_counter() - t1
        x0, q0 = res.x, res.q
        x, q = res.x.double(), res.q.double()
        curv = lower.curvature(x)
        dist = res.distance_bound.double()
        resid = (lower.hvp(curv, q) - loss.grad(x, x_star)).flatten(1).norm(dim=1)
        consts = lower.reg.constants(x, curv, q, dist, lower.modulus)
        direct = error_bound(consts, lower.modulus, dist, resid, loss.lipschitz)
        truth = true_terms(lower, loss, x_star, ref, x, q, curv)
        err_vec = res.per_image.double() - ref.per_image
        true_err = err_vec.norm(dim=1)
        identity = (truth["sum_of_pieces"] - err_vec).norm(dim=1) / true_err
        mean_err = float((res.grad.double() - ref.grad).norm())
        for i in range(count):
            rows.append({
                "task": task, "theta": theta_label, "eps": eps, "delta": eps, "image": i,
                "true_error": float(true_err[i]), "estimate": float(res.error_estimate[i]),
                "bound_refined": float(res.error_bound[i]), "bound_direct": float(direct.total()[i]),
                "reference_error_bound": float(ref.error_bound[i]),
                "grad_norm": float(res.per_image[i].norm()),
                "distance_bound": float(dist[i]), "distance_true": float((x[i] - ref.x[i]).norm()),
                "residual": float(resid[i]),
                "refined_distance_bound": float(res.refinement.distance_bound[i]),
                "refined_residual": float(res.refinement.residual_norm[i]),
                "direct_terms": {k: float(getattr(direct, k)[i]) for k in TERMS},
                "true_terms": {k: float(truth[k][i]) for k in TERMS},
                "refined_terms": {k: float(v[i]) for k, v in res.error_terms.items()},
                "decomposition_residual": float(identity[i]),
                "lower_iterations": int(res.lower.iterations[i]), "cg_iterations": int(res.cg.iterations[i]),
                "certification_iterations": int(res.refinement.certification_iterations[i]),
                "refinement_rounds": int(res.refinement.rounds[i]),
                "converged": bool(res.converged[i]),
                "batch_seconds": seconds,
                "batch_true_error": mean_err, "batch_estimate": res.grad_error_estimate,
                "batch_bound": res.grad_error_bound, "batch_grad_norm": float(res.grad.norm()),
            })
        log.info("%s / %s eps %.0e: true %.2e, estimate/true %.3f, refined bound/true %.3g, direct bound/true %.3g "
                 "(medians), %.1f s", task, theta_label, eps, float(true_err.median()),
                 float((res.error_estimate / true_err).median()), float((res.error_bound / true_err).median()),
                 float((direct.total() / true_err).median()), seconds)
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["task"], r["theta"], r["eps"]) for r in rows}, key=lambda k: (k[0], k[1], -k[2]))
    for task, theta, eps in keys:
        sel = [r for r in rows if (r["task"], r["theta"], r["eps"]) == (task, theta, eps)]
        t = np.array([r["true_error"] for r in sel])
        est = np.array([r["estimate"] for r in sel]) / t
        ref = np.array([r["bound_refined"] for r in sel]) / t
        dire = np.array([r["bound_direct"] for r in sel]) / t
        out.append({
            "task": task, "theta": theta, "eps": eps, "images": len(sel),
            "true_error_median": float(np.median(t)),
            "refined_bound_over_true": {"median": float(np.median(ref)), "max": float(ref.max())},
            "direct_bound_over_true": {"median": float(np.median(dire)), "max": float(dire.max())},
            "estimate_over_true": {"median": float(np.median(est)), "min": float(est.min()), "max": float(est.max()),
                                   "within_factor_3": float(np.mean((est >= 1 / 3) & (est <= 3)))},
            "refined_bound_over_grad_norm_max": float(max(r["bound_refined"] / r["grad_norm"] for r in sel)),
            "batch_bound_over_grad_norm": sel[0]["batch_bound"] / sel[0]["batch_grad_norm"],
            "direct_term_over_true_counterpart": {
                k: float(np.median([r["direct_terms"][k] / max(r["true_terms"][k], 1e-300) for r in sel])) for k in TERMS},
            "refined_term_over_true_error": {
                k: float(np.median([v / r["true_error"] for r in sel for kk, v in r["refined_terms"].items() if kk == k]))
                for k in sel[0]["refined_terms"]},
            "iterations_per_image": {k: float(np.mean([r[k] for r in sel]))
                                     for k in ("lower_iterations", "cg_iterations", "certification_iterations")},
            "all_converged": all(r["converged"] for r in sel),
            "bound_holds": all(r["bound_refined"] + r["reference_error_bound"] >= r["true_error"]
                               and r["bound_direct"] + r["reference_error_bound"] >= r["true_error"] for r in sel),
        })
    return out


def goals(summary: list[dict], rows: list[dict], deblur_eps: float) -> dict:
    def pick(task, theta, eps):
        return [s for s in summary if s["task"] == task and s["theta"] == theta and math.isclose(s["eps"], eps)]

    g: dict = {}
    den = pick("denoising", "learned", 1e-3)
    if den:
        g["denoising_learned_eps_1e-3_bound_over_true_max"] = {"value": den[0]["refined_bound_over_true"]["max"],
                                                                "goal": 1e3, "met": den[0]["refined_bound_over_true"]["max"] <= 1e3}
    for task, eps in (("denoising", 1e-3), ("deblurring", deblur_eps)):
        for theta in sorted({s["theta"] for s in summary}):
            sel = pick(task, theta, eps)
            if sel:
                v = sel[0]["refined_bound_over_grad_norm_max"]
                g[f"{task}_{theta}_eps_{eps:g}_bound_over_grad_norm_max"] = {"value": v, "goal": 0.5, "met": v < 0.5}
    est = np.array([r["estimate"] / r["true_error"] for r in rows])
    frac = float(np.mean((est >= 1 / 3) & (est <= 3)))
    g["estimate_within_factor_3_fraction"] = {"value": frac, "goal": 0.9, "met": frac >= 0.9, "cases": len(est)}
    g["bound_never_below_true_error"] = {"met": all(s["bound_holds"] for s in summary)}
    return g


def plot(rows: list[dict], summary: list[dict], path: Path) -> None:
    from bilevel.plots import pyplot, save_figure

    plt = pyplot()
    tasks = sorted({r["task"] for r in rows})
    thetas = sorted({r["theta"] for r in rows})
    fig, axes = plt.subplots(2, len(tasks), figsize=(6.5 * len(tasks), 9), squeeze=False)
    styles = {"true_error": ("k", "o", "true error"), "estimate": ("tab:green", "x", "estimate"),
              "bound_refined": ("tab:blue", "s", "certified bound (refined)"),
              "bound_direct": ("tab:red", "^", "certified bound (direct)")}
    for c, task in enumerate(tasks):
        ax = axes[0][c]
        for t_i, theta in enumerate(thetas):
            sel = [r for r in rows if r["task"] == task and r["theta"] == theta]
            if not sel:
                continue
            eps = sorted({r["eps"] for r in sel})
            for key, (color, marker, label) in styles.items():
                med = [np.median([r[key] for r in sel if r["eps"] == e]) for e in eps]
                ax.loglog(eps, med, color=color, marker=marker, linestyle="-" if t_i == 0 else "--",
                          label=f"{label}, {theta} theta")
            gn = [np.median([r["grad_norm"] for r in sel if r["eps"] == e]) for e in eps]
            ax.loglog(eps, gn, color="0.6", linestyle=":" if t_i == 0 else "-.", label=f"||z_i||, {theta} theta")
        ax.set_xlabel("eps = delta")
        ax.set_ylabel("per-image error (median)")
        ax.set_title(f"{task}: true error, estimate, bounds")
        ax.legend(fontsize=6)
        ax = axes[1][c]
        for t_i, theta in enumerate(thetas):
            sel = [s for s in summary if s["task"] == task and s["theta"] == theta]
            if not sel:
                continue
            eps = [s["eps"] for s in sel]
            for k in TERMS:
                ax.loglog(eps, [s["direct_term_over_true_counterpart"][k] for s in sel], marker="o",
                          linestyle="-" if t_i == 0 else "--", label=f"{k}, {theta}")
        ax.set_xlabel("eps = delta")
        ax.set_ylabel("direct term / its true counterpart (median)")
        ax.set_title(f"{task}: where the direct bound loses")
        ax.legend(fontsize=6)
    fig.suptitle("Certified hypergradient error bounds and the error estimate against a float64 reference")
    save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", nargs="+", default=["denoising", "deblurring"], choices=sorted(TASKS))
    ap.add_argument("--eps", nargs="+", type=float, default=[1e-1, 1e-2, 1e-3, 1e-4, 1e-5],
                    help="accuracies eps = delta (default: 1e-1 ... 1e-5)")
    ap.add_argument("--count", type=int, nargs=2, default=[8, 3], metavar=("DENOISING", "DEBLURRING"),
                    help="embedded test crops per task (default: 8 and 3, all 256x256 deblurring crops)")
    ap.add_argument("--crop", type=int, nargs=2, default=None, metavar=("DENOISING", "DEBLURRING"),
                    help="crop sides (default: the tasks' 96 and 256)")
    ap.add_argument("--theta", action="append", default=[], metavar="LABEL=FILE",
                    help="a theta_final.pt to evaluate under LABEL, or LABEL=init for the initial theta (default: "
                         "'initial' and a 'learned' theta trained with the demo's ISGD configuration)")
    ap.add_argument("--train-budget", type=int, default=12000, help="computations of the default learned theta's run")
    ap.add_argument("--refine-tol", type=float, default=1e-2, help="hypergradient(refine_tol=...) (default 1e-2)")
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="dtype of the hypergradients under test")
    ap.add_argument("--seed", type=int, default=0, help="noise seed of the measurements")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=str(RESULTS / "bound.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    fam = FieldOfExperts()
    thetas: dict[str, tuple[torch.Tensor, str]] = {}
    for spec in args.theta:
        if "=" not in spec:
            raise ValueError(f"--theta takes LABEL=FILE, got {spec!r}")
        label, path = spec.split("=", 1)
        if path == "init":
            thetas[label] = (fam.init_theta(), "FieldOfExperts().init_theta()")
            continue
        if not Path(path).is_file():
            raise FileNotFoundError(f"--theta {label}: no file {path}; pass a theta_final.pt of a training run")
        thetas[label] = learned_theta(path, args.train_budget, out.parent / "runs")
    if not thetas:
        thetas["initial"] = (fam.init_theta(), "FieldOfExperts().init_theta()")
        thetas["learned"] = learned_theta(None, args.train_budget, out.parent / "runs")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    counts = dict(zip(("denoising", "deblurring"), args.count))
    crops = dict(zip(("denoising", "deblurring"), args.crop or (TASKS["denoising"].crop, TASKS["deblurring"].crop)))
    rows: list[dict] = []
    # finished (task, theta) cases are kept beside the output, so an interrupted run resumes
    partial_path = out.with_suffix(".partial.json")
    key = json.dumps({"eps": args.eps, "counts": counts, "crops": crops, "dtype": args.dtype,
                      "refine_tol": args.refine_tol, "seed": args.seed,
                      "thetas": {k: hashlib.sha256(th.numpy().tobytes()).hexdigest() for k, (th, _) in thetas.items()}},
                     sort_keys=True)
    done: dict = {}
    if partial_path.exists():
        try:
            stored = json.loads(partial_path.read_text())
            done = stored["cases"] if stored.get("key") == key else {}
        except (ValueError, KeyError):
            log.warning("ignoring unreadable %s", partial_path)
    for task in args.tasks:
        for label, (theta, _) in thetas.items():
            case = f"{task}/{label}"
            if case not in done:
                done[case] = run_case(task, label, theta, counts[task], crops[task], args.eps, args.refine_tol,
                                      dtype, args.seed)
                write_json_atomic(partial_path, {"key": key, "cases": done})
            else:
                log.info("%s: reusing the stored rows of %s", case, partial_path)
            rows += done[case]
    summary = summarize(rows)
    deblur_eps = TASKS["deblurring"].eps
    result = {
        "benchmark": "bound",
        "settings": {"tasks": args.tasks, "eps": args.eps, "counts": counts, "crops": crops, "dtype": args.dtype,
                     "refine_tol": args.refine_tol, "seed": args.seed, "reference": "float64, ||grad h|| <= 1e-11, "
                     "CG residual <= 1e-13 (bilevel.reference.tight_reference)", "demo_deblurring_eps": deblur_eps},
        "thetas": {k: {"source": src, "sha256": hashlib.sha256(th.numpy().tobytes()).hexdigest()[:16]}
                   for k, (th, src) in thetas.items()},
        "goals": goals(summary, rows, deblur_eps),
        "summary": summary,
        "rows": rows,
    }
    save_result(result, out, "bound.json")
    plot(rows, summary, out.with_suffix(".png"))
    partial_path.unlink(missing_ok=True)
    for name, g in result["goals"].items():
        log.info("goal %s: %s", name, g)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
