r"""Upper-level methods: ISGD (paper, Algorithm 1), MAID (Salehi et al., as published) and IGD.

All three share :func:`evaluate_batch`, which computes the inexact hypergradient of
``f_w(theta) = sum_i w_i g_i(x^_i(theta))`` over any set of images in chunks of ``chunk_size``
images (so full-batch evaluations run in bounded memory whatever ``m`` is), warm-starting every
image from its last lower-level solution and CG adjoint (:class:`WarmStarts`, kept across epochs).

* **ISGD**: ``theta_{k+1} = P(theta_k - alpha_k z_{v_k}(theta_k))`` with ``z_v`` computed at accuracy
  ``(eps_k, delta_k)``, ``v_k`` drawn by a sampler, ``P`` the projection onto zero-mean kernels.
* **IGD**: ISGD with the full batch, a fixed step and a fixed accuracy (the deterministic reference).
* **MAID** (sources.md): a full-batch inexact gradient ``d = P z`` is accepted only if its
  error oracle satisfies ``omega <= (1 - eta) ||d||`` (else ``eps, delta`` shrink and it is
  recomputed). The oracle is the certified bound of :func:`~bilevel.hypergradient.hypergradient`
  (``error="certified"``: then ``-d`` is a certified descent direction of the projected problem) or
  its error estimate (``error="estimated"``: the same algorithm with an estimate of the actual
  error, as the published experiments effectively did with estimated constants). Then backtracking ``alpha rho^j``, ``j < J``, accepts the first step with the certified
  sufficient-decrease test ``g_up(theta_new) <= g_low(theta_k) - lambda alpha_j ||d||^2``, where
  ``g_low``, ``g_up`` are certified bounds on the exact upper-level value from the inexact solutions
  (:meth:`~bilevel.hypergradient.SquaredError.certified_interval`). After a success ``eps, delta``
  grow by ``grow`` and the step by ``step_grow``; after a failure ``eps, delta`` shrink and ``J``
  grows by one.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .cost import Cost
from .distributed import DistContext
from .hypergradient import SquaredError, certify_mode, hypergradient
from .problem import LowerLevelProblem
from .sampling import Batch, FullBatch, Sampler
from .schedules import Schedule
from .solvers import solve_lower

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Ground truth and measurements of the training images ``(m, C, H, W)``, on the compute device."""

    x_star: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x_star.shape != self.y.shape:
            raise ValueError(f"x_star {tuple(self.x_star.shape)} and y {tuple(self.y.shape)} must have one shape")

    @property
    def m(self) -> int:
        return int(self.x_star.shape[0])


class WarmStarts:
    """Last lower-level solution ``x_i`` and CG adjoint ``q_i`` of every image (kept across epochs)."""

    def __init__(self, like: torch.Tensor, device: torch.device | str | None = None) -> None:
        dev = device or like.device
        self.x = torch.zeros(like.shape, dtype=like.dtype, device=dev)
        self.q = torch.zeros(like.shape, dtype=like.dtype, device=dev)
        self.has = torch.zeros(like.shape[0], dtype=torch.bool)

    def get(self, idx: torch.Tensor, default_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Warm starts for images ``idx``; images never solved start from ``default_x`` and ``q = 0``."""
        has = self.has[idx.cpu()]
        if not bool(has.any()):
            return default_x, None
        dev = default_x.device
        x0 = self.x[idx.to(self.x.device)].to(dev)
        q0 = self.q[idx.to(self.q.device)].to(dev)
        if not bool(has.all()):
            miss = (~has).to(dev)
            x0[miss] = default_x[miss]
            q0[miss] = 0.0
        return x0, q0

    def set(self, idx: torch.Tensor, x: torch.Tensor, q: torch.Tensor | None = None) -> None:
        i = idx.to(self.x.device)
        self.x[i] = x.to(self.x.device)
        if q is not None:
            self.q[i] = q.to(self.q.device)
        self.has[idx.cpu()] = True

    def snapshot_x(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of the stored solutions (adjoints are not touched by value-only evaluations)."""
        return self.x.clone(), self.has.clone()

    def restore_x(self, snap: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.x.copy_(snap[0])
        self.has.copy_(snap[1])

    def state_dict(self, ctx: DistContext | None = None) -> dict[str, torch.Tensor]:
        """Copies on the CPU; with ``ctx``, gathered from every rank (a collective call)."""
        x, q, has = self.x, self.q, self.has
        if ctx is not None:
            mask = self.has.to(self.x.device).view(-1, *([1] * (self.x.ndim - 1)))
            x = ctx.all_reduce(torch.where(mask, self.x, torch.zeros_like(self.x)))
            q = ctx.all_reduce(torch.where(mask, self.q, torch.zeros_like(self.q)))
            has = ctx.all_reduce(self.has.to(self.x.device).to(torch.int32), "max").bool().cpu()
        return {"x": x.detach().cpu().clone(), "q": q.detach().cpu().clone(), "has": has.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state["x"].shape != self.x.shape:
            raise ValueError(f"checkpoint warm starts have shape {tuple(state['x'].shape)}, expected {tuple(self.x.shape)}")
        self.x.copy_(state["x"])
        self.q.copy_(state["q"])
        self.has.copy_(state["has"])


@dataclass(frozen=True)
class BatchEvaluation:
    """Result of :func:`evaluate_batch` (sums over chunks, weights ``w_i`` applied)."""

    grad: torch.Tensor | None  # sum_i w_i z_i, (d,)
    grad_error_bound: float  # certified bound on ||grad - sum_i w_i grad f_i|| (NaN without certification)
    grad_error_estimate: float  # estimate of ||grad - sum_i w_i grad f_i|| (NaN unless certify="refined")
    loss: float  # sum_i w_i g_i(x~_i)
    loss_lower: float  # certified lower bound on sum_i w_i g_i(x^_i)
    loss_upper: float  # certified upper bound on sum_i w_i g_i(x^_i)
    per_image_loss: torch.Tensor  # (b,)
    mse: torch.Tensor  # per-image mean squared error of x~ (for PSNR), (b,)
    converged: bool  # every lower-level solve and CG met its tolerance
    cost: Cost


def _chunks(idx: torch.Tensor, size: int) -> list[torch.Tensor]:
    return [idx[i:i + size] for i in range(0, idx.numel(), size)]


def evaluate_batch(
    problem: LowerLevelProblem,
    theta: torch.Tensor,
    data: TrainingData,
    batch: Batch,
    eps: float,
    delta: float | None,
    warm: WarmStarts | None,
    chunk_size: int,
    loss: SquaredError = SquaredError(),
    update_warm: bool = True,
    lower_options: dict | None = None,
    ctx: DistContext | None = None,
    certify=True,
    refine_tol: float = 1e-2,
    refine_rounds: int = 3,
) -> BatchEvaluation:
    """Hypergradient (``delta`` given) or only upper-level values (``delta=None``) over ``batch``.

    ``certify``, ``refine_tol`` and ``refine_rounds`` are those of :func:`~bilevel.hypergradient.hypergradient`. The
    error bound of the whole batch combines the chunks as the hypergradient combines images:
    ``||sum_i w_i (z_i - z-_i)|| + sum_i |w_i| omega_i`` (refined) or ``sum_i |w_i| omega_i``
    (direct); the estimate is the norm of the summed error vector.

    Chunks of at most ``chunk_size`` images are solved one after another; memory is bounded by the
    chunk, not by the batch. With ``update_warm``, the solutions (and adjoints) become the images'
    warm starts. With a :class:`~bilevel.distributed.DistContext`, this rank solves its share of the
    images and the partial sums are all-reduced (every rank returns the same result).
    """
    dev = data.y.device
    w_all = batch.weights.to(dtype=data.y.dtype, device=dev)
    positions = torch.arange(batch.size) if ctx is None else ctx.local(batch.indices)
    grad = torch.zeros_like(theta) if delta is not None else None
    err_vec = torch.zeros(theta.shape, dtype=torch.float64, device=dev)  # sum_i w_i (z_i - z-_i)
    sums = torch.zeros(4, dtype=torch.float64, device=dev)  # bound remainder, value, lower, upper
    per_loss = torch.zeros(batch.size, dtype=data.y.dtype, device=dev)
    mses = torch.zeros(batch.size, dtype=data.y.dtype, device=dev)
    cost = Cost()
    failures = 0
    t_start = time.perf_counter()
    for pos in _chunks(positions, chunk_size):
        idx = batch.indices[pos]
        idx_d, pos_d = idx.to(dev), pos.to(dev)
        y, xs, w = data.y[idx_d], data.x_star[idx_d], w_all[pos_d]
        default_x = problem.operator.adjoint(y)
        x0, q0 = warm.get(idx, default_x) if warm is not None else (default_x, None)
        if delta is not None:
            r = hypergradient(problem, theta, y, xs, eps, delta, x0=x0, q0=q0, weights=w, loss=loss,
                              lower_options=lower_options, certify=certify, refine_tol=refine_tol,
                              refine_rounds=refine_rounds)
            grad += r.grad
            sums[0] += r.grad_error_remainder
            if r.error_vector is not None:
                err_vec += r.error_vector
            x, q, dist_bound, values = r.x, r.q, r.distance_bound, r.loss
            cost = cost + r.cost
            failures += int((~r.lower.converged).sum()) + int((~r.cg.converged).sum())
        else:
            low = solve_lower(problem.bind(theta, y), eps, x0, **(lower_options or {}))
            x, q, dist_bound = low.x, None, low.grad_norm / low.modulus
            values = loss.value(x, xs)
            cost = cost + Cost(lower_iterations=int(low.iterations.sum()), gradient_evals=int(low.gradient_evals.sum()))
            failures += int((~low.converged).sum())
        g_lo, g_up = loss.certified_interval(x, xs, dist_bound)
        sums[1] += float(w @ values)
        sums[2] += float(w @ g_lo)
        sums[3] += float(w @ g_up)
        per_loss[pos_d] = values
        mses[pos_d] = (x - xs).pow(2).flatten(1).mean(dim=1)
        if warm is not None and update_warm:
            warm.set(idx, x, q)
    wall = time.perf_counter() - t_start
    if ctx is not None:
        counts = [cost.lower_iterations, cost.cg_iterations, cost.gradient_evals, cost.hvps, cost.jacobian_products, failures]
        counts.append(cost.certification_iterations)
        parts = [sums, torch.tensor(counts, dtype=torch.float64, device=dev), per_loss.double(), mses.double(), err_vec]
        if grad is not None:
            parts.append(grad.double())
        pack = ctx.all_reduce(torch.cat(parts))
        sums, counts_t = pack[:4], pack[4:11]
        per_loss = pack[11:11 + batch.size].to(data.y.dtype)
        mses = pack[11 + batch.size:11 + 2 * batch.size].to(data.y.dtype)
        d = theta.numel()
        err_vec = pack[11 + 2 * batch.size:11 + 2 * batch.size + d]
        if grad is not None:
            grad = pack[11 + 2 * batch.size + d:].to(theta.dtype)
        c = [int(round(float(v))) for v in counts_t]
        wall = float(ctx.all_reduce(torch.tensor([wall], dtype=torch.float64, device=dev), "max"))
        cost = Cost(lower_iterations=c[0], cg_iterations=c[1], gradient_evals=c[2], hvps=c[3], jacobian_products=c[4],
                    certification_iterations=c[6])
        failures = c[5]
    cost = replace(cost, wall_time=wall)
    s = [float(v) for v in sums]
    mode = certify_mode(certify) if delta is not None else "none"
    if mode == "refined":
        estimate = float(err_vec.norm())
        bound = estimate + s[0]
    elif mode == "direct":
        estimate, bound = float("nan"), s[0]
    else:
        estimate = bound = float("nan")
    return BatchEvaluation(grad, bound, estimate, s[1], s[2], s[3], per_loss, mses, failures == 0, cost)


@dataclass
class OptimizerState:
    """What the upper-level loop carries from one iteration to the next."""

    theta: torch.Tensor
    iteration: int = 0
    cost: Cost = field(default_factory=Cost)
    wall_time: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def computations(self) -> int:
        return self.cost.computations

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta.detach().cpu(), "iteration": self.iteration, "cost": self.cost.as_dict(),
                "wall_time": self.wall_time, "extra": dict(self.extra)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: torch.device | str) -> "OptimizerState":
        c = dict(state["cost"])
        c.pop("computations", None)
        return cls(state["theta"].to(device), int(state["iteration"]), Cost(**c), float(state["wall_time"]),
                   dict(state["extra"]))


class MethodStopped(RuntimeError):
    """A method cannot continue (e.g. MAID cannot certify a descent direction); the run ends cleanly."""


def _finite_or_blank(v: float) -> float | str:
    """A record value: the number, or ``""`` when it was not computed (NaN), so records compare equal."""
    return v if math.isfinite(v) else ""


def _project(problem: LowerLevelProblem, v: torch.Tensor) -> torch.Tensor:
    proj = getattr(problem.regularizer, "project", None)
    return proj(v) if proj is not None else v


class ISGD:
    """Inexact stochastic gradient descent (paper, Algorithm 1); IGD with ``FullBatch`` and constants.

    Parameters
    ----------
    step: step-size schedule ``alpha_k``.
    accuracy: schedule ``s_k``; ``eps_k = s_k`` and ``delta_k = delta_ratio s_k``.
    chunk_size: images solved at once (memory bound); the batch is split into chunks.
    certify: the error bound logged with every step: ``True`` means ``"direct"`` (the certified
        bound ``omega(x~, q~)`` of :mod:`bilevel.hypergradient`, no extra solve, so the step costs
        exactly the paper's computations; its local constants add about 15-20 % of wall time,
        measured on 32 FoE crops of 96x96 at eps = 1e-1); ``"refined"`` adds the tight bound and the estimate at the
        price of a Newton-CG solve and an adjoint re-solve per image (counted in the computations);
        ``False`` logs nothing.
    """

    name = "isgd"

    def __init__(self, problem: LowerLevelProblem, data: TrainingData, sampler: Sampler, step: Schedule,
                 accuracy: Schedule, delta_ratio: float = 1.0, chunk_size: int = 64,
                 loss: SquaredError = SquaredError(), lower_options: dict | None = None,
                 ctx: DistContext | None = None, certify=True) -> None:
        if not delta_ratio > 0:
            raise ValueError(f"delta_ratio must be positive, got {delta_ratio}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        self.problem, self.data, self.sampler = problem, data, sampler
        self.step_size, self.accuracy, self.delta_ratio = step, accuracy, delta_ratio
        self.chunk_size, self.loss, self.lower_options, self.ctx = chunk_size, loss, lower_options, ctx
        self.certify = "direct" if certify is True else certify_mode(certify)
        self.warm = WarmStarts(data.y)
        if isinstance(sampler, FullBatch):
            self.name = "igd"

    def init(self, theta0: torch.Tensor) -> OptimizerState:
        return OptimizerState(_project(self.problem, theta0.to(self.data.y)))

    def step(self, state: OptimizerState) -> tuple[OptimizerState, dict]:
        k = state.iteration
        alpha, eps = self.step_size(k), self.accuracy(k)
        delta = self.delta_ratio * eps
        batch = self.sampler.draw()
        t0 = time.perf_counter()
        if batch.size == 0:  # an independent sampler can draw the empty set: z = 0
            ev = None
            theta = state.theta
            cost = Cost()
        else:
            ev = evaluate_batch(self.problem, state.theta, self.data, batch, eps, delta, self.warm, self.chunk_size,
                                self.loss, lower_options=self.lower_options, ctx=self.ctx, certify=self.certify)
            d = _project(self.problem, ev.grad)
            theta = state.theta - alpha * d
            cost = ev.cost
        wall = time.perf_counter() - t0
        new = OptimizerState(theta, k + 1, state.cost + cost, state.wall_time + wall, dict(state.extra))
        record = {
            "iteration": k + 1,
            "computations": new.computations,
            "wall_time": new.wall_time,
            "batch_loss": ev.loss if ev else 0.0,
            "eps": eps,
            "delta": delta,
            "step_size": alpha,
            "grad_norm": float(_project(self.problem, ev.grad).norm()) if ev else 0.0,
            "error_bound": _finite_or_blank(ev.grad_error_bound) if ev else 0.0,
            "error_estimate": _finite_or_blank(ev.grad_error_estimate) if ev else 0.0,
            "batch_size": batch.size,
            "accepted": "",
            "certified": ev.converged if ev else True,
        }
        return new, record

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "warm": self.warm.state_dict(self.ctx)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.warm.load_state_dict(state["warm"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "sampler": self.sampler.describe(), "step": self.step_size.as_dict(),
                "accuracy": self.accuracy.as_dict(), "delta_ratio": self.delta_ratio, "chunk_size": self.chunk_size}


#: MAID's error oracles: the certified bound, or the estimate of the actual error.
MAID_ERRORS = ("certified", "estimated")


@dataclass(frozen=True)
class MAIDSettings:
    """MAID's parameters (sources.md; defaults are the published ones where given).

    ``error`` chooses the oracle of the acceptance test ``omega <= (1 - eta) ||d||``:
    ``"certified"`` (the certified bound: an accepted ``-d`` is a descent direction, guaranteed) or
    ``"estimated"`` (the estimate ``||z - z-||``: no guarantee, but it tracks the actual error within
    a few per cent, so MAID moves at the accuracy the step actually needs). ``refine_tol`` is the
    refinement tolerance of the oracle (``None``: ``1e-2`` certified, ``1e-1`` estimated; the
    bound's remainder and the estimate's relative error are ``O(refine_tol)``; the certified oracle
    also tightens its bound with up to two more refinement rounds, see ``hypergradient``'s
    ``refine_rounds``, the estimated one does not). The sufficient-decrease
    test uses the certified value intervals of the lower-level distance in both cases.
    """

    eps0: float = 1e-1
    delta0: float = 1e-1
    alpha0: float = 1e-3
    rho: float = 0.5  # backtracking factor
    shrink: float = 0.5  # accuracy factor after a failure
    grow: float = 1.05  # accuracy factor after a success
    step_grow: float = 10.0 / 9.0  # step factor after a success
    eta: float = 1e-4  # acceptance: omega <= (1 - eta) ||d||
    lam: float = 1e-4  # sufficient decrease
    backtracks: int = 5  # J, grows by one after each failed iteration
    eps_min: float = 1e-7  # below this accuracy MAID stops (precision floor)
    error: str = "certified"  # acceptance oracle, one of MAID_ERRORS
    refine_tol: float | None = None  # oracle refinement tolerance (None: 1e-2 certified, 1e-1 estimated)

    def __post_init__(self) -> None:
        if self.error not in MAID_ERRORS:
            raise ValueError(f"MAID's error oracle must be one of {MAID_ERRORS}, got {self.error!r}")
        if self.refine_tol is not None and not 0 < self.refine_tol < 1:
            raise ValueError(f"MAID's refine_tol must be in (0, 1), got {self.refine_tol}")
        for name in ("eps0", "delta0", "alpha0", "lam", "eps_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MAID's {name} must be positive, got {getattr(self, name)}")
        for name in ("rho", "shrink"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"MAID's {name} must be in (0, 1), got {getattr(self, name)}")
        if not (self.grow >= 1 and self.step_grow >= 1):
            raise ValueError("MAID's grow and step_grow must be >= 1")
        if not 0 <= self.eta < 1:
            raise ValueError(f"MAID's eta must be in [0, 1), got {self.eta}")
        if self.backtracks < 1:
            raise ValueError(f"MAID's backtracks must be >= 1, got {self.backtracks}")

    @property
    def oracle_tol(self) -> float:
        if self.refine_tol is not None:
            return self.refine_tol
        return 1e-2 if self.error == "certified" else 1e-1


class MAID:
    """Method of Adaptive Inexact Descent (Salehi, Mukherjee, Roberts, Ehrhardt), as published.

    One :meth:`step` is one MAID iteration: possibly several hypergradient evaluations (until the
    error oracle accepts one) and several backtracking trials; every lower-level, CG and
    certification iteration counts towards ``computations``. Each record says where they went:
    ``gradient_computations`` (all hypergradient evaluations of the iteration, of which
    ``lower_iterations``, ``cg_iterations`` and ``certification_iterations``),
    ``rejected_computations`` (evaluations whose gradient the oracle rejected), ``trial_computations``
    (backtracking trials) and ``rejected_trial_computations`` (trials that failed the decrease test).
    """

    name = "maid"

    def __init__(self, problem: LowerLevelProblem, data: TrainingData, settings: MAIDSettings = MAIDSettings(),
                 chunk_size: int = 64, loss: SquaredError = SquaredError(), lower_options: dict | None = None,
                 ctx: DistContext | None = None) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        self.problem, self.data, self.settings = problem, data, settings
        self.chunk_size, self.loss, self.lower_options, self.ctx = chunk_size, loss, lower_options, ctx
        self.warm = WarmStarts(data.y)
        self.full = FullBatch(data.m)

    def init(self, theta0: torch.Tensor) -> OptimizerState:
        s = self.settings
        return OptimizerState(_project(self.problem, theta0.to(self.data.y)),
                              extra={"eps": s.eps0, "delta": s.delta0, "alpha": s.alpha0, "J": s.backtracks})

    def _evaluate(self, theta, eps, delta):
        return evaluate_batch(self.problem, theta, self.data, self.full.draw(), eps, delta, self.warm,
                              self.chunk_size, self.loss, lower_options=self.lower_options, ctx=self.ctx,
                              certify="refined", refine_tol=self.settings.oracle_tol,
                              refine_rounds=3 if self.settings.error == "certified" else 1)

    def oracle(self, ev: BatchEvaluation) -> float:
        """The error the acceptance test compares with ``(1 - eta) ||d||``."""
        return ev.grad_error_bound if self.settings.error == "certified" else ev.grad_error_estimate

    def step(self, state: OptimizerState) -> tuple[OptimizerState, dict]:
        s = self.settings
        eps, delta, alpha, J = (state.extra[k] for k in ("eps", "delta", "alpha", "J"))
        t0 = time.perf_counter()
        cost = Cost()
        rejected = 0
        rejected_cost = 0
        while True:  # acceptance of the inexact gradient by the oracle
            ev = self._evaluate(state.theta, eps, delta)
            cost = cost + ev.cost
            d = _project(self.problem, ev.grad)
            dn = float(d.norm())
            err = self.oracle(ev)
            if err <= (1.0 - s.eta) * dn:
                break
            rejected += 1
            rejected_cost += ev.cost.computations
            if eps * s.shrink < s.eps_min:
                hint = (" In float32 the lower-level accuracy cannot go much lower; --dtype float64 lets MAID "
                        "certify smaller errors." if self.data.y.dtype == torch.float32 else "")
                raise MethodStopped(
                    f"MAID cannot accept a descent direction: the {s.error} error {err:.3g} exceeds "
                    f"(1 - eta) ||d|| = {(1 - s.eta) * dn:.3g} and eps would fall below eps_min = {s.eps_min:g}.{hint}"
                )
            eps, delta = eps * s.shrink, delta * s.shrink
        gradient_cost = cost
        accepted, trial_step, j_used = False, 0.0, -1
        target = ev.loss_lower
        saved = self.warm.snapshot_x()  # every trial starts from the solutions at theta_k
        trial_cost, failed_trial_cost = 0, 0
        for j in range(int(J)):
            a = alpha * s.rho**j
            theta_new = state.theta - a * d
            trial = self._evaluate(theta_new, eps, None)
            cost = cost + trial.cost
            trial_cost += trial.cost.computations
            if trial.loss_upper <= target - s.lam * a * dn**2:
                accepted, trial_step, j_used = True, a, j  # its solutions stay as warm starts
                break
            failed_trial_cost += trial.cost.computations
            self.warm.restore_x(saved)
        wall = time.perf_counter() - t0
        extra = dict(state.extra)
        if accepted:
            theta = theta_new
            extra.update(eps=eps * s.grow, delta=delta * s.grow, alpha=trial_step * s.step_grow, J=J)
        else:
            theta = state.theta
            extra.update(eps=eps * s.shrink, delta=delta * s.shrink, alpha=alpha, J=J + 1)
        new = OptimizerState(theta, state.iteration + 1, state.cost + cost, state.wall_time + wall, extra)
        record = {
            "iteration": new.iteration,
            "computations": new.computations,
            "wall_time": new.wall_time,
            "batch_loss": ev.loss,
            "eps": eps,
            "delta": delta,
            "step_size": trial_step,
            "grad_norm": dn,
            "error_bound": _finite_or_blank(ev.grad_error_bound),
            "error_estimate": _finite_or_blank(ev.grad_error_estimate),
            "batch_size": self.data.m,
            "accepted": int(accepted),
            "certified": ev.converged,
            "rejected_gradients": rejected,
            "backtracks": j_used if accepted else int(J),
            "decrease_test_lhs": trial.loss_upper,
            "decrease_test_rhs": target - s.lam * (trial_step if accepted else alpha * s.rho ** (int(J) - 1)) * dn**2,
            "gradient_computations": gradient_cost.computations,
            "lower_iterations": gradient_cost.lower_iterations,
            "cg_iterations": gradient_cost.cg_iterations,
            "certification_iterations": gradient_cost.certification_iterations,
            "rejected_computations": rejected_cost,
            "trial_computations": trial_cost,
            "rejected_trial_computations": failed_trial_cost,
        }
        return new, record

    def state_dict(self) -> dict[str, Any]:
        return {"warm": self.warm.state_dict(self.ctx)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.warm.load_state_dict(state["warm"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "settings": self.settings.__dict__, "chunk_size": self.chunk_size}
