"""The learning part of the main job: FoE denoising on the embedded crops with ISGD (constant and
decreasing step) and MAID for a small budget, then curves, a test image and a summary table.

Each method runs in its own run directory under ``out``; a rerun resumes unfinished runs and reuses
finished ones (their config must match), so the job is cheap to repeat.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import psnr
from .plots import plot_image_row, plot_training_curves
from .solvers import solve_lower
from .train import TrainConfig, TrainResult, load_data, resolve_device, train

log = logging.getLogger(__name__)

#: The three methods of the main job (the paper's Fig. 2 comparison, at demo scale).
DEMO_METHODS: dict[str, dict] = {
    "ISGD constant": dict(method="isgd", step="constant", alpha0=3e-4),
    "ISGD decreasing": dict(method="isgd", step="inverse_sqrt", alpha0=1e-3),
    "MAID certified": dict(method="maid", alpha0=1e-3, eps0=1e-1, maid_error="certified"),
    "MAID estimated": dict(method="maid", alpha0=1e-3, eps0=1e-1, maid_error="estimated"),
}

#: Where MAID's computations go (fields of its per-iteration records, see :class:`~bilevel.methods.MAID`).
MAID_COST_PARTS = ("lower_iterations", "cg_iterations", "certification_iterations", "rejected_computations",
                   "trial_computations", "rejected_trial_computations")


def _number(v) -> float:
    """A record's value (records read back from a CSV hold strings; blanks count as 0)."""
    if v is None or v == "":
        return 0.0
    return float(v)


def maid_breakdown(records: list[dict]) -> dict:
    """MAID's accepted and rejected steps and where its computations went, from its records.

    ``accepted``/``rejected``: iterations whose backtracking found (did not find) sufficient
    decrease; ``rejected_gradients``: hypergradients the error oracle refused (eps was halved);
    ``computations``: the run's total; ``lower_iterations``, ``cg_iterations``,
    ``certification_iterations``: the accepted-gradient evaluations' parts plus the refused ones
    (``gradient computations`` = their sum); ``rejected_computations``: the refused evaluations;
    ``trial_computations``: backtracking trials, of which ``rejected_trial_computations`` failed.
    Returns an empty dict for records that are not MAID's.
    """
    if not records or "rejected_gradients" not in records[0]:
        return {}
    out = {"accepted": int(sum(_number(r.get("accepted")) for r in records)),
           "rejected": int(sum(1 - _number(r.get("accepted")) for r in records)),
           "rejected_gradients": int(sum(_number(r.get("rejected_gradients")) for r in records)),
           "computations": int(_number(records[-1].get("computations"))),
           "gradient_computations": int(sum(_number(r.get("gradient_computations")) for r in records))}
    out.update({k: int(sum(_number(r.get(k)) for r in records)) for k in MAID_COST_PARTS})
    return out


#: Training crops of the main job. MAID is a full-batch method: every gradient and every backtracking
#: trial re-solves all of them, so its iterations in a fixed budget scale as 1 / DEMO_TRAIN_COUNT.
#: Measured at 12,000 computations (estimated oracle): 9 iterations on 48 crops, 18 on 24, 25 on 16.
DEMO_TRAIN_COUNT = 16


def demo_config(budget: int, device: str, progress: bool, **changes) -> TrainConfig:
    base = dict(task="denoising", train_count=DEMO_TRAIN_COUNT, test_count=6, batch_size=8, budget=budget,
                eval_every=max(1, budget // 5), checkpoint_every=25, device=device, progress=progress)
    base.update(changes)
    return TrainConfig(**base)


@dataclass
class LearningDemo:
    results: dict[str, TrainResult]
    table: list[dict]
    figures: list[Path]


def _slug(label: str) -> str:
    return label.lower().replace(" ", "-")


def run_learning_demo(out: str | Path, budget: int = 12000, device: str = "auto", progress: bool = True,
                      fresh: bool = False, methods: dict[str, dict] | None = None) -> LearningDemo:
    """Train every method of ``methods`` (default :data:`DEMO_METHODS`) into ``out/<method>``."""
    out = Path(out)
    methods = methods or DEMO_METHODS
    results: dict[str, TrainResult] = {}
    for label, changes in methods.items():
        cfg = demo_config(budget, device, progress, **changes)
        run_path = out / _slug(label)
        if fresh and run_path.exists():
            shutil.rmtree(run_path)
        log.info("training %s (budget %d computations) -> %s", label, budget, run_path)
        results[label] = train(cfg, run_path, resume=True)
    figures = [
        plot_training_curves({k: {"records": r.records, "evaluations": r.evaluations} for k, r in results.items()},
                             out / "figures" / "loss_psnr_vs_computations.png",
                             title="FoE denoising on embedded crops (sigma = 25/255)"),
        _test_image_figure(results, out / "figures" / "test_image.png"),
    ]
    table = []
    for label, r in results.items():
        last = r.evaluations[-1] if r.evaluations else {}
        first = r.evaluations[0] if r.evaluations else {}
        table.append({
            "method": label,
            "iterations": len(r.records),
            "computations": r.summary["computations"],
            "train_psnr_start": first.get("train_psnr"),
            "train_psnr": last.get("train_psnr"),
            "test_psnr": last.get("test_psnr"),
            "algorithm_seconds": r.summary["algorithm_wall_time"],
            "stop": r.stop_reason,
            "maid": maid_breakdown(r.records),
        })
    return LearningDemo(results, table, figures)


def _test_image_figure(results: dict[str, TrainResult], path: Path) -> Path:
    """Clean, noisy and each method's reconstruction of the test crop with the most structure
    (largest mean squared finite difference; a deterministic choice), at accuracy 1e-3."""
    any_run = next(iter(results.values()))
    cfg = TrainConfig(**any_run.run_dir.config)
    device = resolve_device(cfg.device)
    dtype = torch.float32 if cfg.dtype == "float32" else torch.float64
    problem, _, test = load_data(cfg, device, dtype)
    if test is None:
        raise ValueError("the demo needs test images")
    energy = (test.x_star.diff(dim=-1).pow(2).flatten(1).mean(1) + test.x_star.diff(dim=-2).pow(2).flatten(1).mean(1))
    k = int(energy.argmax())
    x_star, y = test.x_star[k:k + 1], test.y[k:k + 1]
    panels = [("clean", x_star), (f"noisy {float(psnr(y, x_star)):.2f} dB", y)]
    for label, r in results.items():
        x = solve_lower(problem.bind(r.theta.to(device=device, dtype=dtype), y), 1e-3).x
        panels.append((f"{label} {float(psnr(x, x_star)):.2f} dB", x))
    images = [(lab, t[0].detach().cpu().permute(1, 2, 0).numpy().astype(np.float64)) for lab, t in panels]
    return plot_image_row(images, path, title="test image")


def format_table(table: list[dict]) -> str:
    head = f"{'method':<17}{'iters':>7}{'computations':>14}{'train PSNR':>12}{'(start)':>9}{'test PSNR':>11}{'time s':>9}  stop"
    lines = [head, "-" * len(head)]
    for r in table:
        def f(v, w=12):
            return f"{v:>{w}.2f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"

        lines.append(f"{r['method']:<17}{r['iterations']:>7}{r['computations']:>14}{f(r['train_psnr'])}"
                     f"{f(r['train_psnr_start'], 9)}{f(r['test_psnr'], 11)}{f(r['algorithm_seconds'], 9)}  {r['stop']}")
    maids = [r for r in table if r.get("maid")]
    if maids:
        lines += ["", format_maid_breakdown({r["method"]: r["maid"] for r in maids})]
    return "\n".join(lines)


def format_maid_breakdown(parts: dict[str, dict]) -> str:
    """MAID's steps and where its computations went (shares of each run's total), one row per run."""
    head = (f"{'MAID run':<24}{'accepted':>9}{'rejected':>9}{'refused z':>10}{'lower':>8}{'CG':>7}{'certif.':>8}"
            f"{'refused':>8}{'trials':>8}{'failed':>8}")
    lines = [head, "-" * len(head)]
    for label, b in parts.items():
        total = max(b["computations"], 1)

        def share(k):
            return f"{100.0 * b[k] / total:>7.0f}%"

        lines.append(f"{label:<24}{b['accepted']:>9}{b['rejected']:>9}{b['rejected_gradients']:>10}"
                     f"{share('lower_iterations')}{share('cg_iterations')[1:]}{share('certification_iterations')}"
                     f"{share('rejected_computations')}{share('trial_computations')}{share('rejected_trial_computations')}")
    lines.append("accepted/rejected: iterations with/without sufficient decrease; refused z: hypergradients the error "
                 "oracle refused; shares of the run's computations: lower level, CG, certification (of all gradient "
                 "evaluations), refused evaluations, backtracking trials, failed trials.")
    return "\n".join(lines)
