r"""Empirical expected-smoothness (ABC) and bias (b, c) constants from sampled points.

Given points :math:`\theta_k` with :math:`x_k = f(\theta_k) - f_{lb} \ge 0`,
:math:`g_k = \|\nabla f(\theta_k)\|^2` and second moments :math:`y_k = \mathbb E\|\nabla f_v(\theta_k)\|^2`
(or :math:`\mathbb E\|z_v(\theta_k)\|^2`), :func:`estimate_abc` returns the constants of Lemma 1,

.. math::

    y_k \le 2A x_k + B g_k + C \quad\text{for all } k, \qquad A, B, C \ge 0,

that make the bound tightest on average over the data (linear program: minimize
:math:`\sum_k w_k(2Ax_k + Bg_k + C)`), breaking ties by minimizing the constants in the order given
by ``tie_break``. :func:`estimate_bias` does the same for [5, Assumption 9]'s first inequality,

.. math::

    s_k \ge b\,g_k - c, \qquad s_k = \langle\nabla f(\theta_k), \mathbb E z_v(\theta_k)\rangle,\; b, c \ge 0,

maximizing the average lower bound :math:`\sum_k w_k(b g_k - c)`.

Returned constants never violate the data they were fitted on: after the LP (solved by HiGHS through
:func:`scipy.optimize.linprog`, whose tolerances allow tiny violations) every constraint is
re-evaluated in float64 exactly as ``2*A*x + B*g + C >= y`` and the constants are raised by the
smallest amount that removes any violation.

When the moments come from Monte Carlo, pass the samples: each :math:`y_k` is replaced by an upper
confidence bound (lower for :math:`s_k`), simultaneous over the points by a Bonferroni correction,
so the constants are consistent with the true moments with probability at least ``confidence``
(exactly for ``"hoeffding"`` and ``"empirical_bernstein"`` given a bound on the samples,
asymptotically for ``"student_t"``).

Diagnostics report, among others, when :math:`A` and :math:`B` cannot be told apart (e.g. on a
quadratic, :math:`g = 2Lx` exactly) through the range of each constant over the LP's optimal face.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ABCEstimate",
    "BiasEstimate",
    "estimate_abc",
    "estimate_bias",
    "upper_confidence_bounds",
    "lower_confidence_bounds",
    "ACTIVE_RTOL",
    "FACE_RTOL",
    "IDENTIFIABILITY_RTOL",
]

ACTIVE_RTOL = 1e-9
"""A constraint is *active* when its slack is at most ``ACTIVE_RTOL`` times the scale of the data."""

FACE_RTOL = 1e-9
"""Relative slack on the optimal value that defines the optimal face (ranges and tie-breaking)."""

SCALE_FLOOR = 1e-150
"""Columns are scaled by their maximum, but never by less than this times the largest moment
(keeps the scaled problem free of overflow when a column is vanishingly small)."""

LP_TOLERANCE = 1e-10
"""Primal and dual feasibility tolerance passed to HiGHS (in the scaled problem)."""

IDENTIFIABILITY_RTOL = 1e-6
"""A constant is reported undetermined when its optimal-face range exceeds this (scaled units)."""

_NAMES_ABC = ("A", "B", "C")
_METHODS = ("student_t", "hoeffding", "empirical_bernstein")


@dataclass(frozen=True)
class ABCEstimate:
    """Fitted expected-smoothness constants.

    Attributes
    ----------
    A, B, C : float
        The constants (never violating the data used).
    active : ndarray of int
        Indices of the data points whose constraint is tight.
    ranges : dict
        ``name -> (low, high)``: range of each constant over the LP's optimal face (``inf`` if unbounded).
    diagnostics : tuple of str
        Human-readable findings (identifiability, repairs, confidence).
    objective : float
        Mean of :math:`2Ax_k + Bg_k + C` over the data (with the weights).
    second_moments : ndarray
        The :math:`y_k` used (upper confidence bounds when samples were given).
    confidence : float or None
    """

    A: float
    B: float
    C: float
    active: np.ndarray
    ranges: dict[str, tuple[float, float]]
    diagnostics: tuple[str, ...]
    objective: float
    second_moments: np.ndarray
    confidence: float | None = None

    def bound(self, f_gap: Any, grad_sq: Any) -> Any:
        """:math:`2A x + B g + C`."""
        return 2 * self.A * np.asarray(f_gap, dtype=float) + self.B * np.asarray(grad_sq, dtype=float) + self.C


@dataclass(frozen=True)
class BiasEstimate:
    """Fitted constants of [5, Assumption 9]'s first inequality (same attributes as :class:`ABCEstimate`)."""

    b: float
    c: float
    active: np.ndarray
    ranges: dict[str, tuple[float, float]]
    diagnostics: tuple[str, ...]
    objective: float
    inner: np.ndarray
    confidence: float | None = None

    def bound(self, grad_sq: Any) -> Any:
        """:math:`b g - c`."""
        return self.b * np.asarray(grad_sq, dtype=float) - self.c


# ----------------------------------------------------------------------------------------------
# confidence bounds


def _as_samples(samples: Any) -> list[np.ndarray]:
    if isinstance(samples, np.ndarray) and samples.ndim == 2:
        return [np.asarray(r, dtype=float) for r in samples]
    return [np.asarray(s, dtype=float).ravel() for s in samples]


def _one_sided(samples: Any, confidence: float, method: str, sample_range: float | None, upper: bool) -> np.ndarray:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    rows = _as_samples(samples)
    n_points = len(rows)
    if n_points == 0:
        raise ValueError("no samples given")
    delta = (1.0 - confidence) / n_points
    out = np.empty(n_points)
    for k, s in enumerate(rows):
        n = s.size
        if n < 2:
            raise ValueError(f"point {k}: at least 2 samples are needed for a confidence bound; got {n}")
        mean = float(np.mean(s))
        if method == "student_t":
            from scipy import stats  # imported here: scipy.stats is slow to import

            half = float(stats.t.ppf(1.0 - delta, df=n - 1)) * float(np.std(s, ddof=1)) / math.sqrt(n)
        else:
            if sample_range is None or not sample_range > 0:
                raise ValueError(f"method {method!r} needs sample_range > 0 (the samples' range bound)")
            if np.ptp(s) > sample_range:
                raise ValueError(f"point {k}: samples span {np.ptp(s)} > sample_range={sample_range}")
            if method == "hoeffding":
                half = sample_range * math.sqrt(math.log(1.0 / delta) / (2.0 * n))
            else:
                var = float(np.var(s, ddof=1))
                log_term = math.log(2.0 / delta)
                half = math.sqrt(2.0 * var * log_term / n) + 7.0 * sample_range * log_term / (3.0 * (n - 1))
        out[k] = mean + half if upper else mean - half
    return out


def upper_confidence_bounds(
    samples: Any, confidence: float = 0.95, method: str = "student_t", sample_range: float | None = None
) -> np.ndarray:
    r"""Simultaneous one-sided upper confidence bounds on the means of each row of ``samples``.

    Each point gets level :math:`1 - (1-\text{confidence})/n` (Bonferroni over the :math:`n` points).

    Methods
    -------
    ``"student_t"``: :math:`\bar y + t_{1-\delta, S-1}\, s/\sqrt S` (asymptotic).
    ``"hoeffding"``: :math:`\bar y + R\sqrt{\log(1/\delta)/(2S)}` (samples in a range of width :math:`R`).
    ``"empirical_bernstein"``: Maurer & Pontil (2009, Thm 4),
    :math:`\bar y + \sqrt{2V\log(2/\delta)/S} + 7R\log(2/\delta)/(3(S-1))`.
    """
    return _one_sided(samples, confidence, method, sample_range, upper=True)


def lower_confidence_bounds(
    samples: Any, confidence: float = 0.95, method: str = "student_t", sample_range: float | None = None
) -> np.ndarray:
    """Simultaneous one-sided lower confidence bounds (mirror of :func:`upper_confidence_bounds`)."""
    return _one_sided(samples, confidence, method, sample_range, upper=False)


# ----------------------------------------------------------------------------------------------
# linear programming building blocks


def _linprog(cost: np.ndarray, A_ub: np.ndarray, b_ub: np.ndarray, bnds: list[tuple[float, float | None]]) -> Any:
    from scipy import optimize as sopt  # imported here to keep `import theory` light

    res = sopt.linprog(
        cost,
        A_ub=A_ub,
        b_ub=b_ub,
        bounds=bnds,
        method="highs",
        options={"primal_feasibility_tolerance": LP_TOLERANCE, "dual_feasibility_tolerance": LP_TOLERANCE},
    )
    logger.debug("linprog status %s: %s", res.status, res.message)
    return res


@dataclass
class _LP:
    """min cost.z s.t. M z >= rhs, bounds; with methods for the optimal face."""

    cost: np.ndarray
    M: np.ndarray
    rhs: np.ndarray
    bnds: list[tuple[float, float | None]]
    face: list[tuple[np.ndarray, float]] = field(default_factory=list)

    def _ub(self) -> tuple[np.ndarray, np.ndarray]:
        rows = [-self.M] + [row[None, :] for row, _ in self.face]
        vals = [-self.rhs] + [np.array([v]) for _, v in self.face]
        return np.vstack(rows), np.concatenate(vals)

    def solve(self, cost: np.ndarray) -> Any:
        A_ub, b_ub = self._ub()
        return _linprog(cost, A_ub, b_ub, self.bnds)


def _fit(
    cost: np.ndarray,
    M: np.ndarray,
    rhs: np.ndarray,
    bnds: list[tuple[float, float | None]],
    order: Sequence[int],
    names: Sequence[str],
    senses: Sequence[int],
) -> tuple[np.ndarray, dict[str, tuple[float, float]], float]:
    """Solve, compute ranges on the optimal face, then tie-break (``senses``: +1 minimize, -1 maximize)."""
    lp = _LP(cost, M, rhs, bnds)
    first = lp.solve(cost)
    if first.status == 2:
        raise ValueError("no constants satisfy the data with the fixed values given; free a constant or check the data")
    if first.status == 3:
        raise ValueError("the fit is unbounded; add bounds (e.g. b_max) or data points")
    if first.status != 0:
        raise ValueError(f"the linear program failed: {first.message}")
    opt = float(first.fun)
    lp.face.append((cost, opt + FACE_RTOL * max(1.0, abs(opt))))
    n = len(names)
    ranges: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        e = np.zeros(n)
        e[j] = 1.0
        lo = lp.solve(e)
        hi = lp.solve(-e)
        low = float(lo.x[j]) if lo.status == 0 else -math.inf
        high = float(hi.x[j]) if hi.status == 0 else math.inf
        ranges[name] = (low, high)
    z = first.x.copy()
    for j in order:
        e = np.zeros(n)
        e[j] = float(senses[j])
        res = lp.solve(e)
        if res.status != 0:
            continue
        z = res.x.copy()
        lp.face.append((e, float(res.fun) + FACE_RTOL * max(1.0, abs(float(res.fun)))))
    return z, ranges, opt


def _identifiability(
    ranges_scaled: dict[str, tuple[float, float]], ranges: dict[str, tuple[float, float]], names: Sequence[str]
) -> list[str]:
    """Constants whose range over the optimal face is wide (judged in the LP's scaled units)."""
    loose = []
    for nm in names:
        lo, hi = ranges_scaled[nm]
        width = hi - lo
        if not math.isfinite(width) or width > IDENTIFIABILITY_RTOL * max(1.0, abs(lo), abs(hi)):
            loose.append(nm)
    notes = []
    if len(loose) >= 2:
        notes.append(
            f"{' and '.join(loose)} cannot be told apart on these data: the optimal face spans "
            + ", ".join(f"{nm} in [{ranges[nm][0]:.6g}, {ranges[nm][1]:.6g}]" for nm in loose)
        )
    elif loose:
        nm = loose[0]
        notes.append(f"{nm} is not determined by the data: any {nm} in [{ranges[nm][0]:.6g}, {ranges[nm][1]:.6g}] is optimal")
    return notes


def _active(slack: np.ndarray, scale: float) -> np.ndarray:
    return np.flatnonzero(slack <= ACTIVE_RTOL * scale)


# ----------------------------------------------------------------------------------------------
# ABC


def estimate_abc(
    f_gap: Any,
    grad_sq: Any,
    second_moment: Any = None,
    *,
    samples: Any = None,
    confidence: float | None = None,
    method: str = "student_t",
    sample_range: float | None = None,
    fixed: dict[str, float] | None = None,
    weights: Any = None,
    tie_break: Sequence[str] = ("A", "B", "C"),
) -> ABCEstimate:
    r"""Smallest :math:`A, B, C \ge 0` with :math:`y_k \le 2Ax_k + Bg_k + C` for every data point.

    Parameters
    ----------
    f_gap : array (n,)
        :math:`x_k = f(\theta_k) - f_{lb} \ge 0` (:math:`f_{lb}` a lower bound of :math:`f`).
    grad_sq : array (n,)
        :math:`g_k = \|\nabla f(\theta_k)\|^2`.
    second_moment : array (n,), optional
        Exact :math:`y_k = \mathbb E\|\nabla f_v(\theta_k)\|^2`. Give either this or ``samples``.
    samples : array (n, S) or list of arrays, optional
        Monte Carlo draws of :math:`\|\nabla f_v(\theta_k)\|^2`; :math:`y_k` becomes an upper
        confidence bound at level ``confidence`` (default 0.95) by ``method``.
    fixed : dict, optional
        Constants held at given values (e.g. ``{"B": 0}`` for [18, Proposition 2]'s form).
    weights : array (n,), optional
        Weights of the objective (default uniform).
    tie_break : sequence of str
        Among optimal fits, minimize these constants in this order.

    Raises
    ------
    ValueError
        For shapes that differ, negative ``f_gap``/``grad_sq``, or data no constants satisfy with
        the ``fixed`` values.
    """
    x = np.asarray(f_gap, dtype=float).ravel()
    g = np.asarray(grad_sq, dtype=float).ravel()
    if x.shape != g.shape or x.size == 0:
        raise ValueError(f"f_gap and grad_sq must be non-empty and of equal length; got {x.shape} and {g.shape}")
    if np.any(x < 0) or np.any(g < 0) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(g))):
        raise ValueError("f_gap and grad_sq must be finite and nonnegative (use a lower bound f_lb <= inf f)")
    diagnostics: list[str] = []
    if (second_moment is None) == (samples is None):
        raise ValueError("give exactly one of second_moment (exact) or samples (Monte Carlo)")
    if samples is not None:
        level = 0.95 if confidence is None else confidence
        y = upper_confidence_bounds(samples, level, method, sample_range)
        diagnostics.append(f"second moments replaced by simultaneous {level:.3g} upper confidence bounds ({method})")
    else:
        level = None
        y = np.asarray(second_moment, dtype=float).ravel()
    if y.shape != x.shape or not np.all(np.isfinite(y)):
        raise ValueError(f"second moments must be finite, one per point ({x.size}); got shape {y.shape}")
    w = np.full(x.size, 1.0 / x.size) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != x.shape or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("weights must be nonnegative, one per point, not all zero")
    w = w / w.sum()
    fixed = dict(fixed or {})
    for k in fixed:
        if k not in _NAMES_ABC:
            raise ValueError(f"fixed keys must be among {_NAMES_ABC}; got {k!r}")
        if not fixed[k] >= 0:
            raise ValueError(f"fixed {k} must be >= 0; got {fixed[k]!r}")
    order = [_NAMES_ABC.index(nm) for nm in tie_break]
    if sorted(order) != [0, 1, 2]:
        raise ValueError(f"tie_break must be a permutation of {_NAMES_ABC}; got {tuple(tie_break)}")

    # column scaling for conditioning: z' = z * scale_j / s_y
    s_y = float(np.max(np.abs(y))) or 1.0
    cols = np.column_stack([2.0 * x, g, np.ones_like(x)])
    col_scale = np.array([max(float(np.max(cols[:, j])), SCALE_FLOOR * s_y) or 1.0 for j in range(3)])
    M = cols / col_scale
    rhs = y / s_y
    cost = (w @ cols) / col_scale
    bnds: list[tuple[float, float | None]] = []
    for j, nm in enumerate(_NAMES_ABC):
        if nm in fixed:
            v = fixed[nm] * col_scale[j] / s_y
            bnds.append((v, v))
        else:
            bnds.append((0.0, None))
    if x.size < 3:
        diagnostics.append(f"only {x.size} data point(s) for 3 constants")
    zs, ranges_s, _ = _fit(cost, M, rhs, bnds, order, _NAMES_ABC, (1, 1, 1))
    to_orig = s_y / col_scale
    consts = np.maximum(zs * to_orig, 0.0)
    for j, nm in enumerate(_NAMES_ABC):
        if nm in fixed:
            consts[j] = float(fixed[nm])
    ranges = {nm: (ranges_s[nm][0] * to_orig[j], ranges_s[nm][1] * to_orig[j]) for j, nm in enumerate(_NAMES_ABC)}
    A, B, C = (float(v) for v in consts)
    A, B, C, repair = _repair_abc(x, g, y, A, B, C, fixed)
    if repair:
        diagnostics.append(repair)
    for nm in _NAMES_ABC:
        if nm in fixed:
            ranges[nm] = (float(fixed[nm]), float(fixed[nm]))
    diagnostics.extend(_identifiability(ranges_s, ranges, [nm for nm in _NAMES_ABC if nm not in fixed]))
    if x.size >= 2:
        X = np.column_stack([x, g])
        if np.linalg.matrix_rank(X / np.maximum(np.abs(X).max(axis=0), 1e-300)) < 2:
            diagnostics.append(
                "f - f_lb and ||grad f||^2 are proportional (or one vanishes) on the data, so A and B cannot be told apart"
            )
    bound = 2 * A * x + B * g + C
    slack = bound - y
    active = _active(slack, max(s_y, float(np.max(bound))))
    objective = float(w @ bound)
    logger.debug("ABC fit A=%g B=%g C=%g active=%s", A, B, C, active.tolist())
    return ABCEstimate(A, B, C, active, ranges, tuple(diagnostics), objective, y, level)


def _repair_abc(
    x: np.ndarray, g: np.ndarray, y: np.ndarray, A: float, B: float, C: float, fixed: dict[str, float]
) -> tuple[float, float, float, str]:
    """Raise a free constant until ``2*A*x + B*g + C >= y`` holds in float64 at every point."""
    total = 0.0
    for _ in range(64):
        viol = y - (2 * A * x + B * g + C)
        worst = float(np.max(viol))
        if worst <= 0.0:
            note = f"constants raised by {total:.3g} to remove LP round-off violations" if total > 0 else ""
            return A, B, C, note
        if "C" not in fixed:
            C = float(np.nextafter(C + worst, math.inf))
        elif "B" not in fixed and np.all(g[viol > 0] > 0):
            B = float(np.nextafter(B + float(np.max(viol[viol > 0] / g[viol > 0])), math.inf))
        elif "A" not in fixed and np.all(x[viol > 0] > 0):
            A = float(np.nextafter(A + float(np.max(viol[viol > 0] / (2 * x[viol > 0]))), math.inf))
        else:
            raise ValueError("no constants satisfy the data with the fixed values given; free a constant or check the data")
        total += worst
    raise ValueError("could not remove round-off violations; rescale the data")


# ----------------------------------------------------------------------------------------------
# bias constants


def estimate_bias(
    inner: Any = None,
    grad_sq: Any = None,
    *,
    samples: Any = None,
    confidence: float | None = None,
    method: str = "student_t",
    sample_range: float | None = None,
    b: float | None = None,
    b_max: float | None = None,
    weights: Any = None,
) -> BiasEstimate:
    r"""Constants :math:`b, c \ge 0` with :math:`s_k \ge b g_k - c` for every point, tightest on average.

    Parameters
    ----------
    inner : array (n,), optional
        Exact :math:`s_k = \langle\nabla f(\theta_k), \mathbb E z_v(\theta_k)\rangle`. Give this or ``samples``.
    grad_sq : array (n,)
        :math:`g_k = \|\nabla f(\theta_k)\|^2`.
    samples : array (n, S) or list, optional
        Monte Carlo draws of :math:`\langle\nabla f(\theta_k), z_v(\theta_k)\rangle`; replaced by
        simultaneous lower confidence bounds.
    b : float, optional
        Hold :math:`b` fixed (e.g. :math:`b(\zeta)`); then :math:`c = \max(0, \max_k(bg_k - s_k))`.
    b_max : float, optional
        Upper bound on :math:`b`.

    Among optimal fits, :math:`b` is maximized, then :math:`c` minimized. A fit with :math:`b = 0`
    means no positive :math:`b` helps on these data ([5, Assumption 9] needs :math:`b > 0`).
    """
    g = np.asarray(grad_sq, dtype=float).ravel()
    if g.size == 0 or np.any(g < 0) or not np.all(np.isfinite(g)):
        raise ValueError("grad_sq must be a non-empty vector of finite nonnegative numbers")
    diagnostics: list[str] = []
    if (inner is None) == (samples is None):
        raise ValueError("give exactly one of inner (exact) or samples (Monte Carlo)")
    if samples is not None:
        level = 0.95 if confidence is None else confidence
        s = lower_confidence_bounds(samples, level, method, sample_range)
        diagnostics.append(f"inner products replaced by simultaneous {level:.3g} lower confidence bounds ({method})")
    else:
        level = None
        s = np.asarray(inner, dtype=float).ravel()
    if s.shape != g.shape or not np.all(np.isfinite(s)):
        raise ValueError(f"inner products must be finite, one per point ({g.size}); got shape {s.shape}")
    w = np.full(g.size, 1.0 / g.size) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != g.shape or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("weights must be nonnegative, one per point, not all zero")
    w = w / w.sum()
    if b is not None and not b >= 0:
        raise ValueError(f"b must be >= 0; got {b!r}")
    if b_max is not None and not b_max > 0:
        raise ValueError(f"b_max must be > 0; got {b_max!r}")

    if b is not None:
        # closed form: the smallest c for this b
        b_val = float(b)
        c_val = max(0.0, float(np.max(b_val * g - s)))
        ranges = {"b": (b_val, b_val), "c": (c_val, c_val)}
        ranges_s = ranges
    else:
        s_scale = max(float(np.max(np.abs(s))), float(np.max(g))) or 1.0
        g_scale = max(float(np.max(g)), SCALE_FLOOR * s_scale) or 1.0
        # variables b' = b g_scale/s_scale, c' = c/s_scale; constraint -b' g/g_scale + c' >= -s/s_scale
        M = np.column_stack([-g / g_scale, np.ones_like(g)])
        rhs = -s / s_scale
        cost = np.array([-(w @ g) / g_scale, 1.0])
        bnds: list[tuple[float, float | None]] = [(0.0, None if b_max is None else b_max * g_scale / s_scale), (0.0, None)]
        zs, ranges_s, _ = _fit(cost, M, rhs, bnds, (0, 1), ("b", "c"), (-1, 1))
        b_val = max(float(zs[0]) * s_scale / g_scale, 0.0)
        c_val = max(float(zs[1]) * s_scale, 0.0)
        ranges = {
            "b": (ranges_s["b"][0] * s_scale / g_scale, ranges_s["b"][1] * s_scale / g_scale),
            "c": (ranges_s["c"][0] * s_scale, ranges_s["c"][1] * s_scale),
        }
    total = 0.0
    for _ in range(64):
        viol = (b_val * g - c_val) - s
        worst = float(np.max(viol))
        if worst <= 0.0:
            break
        c_val = float(np.nextafter(c_val + worst, math.inf))
        total += worst
    else:
        raise ValueError("could not remove round-off violations; rescale the data")
    if total > 0:
        diagnostics.append(f"c raised by {total:.3g} to remove LP round-off violations")
    if b_val == 0.0:
        diagnostics.append("b = 0: no positive b is supported by these data ([5, Assumption 9] needs b > 0)")
    if b is None:
        diagnostics.extend(_identifiability(ranges_s, ranges, ["b", "c"]))
    lower = b_val * g - c_val
    slack = s - lower
    active = _active(slack, max(float(np.max(np.abs(s))), float(np.max(np.abs(lower)))) or 1.0)
    return BiasEstimate(b_val, c_val, active, ranges, tuple(diagnostics), float(w @ lower), s, level)
