r"""Theorem 1 against real learned-regularizer runs (DESIGN.md, "The flows", 3. FoE bound check).

Input: ISGD runs of the same problem (the paper's FoE or the weakly convex ridge family of
:mod:`bilevel.ridge`, whichever ``--regularizer`` the runs used) (same configuration up to the seed) with a constant step
``alpha`` and a constant accuracy ``(eps, delta)``, each holding its iterates (``iterates/``,
``isgd train --iterates-every K``). At every stored iterate :math:`\theta_t` of every run:

1. per-image hypergradients at tight accuracy (float64, ``eps = delta = 1e-6`` by default),
   :math:`\nabla f_i(\theta)`, projected onto the zero-mean kernels (ISGD moves in that subspace, so
   the theory applies to :math:`f` restricted to it, with gradient :math:`P\nabla f`);
   :math:`f(\theta) = \frac1m\sum_i g_i(\hat x_i(\theta))` with :math:`f_{lb} = 0` (paper, (13));
2. the exact second moment of the sampling used (the sampler's law, :mod:`theory.sampling`)

   .. math::

       \mathbb E\|\nabla f_v\|^2 = \frac1{m^2}\sum_{ij} M_{ij}\langle\nabla f_i, \nabla f_j\rangle,
       \qquad M = \mathbb E[vv^\top];

3. per-image inexact hypergradients :math:`z_i` at the run's ``(eps, delta)`` (cold start
   :math:`x_0 = A^\top y_i`, as on an image's first visit), errors :math:`e_i = z_i - \nabla f_i`,
   :math:`\mathbb E z_v = \frac1m\sum_i z_i` (:math:`\mathbb E v_i = 1`),
   :math:`s = \langle\nabla f, \mathbb E z_v\rangle`, :math:`\epsilon^2(\theta) = \mathbb E\|e_v\|^2`
   (Proposition 1) and :math:`\mathbb E\|z_v\|^2`;
4. linear-program fits (:mod:`theory.abc`): :math:`A, B, C` of Lemma 1 from
   :math:`\mathbb E\|\nabla f_v\|^2`, :math:`\tilde A, \tilde B, \tilde C` of (9) from
   :math:`\mathbb E\|z_v\|^2`, and :math:`b, c` of (8) from :math:`s`;
5. :math:`L_{\nabla f}` from difference quotients
   :math:`\|\nabla f(\theta_a) - \nabla f(\theta_b)\|/\|\theta_a - \theta_b\|` over pairs of iterates
   of the same run: a *lower estimate* (the true constant is a supremum over all pairs);
6. :math:`\delta_0 = \max_{\rm runs} f(\theta_0) - f_{lb}` and :math:`\epsilon^2 = \max_t \epsilon^2(\theta_t)`;
7. at each horizon :math:`T`: Theorem 1's right side as printed (:func:`theory.bounds.theorem1_rhs`)
   and by its source route (:func:`theory.bounds.theorem1_rhs_source`), each at the
   :math:`\zeta > 1/2, \eta > 0` that minimize it (:mod:`theory.optimize`), and [5, Theorem 3] with
   the fitted :math:`b, c, \tilde A, \tilde B, \tilde C`; the step condition
   :math:`\alpha \le c_1/L = b(\zeta)/(L\tilde B(\eta))` is checked and reported either way;
8. observed :math:`\min_{t<T}\mathbb E\|\nabla f(\theta_t)\|^2`: the mean over runs at each stored
   iterate, minimized over the stored iterates :math:`t < T`, with Student-t intervals (pointwise,
   and simultaneous over the iterates by Bonferroni for the minimum).

The lower level enters through the certified constants of every hypergradient: its strong convexity
modulus :math:`\mu_h` (for a weakly convex regularizer, the data term's modulus minus the certified
negative curvature, :meth:`bilevel.problem.LowerLevelProblem.modulus`) and its smoothness
:math:`L_h` set the solver's stopping rule ``||grad h|| <= mu_h eps`` (so ``eps`` is a certified
distance for either family) and the a-posteriori bound of every :math:`z_i`; both are recorded per
iterate (``modulus``, ``smoothness``) and summarized under ``lower_level``.

What the numbers are, honestly:

* the constants are fitted on the visited iterates only, and ``L`` is a lower estimate, so the
  "bounds" are estimates of the theorem's right side, not certified bounds;
* the observed minimum runs over the *stored* iterates, so it is at least the minimum over all
  :math:`t < T`: a bound above it holds a fortiori, a bound below it is a violation only up to the
  stored subsample and the confidence interval;
* each seed fixes the noise of the measurements *and* the sampler, so the mean over runs averages
  over problems too. The proof of [5, Theorem 3] bounds a weighted average over :math:`t` whose weights
  depend only on the constants; with constants valid for every run (pooled fits, ``L`` and
  :math:`\delta_0` maximized over runs) the bound therefore also holds for the mean over runs;
* Theorem 1 assumes independent draws :math:`v_k`; use an i.i.d. sampler (``with_replacement``,
  ``independent``, ``single``): ``tau_nice`` reshuffles epochs, so its batches are only marginally
  tau-nice.

References: paper Theorem 1, Lemma 1, Proposition 1 (8)-(9); [5] Demidovich et al. 2023, Assumption 9
and Theorem 3.
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from bilevel.hypergradient import hypergradient
from bilevel.io import write_bytes_atomic, write_json_atomic
from bilevel.problem import LowerLevelProblem
from bilevel.rundir import RunDirectory
from bilevel.runner import load_iterates
from bilevel.sampling import make_sampler
from bilevel.train import TrainConfig, load_data
from theory.abc import ABCEstimate, BiasEstimate, estimate_abc, estimate_bias
from theory.bounds import (
    demidovich_step_bound,
    demidovich_theorem3_rhs,
    theorem1_rhs,
    theorem1_rhs_source,
    theorem1_step_bound,
)
from theory.optimize import OptimalParameters, optimal_source_parameters, optimal_theorem1_parameters

log = logging.getLogger(__name__)

__all__ = [
    "BoundRow",
    "FoEBoundResult",
    "IterateAnalysis",
    "PerImage",
    "TIGHT_ACCURACY",
    "analyze_runs",
    "difference_quotients",
    "observed_minimum",
    "per_image_hypergradients",
    "write_bound_results",
]

TIGHT_ACCURACY = 1e-6
"""Default ``eps = delta`` of the reference hypergradients (float64)."""

CONFIDENCE = 0.95
"""Level of the Student-t intervals on the observed values."""

#: Configuration keys that may differ between the runs of one analysis (they do not change the
#: problem nor the algorithm): the seed, and how and how long the run was executed and evaluated.
OPERATIONAL_KEYS = frozenset({"seed", "progress", "device", "chunk_size", "checkpoint_every", "eval_every", "eval_train_count",
                              "eval_eps", "test_count", "test_data", "budget", "iterates_every"})

STEP_RTOL = 1e-9
"""Relative slack when comparing the run's step with ``c1/L`` (the optimizer can sit on the boundary)."""


# ----------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class IterateAnalysis:
    """Everything measured at one stored iterate :math:`\\theta_t` of one run.

    ``grad_sq`` is :math:`\\|\\nabla f\\|^2`; ``second_moment`` :math:`\\mathbb E\\|\\nabla f_v\\|^2`;
    ``second_moment_inexact`` :math:`\\mathbb E\\|z_v\\|^2`; ``inner``
    :math:`\\langle\\nabla f, \\mathbb E z_v\\rangle`; ``eps2`` :math:`\\mathbb E\\|e_v\\|^2`;
    ``error_mean``/``error_max`` over images of :math:`\\|z_i - \\nabla f_i\\|`;
    ``certified_max`` the largest certified a-posteriori bound :math:`\\omega_i` of the same
    :math:`z_i`; ``tight_converged`` whether every reference solve met its tolerance.
    """

    seed: int
    iteration: int
    computations: int
    f: float
    grad_sq: float
    second_moment: float
    second_moment_inexact: float
    inner: float
    eps2: float
    error_mean: float
    error_max: float
    certified_max: float
    tight_converged: bool
    modulus: float = float("nan")
    smoothness: float = float("nan")


@dataclass(frozen=True)
class BoundRow:
    """One horizon ``T``: observed minimum (with intervals) and the three right sides.

    ``observed`` is :math:`\\min_{t<T}` of the mean over runs; ``pointwise_low``/``pointwise_high``
    the Student-t interval of the mean at the minimizing iterate; ``simultaneous_low``/``_high`` an
    interval for the minimum itself (Bonferroni over the iterates ``t < T``). ``printed``,
    ``source`` and ``fitted`` are the bounds (``inf`` when they overflow, ``None`` when not
    defined); ``*_zeta``/``*_eta`` the minimizing analysis parameters; ``*_step_ok`` whether the
    run's step satisfies the theorem's step condition at those parameters.
    """

    T: int
    observed: float
    argmin_iteration: int
    pointwise_low: float | None
    pointwise_high: float | None
    simultaneous_low: float | None
    simultaneous_high: float | None
    printed: float | None
    printed_zeta: float | None
    printed_eta: float | None
    printed_step_ok: bool
    source: float | None
    source_zeta: float | None
    source_eta: float | None
    source_step_ok: bool
    fitted: float | None
    fitted_step_ok: bool

    def ratio(self, which: str) -> float | None:
        """Bound over observed (``which`` in ``printed``, ``source``, ``fitted``); ``inf`` for a zero observation."""
        bound = getattr(self, which)
        if bound is None:
            return None
        if self.observed <= 0:
            return math.inf
        return float(bound) / self.observed


@dataclass
class FoEBoundResult:
    """Result of :func:`analyze_runs` (see the module docstring for every quantity).

    ``abc`` holds Lemma 1's :math:`A, B, C`; ``abc_inexact`` the directly fitted
    :math:`\\tilde A, \\tilde B, \\tilde C`; ``bias`` the fitted :math:`b, c`. ``L`` is the largest
    difference quotient (a lower estimate of :math:`L_{\\nabla f}`), attained between iterations
    ``L_pair = (seed, t_a, t_b)``. ``per_image`` (only with ``keep_per_image=True``) maps
    ``(seed, iteration)`` to the reference per-image hypergradients ``(m, d)``, the inexact ones and
    the iterate.
    """

    runs: list[str]
    seeds: list[int]
    config: dict
    alpha: float
    eps: float
    delta: float
    m: int
    sampler: str
    batch_size: int
    law: str
    law_diagonal: list[float]
    law_beta: float
    tight_accuracy: float
    points: list[IterateAnalysis]
    abc: ABCEstimate
    abc_inexact: ABCEstimate
    bias: BiasEstimate
    L: float
    L_pair: tuple[int, int, int]
    delta0: float
    eps2: float
    curve: list[BoundRow]
    confidence: float
    notes: list[str] = field(default_factory=list)
    per_image: dict = field(default_factory=dict, repr=False)

    @property
    def final(self) -> BoundRow:
        return self.curve[-1]

    @property
    def step_product(self) -> float:
        """:math:`\\alpha L B`: Theorem 1's step condition can hold for some :math:`\\zeta, \\eta` iff it is below 1."""
        return self.alpha * self.L * self.abc.B

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (non-finite floats become ``"inf"``/``"-inf"``/``None``)."""
        fin = self.final
        out = {
            "runs": self.runs,
            "seeds": self.seeds,
            "config": self.config,
            "alpha": self.alpha,
            "eps": self.eps,
            "delta": self.delta,
            "m": self.m,
            "sampler": self.sampler,
            "batch_size": self.batch_size,
            "law": {"name": self.law, "diagonal": self.law_diagonal, "beta": self.law_beta},
            "tight_accuracy": self.tight_accuracy,
            "constants": {
                "A": self.abc.A, "B": self.abc.B, "C": self.abc.C,
                "A_tilde_fit": self.abc_inexact.A, "B_tilde_fit": self.abc_inexact.B, "C_tilde_fit": self.abc_inexact.C,
                "b_fit": self.bias.b, "c_fit": self.bias.c,
                "L_lower_estimate": self.L, "L_pair": list(self.L_pair),
                "delta0": self.delta0, "f_lb": 0.0, "eps2": self.eps2,
                "alpha_L_B": self.step_product,
                "alpha_max_any_zeta_eta": (1.0 / (self.L * self.abc.B)) if self.abc.B > 0 else math.inf,
                "alpha_max_fitted_route": _safe_step_bound(self.bias.b, self.abc_inexact.B, self.L),
                "abc_diagnostics": list(self.abc.diagnostics),
                "abc_inexact_diagnostics": list(self.abc_inexact.diagnostics),
                "bias_diagnostics": list(self.bias.diagnostics),
            },
            "lower_level": {
                "regularizer": self.config.get("regularizer", "foe"),
                "modulus_min": float(min(p.modulus for p in self.points)),
                "modulus_max": float(max(p.modulus for p in self.points)),
                "smoothness_max": float(max(p.smoothness for p in self.points)),
            },
            "errors": {
                "mean": float(np.mean([p.error_mean for p in self.points])),
                "max": float(max(p.error_max for p in self.points)),
                "certified_max": float(max(p.certified_max for p in self.points)),
            },
            "points": [asdict(p) for p in self.points],
            "curve": [{**asdict(r), "ratio_printed": r.ratio("printed"), "ratio_source": r.ratio("source"),
                       "ratio_fitted": r.ratio("fitted")} for r in self.curve],
            "final": {"T": fin.T, "observed": fin.observed, "printed": fin.printed, "source": fin.source,
                      "fitted": fin.fitted, "ratio_printed": fin.ratio("printed"), "ratio_source": fin.ratio("source"),
                      "ratio_fitted": fin.ratio("fitted"), "printed_step_ok": fin.printed_step_ok,
                      "source_step_ok": fin.source_step_ok, "fitted_step_ok": fin.fitted_step_ok},
            "confidence": self.confidence,
            "notes": self.notes,
        }
        return _jsonable(out)


def _safe_step_bound(b: float, B: float, L: float) -> float | None:
    if not b > 0:
        return None
    return float(demidovich_step_bound(b=b, B=B, L=L))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


# ----------------------------------------------------------------------------------------------
# pure pieces


@dataclass(frozen=True)
class PerImage:
    """Per-image hypergradients at one iterate: ``grads`` ``(m, d)`` (projected, float64 numpy),
    ``losses`` ``(m,)`` :math:`g_i(\\tilde x_i)`, certified bounds ``(m,)``, the solutions ``x`` (warm
    starts), whether every solve met its tolerance, and the certified lower-level modulus and
    smoothness at this iterate."""

    grads: np.ndarray
    losses: np.ndarray
    certified: np.ndarray
    x: torch.Tensor
    converged: bool
    modulus: float = float("nan")
    smoothness: float = float("nan")


def _project_rows(problem: LowerLevelProblem, rows: torch.Tensor) -> torch.Tensor:
    proj = getattr(problem.regularizer, "project", None)
    if proj is None:
        return rows
    return torch.stack([proj(r) for r in rows])


def per_image_hypergradients(problem: LowerLevelProblem, theta: torch.Tensor, x_star: torch.Tensor, y: torch.Tensor,
                             eps: float, delta: float, *, chunk_size: int = 64,
                             x0: torch.Tensor | None = None, certify: bool = True) -> PerImage:
    """:math:`P z_i` for every image (``per_image=True`` hypergradients, solved ``chunk_size`` images at a time).

    ``x0`` (same shape as ``y``) warm-starts the lower level; ``None`` starts from :math:`A^\\top y_i`.
    ``certify``: also compute the refined a-posteriori bound of every image (``PerImage.certified``;
    a Newton-CG solve, an adjoint re-solve and the constants, in float64). The hypergradients are the
    same either way; without it ``certified`` is NaN (the reference hypergradients need no bound:
    they are the reference).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    grads, losses, bounds, xs = [], [], [], []
    converged = True
    modulus, smoothness = math.inf, 0.0
    for lo in range(0, y.shape[0], chunk_size):
        sl = slice(lo, lo + chunk_size)
        r = hypergradient(problem, theta, y[sl], x_star[sl], eps, delta, x0=None if x0 is None else x0[sl],
                          per_image=True, certify=certify)
        grads.append(_project_rows(problem, r.per_image).detach().cpu().double())
        losses.append(r.loss.detach().cpu().double())
        bounds.append(r.error_bound.detach().cpu().double())
        xs.append(r.x.detach())
        converged = converged and bool(r.lower.converged.all()) and bool(r.cg.converged.all())
        modulus, smoothness = min(modulus, r.lower.modulus), max(smoothness, r.lower.smoothness)
    return PerImage(torch.cat(grads).numpy(), torch.cat(losses).numpy(), torch.cat(bounds).numpy(), torch.cat(xs),
                    converged, float(modulus), float(smoothness))


def difference_quotients(thetas: np.ndarray, grads: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Largest :math:`\\|g_a - g_b\\| / \\|\\theta_a - \\theta_b\\|` over pairs ``a < b`` with distinct
    iterates, and the pair; ``thetas`` ``(K, d)``, ``grads`` ``(K, d)``. ``(0.0, (-1, -1))`` when no
    two iterates differ."""
    best, pair = 0.0, (-1, -1)
    for a, b in itertools.combinations(range(thetas.shape[0]), 2):
        dist = float(np.linalg.norm(thetas[a] - thetas[b]))
        if dist > 0:
            q = float(np.linalg.norm(grads[a] - grads[b])) / dist
            if q > best:
                best, pair = q, (a, b)
    return best, pair


def _t_quantile(level: float, dof: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(level, dof))


def observed_minimum(values: np.ndarray, confidence: float = CONFIDENCE) -> list[dict[str, Any]]:
    """Running minimum of the mean over runs, with intervals.

    ``values`` ``(S, K)``: :math:`\\|\\nabla f(\\theta_{t_k})\\|^2` of run ``s`` at the ``k``-th stored
    iterate. Entry ``k`` of the result describes :math:`\\min_{j \\le k}` of the means: ``value``,
    ``argmin`` (``j``), the pointwise Student-t interval of the mean at ``argmin`` and the
    Bonferroni-simultaneous interval for the minimum (if every mean lies in its interval, the
    minimum of the means lies between the minimum of the lower and of the upper ends). Intervals are
    ``None`` for a single run; lower ends are clipped at 0.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"values must be a non-empty (runs, iterates) array, got shape {values.shape}")
    S, K = values.shape
    mean = values.mean(axis=0)
    sem = values.std(axis=0, ddof=1) / math.sqrt(S) if S > 1 else np.full(K, np.nan)
    out = []
    for k in range(K):
        j = int(np.argmin(mean[:k + 1]))
        row: dict[str, Any] = {"value": float(mean[j]), "argmin": j, "pointwise": None, "simultaneous": None}
        if S > 1:
            q = _t_quantile(0.5 + confidence / 2, S - 1)
            row["pointwise"] = (max(0.0, float(mean[j] - q * sem[j])), float(mean[j] + q * sem[j]))
            qs = _t_quantile(1 - (1 - confidence) / (2 * (k + 1)), S - 1)
            lows = mean[:k + 1] - qs * sem[:k + 1]
            highs = mean[:k + 1] + qs * sem[:k + 1]
            row["simultaneous"] = (max(0.0, float(lows.min())), float(highs.min()))
        out.append(row)
    return out


def _optimal(fn, **kw) -> tuple[OptimalParameters, bool]:
    """Minimizing parameters under the step condition, else without it (``B = 0`` drops it; the right
    sides do not depend on ``B``), and whether the condition could be met."""
    try:
        return fn(**kw), True
    except ValueError:
        return fn(**{**kw, "B": 0.0}), False


def _step_ok(alpha: float, bound: float) -> bool:
    return bool(alpha <= bound * (1.0 + STEP_RTOL))


def _bounds_at(T: int, *, A: float, B: float, C: float, L: float, delta0: float, eps2: float, alpha: float,
               bias: BiasEstimate, abc_inexact: ABCEstimate) -> dict[str, Any]:
    kw = dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, alpha=alpha, T=T)
    out: dict[str, Any] = {}
    # Theorem 1 as printed
    p, feasible = _optimal(optimal_theorem1_parameters, **kw)
    if p.attained and math.isfinite(p.zeta) and p.eta is not None and 0 < p.eta < math.inf:
        value = float(theorem1_rhs(**kw, zeta=p.zeta, eta=p.eta, enforce_step=False))
        ok = feasible and _step_ok(alpha, float(theorem1_step_bound(zeta=p.zeta, eta=p.eta, B=B, L=L)))
    else:  # the infimum is a limit (zeta or eta at 0 or infinity): report the limit value
        value, ok = float(p.value), feasible
    out.update(printed=value, printed_zeta=p.zeta, printed_eta=p.eta, printed_step_ok=ok)
    # the source route
    if eps2 > 0:
        ps, feasible_s = _optimal(optimal_source_parameters, **kw)
        zeta_s, eta_s = ps.zeta, ps.eta
    else:
        zeta_s, eta_s, feasible_s = 1.0, 1.0, alpha * L * B < 0.5
    value_s = float(theorem1_rhs_source(**kw, zeta=zeta_s, eta=eta_s, enforce_step=False))
    ok_s = feasible_s and _step_ok(alpha, float(theorem1_step_bound(zeta=zeta_s, eta=eta_s, B=B, L=L)))
    out.update(source=value_s, source_zeta=zeta_s, source_eta=eta_s, source_step_ok=ok_s)
    # [5, Theorem 3] with the constants fitted to the inexact hypergradients
    if bias.b > 0:
        out["fitted"] = float(demidovich_theorem3_rhs(b=bias.b, c=bias.c, A=abc_inexact.A, B=abc_inexact.B,
                                                      C=abc_inexact.C, L=L, delta0=delta0, gamma=alpha, T=T,
                                                      enforce_step=False))
        out["fitted_step_ok"] = _step_ok(alpha, float(demidovich_step_bound(b=bias.b, B=abc_inexact.B, L=L)))
    else:
        out.update(fitted=None, fitted_step_ok=False)
    return out


# ----------------------------------------------------------------------------------------------
# runs


@dataclass
class _StoredRun:
    path: Path
    config: TrainConfig
    iterates: dict[int, dict]


def _open_runs(run_dirs: Sequence[str | Path]) -> list[_StoredRun]:
    if not run_dirs:
        raise ValueError("give at least one run directory (ISGD runs of one problem, one per seed)")
    runs = []
    for p in run_dirs:
        rd = RunDirectory.open(p)
        cfg = TrainConfig.from_dict(rd.config)
        if cfg.method != "isgd":
            raise ValueError(f"{rd.path} is a {cfg.method} run; Theorem 1 is about ISGD (method isgd)")
        if cfg.sampler == "full":
            raise ValueError(f"{rd.path} uses full batches; the bound check needs a stochastic sampler")
        if cfg.step != "constant" or cfg.accuracy != "constant":
            raise ValueError(f"{rd.path} uses step schedule {cfg.step!r} and accuracy schedule {cfg.accuracy!r}; "
                             "Theorem 1 is stated for a constant step and a constant accuracy")
        iterates = load_iterates(rd.path)  # FileNotFoundError says to train with --iterates-every
        runs.append(_StoredRun(rd.path, cfg, {int(r["iteration"]): r for r in iterates}))
    base = runs[0].config.as_dict()
    for r in runs[1:]:
        other = r.config.as_dict()
        diff = sorted(k for k in base if k not in OPERATIONAL_KEYS and base[k] != other[k])
        if diff:
            raise ValueError(f"runs {runs[0].path} and {r.path} differ in {diff}; the bound check compares runs of one "
                             "problem and algorithm that differ only in their seed")
    seeds = [r.config.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"two runs share a seed ({seeds}); give one run per seed")
    return runs


def _select(common: list[int], max_iterates: int | None) -> list[int]:
    if max_iterates is None or len(common) <= max_iterates:
        return common
    if max_iterates < 2:
        raise ValueError(f"max_iterates must be >= 2 (first and last iterate), got {max_iterates}")
    picks = np.unique(np.round(np.linspace(0, len(common) - 1, max_iterates)).astype(int))
    return [common[i] for i in picks]


@dataclass
class _RunAnalysis:
    """What :func:`_analyze_run` measured along one run (one seed)."""

    seed: int
    m: int
    points: list[IterateAnalysis]
    grads: np.ndarray  # (iterates, d): the full gradients
    thetas: np.ndarray  # (iterates, d)
    non_converged: int
    per_image: dict


def _analyze_run(run: _StoredRun, iterations: list[int], tight_accuracy: float, eps: float, delta: float,
                 chunk_size: int, device: str, keep_per_image: bool) -> _RunAnalysis:
    """Steps 1-3 of the module docstring at the ``iterations`` of one run (float64). Runs are
    independent of each other, so :func:`analyze_runs` may give each its own process."""
    dev, dtype = torch.device(device), torch.float64
    cfg = run.config
    problem, data, _ = load_data(cfg, dev, dtype)
    m = data.m
    law = make_sampler(cfg.sampler, m, cfg.batch_size, cfg.seed).law()
    warm = None
    points, grads_k, thetas_k, per_image = [], [], [], {}
    non_converged = 0
    log.info("bound check: run %s (seed %d), %d iterates, m = %d", run.path.name, cfg.seed, len(iterations), m)
    for it in iterations:
        rec = run.iterates[it]
        theta = rec["theta"].to(device=dev, dtype=dtype)
        # the reference needs no a-posteriori bound of its own (its hypergradients are the same without)
        ref = per_image_hypergradients(problem, theta, data.x_star, data.y, tight_accuracy, tight_accuracy,
                                       chunk_size=chunk_size, x0=warm, certify=False)
        warm = ref.x
        inexact = per_image_hypergradients(problem, theta, data.x_star, data.y, eps, delta, chunk_size=chunk_size)
        if not ref.converged:
            non_converged += 1
        G, Z = ref.grads, inexact.grads
        E = Z - G
        grad = G.mean(axis=0)
        errors = np.linalg.norm(E, axis=1)
        points.append(IterateAnalysis(
            seed=cfg.seed, iteration=it, computations=int(rec.get("computations", -1)),
            f=float(ref.losses.mean()), grad_sq=float(grad @ grad),
            second_moment=float(law.expected_sq_norm(G)), second_moment_inexact=float(law.expected_sq_norm(Z)),
            inner=float(grad @ Z.mean(axis=0)), eps2=float(law.expected_sq_norm(E)),
            error_mean=float(errors.mean()), error_max=float(errors.max()),
            certified_max=float(inexact.certified.max()), tight_converged=ref.converged,
            modulus=ref.modulus, smoothness=ref.smoothness,
        ))
        grads_k.append(grad)
        thetas_k.append(rec["theta"].double().numpy())
        if keep_per_image:
            per_image[(cfg.seed, it)] = {"grads": G, "inexact": Z, "theta": thetas_k[-1], "losses": ref.losses}
    return _RunAnalysis(cfg.seed, m, points, np.stack(grads_k), np.stack(thetas_k), non_converged, per_image)


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)


def _analyze_run_job(job: dict) -> _RunAnalysis:
    return _analyze_run(**job)


def analyze_runs(
    run_dirs: Sequence[str | Path],
    *,
    tight_accuracy: float = TIGHT_ACCURACY,
    max_iterates: int | None = 25,
    device: str = "cpu",
    chunk_size: int = 64,
    confidence: float = CONFIDENCE,
    keep_per_image: bool = False,
    workers: int = 1,
    worker_threads: int = 1,
) -> FoEBoundResult:
    """Constants of the learned-regularizer problem along ISGD runs and Theorem 1 versus observed (module docstring).

    Parameters
    ----------
    run_dirs: ISGD run directories of one configuration, one per seed, each with stored iterates (``iterates/``).
    tight_accuracy: ``eps = delta`` of the reference hypergradients (computed in float64).
    max_iterates: analyse at most this many stored iterates per run (evenly spread over the
        iterations stored by every run, first and last included); ``None`` for all.
    device: torch device of the recomputation.
    confidence: level of the Student-t intervals.
    keep_per_image: keep the per-image hypergradients in :attr:`FoEBoundResult.per_image` (tests).
    workers: analyse up to this many runs at a time, each in its own process (spawned) with
        ``worker_threads`` torch threads; ``1``: one after the other in this process. The runs are
        independent, so the result is the same either way.

    Raises
    ------
    FileNotFoundError: a run directory or its stored iterates are missing.
    ValueError: the runs are not constant-step ISGD runs of one configuration differing by seed.
    """
    if not (tight_accuracy > 0 and math.isfinite(tight_accuracy)):
        raise ValueError(f"tight_accuracy must be positive, got {tight_accuracy}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    runs = _open_runs(run_dirs)
    torch.device(device)  # a bad device name fails here, before any work
    if workers < 1 or worker_threads < 1:
        raise ValueError(f"workers and worker_threads must be positive, got {workers} and {worker_threads}")
    common = sorted(set.intersection(*(set(r.iterates) for r in runs)))
    if len(common) < 2:
        raise ValueError("the runs share fewer than two stored iterations; store iterates more often or run longer")
    iterations = _select(common, max_iterates)
    cfg0 = runs[0].config
    notes: list[str] = []
    if cfg0.sampler == "tau_nice":
        notes.append("tau_nice reshuffles epochs: each batch is marginally tau-nice (the law used here) but batches "
                     "of one epoch are dependent, while Theorem 1 assumes independent draws")
    alpha, eps = float(cfg0.alpha0), float(cfg0.accuracy0)
    delta = eps * float(cfg0.delta_ratio)
    jobs = [dict(run=run, iterations=iterations, tight_accuracy=tight_accuracy, eps=eps, delta=delta,
                 chunk_size=chunk_size, device=device, keep_per_image=keep_per_image) for run in runs]
    workers = min(int(workers), len(runs))
    if workers > 1:
        log.info("bound check: %d runs in %d worker processes (%d torch thread(s) each)", len(runs), workers,
                 worker_threads)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(worker_threads,)) as pool:
            analyses = list(pool.map(_analyze_run_job, jobs))
    else:
        analyses = [_analyze_run(**job) for job in jobs]
    points: list[IterateAnalysis] = [p for a in analyses for p in a.points]
    per_run_grads = {a.seed: a.grads for a in analyses}
    per_run_thetas = {a.seed: a.thetas for a in analyses}
    per_image: dict = {k: v for a in analyses for k, v in a.per_image.items()}
    non_converged = sum(a.non_converged for a in analyses)
    m = analyses[-1].m
    last = runs[-1].config  # the law of the sampling (the same for every seed)
    law = make_sampler(last.sampler, m, last.batch_size, last.seed).law()
    if non_converged:
        notes.append(f"{non_converged} reference evaluations did not reach the tight accuracy {tight_accuracy:g} on every "
                     "image (solver cap or precision floor)")
    f_gap = np.array([p.f for p in points])
    grad_sq = np.array([p.grad_sq for p in points])
    abc = estimate_abc(f_gap, grad_sq, np.array([p.second_moment for p in points]))
    abc_inexact = estimate_abc(f_gap, grad_sq, np.array([p.second_moment_inexact for p in points]))
    bias = estimate_bias(np.array([p.inner for p in points]), grad_sq)
    L, L_pair = 0.0, (-1, -1, -1)
    for seed in per_run_grads:
        q, (a, b) = difference_quotients(per_run_thetas[seed], per_run_grads[seed])
        if q > L:
            L, L_pair = q, (seed, iterations[a], iterations[b])
    if not L > 0:
        raise ValueError("no two analysed iterates differ (or their gradients coincide): L cannot be estimated; "
                         "run longer or store more iterates")
    first = iterations[0]
    delta0 = max(p.f for p in points if p.iteration == first)
    eps2 = max(p.eps2 for p in points)
    seeds = [r.config.seed for r in runs]
    values = np.array([[next(p.grad_sq for p in points if p.seed == s and p.iteration == it) for it in iterations]
                       for s in seeds])
    obs = observed_minimum(values, confidence)
    curve = []
    for k, it in enumerate(iterations):
        T = it + 1
        o = obs[k]
        b = _bounds_at(T, A=abc.A, B=abc.B, C=abc.C, L=L, delta0=delta0, eps2=eps2, alpha=alpha, bias=bias,
                       abc_inexact=abc_inexact)
        pw, sim = o["pointwise"], o["simultaneous"]
        curve.append(BoundRow(T=T, observed=o["value"], argmin_iteration=iterations[o["argmin"]],
                              pointwise_low=None if pw is None else pw[0], pointwise_high=None if pw is None else pw[1],
                              simultaneous_low=None if sim is None else sim[0],
                              simultaneous_high=None if sim is None else sim[1], **b))
    if iterations[0] != 0:
        notes.append(f"the first stored common iterate is iteration {iterations[0]}, not 0: delta0 is read there")
    d, beta = law.diagonal_plus_constant()
    result = FoEBoundResult(
        runs=[str(r.path) for r in runs], seeds=seeds, config={k: v for k, v in cfg0.as_dict().items() if k not in OPERATIONAL_KEYS},
        alpha=alpha, eps=eps, delta=delta, m=m, sampler=cfg0.sampler, batch_size=cfg0.batch_size, law=repr(law),
        law_diagonal=[float(x) for x in np.asarray(d, dtype=object).tolist()], law_beta=float(beta),
        tight_accuracy=tight_accuracy, points=points, abc=abc, abc_inexact=abc_inexact, bias=bias, L=L, L_pair=L_pair,
        delta0=delta0, eps2=eps2, curve=curve, confidence=confidence, notes=notes, per_image=per_image,
    )
    fin = result.final
    log.info("bound check: A=%.3g B=%.3g C=%.3g b=%.3g c=%.3g L>=%.3g delta0=%.3g eps2=%.3g alpha L B=%.3g", abc.A, abc.B,
             abc.C, bias.b, bias.c, L, delta0, eps2, result.step_product)
    log.info("bound check at T=%d: observed %.4g, printed %.4g (x%.3g), source %.4g, fitted route %s", fin.T,
             fin.observed, fin.printed, fin.ratio("printed") or float("nan"), fin.source,
             "n/a" if fin.fitted is None else f"{fin.fitted:.4g}")
    return result


# ----------------------------------------------------------------------------------------------
# files


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue().encode()


def write_bound_results(result: FoEBoundResult, out_dir: str | Path) -> list[Path]:
    """Write ``bound.json`` (everything), ``points.csv`` (one row per analysed iterate) and
    ``curve.csv`` (one row per horizon ``T``) into ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    data = result.to_json()
    paths = [write_json_atomic(out_dir / "bound.json", data),
             write_bytes_atomic(out_dir / "points.csv", _csv_bytes(data["points"])),
             write_bytes_atomic(out_dir / "curve.csv", _csv_bytes(data["curve"]))]
    return paths
