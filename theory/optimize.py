r"""The free parameters :math:`\zeta` and :math:`\eta` that minimize the paper's bounds.

:math:`\zeta` (Lemma 2) and :math:`\eta` (Lemma 3) are analysis parameters: the algorithm does not
depend on them, so each bound may be minimized over them.

* Bias floor :math:`c(\zeta,\epsilon^2)/b(\zeta) = \zeta^2\epsilon^2/(2\zeta-1)` and Corollary 1's final
  bound :math:`3\zeta\epsilon^2/(2b(\zeta))`: minimized at :math:`\zeta = 1` (values :math:`\epsilon^2`
  and :math:`3\epsilon^2`), for every :math:`\eta`.
* Theorem 1 as printed, for given :math:`\alpha, T`: with :math:`P = 2\delta_0/(\alpha T)`,
  :math:`Q = 2AL\alpha\delta_0/T + LC\alpha`, :math:`R = L\alpha\epsilon^2`, the right side is

  .. math::

      \frac{2\zeta K(\eta) + \zeta^2\epsilon^2}{2\zeta - 1},\qquad
      K(\eta) = P + \frac{1+\eta}{\eta}Q + (1+\eta)R,

  minimized by :math:`\eta^* = \sqrt{Q/R}` (:math:`K^* = P + (\sqrt Q + \sqrt R)^2`) and
  :math:`\zeta^* = \frac12\big(1 + \sqrt{1 + 4K^*/\epsilon^2}\big)`, with minimum :math:`\zeta^{*2}\epsilon^2`.
  The step condition :math:`\alpha \le c_1/L` reads :math:`\eta \ge \alpha L B/(b(\zeta) - \alpha L B)`;
  when the closed form violates it, :math:`\eta = \max(\eta^*, \eta_{\min}(\zeta))` and :math:`\zeta` is
  found numerically.
* The source route ([5, Theorem 3] with Proposition 1): the same structure with
  :math:`K_s(\eta) = \frac{2\delta_0}{\alpha T}(1 + \frac{1+\eta}{\eta}LA\alpha^2)^T + \frac{1+\eta}{\eta}LC\alpha + (1+\eta)L\alpha\epsilon^2`
  (convex in :math:`\eta`, minimized numerically), and the same closed-form :math:`\zeta^*`.
* Corollary 1's horizon :math:`T(\epsilon^2)`, for given :math:`\zeta`:
  :math:`T = \frac{12\delta_0 L}{\zeta\epsilon^2}\frac{1+\eta}{\eta}\max\{u, \frac2\zeta(w + \eta)\}` with
  :math:`u = \max\{B/b(\zeta), 12\delta_0A/(\zeta\epsilon^2)\}`, :math:`w = C/\epsilon^2`, minimized at
  :math:`\eta^* = \max\{\zeta u/2 - w, \sqrt w\}`. :math:`T` decreases in :math:`\zeta` without bound while
  the final bound grows, so :math:`\zeta` is fixed (default: the bound's minimizer :math:`\zeta = 1`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import bounds

logger = logging.getLogger(__name__)

__all__ = [
    "OptimalParameters",
    "optimal_bias_floor",
    "optimal_corollary1_bound",
    "optimal_corollary1_eta",
    "optimal_theorem1_parameters",
    "optimal_source_parameters",
    "XATOL",
]

XATOL = 1e-10
"""Tolerance (in log scale) of the one-dimensional numerical searches."""


@dataclass(frozen=True)
class OptimalParameters:
    """Minimizing :math:`\\zeta, \\eta` of a bound and the minimum.

    ``method`` is ``"closed form"`` or ``"numeric"``; ``attained`` is False when the infimum is a
    limit (then ``zeta``/``eta`` hold the limiting value, possibly ``inf`` or ``0``);
    ``constraint_active`` says whether the step-size condition :math:`\\alpha \\le c_1/L` binds.
    """

    zeta: float
    eta: float | None
    value: float
    method: str
    attained: bool = True
    constraint_active: bool = False


def _check_positive(**kw: float) -> None:
    for k, v in kw.items():
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{k} must be a finite positive number; got {v!r}")


def _check_nonneg(**kw: float) -> None:
    for k, v in kw.items():
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{k} must be a finite nonnegative number; got {v!r}")


def optimal_bias_floor(eps2: float) -> OptimalParameters:
    r"""Minimize :math:`c(\zeta,\epsilon^2)/b(\zeta) = \zeta^2\epsilon^2/(2\zeta-1)` over :math:`\zeta > 1/2`: :math:`\zeta = 1`, value :math:`\epsilon^2`."""
    _check_nonneg(eps2=eps2)
    return OptimalParameters(zeta=1.0, eta=None, value=float(eps2), method="closed form")


def optimal_corollary1_bound(eps2: float) -> OptimalParameters:
    r"""Minimize Corollary 1's :math:`3\zeta\epsilon^2/(2b(\zeta))` over :math:`\zeta > 1/2`: :math:`\zeta = 1`, value :math:`3\epsilon^2` (any :math:`\eta`)."""
    _check_nonneg(eps2=eps2)
    return OptimalParameters(zeta=1.0, eta=None, value=3.0 * float(eps2), method="closed form")


def optimal_corollary1_eta(
    *, A: float, B: float, C: float, L: float, delta0: float, eps2: float, zeta: float = 1.0
) -> OptimalParameters:
    r"""The :math:`\eta` minimizing Corollary 1's :math:`T(\epsilon^2)` for fixed :math:`\zeta > 1/2` (closed form).

    :math:`\eta^* = \max\{\zeta u/2 - w, \sqrt w\}`, :math:`u = \max\{B/b(\zeta), 12\delta_0 A/(\zeta\epsilon^2)\}`,
    :math:`w = C/\epsilon^2`. When :math:`\eta^* = 0` (:math:`A = B = C = 0` or :math:`\delta_0 = 0`) the
    infimum is approached as :math:`\eta \to 0` and ``attained`` is False.
    """
    _check_nonneg(A=A, B=B, C=C, delta0=delta0)
    _check_positive(L=L, eps2=eps2)
    if not zeta > 0.5:
        raise ValueError(f"Corollary 1 needs zeta > 1/2; got zeta={zeta!r}")
    b_val = 1.0 - 1.0 / (2.0 * zeta)
    u = max(B / b_val, 12.0 * delta0 * A / (zeta * eps2))
    w = C / eps2
    eta = max(zeta * u / 2.0 - w, math.sqrt(w))
    prefactor = 12.0 * delta0 * L / (zeta * eps2)
    if eta <= 0.0:
        value = prefactor * (2.0 / zeta) * (1.0 + w) if delta0 > 0 else 0.0
        return OptimalParameters(zeta=float(zeta), eta=0.0, value=value, method="closed form", attained=False)
    value = float(bounds.corollary1_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta))
    return OptimalParameters(zeta=float(zeta), eta=float(eta), value=value, method="closed form")


def _zeta_star(K: float, eps2: float) -> float:
    return 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * K / eps2))


def _value(zeta: float, K: float, eps2: float) -> float:
    return (2.0 * zeta * K + zeta * zeta * eps2) / (2.0 * zeta - 1.0)


def _eta_min(zeta: float, alpha: float, L: float, B: float) -> float:
    """Smallest eta with alpha <= c1/L at this zeta (inf when no eta works)."""
    if B == 0:
        return 0.0
    b_val = 1.0 - 1.0 / (2.0 * zeta)
    s = alpha * L * B
    return s / (b_val - s) if b_val > s else math.inf


def _minimize_scalar(fun: Callable[[float], float], lo: float, hi: float) -> float:
    """Bounded scalar minimization (scipy imported here to keep `import theory` light)."""
    from scipy import optimize as sopt

    res = sopt.minimize_scalar(fun, bounds=(lo, hi), method="bounded", options={"xatol": XATOL})
    return float(res.x)


def _minimize_log(fun: Callable[[float], float], lo: float = -40.0, hi: float = 40.0) -> float:
    """Minimize a unimodal ``fun(exp(x))`` over ``x`` in ``[lo, hi]``; returns the minimizer ``exp(x)``."""
    return math.exp(_minimize_scalar(lambda x: fun(math.exp(x)), lo, hi))


def _two_level(
    K_of_eta: Callable[[float], float],
    eta_unconstrained: float,
    *,
    alpha: float,
    L: float,
    B: float,
    eps2: float,
    method: str,
) -> OptimalParameters:
    """Minimize (2 zeta K + zeta^2 eps2)/(2 zeta - 1) with K = K(eta), eta >= eta_min(zeta)."""
    K0 = K_of_eta(eta_unconstrained)
    zeta0 = _zeta_star(K0, eps2)
    if eta_unconstrained >= _eta_min(zeta0, alpha, L, B):
        return OptimalParameters(zeta=zeta0, eta=eta_unconstrained, value=zeta0 * zeta0 * eps2, method=method)
    s = alpha * L * B
    if s >= 1.0:
        raise ValueError(
            f"alpha L B = {s} >= 1: no zeta > 1/2, eta > 0 satisfy alpha <= c1/L; reduce alpha"
        )
    zeta_lo = 0.5 / (1.0 - s)

    def best_at(zeta: float) -> tuple[float, float]:
        eta = max(eta_unconstrained, _eta_min(zeta, alpha, L, B))
        return _value(zeta, K_of_eta(eta), eps2), eta

    zeta = zeta_lo + math.exp(_minimize_scalar(lambda x: best_at(zeta_lo + math.exp(x))[0], -40.0, 40.0))
    value, eta = best_at(zeta)
    return OptimalParameters(zeta=zeta, eta=eta, value=value, method="numeric", constraint_active=True)


def optimal_theorem1_parameters(
    *, A: float, B: float, C: float, L: float, delta0: float, eps2: float, alpha: float, T: int
) -> OptimalParameters:
    r"""The :math:`\zeta > 1/2, \eta > 0` minimizing Theorem 1's printed right side at given :math:`\alpha, T`.

    Closed form (module docstring) unless the step condition :math:`\alpha \le c_1/L` binds, then a
    one-dimensional numerical search in :math:`\zeta`. For :math:`\epsilon^2 = 0` the infimum is the
    limit :math:`\zeta \to \infty` (``attained=False``).
    """
    _check_nonneg(A=A, B=B, C=C, delta0=delta0, eps2=eps2)
    _check_positive(L=L, alpha=alpha)
    if int(T) != T or T < 1:
        raise ValueError(f"T must be an integer >= 1; got {T!r}")
    P = 2.0 * delta0 / (alpha * T)
    Q = 2.0 * A * L * alpha * delta0 / T + L * C * alpha
    R = L * alpha * eps2

    def K_of_eta(eta: float) -> float:
        return P + (1.0 + eta) / eta * Q + (1.0 + eta) * R

    if R == 0.0 or Q == 0.0:
        eta_lim = math.inf if R == 0.0 else 0.0
        K_lim = P + Q + R
        if eps2 == 0.0:
            return OptimalParameters(zeta=math.inf, eta=eta_lim, value=K_lim, method="closed form", attained=False)
        zeta = _zeta_star(K_lim, eps2)
        return OptimalParameters(zeta=zeta, eta=eta_lim, value=zeta * zeta * eps2, method="closed form", attained=False)
    return _two_level(K_of_eta, math.sqrt(Q / R), alpha=alpha, L=L, B=B, eps2=eps2, method="closed form")


def optimal_source_parameters(
    *, A: float, B: float, C: float, L: float, delta0: float, eps2: float, alpha: float, T: int
) -> OptimalParameters:
    r"""The :math:`\zeta > 1/2, \eta > 0` minimizing the source-route bound (:func:`theory.bounds.theorem1_rhs_source`).

    :math:`\zeta` in closed form given :math:`\eta`; :math:`\eta` by a bounded search on
    :math:`\log\eta` (the objective is convex in :math:`\eta`).
    """
    _check_nonneg(A=A, B=B, C=C, delta0=delta0)
    _check_positive(L=L, alpha=alpha, eps2=eps2)
    if int(T) != T or T < 1:
        raise ValueError(f"T must be an integer >= 1; got {T!r}")

    def log_K(eta: float) -> float:
        """log K_s(eta), computed without overflow."""
        fac = (1.0 + eta) / eta
        logs = [math.log(fac * L * C * alpha) if C > 0 else -math.inf, math.log((1.0 + eta) * L * alpha * eps2)]
        if delta0 > 0:
            logs.append(math.log(2.0 * delta0 / (alpha * T)) + T * math.log1p(fac * L * A * alpha * alpha))
        return float(np.logaddexp.reduce(np.asarray(logs)))

    def K_of_eta(eta: float) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(log_K(eta)))

    eta_unc = _minimize_log(log_K)
    result = _two_level(K_of_eta, eta_unc, alpha=alpha, L=L, B=B, eps2=eps2, method="numeric")
    return OptimalParameters(
        zeta=result.zeta, eta=result.eta, value=result.value, method="numeric", constraint_active=result.constraint_active
    )
