r"""Batched solvers with per-image stopping: accelerated gradient and conjugate gradient.

Stopping rules (DESIGN.md, "Accuracy"), one per image ``i``:

* lower level: ``||grad_x h_i(x)|| <= mu_h eps_i``, which certifies ``||x - x^_i|| <= eps_i`` because
  ``h_i`` is ``mu_h``-strongly convex (Ehrhardt & Roberts 2023);
* conjugate gradient: ``||H_i q - b_i|| <= delta_i`` for the *true* residual (checked once more
  with an explicit Hessian-vector product when the recursive residual says so).

* Newton refinement (:func:`newton_refine`): ``||grad_x h_i(x)|| <= target_i`` after Newton steps
  ``x <- x - s`` with ``H_i(x) s ~ grad_x h_i(x)`` solved by conjugate gradient; the test is the
  same certified one, so ``||x - x^_i|| <= target_i / mu_h``.

Converged images leave the batch: every ``check_every`` iterations the solver synchronises once,
writes finished images to the output and continues with the rest (on the CPU ``check_every = 1``;
on a GPU a larger value avoids a host synchronisation per iteration, and between checks finished
images are frozen by masks, so iteration counts are exact in both cases).
"""
from __future__ import annotations

import logging
import math
from typing import Callable, NamedTuple

import torch

from .problem import BoundLowerLevel
from .validate import check_like, check_positive_int, check_tolerance

log = logging.getLogger(__name__)

MOMENTUM_RULES = ("strongly_convex", "fista", "none")
#: Step sizes of :func:`solve_lower`: ``1 / L_h`` with the certified ``L_h``, or an estimate that
#: tracks the curvature the iterates actually meet (never above the certified one).
STEP_RULES = ("certified", "adaptive")


class LowerLevelResult(NamedTuple):
    """Result of :func:`solve_lower` (one entry per image).

    Attributes
    ----------
    x: approximate solutions ``(B, C, H, W)``.
    iterations: gradient steps taken ``(B,)``.
    grad_norm: ``||grad_x h_i(x_i)||`` at the returned points ``(B,)``.
    converged: whether ``grad_norm <= mu_h eps`` ``(B,)``.
    gradient_evals: gradient evaluations ``(B,)`` (iterations + 1).
    modulus, smoothness: the ``mu_h`` and ``L_h`` used.
    """

    x: torch.Tensor
    iterations: torch.Tensor
    grad_norm: torch.Tensor
    converged: torch.Tensor
    gradient_evals: torch.Tensor
    modulus: float
    smoothness: float


class CGResult(NamedTuple):
    """Result of :func:`conjugate_gradient` (one entry per image).

    Attributes
    ----------
    q: approximate solutions ``(B, C, H, W)``.
    iterations: CG iterations ``(B,)``.
    residual_norm: true residual ``||H q - b||`` at the returned ``q`` ``(B,)``.
    converged: whether ``residual_norm <= delta`` ``(B,)``.
    hvps: Hessian-vector products spent ``(B,)`` (iterations plus residual evaluations).
    """

    q: torch.Tensor
    iterations: torch.Tensor
    residual_norm: torch.Tensor
    converged: torch.Tensor
    hvps: torch.Tensor


def _norms(v: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(v.flatten(1), dim=1)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


def default_check_every(device: torch.device) -> int:
    """1 on the CPU (synchronising is free), 8 on accelerators."""
    return 1 if device.type == "cpu" else 8


def _as_per_image(tol, batch: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(tol, torch.Tensor):
        return tol.to(dtype=like.dtype, device=like.device)
    return torch.full((batch,), float(tol), dtype=like.dtype, device=like.device)


def solve_lower(
    lower: BoundLowerLevel,
    eps,
    x0: torch.Tensor | None = None,
    *,
    max_iter: int = 20000,
    momentum: str = "strongly_convex",
    restart: bool = True,
    check_every: int | None = None,
    stall_iters: int = 1000,
    step_rule: str = "certified",
    warn: bool = True,
) -> LowerLevelResult:
    r"""Accelerated gradient descent on every ``h_i(., theta)``, stopped per image.

    .. math::

        x_{k+1} = y_k - \tfrac{1}{L_h} \nabla h(y_k), \qquad
        y_{k+1} = x_{k+1} + \beta_k (x_{k+1} - x_k),

    with ``beta = (sqrt(L_h) - sqrt(mu_h)) / (sqrt(L_h) + sqrt(mu_h))`` (``"strongly_convex"``),
    the FISTA sequence (``"fista"``) or ``0`` (``"none"``), and, with ``restart``, the gradient
    restart ``<grad h(y_k), x_{k+1} - x_k> > 0 => beta_k = 0`` of O'Donoghue & Candes. The
    gradient at ``y_k`` doubles as the stopping test: an image stops at the first ``y_k`` with
    ``||grad h(y_k)|| <= mu_h eps``, and ``y_k`` is returned.

    Parameters
    ----------
    lower: the problem bound to ``theta`` and ``y``.
    eps: certified distance, scalar or ``(B,)``; must be positive.
    x0: warm start ``(B, C, H, W)``; defaults to ``A^T y``.
    max_iter: iteration cap per image (an image that hits it is returned with ``converged=False``).
    stall_iters: an image whose gradient norm has not dropped below 0.999 times its best value for
        this many iterations is stopped with ``converged=False`` (typically the float32 precision
        floor: use float64 or a larger ``eps``).
    step_rule: ``"certified"`` (``1/L_h`` with the certified smoothness) or ``"adaptive"``: per image
        ``L_k`` starts at ``L_h / 8`` and becomes ``min(L_h, 2 kappa_k)`` (momentum restarted)
        whenever the secant curvature ``kappa_k = ||grad h(y_k) - grad h(y_{k-1})|| / ||y_k - y_{k-1}||``
        along the iterates exceeds it; step ``1/L_k`` and ``beta`` from ``L_k``. The certified
        Lipschitz bound of the FoE is a worst case over all images (every response at 0, where
        ``psi''`` is largest); on photographs the curvature met is 2.5-4 times smaller (measured on the
        embedded deblurring crops), so the adaptive step needs 35-55 % fewer iterations there. The
        stopping test, hence the certified accuracy, is the same.
    warn: log a warning when some image stops without the certificate (``False`` for a pre-solve
        whose floor is expected, as in :func:`solve_lower_mixed`).
    """
    y = lower.y
    B = y.shape[0]
    eps = check_tolerance("eps", eps, B)
    check_positive_int("max_iter", max_iter, minimum=0)
    check_positive_int("stall_iters", stall_iters)
    if momentum not in MOMENTUM_RULES:
        raise ValueError(f"unknown momentum rule {momentum!r}; use one of {MOMENTUM_RULES}")
    if step_rule not in STEP_RULES:
        raise ValueError(f"unknown step rule {step_rule!r}; use one of {STEP_RULES}")
    if x0 is None:
        x0 = lower.initial_point()
    else:
        check_like("x0", x0, "y", y)
        if not bool(torch.isfinite(x0).all()):
            raise ValueError("x0 contains NaN or infinite values; pass x0=None to start from A^T y")
    check_every = check_every or default_check_every(y.device)
    mu_h, L_h = lower.modulus, lower.smoothness
    step = 1.0 / L_h
    beta_sc = (math.sqrt(L_h) - math.sqrt(mu_h)) / (math.sqrt(L_h) + math.sqrt(mu_h))
    tol_all = _as_per_image(eps, B, y) * mu_h

    out_x = x0.clone()
    out_it = torch.zeros(B, dtype=torch.long, device=y.device)
    out_gn = torch.zeros(B, dtype=y.dtype, device=y.device)

    active = torch.arange(B, device=y.device)
    index: torch.Tensor | None = None  # None while every image is active (no gather needed)
    xa = x0
    ya = x0
    sol = x0.clone()
    gsol = torch.zeros(B, dtype=y.dtype, device=y.device)
    done = torch.zeros(B, dtype=torch.bool, device=y.device)
    it = torch.zeros(B, dtype=torch.long, device=y.device)
    tol = tol_all
    t = torch.ones(B, dtype=y.dtype, device=y.device)
    best = torch.full((B,), math.inf, dtype=y.dtype, device=y.device)
    last_best = torch.zeros(B, dtype=torch.long, device=y.device)
    adaptive = step_rule == "adaptive"
    Lk = torch.full((B,), L_h / 8.0 if adaptive else L_h, dtype=y.dtype, device=y.device)
    g_prev = y_prev = None
    for k in range(max_iter + 1):
        g = lower.gradient(ya, index)
        gn = _norms(g)
        grew = torch.zeros(gn.shape, dtype=torch.bool, device=gn.device)
        if adaptive and g_prev is not None:
            dy = _norms(ya - y_prev)
            kappa = _norms(g - g_prev) / torch.where(dy > 0, dy, torch.ones_like(dy))
            grew = (kappa > Lk) & (dy > 0)
            Lk = torch.where(grew, torch.clamp(2.0 * kappa, max=L_h), Lk)
        improved = gn < 0.999 * best
        best = torch.where(improved, gn, best)
        last_best = torch.where(improved, torch.full_like(last_best, k), last_best)
        stalled = (k - last_best) >= stall_iters
        newly = ~done if k == max_iter else ((gn <= tol) | stalled) & ~done
        sol = torch.where(_bcast(newly, ya), ya, sol)
        gsol = torch.where(newly, gn, gsol)
        done = done | newly
        it = it + (~done).long()
        if (k + 1) % check_every == 0 or k == max_iter:
            if not bool(torch.isfinite(gn).all()):
                raise FloatingPointError(
                    "the lower-level iteration produced non-finite gradients; theta may be extreme "
                    "(check the step size of the upper level) or the data contain huge values"
                )
            if bool(done.any()):
                fin = done.nonzero().squeeze(1)
                rows = active.index_select(0, fin)
                out_x.index_copy_(0, rows, sol.index_select(0, fin))
                out_it.index_copy_(0, rows, it.index_select(0, fin))
                out_gn.index_copy_(0, rows, gsol.index_select(0, fin))
                keep = (~done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                active = active.index_select(0, keep)
                index = active
                xa, ya, g, sol = (v.index_select(0, keep) for v in (xa, ya, g, sol))
                gsol, done, it, tol, t, best, last_best, Lk, grew = (
                    v.index_select(0, keep) for v in (gsol, done, it, tol, t, best, last_best, Lk, grew)
                )
        if adaptive:
            g_prev, y_prev = g, ya
            x_new = ya - g / _bcast(Lk, g)
        else:
            x_new = ya - step * g
        if momentum == "strongly_convex":
            beta = torch.full_like(t, beta_sc) if not adaptive else (Lk.sqrt() - math.sqrt(mu_h)) / (Lk.sqrt() + math.sqrt(mu_h))
        elif momentum == "fista":
            t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            t = t_new
        else:
            beta = torch.zeros_like(t)
        if restart and momentum != "none":
            bad = ((g * (x_new - xa)).flatten(1).sum(dim=1) > 0) | grew
            beta = torch.where(bad, torch.zeros_like(beta), beta)
            t = torch.where(bad, torch.ones_like(t), t)
        ya = x_new + _bcast(beta, x_new) * (x_new - xa)
        xa = x_new
    converged = out_gn <= tol_all
    if warn and not bool(converged.all()):
        log.warning(
            "lower-level solver stopped before ||grad h|| <= mu eps on %d of %d images (max_iter=%d or no "
            "progress for %d iterations; largest ||grad h|| / (mu eps) = %.3g). In float32 this is usually "
            "the precision floor: use float64 or a larger eps.",
            int((~converged).sum()), B, max_iter, stall_iters, float((out_gn / tol_all).max()),
        )
    return LowerLevelResult(out_x, out_it, out_gn, converged, out_it + 1, mu_h, L_h)


#: The float32 stage of :func:`solve_lower_mixed` stops at this many times its rounding floor.
PRESOLVE_FLOOR_FACTOR = 30.0


def float32_reachable_eps(lower64: BoundLowerLevel, lower32: BoundLowerLevel, eps, x0: torch.Tensor | None,
                          factor: float = PRESOLVE_FLOOR_FACTOR) -> torch.Tensor:
    r"""Per image, the distance a float32 solve can certify: ``max(eps, factor * floor / mu_h)``.

    ``floor`` is the rounding error of one float32 gradient at the start, ``||grad h_32(x_0) -
    grad h_64(x_0)||`` (a float32 iteration cannot drive ``||grad h||`` much below the noise of its own
    gradients); ``x_0`` is ``x0`` or ``A^T y``. Where ``mu_h eps`` lies below a few times that floor (the
    ill-conditioned deblurring problems), the float32 stage aims there instead of waiting out its
    stall test; the float64 stage certifies ``eps`` either way.
    """
    B = lower64.y.shape[0]
    x64 = lower64.initial_point() if x0 is None else x0.to(lower64.y.dtype)
    g64 = lower64.gradient(x64)
    g32 = lower32.gradient(x64.float())
    floor = (g32.double() - g64).flatten(1).norm(dim=1)
    target = torch.as_tensor(eps, dtype=torch.float64, device=floor.device).expand(B)
    return torch.maximum(target, factor * floor / lower64.modulus).to(torch.float32)


def solve_lower_mixed(problem, theta: torch.Tensor, y: torch.Tensor, eps, *, max_iter: int = 20000,
                      presolve_stall_iters: int = 200, presolve_floor_factor: float = PRESOLVE_FLOOR_FACTOR,
                      x0: torch.Tensor | None = None, **options) -> LowerLevelResult:
    r""":func:`solve_lower` for float64 ``theta`` and ``y``, started from a float32 solve.

    Most of the iterations of a certified float64 solve are spent far from the tolerance, where
    float32 does the same work for about half the memory traffic. The problem is first solved in
    float32 to ``eps`` or, where that lies below float32's reach, to ``presolve_floor_factor`` times
    the rounding floor of its gradients (:func:`float32_reachable_eps`; a stall test of
    ``presolve_stall_iters`` iterations without progress remains as a backstop), then the float64
    solve starts from that point (``x0``: the start of the float32 stage, default ``A^T y``) and
    certifies ``||x - x^_i|| <= eps_i`` with the same stopping test as a cold float64 solve, so the
    guarantee is unchanged. Measured with
    one thread: on 8 McMaster 96x96 crops with a learned FoE the float64 stage needs no iteration at
    ``eps`` = 1e-2 and 1e-3 and the whole solve takes 0.5-0.6x the CPU time of a cold float64 solve
    (``benchmarks/bench_core.py`` measures it; 0.57x in its last run, one thread). On deblurring
    (``mu`` = 1e-2) the stopping test lies below float32's precision floor: a float32 stage aiming at
    ``eps`` ended only by its stall test, and the restarted float64 stage needed 1124 and 563
    iterations in all against 663 and 312 cold on two crops (0.90x the time). Aiming at 30x the floor
    (10x stops too early: the floor at the solution is several times the floor at the start) the
    two crops take 662 and 300 iterations in all and 0.68x the time; 3x behaves like ``eps``, 100x
    takes 0.91x (one run of each; ``core_cpu_1thread.json``, the last full measurement: 0.64x).

    An image the float64 stage does not certify (an accelerated method started very close to the
    solution can oscillate for longer than the stall test allows) is solved again cold in float64, so
    the outcome is never worse than a plain float64 solve. ``iterations`` and ``gradient_evals`` of
    the result count every stage. Other dtypes (and a float32 stage that fails with non-finite
    values) fall back to a plain :func:`solve_lower`. ``options`` go to every stage (the float32 stage
    uses ``presolve_stall_iters`` instead of ``stall_iters``). ``max_iter`` caps the iterations of all
    stages together, per image, as for a plain solve: each stage gets what the earlier ones left (the
    most any image used), and an image left uncertified when the cap is spent is returned with
    ``converged=False`` and a warning.
    """
    if theta.dtype != torch.float64 or y.dtype != torch.float64:
        return solve_lower(problem.bind(theta, y), eps, max_iter=max_iter, **options)
    if not presolve_floor_factor >= 1:
        raise ValueError(f"presolve_floor_factor must be at least 1, got {presolve_floor_factor}")
    try:
        pre_options = {k: v for k, v in options.items() if k != "stall_iters"}
        low64, low32 = problem.bind(theta, y), problem.bind(theta.float(), y.float())
        eps32 = float32_reachable_eps(low64, low32, eps, x0, presolve_floor_factor)
        pre = solve_lower(low32, eps32, None if x0 is None else x0.float(), max_iter=max_iter,
                          stall_iters=presolve_stall_iters, warn=False, **pre_options)
    except FloatingPointError as exc:
        log.info("float32 pre-solve failed (%s); solving in float64 from the start", exc)
        return solve_lower(problem.bind(theta, y), eps, x0, max_iter=max_iter, **options)
    res = solve_lower(low64, eps, pre.x.double(), max_iter=max_iter - int(pre.iterations.max()), warn=False,
                      **options)
    # the floor's two gradients (float32 and float64) count as gradient evaluations
    res = res._replace(iterations=res.iterations + pre.iterations,
                       gradient_evals=res.gradient_evals + pre.gradient_evals + 2)
    if bool(res.converged.all()):
        return res
    left = max_iter - int(res.iterations.max())
    if left <= 0:
        log.warning("mixed-precision solver spent max_iter=%d iterations before certifying %d of %d images; raise "
                    "max_iter or eps", max_iter, int((~res.converged).sum()), res.converged.numel())
        return res
    # an accelerated method started very close to the solution can oscillate longer than the stall
    # test allows (seen on ill-conditioned deblurring at eps = 1e-7): solve those images cold
    idx = (~res.converged).nonzero().flatten()
    eps_t = torch.as_tensor(eps, dtype=y.dtype, device=y.device)
    cold = solve_lower(problem.bind(theta, y.index_select(0, idx)),
                       eps_t.index_select(0, idx) if eps_t.ndim else eps,
                       None if x0 is None else x0.index_select(0, idx), max_iter=left, **options)
    x, it, gn, conv, ge = (t.clone() for t in (res.x, res.iterations, res.grad_norm, res.converged, res.gradient_evals))
    x[idx], gn[idx], conv[idx] = cold.x, cold.grad_norm, cold.converged
    it[idx] += cold.iterations
    ge[idx] += cold.gradient_evals
    return res._replace(x=x, iterations=it, grad_norm=gn, converged=conv, gradient_evals=ge)


def conjugate_gradient(
    hvp: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    b: torch.Tensor,
    delta,
    q0: torch.Tensor | None = None,
    *,
    max_iter: int = 5000,
    check_every: int | None = None,
    max_restarts: int = 3,
    warn: bool = True,
) -> CGResult:
    r"""Conjugate gradient on ``H_i q_i = b_i`` for every image, stopped per image.

    ``hvp(v, index)`` returns ``H_i v_i`` for the images ``index`` (``None``: all). Stops image ``i``
    when ``||b_i - H_i q_i|| <= delta_i``; the recursive residual is confirmed by one explicit
    product at the end, and an image whose true residual still exceeds ``delta`` (rounding drift)
    is restarted from its current ``q`` (at most ``max_restarts`` times).

    Parameters
    ----------
    b: right-hand sides ``(B, C, H, W)``; a zero right-hand side returns ``q = 0`` at once.
    delta: residual tolerance, scalar or ``(B,)``; must be positive.
    q0: warm start (costs one extra product per image).
    warn: log a warning when an image misses ``delta`` (callers that only use the residual reached,
        like the certification's refinement, turn it off).
    """
    B = b.shape[0]
    delta = check_tolerance("delta", delta, B)
    check_positive_int("max_iter", max_iter, minimum=0)
    if q0 is not None:
        check_like("q0", q0, "b", b)
        if not bool(torch.isfinite(q0).all()):
            raise ValueError("q0 contains NaN or infinite values; pass q0=None to start from zero")
    check_every = check_every or default_check_every(b.device)
    tol_all = _as_per_image(delta, B, b)
    q = torch.zeros_like(b) if q0 is None else q0.clone()
    iters = torch.zeros(B, dtype=torch.long, device=b.device)
    hvps = torch.zeros(B, dtype=torch.long, device=b.device)
    if q0 is not None:
        r = b - hvp(q, None)
        hvps += 1
    else:
        r = b.clone()
    todo = torch.arange(B, device=b.device)
    for attempt in range(max_restarts + 1):
        _cg_run(hvp, q, r, todo, tol_all, iters, hvps, max_iter, check_every)
        # confirm with the true residual
        index = None if todo.numel() == B else todo
        res = b.index_select(0, todo) - hvp(q.index_select(0, todo), index)
        hvps.index_add_(0, todo, torch.ones_like(todo))
        rn = _norms(res)
        r.index_copy_(0, todo, res)
        bad = (rn > tol_all.index_select(0, todo)) & (iters.index_select(0, todo) < max_iter)
        if not bool(bad.any()):
            break
        todo = todo[bad]
    rnorm = _norms(r)
    converged = rnorm <= tol_all
    if warn and not bool(converged.all()):
        log.warning(
            "CG did not reach delta on %d of %d images (largest residual / delta = %.3g)",
            int((~converged).sum()), B, float((rnorm / tol_all).max()),
        )
    return CGResult(q, iters, rnorm, converged, hvps)


def _cg_run(hvp, q, r, rows, tol_all, iters, hvps, max_iter, check_every) -> None:
    """CG from ``(q[rows], r[rows])``, writing results back in place (``p_0 = r_0``)."""
    B = q.shape[0]
    active = rows
    index = None if rows.numel() == B else rows
    qa = q.index_select(0, rows)
    ra = r.index_select(0, rows)
    pa = ra.clone()
    rs = _norms(ra) ** 2
    tol = tol_all.index_select(0, rows)
    done = torch.zeros(rows.numel(), dtype=torch.bool, device=q.device)
    it = iters.index_select(0, rows)
    start_it = it.clone()
    k = 0
    while True:
        newly = (rs.sqrt() <= tol) | (it >= max_iter)
        done = done | newly
        if k % check_every == 0:
            if not bool(torch.isfinite(rs).all()):
                raise FloatingPointError("CG produced non-finite residuals; the Hessian may not be positive definite")
            if bool(done.any()):
                fin = done.nonzero().squeeze(1)
                dst = active.index_select(0, fin)
                q.index_copy_(0, dst, qa.index_select(0, fin))
                r.index_copy_(0, dst, ra.index_select(0, fin))
                iters.index_copy_(0, dst, it.index_select(0, fin))
                hvps.index_add_(0, dst, (it - start_it).index_select(0, fin))
                keep = (~done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    return
                active = active.index_select(0, keep)
                index = active
                qa, ra, pa, rs, tol, done, it, start_it = (
                    v.index_select(0, keep) for v in (qa, ra, pa, rs, tol, done, it, start_it)
                )
        hp = hvp(pa, index)
        php = (pa * hp).flatten(1).sum(dim=1)
        live = ~done
        alpha = torch.where(live & (php > 0), rs / torch.where(php > 0, php, torch.ones_like(php)), torch.zeros_like(rs))
        qa = qa + _bcast(alpha, qa) * pa
        ra = ra - _bcast(alpha, ra) * hp
        rs_new = _norms(ra) ** 2
        beta = torch.where(live, rs_new / torch.where(rs > 0, rs, torch.ones_like(rs)), torch.zeros_like(rs))
        pa = ra + _bcast(beta, pa) * pa
        rs = torch.where(live, rs_new, rs)
        it = it + live.long()
        k += 1


class NewtonResult(NamedTuple):
    """Result of :func:`newton_refine` (one entry per image).

    Attributes
    ----------
    x: refined points ``(B, C, H, W)``.
    grad: ``grad_x h_i`` at ``x`` ``(B, C, H, W)``.
    grad_norm: ``||grad_x h_i(x_i)||`` ``(B,)``; ``grad_norm / mu_h`` certifies ``||x_i - x^_i||``.
    steps: Newton steps taken ``(B,)``.
    converged: whether ``grad_norm <= target`` ``(B,)``.
    cg_iterations, hvps, gradient_evals: work spent ``(B,)``.
    """

    x: torch.Tensor
    grad: torch.Tensor
    grad_norm: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    cg_iterations: torch.Tensor
    hvps: torch.Tensor
    gradient_evals: torch.Tensor


def newton_refine(
    lower: BoundLowerLevel,
    x: torch.Tensor,
    target,
    *,
    grad: torch.Tensor | None = None,
    rel_tol: float = 0.1,
    max_steps: int = 4,
    backtracks: int = 3,
    cg_max_iter: int = 2000,
) -> NewtonResult:
    r"""Newton-CG steps on every ``h_i(., theta)`` from ``x`` until ``||grad_x h_i|| <= target_i``.

    .. math::

        H_i(x) s = \nabla_x h_i(x) \quad (\text{CG to } \|H_i s - \nabla h_i\| \le
        \max(\tau \|\nabla h_i\|, \text{target}_i / 4)), \qquad x \leftarrow x - \beta s,

    with ``beta = 1`` unless that does not decrease ``||grad h_i||`` (then ``beta`` is halved up to
    ``backtracks`` times; an image whose step still fails stops with ``converged=False``). Near
    ``x^`` a step contracts the gradient norm by about ``tau + L_H ||s|| / (2 mu_h)`` (quadratic
    convergence of Newton's method with an inexact solve). The stopping test is the certified one
    of :func:`solve_lower`, so ``grad_norm / mu_h >= ||x - x^||`` whatever the steps did.

    Parameters
    ----------
    lower: the problem bound to ``theta`` and ``y``.
    x: starting points ``(B, C, H, W)`` (typically :func:`solve_lower`'s solutions).
    target: gradient-norm target, scalar or ``(B,)`` (for example ``tau_x * mu_h * eps``).
    grad: ``grad_x h(x)`` if already known (saves one gradient evaluation).
    rel_tol: ``tau``, the relative CG residual of each Newton system.
    max_steps: Newton steps at most.
    """
    B = x.shape[0]
    target = check_tolerance("target", target, B)
    check_positive_int("max_steps", max_steps, minimum=0)
    if not 0 < rel_tol < 1:
        raise ValueError(f"rel_tol must be in (0, 1), got {rel_tol}")
    tgt = _as_per_image(target, B, x)
    x = x.clone()
    g = lower.gradient(x) if grad is None else grad.clone()
    evals = torch.full((B,), 0 if grad is not None else 1, dtype=torch.long, device=x.device)
    gn = _norms(g)
    steps = torch.zeros(B, dtype=torch.long, device=x.device)
    cg_its = torch.zeros(B, dtype=torch.long, device=x.device)
    hvps = torch.zeros(B, dtype=torch.long, device=x.device)
    stuck = torch.zeros(B, dtype=torch.bool, device=x.device)
    for _ in range(max_steps):
        todo = ((gn > tgt) & ~stuck).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        xa, ga, gna = x.index_select(0, todo), g.index_select(0, todo), gn.index_select(0, todo)
        sub = lower.subset(todo)
        curv = sub.curvature(xa)
        tol = torch.maximum(rel_tol * gna, 0.25 * tgt.index_select(0, todo))
        cg = conjugate_gradient(lambda v, idx: sub.hvp(curv, v, idx), ga, tol, max_iter=cg_max_iter, warn=False)
        cg_its.index_add_(0, todo, cg.iterations)
        hvps.index_add_(0, todo, cg.hvps)
        steps.index_add_(0, todo, torch.ones_like(todo))
        beta = torch.ones(todo.numel(), dtype=x.dtype, device=x.device)
        new_x, new_g, new_gn = xa, ga, gna
        pending = torch.ones(todo.numel(), dtype=torch.bool, device=x.device)
        for _ in range(backtracks + 1):
            cand = xa - _bcast(beta, xa) * cg.q
            gc = sub.gradient(cand)
            evals.index_add_(0, todo, pending.long())
            gnc = _norms(gc)
            ok = pending & (gnc < gna)
            new_x = torch.where(_bcast(ok, xa), cand, new_x)
            new_g = torch.where(_bcast(ok, ga), gc, new_g)
            new_gn = torch.where(ok, gnc, new_gn)
            pending = pending & ~ok
            if not bool(pending.any()):
                break
            beta = torch.where(pending, 0.5 * beta, beta)
        x.index_copy_(0, todo, new_x)
        g.index_copy_(0, todo, new_g)
        gn.index_copy_(0, todo, new_gn)
        stuck.index_copy_(0, todo, pending)
    if not bool(torch.isfinite(gn).all()):
        raise FloatingPointError("Newton refinement produced non-finite gradients; theta may be extreme")
    return NewtonResult(x, g, gn, steps, gn <= tgt, cg_its, hvps, evals)
