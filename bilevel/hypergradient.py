r"""Certified inexact hypergradients (DESIGN.md, "Hypergradient").

For every image ``i`` of a batch, with ``x~_i`` an approximate lower-level solution
(``||x~_i - x^_i|| <= e_i = G_i / mu_h``, ``G_i = ||grad_x h_i(x~_i)||``) and ``q~_i`` an approximate
solution of ``H_i(x~_i) q = grad g_i(x~_i)`` with residual ``R_i``, the implicit function theorem gives

.. math::

    z_i = -B_i(\tilde x_i)^T \tilde q_i \approx \nabla f_i(\theta) = -B_i(\hat x_i)^T H_i(\hat x_i)^{-1} \nabla g_i(\hat x_i),

and the estimator of a mini-batch is ``z = sum_i w_i z_i`` (``w_i = v_i / m`` for a sampling vector
``v``; ``1/B`` by default). The a-posteriori error bound (Ehrhardt & Roberts 2023, generalised to a
Hessian that varies with ``x``; see sources.md) is

.. math::

    \|z_i - \nabla f_i\| \le \omega_i = \frac{\|B\| R}{\mu} + \frac{L_B e (\|\nabla g\| + L_g e)}{\mu}
        + \|B\| \Big(\frac{L_g e}{\mu} + \frac{L_H e (\|\nabla g\| + L_g e)}{\mu^2}\Big),

with ``||B|| >= ||B_i(x~_i)||``, ``L_B``, ``L_H`` certified by the regularizer, ``||grad g|| =
||grad g_i(x~_i)||``. Derivation: write ``q^ = H(x~)^{-1} grad g(x~)`` and split
``z - grad f = -B(x~)^T (q~ - q^) - B(x~)^T (q^ - q*) - (B(x~) - B(x^))^T q*`` with
``||q~ - q^|| <= R/mu``, ``||q^ - q*|| <= L_g e/mu + L_H e ||grad g(x^)||/mu^2``,
``||q*|| <= ||grad g(x^)||/mu`` and ``||grad g(x^)|| <= ||grad g(x~)|| + L_g e``. With ``L_H = 0`` it
reduces to the bound printed in sources.md.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from .cost import Cost
from .problem import LowerLevelProblem
from .solvers import CGResult, LowerLevelResult, conjugate_gradient, solve_lower
from .validate import check_images, check_like

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SquaredError:
    r"""Upper-level loss ``g_i(x) = scale ||x - x*_i||^2`` (the paper's (13) with ``scale = 1``)."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"loss scale must be positive, got {self.scale}")

    @property
    def lipschitz(self) -> float:
        """``L_g``: Lipschitz constant of ``grad g``."""
        return 2.0 * self.scale

    def value(self, x: torch.Tensor, x_star: torch.Tensor) -> torch.Tensor:
        return self.scale * (x - x_star).pow(2).sum(dim=(1, 2, 3))

    def grad(self, x: torch.Tensor, x_star: torch.Tensor) -> torch.Tensor:
        return (2.0 * self.scale) * (x - x_star)

    def certified_interval(self, x: torch.Tensor, x_star: torch.Tensor, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bounds on ``g_i(x^_i)`` from ``x~_i`` with ``||x~_i - x^_i|| <= dist_i`` (MAID's certified values).

        ``g`` is convex and ``L_g``-smooth: ``g(x~) - ||grad g(x~)|| d <= g(x^) <= g(x~) + ||grad g(x~)|| d + L_g d^2/2``.
        """
        val = self.value(x, x_star)
        gn = self.grad(x, x_star).flatten(1).norm(dim=1)
        return (val - gn * dist).clamp_min(0.0), val + gn * dist + 0.5 * self.lipschitz * dist**2


@dataclass(frozen=True)
class HypergradientResult:
    """Everything one hypergradient evaluation produces.

    Attributes
    ----------
    grad: ``z = sum_i w_i z_i``, shape ``(d,)``.
    per_image: ``z_i`` ``(B, d)`` when requested, else ``None``.
    loss: ``g_i(x~_i)`` per image ``(B,)``; ``weighted_loss = sum_i w_i g_i(x~_i)``.
    x, q: lower-level solutions and adjoints ``(B, C, H, W)`` (warm starts for the next call).
    lower, cg: the solver results (iterations, residuals, converged flags).
    error_bound: certified ``omega_i >= ||z_i - grad f_i||`` per image ``(B,)``.
    grad_error_bound: certified bound on ``||z - sum_i w_i grad f_i||`` (``sum_i |w_i| omega_i``).
    distance_bound: certified ``e_i >= ||x~_i - x^_i||`` per image.
    constants: per-image certified constants used in the bound (``jac_norm``, ``jac_lipschitz``, ...).
    cost: aggregate :class:`~bilevel.cost.Cost`.
    """

    grad: torch.Tensor
    per_image: torch.Tensor | None
    loss: torch.Tensor
    weighted_loss: float
    x: torch.Tensor
    q: torch.Tensor
    lower: LowerLevelResult
    cg: CGResult
    error_bound: torch.Tensor
    grad_error_bound: float
    distance_bound: torch.Tensor
    weights: torch.Tensor
    constants: dict = field(repr=False)
    cost: Cost = field(default_factory=Cost)

    @property
    def computations(self) -> int:
        return self.cost.computations


def error_bound(
    consts,
    mu: float,
    grad_norm: torch.Tensor,
    residual: torch.Tensor,
    loss_grad_norm: torch.Tensor,
    loss_lipschitz: float,
) -> torch.Tensor:
    """The a-posteriori bound ``omega_i`` of the module docstring (pure, per image).

    ``consts`` is a :class:`~bilevel.regularizer.RegularizerConstants`; the other arguments are
    ``mu_h``, ``G_i = ||grad_x h_i(x~_i)||``, ``R_i = ||H_i q~_i - grad g_i(x~_i)||``,
    ``||grad g_i(x~_i)||`` and ``L_g``.
    """
    e = grad_norm / mu
    L_H = consts.hess_lipschitz
    # E >= ||q^ - q*||: the worst-case bound, and the one that uses the known q~ when L_H e < mu
    e_simple = loss_lipschitz * e / mu + L_H * e * (loss_grad_norm + loss_lipschitz * e) / mu**2
    denom = mu - L_H * e
    safe = torch.where(denom > 0, denom, torch.ones_like(denom))
    e_refined = (loss_lipschitz * e + consts.hess_q * e + L_H * e * residual / mu) / safe
    e_adj = torch.where(denom > 0, torch.minimum(e_simple, e_refined), e_simple)
    return (consts.jac_norm + consts.jac_lipschitz * e) * (residual / mu + e_adj) + consts.jac_q * e


def hypergradient(
    problem: LowerLevelProblem,
    theta: torch.Tensor,
    y: torch.Tensor,
    x_star: torch.Tensor,
    eps,
    delta,
    *,
    x0: torch.Tensor | None = None,
    q0: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    per_image: bool = False,
    loss: SquaredError = SquaredError(),
    lower_options: dict | None = None,
    cg_options: dict | None = None,
    certify: bool = True,
) -> HypergradientResult:
    r"""Inexact hypergradient of ``f_w(theta) = sum_i w_i g_i(x^_i(theta))`` with a certified error bound.

    Parameters
    ----------
    problem: the lower-level problem (operator, regularizer, ``mu``).
    theta: parameters ``(d,)``.
    y, x_star: measurements and ground truth ``(B, C, H, W)`` (same dtype and device as ``theta``).
    eps: certified lower-level distance (scalar or ``(B,)``), stopping ``||grad h|| <= mu_h eps``.
    delta: CG residual tolerance (scalar or ``(B,)``).
    x0, q0: warm starts for the lower-level solver and CG.
    weights: ``w`` of shape ``(B,)``; default ``1/B`` (the mean).
    per_image: also return the per-image hypergradients ``z_i`` ``(B, d)``.
    lower_options, cg_options: keyword arguments of :func:`solve_lower` / :func:`conjugate_gradient`.
    certify: compute the a-posteriori error bound (with ``False`` it is NaN; the accuracies ``eps``
        and ``delta`` are still certified by the stopping rules).
    """
    t0 = time.perf_counter()
    check_images("x_star", x_star, problem.regularizer.channels)
    lower = problem.bind(theta.detach(), y)
    check_like("x_star", x_star, "y", y)
    B = y.shape[0]
    if weights is None:
        weights = torch.full((B,), 1.0 / B, dtype=y.dtype, device=y.device)
    else:
        if not isinstance(weights, torch.Tensor) or weights.shape != (B,):
            raise ValueError(f"weights must be a tensor of shape ({B},)")
        weights = weights.to(dtype=y.dtype, device=y.device)
        if not bool(torch.isfinite(weights).all()):
            raise ValueError("weights contain NaN or infinite values")
    with torch.no_grad():
        low = solve_lower(lower, eps, x0, **(lower_options or {}))
        x = low.x
        b = loss.grad(x, x_star)
        curv = lower.curvature(x)
        cg = conjugate_gradient(lambda v, idx: lower.hvp(curv, v, idx), b, delta, q0, **(cg_options or {}))
        if per_image:
            zi = -lower.reg.mixed_vjp(x, cg.q, curv, per_image=True)
            z = weights @ zi
        else:
            zi = None
            z = -lower.reg.mixed_vjp(x, cg.q * weights.view(-1, 1, 1, 1), curv)
        gnorm_loss = b.flatten(1).norm(dim=1)
        if certify:
            consts = lower.reg.constants(x, curv, cg.q)
            omega = error_bound(consts, low.modulus, low.grad_norm, cg.residual_norm, gnorm_loss, loss.lipschitz)
        else:
            consts = None
            omega = torch.full_like(gnorm_loss, float("nan"))
        values = loss.value(x, x_star)
    wall = time.perf_counter() - t0
    cost = Cost(
        lower_iterations=int(low.iterations.sum()),
        cg_iterations=int(cg.iterations.sum()),
        gradient_evals=int(low.gradient_evals.sum()),
        hvps=int(cg.hvps.sum()),
        jacobian_products=B,
        wall_time=wall,
    )
    constants = {} if consts is None else {
        "jac_norm": consts.jac_norm,
        "jac_lipschitz": consts.jac_lipschitz,
        "hess_lipschitz": consts.hess_lipschitz,
        "hess_q": consts.hess_q,
        "jac_q": consts.jac_q,
    }
    constants.update({
        "modulus": low.modulus,
        "smoothness": low.smoothness,
        "loss_grad_norm": gnorm_loss,
        "loss_lipschitz": loss.lipschitz,
    })
    return HypergradientResult(
        grad=z,
        per_image=zi,
        loss=values,
        weighted_loss=float(weights @ values),
        x=x,
        q=cg.q,
        lower=low,
        cg=cg,
        error_bound=omega,
        grad_error_bound=float(weights.abs() @ omega),
        distance_bound=low.grad_norm / low.modulus,
        weights=weights,
        constants=constants,
        cost=cost,
    )
