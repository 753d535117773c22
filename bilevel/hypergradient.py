r"""Certified inexact hypergradients with an error estimate (DESIGN.md, "Hypergradient").

Setting
-------
For every image ``i`` of a batch (the index is dropped below), ``h(x) = h_i(x, theta)`` is
``mu``-strongly convex (``mu = mu_h``, certified by the problem), ``g(x) = g_i(x)`` is the upper-level
loss with ``L_g``-Lipschitz gradient, ``H(x) = grad_x^2 h(x)``, ``B(x) = d_theta grad_x h(x)`` (so that
``B(x)^T q = grad_theta <grad_x h(x, theta), q>``). With ``x^`` the exact lower-level solution and
``q* = H(x^)^{-1} grad g(x^)`` the implicit function theorem gives

.. math::

    \nabla f(\theta) = -B(\hat x)^T q^*, \qquad z = -B(\tilde x)^T \tilde q,

where ``z`` is the computed hypergradient from an approximate solution ``x~`` (stopped at
``G = ||grad h(x~)|| <= mu eps``, so ``e = G / mu >= ||x~ - x^||``) and an approximate adjoint ``q~``
(CG residual ``r = H(x~) q~ - grad g(x~)``, ``R = ||r|| <= delta``). The estimator of a mini-batch is
``z = sum_i w_i z_i``.

Step 1: the direct bound at a point (the terms reported by name)
-----------------------------------------------------------------
Let ``x`` be any point with ``||x - x^|| <= e`` and ``q`` any vector with ``r = H(x) q - grad g(x)``.
Write ``E = B(x^)^T q* - B(x)^T q`` (the error of ``-B(x)^T q``) and measure adjoint errors in the
energy norm of ``H^ = H(x^)``, ``||v||_{H^} = sqrt(v^T H^ v)``: since ``H^ >= mu I``,
``||v|| <= ||v||_{H^} / sqrt(mu)`` and ``||w||_{H^^{-1}} <= ||w|| / sqrt(mu)``. From

.. math::

    H(\hat x)(q^* - q) = -r + [\nabla g(\hat x) - \nabla g(x)] - [H(\hat x) - H(x)] q

follows ``||q* - q||_{H^} <= Q := (R + L_g e) / sqrt(mu) + c_H e`` with
``c_H >= ||(H(x') - H(x)) q||_{H'^{-1}} / ||x' - x||`` for every ``x'`` of the ball
``||x' - x|| <= e`` (``hess_q_energy``: the Hessian's variation paired with the known ``q``,
measured in the dual energy norm of any Hessian ``H'`` of the ball). Then

.. math::

    E = B(x)^T (q^* - q) + (B(\hat x) - B(x))^T q + (B(\hat x) - B(x))^T (q^* - q),

and with ``beta >= sup_v ||B(x)^T v|| / ||v||_{H'}`` (``jac_energy``),
``c_B >= ||(B(x') - B(x))^T q|| / ||x' - x||`` (``jac_q``) and
``L_B >= ||B(x') - B(x)|| / ||x' - x||`` (``jac_lipschitz``) on the ball:

.. math::

    \|E\| \le \underbrace{\beta R/\sqrt\mu}_{\text{adjoint residual}}
        + \underbrace{\beta L_g e/\sqrt\mu}_{\text{loss variation}}
        + \underbrace{\beta c_H e}_{\text{Hessian variation}}
        + \underbrace{c_B e}_{\text{Jacobian variation}}
        + \underbrace{L_B e Q/\sqrt\mu}_{\text{second order}} =: \omega(x, q; e, R).

Each term bounds one piece of the exact decomposition ``E = B^T H^^{-1}(-r) +
B^T H^^{-1}(grad g(x^) - grad g(x)) - B^T H^^{-1}(H(x^) - H(x)) q + (B(x^) - B(x))^T q +
(B(x^) - B(x))^T (q* - q)``, which is how ``benchmarks/bench_bound.py`` measures each term against
its true counterpart. No global Lipschitz constant of ``H`` and no worst-case ``||q*||`` enter (the
earlier form, with a global ``L_H`` times ``||grad g|| / mu^2``, was 1e7 times the true error for a
learned FoE). The constants are suprema over the actual ball around ``x`` (local suprema of the
potential's derivatives at the actual filter responses,
:class:`~bilevel.regularizer.RegularizerConstants`), and the energy norms let the regularizer's
own curvature absorb most of ``1/mu`` where it is strong: ``B`` of the FoE is dominated by
``corr(psi2(u) K v, P x)``, which ``||sqrt(D psi2(u)) K v|| <= ||v||_{H'}`` controls, so the
Euclidean ``||B|| / mu`` would cost up to ``1/sqrt(mu) = 10`` times more on deblurring.

Why ``omega`` alone stays loose: it must hold for every direction of ``x^ - x`` and of ``q* - q``,
while the actual errors are smooth images on which the (high-pass) filters and ``B`` are small;
``omega(x~, q~)`` at the solver's own point is 1e3 to 1e5 times the true error, dominated by the
Hessian-variation term (``c_H`` needs the largest ``|psi3(u) (K q)|`` over pixels because the
unknown direction could concentrate there).

Step 2: Newton correction and adjoint re-solve (``certify="refined"``)
---------------------------------------------------------------------
The direction of the error is known to first order: one Newton step
``x- = x~ - s``, ``H(x~) s ~ grad h(x~)`` (:func:`~bilevel.solvers.newton_refine`, repeated until
``||grad h(x-)|| <= tau G``) leaves ``||x- - x^|| <= e- = ||grad h(x-)|| / mu``, of second order in
``e``; the adjoint is then re-solved at ``x-`` from ``q~`` (CG to ``R- <= tau R``), giving ``q-`` and
``z- = -B(x-)^T q-``. By the triangle inequality

.. math::

    \|z - \nabla f\| \le \|z - \bar z\| + \|\bar z - \nabla f\| \le
        \underbrace{\|z - \bar z\|}_{\text{correction}} + \omega(\bar x, \bar q; \bar e, \bar R),

which is the certified bound returned with ``certify="refined"``, and ``||z - z-||`` is the error
*estimate*: ``z - z- = E - (z- - grad f)``, so it equals the true error up to ``omega(x-, q-)``,
which is ``O(tau)`` relative to it. The refinement runs in float64 whatever the dtype of the
hypergradient (a float32 gradient cannot certify ``||grad h|| <= 1e-5`` on a 256x256 colour image),
costs one Newton-CG solve and one warm-started adjoint solve per image, and is counted in
``Cost.certification_iterations``.

Step 3: tightening rounds. ``omega(x-, q-)`` is first order in ``e-`` and ``R-`` with the worst-case
constants of step 1; where they are large (deblurring: ``mu = 1e-2``, ``omega(x~, q~)`` 1e6 to 1e7
times the true error) one factor ``tau`` leaves the remainder above the correction itself, and the
bound says little. The refinement is then repeated from ``(x-, q-)`` (``refine_rounds``): each
round costs a few Newton-CG and CG iterations (Newton converges quadratically, CG starts warm),
shrinks ``e-`` and ``R-`` by ``tau`` and so the remainder by about ``tau``, and is kept only if it
halves the remainder (the float64 floor ends it). The triangle inequality of step 2 holds at every
round's point, so the bound stays certified; the estimate ``||z - z-||`` moves by ``O(tau)`` only. For a batch, ``||z - sum_i w_i grad f_i|| <= ||sum_i w_i (z_i -
z-_i)|| + sum_i |w_i| omega_i``.

``certify="direct"`` returns ``omega(x~, q~; e, R)`` (no extra solve; no estimate) and
``certify="none"`` neither.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from .cost import Cost
from .problem import LowerLevelProblem
from .solvers import CGResult, LowerLevelResult, NewtonResult, conjugate_gradient, newton_refine, solve_lower
from .validate import check_images, check_like

log = logging.getLogger(__name__)

#: What ``hypergradient(certify=...)`` computes: nothing, the direct bound ``omega(x~, q~)``, or the
#: refined bound ``||z - z-|| + omega(x-, q-)`` with the estimate ``||z - z-||`` (``True`` means
#: ``"refined"``, ``False`` ``"none"``).
CERTIFY_MODES = ("none", "direct", "refined")


def certify_mode(certify) -> str:
    """Normalize ``certify`` (a bool or one of :data:`CERTIFY_MODES`)."""
    if certify is True:
        return "refined"
    if certify is False or certify is None:
        return "none"
    if certify not in CERTIFY_MODES:
        raise ValueError(f"certify must be a bool or one of {CERTIFY_MODES}, got {certify!r}")
    return certify


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


class BoundTerms(NamedTuple):
    """The terms of ``omega(x, q; e, R)`` (module docstring, step 1), one value per image ``(B,)``."""

    adjoint_residual: torch.Tensor  # ||B|| R / mu
    loss_variation: torch.Tensor  # ||B|| L_g e / mu
    hessian_variation: torch.Tensor  # ||B|| c_H e / mu
    jacobian_variation: torch.Tensor  # c_B e
    second_order: torch.Tensor  # L_B e Q

    def total(self) -> torch.Tensor:
        return self.adjoint_residual + self.loss_variation + self.hessian_variation + self.jacobian_variation + self.second_order


def error_bound(consts, mu: float, distance: torch.Tensor, residual: torch.Tensor, loss_lipschitz: float) -> BoundTerms:
    """The direct bound ``omega`` of the module docstring, term by term (pure, per image).

    ``consts`` is a :class:`~bilevel.regularizer.RegularizerConstants` computed at the point with
    radius ``distance`` (``e >= ||x - x^||``) and modulus ``mu``; ``residual`` is
    ``R = ||H(x) q - grad g(x)||`` and ``loss_lipschitz`` ``L_g``.
    """
    e, R = distance, residual
    smu = mu**0.5
    beta, c_h = consts.jac_energy, consts.hess_q_energy
    adjoint = beta * R / smu
    loss_var = beta * loss_lipschitz * e / smu
    hess_var = beta * c_h * e
    q_energy = (R + loss_lipschitz * e) / smu + c_h * e  # >= ||q* - q||_{H(x^)}
    return BoundTerms(adjoint, loss_var, hess_var, consts.jac_q * e, consts.jac_lipschitz * e * q_energy / smu)


@dataclass(frozen=True)
class Refinement:
    """What ``certify="refined"`` computed (float64, one entry per image).

    Attributes
    ----------
    x, q: the Newton-corrected solution ``x-`` and the re-solved adjoint ``q-`` ``(B, C, H, W)``.
    per_image: ``z-_i = -B(x-_i)^T q-_i`` ``(B, d)``.
    distance_bound: ``e- = ||grad h(x-)|| / mu >= ||x- - x^||``.
    residual_norm: ``R- = ||H(x-) q- - grad g(x-)||``.
    newton: the :class:`~bilevel.solvers.NewtonResult`; adjoint: the re-solve's :class:`CGResult`.
    """

    x: torch.Tensor
    q: torch.Tensor
    per_image: torch.Tensor
    distance_bound: torch.Tensor
    residual_norm: torch.Tensor
    newton: NewtonResult
    adjoint: CGResult
    certification_iterations: torch.Tensor | None = None  # per image, over every round (None: newton + adjoint)
    rounds: torch.Tensor | None = None  # per image: refinement rounds used (1 + tightening rounds)


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
    error_bound: certified ``omega_i >= ||z_i - grad f_i||`` per image ``(B,)`` (float64; NaN with
        ``certify="none"``).
    error_estimate: estimate ``||z_i - z-_i||`` of ``||z_i - grad f_i||`` per image (NaN unless
        ``certify="refined"``).
    grad_error_bound: certified bound on ``||z - sum_i w_i grad f_i||``.
    grad_error_estimate: estimate ``||sum_i w_i (z_i - z-_i)||`` of it (NaN unless refined).
    error_vector: ``sum_i w_i (z_i - z-_i)`` ``(d,)`` (refined only; chunked callers add these up).
    grad_error_remainder: ``sum_i |w_i| omega(x-_i, q-_i)`` (refined) or ``sum_i |w_i| omega_i``
        (direct): ``grad_error_bound = ||error_vector|| + grad_error_remainder``.
    error_terms: per-image values ``(B,)`` of every term of the bound: ``correction`` (refined) and
        the fields of :class:`BoundTerms` (at ``x-`` when refined, at ``x~`` when direct).
    distance_bound: certified ``e_i >= ||x~_i - x^_i||`` per image.
    certify: the mode used (:data:`CERTIFY_MODES`); refinement: :class:`Refinement` or ``None``.
    constants: per-image certified constants used in the bound (``jac_energy``, ``hess_q_energy``, ...).
    cost: aggregate :class:`~bilevel.cost.Cost` (refinement in ``certification_iterations``).
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
    error_estimate: torch.Tensor
    grad_error_estimate: float
    error_vector: torch.Tensor | None
    grad_error_remainder: float
    error_terms: dict = field(repr=False)
    certify: str = "none"
    refinement: Refinement | None = field(default=None, repr=False)
    constants: dict = field(default_factory=dict, repr=False)
    cost: Cost = field(default_factory=Cost)

    @property
    def computations(self) -> int:
        return self.cost.computations

    @property
    def converged(self) -> torch.Tensor:
        """Per image: the lower level reached ``eps`` and CG reached ``delta`` (the accuracies are certified)."""
        return self.lower.converged & self.cg.converged


#: Relative floor of the refinement's targets (float64 rounding limits a residual to about
#: 1e-16 times the condition number relative to the right-hand side; asking for less would only
#: spend iterations).
REFINE_FLOOR = 1e-10


def refine(
    problem: LowerLevelProblem,
    theta: torch.Tensor,
    y: torch.Tensor,
    x_star: torch.Tensor,
    x: torch.Tensor,
    q: torch.Tensor,
    grad_norm: torch.Tensor,
    residual: torch.Tensor,
    *,
    tol: float = 1e-2,
    loss: "SquaredError" = SquaredError(),
    dtype: torch.dtype = torch.float64,
    max_newton_steps: int = 4,
) -> Refinement:
    """Newton correction ``x-`` of ``x`` and adjoint ``q-`` re-solved at ``x-`` (module docstring, step 2).

    Targets per image: ``||grad h(x-)|| <= tol * grad_norm`` and ``||H(x-) q- - grad g(x-)|| <=
    tol * residual`` (both floored at ``REFINE_FLOOR`` relative to the right-hand side). Runs in
    ``dtype`` (float64 by default).
    """
    if not 0 < tol < 1:
        raise ValueError(f"the refinement tolerance must be in (0, 1), got {tol}")
    th, y64, xs64 = theta.detach().to(dtype), y.to(dtype), x_star.to(dtype)
    x64, q64 = x.to(dtype), q.to(dtype)
    lower = problem.bind(th, y64)
    g0 = lower.gradient(x64)
    g0n = g0.flatten(1).norm(dim=1)
    scale = problem.operator.adjoint(y64).flatten(1).norm(dim=1) + 1.0
    target = torch.maximum(tol * torch.minimum(grad_norm.to(dtype), g0n), REFINE_FLOOR * scale)
    target = torch.where(target > 0, target, REFINE_FLOOR * scale)
    newton = newton_refine(lower, x64, target, grad=g0, rel_tol=min(0.1, max(tol, 1e-3)), max_steps=max_newton_steps)
    xb = newton.x
    b = loss.grad(xb, xs64)
    curv = lower.curvature(xb)
    rtol = torch.maximum(tol * residual.to(dtype), REFINE_FLOOR * (b.flatten(1).norm(dim=1) + 1.0))
    adj = conjugate_gradient(lambda v, idx: lower.hvp(curv, v, idx), b, rtol, q64, warn=False)
    zb = -lower.reg.mixed_vjp(xb, adj.q, curv, per_image=True)
    return Refinement(xb, adj.q, zb, newton.grad_norm / lower.modulus, adj.residual_norm, newton, adj)


def _refine_cost(ref: Refinement) -> Cost:
    B = ref.x.shape[0]
    return Cost(gradient_evals=int(ref.newton.gradient_evals.sum()) + B,
                hvps=int(ref.newton.hvps.sum() + ref.adjoint.hvps.sum()), jacobian_products=B,
                certification_iterations=int(ref.newton.cg_iterations.sum() + ref.adjoint.iterations.sum()))


def _refine_rounds(problem, theta, y, x_star, x, q, grad_norm, residual, zi, tol, rounds, loss):
    """:func:`refine` and the bound's terms at ``(x-, q-)``, then up to ``rounds - 1`` tightening
    rounds for the images whose remainder exceeds their correction (see ``hypergradient``'s
    ``refine_rounds``). Returns the merged :class:`Refinement`, the constants and terms at the final
    points (per image), and the cost of every round."""
    lower64 = problem.bind(theta.detach().double(), y.double())

    def bound_at(r: Refinement, rows=None):
        low = lower64 if rows is None else problem.bind(theta.detach().double(), y.double()[rows])
        consts = low.reg.constants(r.x, low.curvature(r.x), r.q, r.distance_bound, low.modulus)
        return consts, error_bound(consts, low.modulus, r.distance_bound, r.residual_norm, loss.lipschitz)

    ref = refine(problem, theta, y, x_star, x, q, grad_norm, residual, tol=tol, loss=loss)
    consts, terms = bound_at(ref)
    cost = _refine_cost(ref)
    iters = (ref.newton.cg_iterations + ref.adjoint.iterations).to(torch.long)
    used = torch.ones_like(iters)
    rx, rq, rz = ref.x.clone(), ref.q.clone(), ref.per_image.clone()
    dist, res = ref.distance_bound.clone(), ref.residual_norm.clone()
    ctype = type(consts)
    consts = [c.clone() for c in consts]
    terms = [t.clone() for t in terms]
    active = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(rounds - 1):
        remainder = sum(terms)
        correction = (zi - rz).norm(dim=1)
        rows = torch.nonzero(active & (remainder > correction)).flatten()
        if rows.numel() == 0:
            break
        sub = refine(problem, theta, y[rows], x_star[rows], rx[rows], rq[rows], dist[rows] * lower64.modulus,
                     res[rows], tol=tol, loss=loss)
        c_sub, t_sub = bound_at(sub, rows)
        cost = cost + _refine_cost(sub)
        iters[rows] += (sub.newton.cg_iterations + sub.adjoint.iterations).to(torch.long)
        used[rows] += 1
        better = t_sub.total() < 0.5 * remainder[rows]  # keep improvements; stop an image at its floor
        active[rows[~better]] = False
        keep = rows[better]
        if keep.numel() == 0:
            break
        sel = better.nonzero().flatten()
        rx[keep], rq[keep], rz[keep] = sub.x[sel], sub.q[sel], sub.per_image[sel]
        dist[keep], res[keep] = sub.distance_bound[sel], sub.residual_norm[sel]
        for store, new in zip(consts + terms, list(c_sub) + list(t_sub)):
            store[keep] = new[sel]
    merged = Refinement(rx, rq, rz, dist, res, ref.newton, ref.adjoint, iters, used)
    return merged, ctype(*consts), BoundTerms(*terms), cost


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
    certify=True,
    refine_tol: float = 1e-2,
    refine_rounds: int = 3,
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
    certify: ``True``/``"refined"`` (default): certified bound ``||z - z-|| + omega(x-, q-)`` and the
        estimate ``||z - z-||`` (one Newton-CG solve and one adjoint re-solve per image, in float64);
        ``"direct"``: the bound ``omega(x~, q~)`` only (no extra solve); ``False``/``"none"``: neither
        (the accuracies ``eps`` and ``delta`` are still certified by the stopping rules).
    refine_tol: ``tau``, how much more accurate the refined point is (gradient norm and adjoint
        residual ``tau`` times those of ``x~``, ``q~``). Smaller values tighten the bound (its
        remainder is ``O(tau)`` of the error) at a few more CG iterations.
    refine_rounds: most refinement rounds per image (refined only; ``1``: no tightening). An image
        whose remainder ``omega(x-, q-)`` still exceeds its correction ``||z - z-||`` (the constants
        of ``omega`` are worst cases; on deblurring, with ``mu = 1e-2``, they exceed the true
        error's by 1e4 to 1e6) is refined again from ``(x-, q-)`` by another factor ``tau``, which
        shrinks the remainder by about ``tau`` per round, until it is below the correction, it stops
        improving (the float64 floor) or the rounds are spent. The estimate barely changes; only the
        certified bound tightens. Pass ``1`` when only the estimate is wanted.
    """
    mode = certify_mode(certify)
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
        need_rows = per_image or mode == "refined"
        if need_rows:
            zi = -lower.reg.mixed_vjp(x, cg.q, curv, per_image=True)
            z = weights @ zi
        else:
            zi = None
            z = -lower.reg.mixed_vjp(x, cg.q * weights.view(-1, 1, 1, 1), curv)
        gnorm_loss = b.flatten(1).norm(dim=1)
        dist = low.grad_norm / low.modulus
        w64 = weights.double().abs()
        ref = None
        error_vector = None
        extra = Cost()
        nan = torch.full((B,), float("nan"), dtype=torch.float64, device=y.device)
        if mode == "refined":
            if refine_rounds < 1:
                raise ValueError(f"refine_rounds must be >= 1, got {refine_rounds}")
            ref, consts, terms, rounds_cost = _refine_rounds(problem, theta, y, x_star, x, cg.q, low.grad_norm,
                                                             cg.residual_norm, zi.double(), refine_tol, refine_rounds,
                                                             loss)
            diff = zi.double() - ref.per_image
            correction = diff.norm(dim=1)
            remainder = terms.total()
            omega = correction + remainder
            estimate = correction
            error_vector = weights.double() @ diff
            grad_est = float(error_vector.norm())
            grad_rem = float(w64 @ remainder)
            grad_bound = grad_est + grad_rem
            term_values = {"correction": correction, **terms._asdict()}
            extra = rounds_cost
        elif mode == "direct":
            consts = lower.reg.constants(x, curv, cg.q, dist, low.modulus)
            terms = error_bound(consts, low.modulus, dist, cg.residual_norm, loss.lipschitz)
            omega = terms.total().double()
            estimate = nan
            grad_rem = float(w64 @ omega)
            grad_bound, grad_est = grad_rem, float("nan")
            term_values = {k: v.double() for k, v in terms._asdict().items()}
        else:
            consts = None
            omega, estimate = nan, nan
            grad_bound = grad_est = grad_rem = float("nan")
            term_values = {}
        values = loss.value(x, x_star)
    wall = time.perf_counter() - t0
    cost = Cost(
        lower_iterations=int(low.iterations.sum()),
        cg_iterations=int(cg.iterations.sum()),
        gradient_evals=int(low.gradient_evals.sum()),
        hvps=int(cg.hvps.sum()),
        jacobian_products=B,
        wall_time=wall,
    ) + extra
    constants = {} if consts is None else dict(consts._asdict())
    constants.update({
        "modulus": low.modulus,
        "smoothness": low.smoothness,
        "loss_grad_norm": gnorm_loss,
        "loss_lipschitz": loss.lipschitz,
    })
    return HypergradientResult(
        grad=z,
        per_image=zi if per_image else None,
        loss=values,
        weighted_loss=float(weights @ values),
        x=x,
        q=cg.q,
        lower=low,
        cg=cg,
        error_bound=omega,
        grad_error_bound=grad_bound,
        distance_bound=dist,
        weights=weights,
        error_estimate=estimate,
        grad_error_estimate=grad_est,
        error_vector=error_vector,
        grad_error_remainder=grad_rem,
        error_terms=term_values,
        certify=mode,
        refinement=ref,
        constants=constants,
        cost=cost,
    )
