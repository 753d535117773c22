r"""Limits :math:`T \to \infty`: exact stationary moments of the linear moment recursion, with a certified tail.

For a constant step :math:`\alpha` the second moment :math:`x_t` of ISGD on a quadratic finite sum
obeys :math:`x_{t+1} = \Phi(\sigma_t)x_t` (:mod:`validation.engine.exact`). Once the errors are switched
off (:math:`\sigma_t = 0` for :math:`t \ge t_0`; exact gradients are :math:`t_0 = 0`) the recursion is
:math:`x_{t+1} = \Phi_0x_t`. When :math:`\Phi_0` is stable its fixed point :math:`x^*` (with the affine
coordinate fixed to 1) is the exact stationary second moment, and
:math:`a^* = w^\top x^*` is :math:`\lim_t\mathbb E\|\nabla f(\theta_t)\|^2`, a rational number.

:func:`infimum` certifies :math:`\inf_{t\ge0}\mathbb E\|\nabla f(\theta_t)\|^2 = \lim_{T\to\infty}\min_{t<T}`
in exact arithmetic: the values :math:`a_t` for :math:`t < T_0`, and for :math:`t \ge T_0`

.. math::

    |a_t - a^*| = |w^\top\Phi_0^{t - T_0}(x_{T_0} - x^*)|
    \le \|w\|_1\max_{r<k}\|\Phi_0^r(x_{T_0} - x^*)\|_\infty,

with :math:`k` such that :math:`\|\Phi_0^k\|_\infty \le 1/2` on deviations (the affine coordinate of
:math:`x_t - x^*` is 0; an exact rational matrix power), since
:math:`\|\Phi_0^{jk + r}v\|_\infty \le 2^{-j}\|\Phi_0^rv\|_\infty`. Hence
:math:`\min(\min_{t<T_0}a_t,\ a^* - \text{tail}) \le \inf_t a_t \le \min(\min_{t<T_0}a_t,\ a^*)`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from . import rational as rq
from .exact import MomentEngine

logger = logging.getLogger(__name__)

__all__ = ["Infimum", "stationary_point", "infimum", "deviation_radius", "K_MAX", "T0_MAX", "RHO_MAX"]

K_MAX = 200
"""Largest power :math:`k` tried for :math:`\\|\\Phi_0^k\\|_\\infty \\le 1/2`."""

T0_MAX = 1000
"""Largest number of exact steps before the tail bound is applied."""


@dataclass(frozen=True)
class Infimum:
    r"""Bounds on :math:`\inf_t\mathbb E\|\nabla f(\theta_t)\|^2` of one constant-step run (exact rationals).

    ``lower <= inf <= upper``; ``attained`` when both bounds agree (the infimum is known exactly);
    ``a_star`` the stationary value; ``t0`` the number of exact steps; ``k`` the contraction power.
    """

    lower: Fraction
    upper: Fraction
    a_star: Fraction
    attained: bool
    t0: int
    k: int


RHO_MAX = 0.995
"""Largest spectral radius of :math:`\\Phi_0` for which a certificate is attempted (slower contraction: no certificate)."""


def _int_matrix(M: Any) -> tuple[list[list[int]], int]:
    """``(integer matrix, denominator)`` of an exact matrix."""
    D = rq.lcm_denominator(M)
    return [[int(rq.F(e) * D) for e in row] for row in np.asarray(M, dtype=object).tolist()], D


def _matpow_exact(M: list[list[Fraction]], k: int) -> list[list[Fraction]]:
    n = len(M)
    out = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    base = M
    while k:
        if k & 1:
            out = _matmul(out, base)
        base = _matmul(base, base)
        k >>= 1
    return out


def _matmul(A: list[list[Fraction]], B: list[list[Fraction]]) -> list[list[Fraction]]:
    cols = list(zip(*B))
    return [[sum((a * b for a, b in zip(row, col)), Fraction(0)) for col in cols] for row in A]


def _matvec(M: list[list[Fraction]], x: list[Fraction]) -> list[Fraction]:
    return [sum((a * b for a, b in zip(row, x)), Fraction(0)) for row in M]


def _inf_norm(M: list[list[Fraction]]) -> Fraction:
    return max(sum((abs(e) for e in row), Fraction(0)) for row in M)


def stationary_point(engine: MomentEngine) -> np.ndarray | None:
    r"""The fixed point :math:`x^* = \Phi_0x^*` with the affine coordinate equal to 1 (exact), or ``None`` if none."""
    if not engine.exact:
        raise ValueError("stationary_point needs an exact MomentEngine")
    Phi = rq.as_exact(engine.phi(0))
    s = Phi.shape[0]
    one = engine._sym.index((engine.d, engine.d))
    M = np.array([[Fraction(int(i == j)) - Phi[i, j] for j in range(s)] for i in range(s)], dtype=object)
    rows = [list(M[i]) for i in range(s)] + [[Fraction(int(j == one)) for j in range(s)]]
    rhs = [Fraction(0)] * s + [Fraction(1)]
    return rq.solve(np.array(rows, dtype=object), np.array(rhs, dtype=object))


def _deviation_block(engine: MomentEngine) -> tuple[list[list[Fraction]], int]:
    r""":math:`\Phi_0` on deviations :math:`x - x^*` (the affine coordinate removed: it stays 0), and that coordinate's index."""
    Phi0 = rq.as_exact(engine.phi(0))
    one = engine._sym.index((engine.d, engine.d))
    keep = [i for i in range(Phi0.shape[0]) if i != one]
    return [[Phi0[i, j] for j in keep] for i in keep], one


def deviation_radius(engine: MomentEngine) -> float:
    r"""Spectral radius of :math:`\Phi_0` on deviations from the stationary point (< 1: the second moments converge)."""
    block, _ = _deviation_block(engine)
    F = np.array([[float(e) for e in row] for row in block])
    return float(np.max(np.abs(np.linalg.eigvals(F)))) if F.size else 0.0


def _contraction_power(Phi0: list[list[Fraction]]) -> int | None:
    """Smallest k (from a float64 search, certified exactly) with ||Phi0^k||_inf <= 1/2, or ``None``."""
    F = np.array([[float(e) for e in row] for row in Phi0])
    rho = float(np.max(np.abs(np.linalg.eigvals(F))))
    if not rho < RHO_MAX:
        return None
    P = np.eye(F.shape[0])
    for k in range(1, K_MAX + 1):
        P = P @ F
        if np.max(np.sum(np.abs(P), axis=1)) <= 0.45:
            return k if _inf_norm(_matpow_exact(Phi0, k)) <= Fraction(1, 2) else None
    return None


def infimum(engine: MomentEngine, switch_off: int, *, t0_max: int = T0_MAX) -> Infimum | None:
    r"""Certified bounds on :math:`\inf_t\mathbb E\|\nabla f(\theta_t)\|^2` (module docstring), or ``None``.

    ``switch_off`` is the first :math:`t` from which the errors are zero (:math:`\sigma_t = 0`).
    ``None`` when :math:`\Phi_0` does not contract fast enough (spectral radius above :data:`RHO_MAX`,
    or no :math:`k \le` :data:`K_MAX`) or no decisive bound is reached within ``t0_max`` exact steps.
    """
    if not engine.exact:
        raise ValueError("infimum needs an exact MomentEngine")
    Phi0, one = _deviation_block(engine)
    if not Phi0:
        return None
    k = _contraction_power(Phi0)
    if k is None:
        return None
    xs = stationary_point(engine)
    if xs is None:
        return None
    xs_l = list(xs)
    w = list(rq.as_exact(engine.w_grad))
    a_star = sum((a * b for a, b in zip(w, xs_l)), Fraction(0))
    w1 = sum((abs(e) for i, e in enumerate(w) if i != one), Fraction(0))
    wd = rq.lcm_denominator(w)
    wi = [int(e * wd) for e in w]
    x0 = list(rq.as_exact(engine.x0))
    D = rq.lcm_denominator(x0)
    y = [int(e * D) for e in x0]
    mats: dict[Fraction, tuple[list[list[int]], int]] = {}
    t, best = 0, None
    T0 = max(int(switch_off), 0) + 2 * k
    while True:
        while t < T0:
            a_t = Fraction(sum(a * b for a, b in zip(wi, y)), wd * D)
            best = a_t if best is None or a_t < best else best
            sg = engine.bias.schedule.value(t, exact=True) if t < switch_off else Fraction(0)
            if sg not in mats:
                mats[sg] = _int_matrix(rq.as_exact(engine.phi(sg)))
            Mi, Dp = mats[sg]
            y = [sum(a * b for a, b in zip(row, y)) for row in Mi]
            D *= Dp
            if t % 16 == 15:
                g = D
                for e in y:
                    g = math.gcd(g, e)
                    if g == 1:
                        break
                if g > 1:
                    y, D = [e // g for e in y], D // g
            t += 1
        x = [Fraction(e, D) for e in y]
        v = [a - b for i, (a, b) in enumerate(zip(x, xs_l)) if i != one]
        M = Fraction(0)
        for _ in range(k):
            M = max(M, max(abs(e) for e in v))
            v = _matvec(Phi0, v)
        tail = w1 * M
        lower = max(Fraction(0), min(best, a_star - tail))  # every a_t >= 0
        upper = min(best, a_star)
        if lower == upper or lower > 0 or T0 >= t0_max:
            if lower == 0 < upper:
                return None  # cannot tell whether the infimum is 0
            return Infimum(lower, upper, a_star, lower == upper, T0, k)
        T0 = min(2 * T0, t0_max)


def float_infimum(engine: MomentEngine, horizon: int) -> tuple[float, Any]:
    """``(min_{t<horizon} a_t, summary)`` in float64 (evidence when no exact certificate applies)."""
    summ = engine.run(horizon)
    return float(summ.min_grad_sq), summ
