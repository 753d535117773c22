"""The main job at this stage: certified hypergradients of FoE denoising and deblurring on the
embedded photographs, one row per image (iterations, certified accuracies, error bound, time)."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import torch

from .data import TASKS, embedded_crops, make_measurements, psnr
from .foe import FieldOfExperts
from .hypergradient import hypergradient
from .operators import make_operator
from .problem import LowerLevelProblem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoRow:
    task: str
    image: int
    lower_iterations: int
    cg_iterations: int
    distance_bound: float  # certified ||x~ - x^|| (<= eps)
    residual: float  # CG residual (<= delta)
    error_bound: float  # certified ||z_i - grad f_i|| (valid only when ``certified``)
    error_estimate: float  # estimate of ||z_i - grad f_i||
    grad_norm: float  # ||z_i||
    psnr_measured: float
    psnr_solution: float
    seconds: float  # wall time of the batch this image belongs to
    certified: bool  # the lower level reached eps and CG reached delta (else the bound certifies nothing)


def hypergradient_rows(
    task: str,
    count: int,
    eps: float,
    delta: float,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    seed: int = 0,
    crop: int | None = None,
    scale: float = 0.02,
    nu: float = 0.05,
) -> list[DemoRow]:
    """Compute per-image certified hypergradients of one task on embedded test crops."""
    spec = TASKS[task]
    size = crop or spec.crop
    x_star = embedded_crops("test", size, count).to(dtype=dtype, device=device)
    op = make_operator(spec.operator)
    meas = make_measurements(op, x_star, spec.sigma, seed)
    fam = FieldOfExperts()
    problem = LowerLevelProblem(op, fam, spec.mu)
    theta = fam.init_theta(scale=scale, nu=nu, dtype=dtype, device=device)
    t0 = time.perf_counter()
    res = hypergradient(problem, theta, meas.y, x_star, eps, delta, per_image=True)
    seconds = time.perf_counter() - t0
    p_in, p_out = psnr(meas.y, x_star), psnr(res.x, x_star)
    return [
        DemoRow(
            task, i, int(res.lower.iterations[i]), int(res.cg.iterations[i]), float(res.distance_bound[i]),
            float(res.cg.residual_norm[i]), float(res.error_bound[i]), float(res.error_estimate[i]),
            float(res.per_image[i].norm()), float(p_in[i]), float(p_out[i]), seconds, bool(res.converged[i]),
        )
        for i in range(x_star.shape[0])
    ]


def format_rows(rows: list[DemoRow]) -> str:
    """The table of :func:`hypergradient_rows`. A row whose lower level or CG stopped before its
    accuracy says ``not certified`` and shows no bound (its distance is not certified to be <= eps)."""
    head = (f"{'task':<11}{'img':>4}{'lower it':>10}{'CG it':>7}{'||x-x^||<=':>12}{'resid':>10}{'bound':>11}"
            f"{'estimate':>10}{'||z_i||':>10}{'PSNR in':>9}{'PSNR x~':>9}{'time s':>8}  status")
    lines = [head, "-" * len(head)]
    for r in rows:
        bound = f"{r.error_bound:>11.2e}" if r.certified else f"{'-':>11}"
        lines.append(
            f"{r.task:<11}{r.image:>4}{r.lower_iterations:>10}{r.cg_iterations:>7}{r.distance_bound:>12.2e}"
            f"{r.residual:>10.2e}{bound}{r.error_estimate:>10.2e}{r.grad_norm:>10.3g}{r.psnr_measured:>9.2f}"
            f"{r.psnr_solution:>9.2f}{r.seconds:>8.2f}  {'certified' if r.certified else 'not certified'}"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: list[DemoRow]) -> list[dict]:
    return [asdict(r) for r in rows]
