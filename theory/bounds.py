r"""Right-hand sides of Theorem 1, Corollary 1 and of the source theorems they rest on.

Every function evaluates in float mode (numpy broadcasting), exact mode (``Fraction`` in, exact
out; irrational square roots become sympy algebraic numbers) or symbolic mode (sympy symbols in,
sympy expression out: the ``*_expr`` functions call the same code on :data:`theory.SYMBOLS`).
Arguments outside the hypotheses of the statement raise :class:`ValueError`; float overflow of
:math:`(1 + L A \alpha^2)^T` returns ``inf``.

Summary (paper = Bilevel Learning with Inexact Stochastic Gradients):

* Theorem 1 as printed, with the constants of its proof:

  .. math::

      \min_{0\le t\le T-1}\mathbb E\|\nabla f(\theta_t)\|^2 \le \frac{c_2 + c_3 L\alpha^2}{\alpha T}\delta_0
      + (c_4 + c_5\mathbb E[\epsilon_T^2]) L\alpha + c_6\mathbb E[\epsilon_T^2],
      \qquad 0 < \alpha \le c_1/L.

* The source route (Demidovich et al. [5, Theorem 3] with Proposition 1's constants):

  .. math::

      \frac{2(1 + L\tilde A\alpha^2)^T}{b\,\alpha T}\delta_0 + \frac{L\tilde C\alpha}{b} + \frac{c}{b}.

  The two agree term by term except the first: the printed theorem has :math:`1 + L\tilde A\alpha^2`
  where the source has :math:`(1 + L\tilde A\alpha^2)^T` (the claim ``paper.theorem1`` of
  :mod:`validation.engine.claims` checks both readings).

* Corollary 1: :math:`T(\epsilon^2)`, :math:`\alpha` and the bound :math:`3\zeta\epsilon^2/(2b(\zeta))`.
* Khaled & Richtarik (2020), nonconvex theorem and corollary; Demidovich et al. (2023), Theorem 3;
  Ehrhardt & Roberts (2023), a-posteriori hypergradient error bound (constant-Hessian case).

References
----------
[5] Demidovich, Malinovsky, Sokolov, Richtarik, A Guide Through the Zoo of Biased SGD, 2023.
[18] Khaled, Richtarik, Better Theory for SGD in the Nonconvex World, 2020.
[9] Ehrhardt, Roberts, Analyzing inexact hypergradients for bilevel learning, 2023.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from . import _arith
from .constants import (
    SYMBOLS,
    Condition,
    _a_tilde,
    _b,
    _b_tilde,
    _c,
    _c_tilde,
    _c1,
    _c2,
    _c3,
    _c4,
    _c5,
    _c6,
    check_domain,
)

logger = logging.getLogger(__name__)

__all__ = [
    "theorem1_step_bound",
    "theorem1_rhs",
    "theorem1_rhs_source",
    "corollary1_iterations",
    "corollary1_step",
    "corollary1_bound",
    "khaled_richtarik_step_bound",
    "khaled_richtarik_rhs",
    "khaled_richtarik_corollary_iterations",
    "khaled_richtarik_corollary_step",
    "demidovich_step_bound",
    "demidovich_theorem3_rhs",
    "ehrhardt_roberts_bound",
    "theorem1_rhs_expr",
    "theorem1_rhs_source_expr",
    "corollary1_iterations_expr",
    "corollary1_step_expr",
    "corollary1_bound_expr",
    "khaled_richtarik_rhs_expr",
    "demidovich_theorem3_rhs_expr",
]

_Z = Fraction(0)
_POS = {n: Condition(n, ">", _Z) for n in ("eta", "L", "alpha", "gamma", "b", "mu", "eps2")}
_NONNEG = {
    n: Condition(n, ">=", _Z)
    for n in ("A", "B", "C", "c", "delta0", "eps2", "B_norm", "residual", "grad_g_norm", "L_B", "L_g", "G")
}
_ZETA_HALF = Condition("zeta", ">", Fraction(1, 2))
_T_INT = Condition("T", ">=", Fraction(1), integer=True)
_K_INT = Condition("K", ">=", Fraction(1), integer=True)


def _step_ok(alpha: Any, bound: Any) -> bool:
    """True when ``alpha <= bound`` everywhere (undecided exact comparisons count as violations)."""
    if _arith.is_symbolic(alpha) or _arith.is_symbolic(bound):
        return True
    verdict = _arith.decide(alpha, bound, "<=")
    return bool(np.all(np.asarray(verdict, dtype=object) == True))  # noqa: E712 (three-valued)


def _finish(mode: str, value: Any) -> Any:
    if mode == "float":
        return _arith.unwrap(np.asarray(value, dtype=float)[()])
    return _arith.unwrap(value)


# --------------------------------------------------------------------------------------------
# Theorem 1 (paper) and its source route


def theorem1_step_bound(*, zeta: Any, eta: Any, B: Any, L: Any) -> Any:
    r"""Largest step of Theorem 1: :math:`c_1/L_{\nabla f} = \frac{b(\zeta)}{L\tilde B(\eta)}`.

    Equals :math:`+\infty` when :math:`B = 0`. Identical to Demidovich et al.'s
    :math:`b/(L\tilde B)` with Proposition 1's constants.
    """
    check_domain("Theorem 1", {"zeta": zeta, "eta": eta, "B": B, "L": L}, (_ZETA_HALF, _POS["eta"], _NONNEG["B"], _POS["L"]))
    mode, (zeta, eta, B, L) = _arith.coerce(zeta, eta, B, L)
    if mode == "float":
        # the same float expression as the second entry of corollary1_step, so that the prescribed
        # step always passes this check
        with np.errstate(divide="ignore"):
            return _finish(mode, _b(zeta) / (L * _b_tilde(eta, B)))
    return _finish(mode, _c1(zeta, eta, B) / L)


def _theorem1_checks(values: dict[str, Any]) -> None:
    check_domain(
        "Theorem 1",
        values,
        (
            _ZETA_HALF,
            _POS["eta"],
            _NONNEG["A"],
            _NONNEG["B"],
            _NONNEG["C"],
            _POS["L"],
            _NONNEG["delta0"],
            _NONNEG["eps2"],
            _POS["alpha"],
            _T_INT,
        ),
    )


def theorem1_rhs(
    *,
    A: Any,
    B: Any,
    C: Any,
    L: Any,
    delta0: Any,
    eps2: Any,
    zeta: Any,
    eta: Any,
    alpha: Any,
    T: Any,
    enforce_step: bool = True,
) -> Any:
    r"""Right side of Theorem 1 *as printed*, with :math:`c_1..c_6` of its proof.

    .. math::

        \frac{c_2 + c_3 L\alpha^2}{\alpha T}\delta_0 + (c_4 + c_5\,\mathbb E[\epsilon_T^2]) L\alpha
        + c_6\,\mathbb E[\epsilon_T^2]

    Hypotheses: :math:`\zeta > 1/2`, :math:`\eta > 0`, :math:`A, B, C, \delta_0, \epsilon^2 \ge 0`,
    :math:`L > 0`, :math:`T \ge 1` integer, and :math:`0 < \alpha \le c_1/L` (checked unless
    ``enforce_step=False``). ``eps2`` is :math:`\mathbb E[\epsilon_T^2]` as printed.

    This is *not* what the source theorem gives (see :func:`theorem1_rhs_source`); Theorem 1 as
    printed is false in general (``isgd verify`` finds exact witnesses).
    """
    _theorem1_checks(dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta, alpha=alpha, T=T))
    mode, (A, B, C, L, delta0, eps2, zeta, eta, alpha, T) = _arith.coerce(
        A, B, C, L, delta0, eps2, zeta, eta, alpha, T
    )
    if enforce_step and not _step_ok(alpha, theorem1_step_bound(zeta=zeta, eta=eta, B=B, L=L)):
        raise ValueError(
            "Theorem 1: the step size must satisfy 0 < alpha <= c1/L = b(zeta)/(L B~(eta)); "
            "reduce alpha or pass enforce_step=False to evaluate the formula anyway."
        )
    value = (
        (_c2(zeta) + _c3(zeta, eta, A) * L * alpha**2) / (alpha * T) * delta0
        + (_c4(zeta, eta, C) + _c5(zeta, eta) * eps2) * L * alpha
        + _c6(zeta) * eps2
    )
    return _finish(mode, value)


def theorem1_rhs_source(
    *,
    A: Any,
    B: Any,
    C: Any,
    L: Any,
    delta0: Any,
    eps2: Any,
    zeta: Any,
    eta: Any,
    alpha: Any,
    T: Any,
    enforce_step: bool = True,
) -> Any:
    r"""What [5, Theorem 3] gives with Proposition 1's constants (the route the proof of Theorem 1 cites).

    .. math::

        \frac{2(1 + L\tilde A(\eta)\alpha^2)^T}{b(\zeta)\,\alpha T}\delta_0
        + \frac{L\tilde C(\eta, \epsilon^2)\alpha}{b(\zeta)} + \frac{c(\zeta, \epsilon^2)}{b(\zeta)},
        \qquad 0 < \alpha \le \frac{b(\zeta)}{L\tilde B(\eta)}.

    [5, Assumption 9] needs constant :math:`b, c, \tilde A, \tilde B, \tilde C`, so ``eps2`` must bound
    :math:`\mathbb E[\epsilon_t^2]` for every iterate :math:`t < T` used by the run.
    """
    _theorem1_checks(dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta, alpha=alpha, T=T))
    mode, (A, B, C, L, delta0, eps2, zeta, eta, alpha, T) = _arith.coerce(
        A, B, C, L, delta0, eps2, zeta, eta, alpha, T
    )
    bb = _b(zeta)
    return demidovich_theorem3_rhs(
        b=bb,
        c=_c(zeta, eps2),
        A=_a_tilde(eta, A),
        B=_b_tilde(eta, B),
        C=_c_tilde(eta, C, eps2),
        L=L,
        delta0=delta0,
        gamma=alpha,
        T=T,
        enforce_step=enforce_step,
    )


# --------------------------------------------------------------------------------------------
# Corollary 1


def _corollary_checks(values: dict[str, Any]) -> None:
    check_domain(
        "Corollary 1",
        values,
        (
            _ZETA_HALF,
            _POS["eta"],
            _NONNEG["A"],
            _NONNEG["B"],
            _NONNEG["C"],
            _POS["L"],
            _NONNEG["delta0"],
            _POS["eps2"],
            _T_INT,
        ),
    )


def corollary1_iterations(*, A: Any, B: Any, C: Any, L: Any, delta0: Any, eps2: Any, zeta: Any, eta: Any) -> Any:
    r"""Corollary 1's :math:`T(\mathbb E[\epsilon_T^2])` (a real threshold; the statement holds for :math:`T \ge` it).

    .. math::

        T(\epsilon^2) = \frac{12\delta_0 L}{\zeta\epsilon^2}\max\Big\{\frac{\tilde B(\eta)}{b(\zeta)},
        \frac{12\delta_0\tilde A(\eta)}{\zeta\epsilon^2}, \frac{2(1+\eta)(C + \eta\epsilon^2)}{\eta\zeta\epsilon^2}\Big\}

    Hypotheses: :math:`\zeta > 1/2`, :math:`\eta > 0`, :math:`\epsilon^2 > 0`, the rest nonnegative, :math:`L > 0`.
    """
    _corollary_checks(dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta))
    mode, (A, B, C, L, delta0, eps2, zeta, eta) = _arith.coerce(A, B, C, L, delta0, eps2, zeta, eta)
    value = 12 * delta0 * L / (zeta * eps2) * _arith.maximum(
        _b_tilde(eta, B) / _b(zeta),
        12 * delta0 * _a_tilde(eta, A) / (zeta * eps2),
        2 * (1 + eta) * (C + eta * eps2) / (eta * zeta * eps2),
    )
    return _finish(mode, value)


def corollary1_step(*, A: Any, B: Any, C: Any, L: Any, eps2: Any, zeta: Any, eta: Any, T: Any) -> Any:
    r"""Corollary 1's step size.

    .. math::

        \alpha = \min\Big\{\frac{1}{\sqrt{L\tilde A(\eta) T}}, \frac{b(\zeta)}{L\tilde B(\eta)},
        \frac{\eta\zeta\epsilon^2}{2L(1+\eta)(C + \eta\epsilon^2)}\Big\}

    (an entry with a zero denominator is :math:`+\infty`; at least the third is finite).
    """
    _corollary_checks(dict(A=A, B=B, C=C, L=L, eps2=eps2, zeta=zeta, eta=eta, T=T))
    mode, (A, B, C, L, eps2, zeta, eta, T) = _arith.coerce(A, B, C, L, eps2, zeta, eta, T)
    third = eta * zeta * eps2 / (2 * L * (1 + eta) * (C + eta * eps2))
    if mode == "float":
        with np.errstate(divide="ignore"):
            first = 1 / np.sqrt(L * _a_tilde(eta, A) * T)
            second = _b(zeta) / (L * _b_tilde(eta, B))
    elif mode == "exact":
        first = _inv_or_inf(_arith.sqrt(L * _a_tilde(eta, A) * T))
        second = _ratio_or_inf(_b(zeta), L * _b_tilde(eta, B))
    else:
        first = 1 / sp.sqrt(L * _a_tilde(eta, A) * T)
        second = _b(zeta) / (L * _b_tilde(eta, B))
    return _finish(mode, _arith.minimum(first, second, third))


def corollary1_bound(*, eps2: Any, zeta: Any) -> Any:
    r"""Corollary 1's final bound :math:`\frac{3\zeta\,\mathbb E[\epsilon_T^2]}{2 b(\zeta)}` (:math:`\zeta > 1/2`)."""
    check_domain("Corollary 1", {"eps2": eps2, "zeta": zeta}, (_NONNEG["eps2"], _ZETA_HALF))
    mode, (eps2, zeta) = _arith.coerce(eps2, zeta)
    return _finish(mode, 3 * zeta * eps2 / (2 * _b(zeta)))


def _growth_term(mode: str, base: Any, exponent: Any, factor: Any, delta0: Any) -> Any:
    """``factor * base**exponent * delta0``; in float mode an overflowing power gives ``inf`` and
    ``delta0 = 0`` gives ``0`` (never ``inf * 0``)."""
    if mode != "float":
        return factor * _arith.power(base, exponent) * delta0
    with np.errstate(over="ignore", invalid="ignore"):
        grown = factor * _arith.power(base, exponent)
        return np.where(np.asarray(delta0) == 0, 0.0, grown * delta0)


def _inv_or_inf(x: Any) -> Any:
    return _ratio_or_inf(1, x)


def _ratio_or_inf(num: Any, den: Any) -> Any:
    if isinstance(den, np.ndarray) or isinstance(num, np.ndarray):
        nn, dd = np.broadcast_arrays(np.asarray(num, dtype=object), np.asarray(den, dtype=object))
        return np.vectorize(_ratio_or_inf, otypes=[object])(nn, dd)
    return sp.oo if den == 0 else num / den


# --------------------------------------------------------------------------------------------
# Khaled & Richtarik (2020)


def khaled_richtarik_step_bound(*, B: Any, L: Any) -> Any:
    r"""Largest step of [18]'s nonconvex theorem: :math:`1/(LB)` (:math:`+\infty` when :math:`B = 0`)."""
    check_domain("Khaled-Richtarik theorem", {"B": B, "L": L}, (_NONNEG["B"], _POS["L"]))
    mode, (B, L) = _arith.coerce(B, L)
    if mode == "float":
        with np.errstate(divide="ignore"):
            return _finish(mode, 1 / (L * B))
    if mode == "exact":
        return _finish(mode, _ratio_or_inf(1, L * B))
    return 1 / (L * B)


def khaled_richtarik_rhs(
    *, A: Any, B: Any, C: Any, L: Any, delta0: Any, gamma: Any, K: Any, enforce_step: bool = True
) -> Any:
    r"""Right side of [18]'s nonconvex SGD theorem.

    .. math::

        \min_{0\le t<K}\mathbb E\|\nabla f(x_t)\|^2 \le \frac{2(1 + LA\gamma^2)^K}{\gamma K}\delta_0 + LC\gamma,
        \qquad 0 < \gamma \le \frac{1}{LB}.
    """
    check_domain(
        "Khaled-Richtarik theorem",
        dict(A=A, B=B, C=C, L=L, delta0=delta0, gamma=gamma, K=K),
        (_NONNEG["A"], _NONNEG["B"], _NONNEG["C"], _POS["L"], _NONNEG["delta0"], _POS["gamma"], _K_INT),
    )
    mode, (A, B, C, L, delta0, gamma, K) = _arith.coerce(A, B, C, L, delta0, gamma, K)
    if enforce_step and not _step_ok(gamma, khaled_richtarik_step_bound(B=B, L=L)):
        raise ValueError(
            "Khaled-Richtarik theorem: the step must satisfy 0 < gamma <= 1/(L B); "
            "reduce gamma or pass enforce_step=False."
        )
    value = _growth_term(mode, 1 + L * A * gamma**2, K, 2 / (gamma * K), delta0) + L * C * gamma
    return _finish(mode, value)


def khaled_richtarik_corollary_iterations(*, A: Any, B: Any, C: Any, L: Any, delta0: Any, eps2: Any) -> Any:
    r"""[18]'s corollary: :math:`K \ge \frac{12\delta_0 L}{\epsilon^2}\max\{B, \frac{12\delta_0 A}{\epsilon^2}, \frac{2C}{\epsilon^2}\}`."""
    check_domain(
        "Khaled-Richtarik corollary",
        dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2),
        (_NONNEG["A"], _NONNEG["B"], _NONNEG["C"], _POS["L"], _NONNEG["delta0"], _POS["eps2"]),
    )
    mode, (A, B, C, L, delta0, eps2) = _arith.coerce(A, B, C, L, delta0, eps2)
    value = 12 * delta0 * L / eps2 * _arith.maximum(B, 12 * delta0 * A / eps2, 2 * C / eps2)
    return _finish(mode, value)


def khaled_richtarik_corollary_step(*, A: Any, B: Any, C: Any, L: Any, eps2: Any, K: Any) -> Any:
    r"""[18]'s corollary: :math:`\gamma = \min\{1/\sqrt{LAK}, 1/(LB), \epsilon^2/(2LC)\}` (zero denominators give :math:`+\infty`)."""
    check_domain(
        "Khaled-Richtarik corollary",
        dict(A=A, B=B, C=C, L=L, eps2=eps2, K=K),
        (_NONNEG["A"], _NONNEG["B"], _NONNEG["C"], _POS["L"], _POS["eps2"], _K_INT),
    )
    mode, (A, B, C, L, eps2, K) = _arith.coerce(A, B, C, L, eps2, K)
    if mode == "float":
        with np.errstate(divide="ignore"):
            value = np.minimum(np.minimum(1 / np.sqrt(L * A * K), 1 / (L * B)), eps2 / (2 * L * C))
        return _finish(mode, value)
    if mode == "exact":
        value = _arith.minimum(
            _inv_or_inf(_arith.sqrt(L * A * K)), _ratio_or_inf(1, L * B), _ratio_or_inf(eps2, 2 * L * C)
        )
        return _finish(mode, value)
    return sp.Min(1 / sp.sqrt(L * A * K), 1 / (L * B), eps2 / (2 * L * C))


# --------------------------------------------------------------------------------------------
# Demidovich et al. (2023)


def demidovich_step_bound(*, b: Any, B: Any, L: Any) -> Any:
    r"""Largest step of [5, Theorem 3]: :math:`b/(LB)` (:math:`+\infty` when :math:`B = 0`)."""
    check_domain("Demidovich et al. Theorem 3", {"b": b, "B": B, "L": L}, (_POS["b"], _NONNEG["B"], _POS["L"]))
    mode, (b_, B, L) = _arith.coerce(b, B, L)
    if mode == "float":
        with np.errstate(divide="ignore"):
            return _finish(mode, b_ / (L * B))
    if mode == "exact":
        return _finish(mode, _ratio_or_inf(b_, L * B))
    return b_ / (L * B)


def demidovich_theorem3_rhs(
    *,
    b: Any,
    c: Any,
    A: Any,
    B: Any,
    C: Any,
    L: Any,
    delta0: Any,
    gamma: Any,
    T: Any,
    enforce_step: bool = True,
) -> Any:
    r"""Right side of [5, Theorem 3] (as the paper cites it) under [5, Assumption 9].

    .. math::

        \min_{0\le t<T}\mathbb E\|\nabla f(x_t)\|^2 \le \frac{2(1 + LA\gamma^2)^T}{b\gamma T}\delta_0
        + \frac{LC\gamma}{b} + \frac{c}{b}, \qquad 0 < \gamma \le \frac{b}{LB}.

    Hypotheses: :math:`b > 0`; :math:`c, A, B, C, \delta_0 \ge 0`; :math:`L > 0`; :math:`T \ge 1` integer.
    """
    check_domain(
        "Demidovich et al. Theorem 3",
        dict(b=b, c=c, A=A, B=B, C=C, L=L, delta0=delta0, gamma=gamma, T=T),
        (
            _POS["b"],
            _NONNEG["c"],
            _NONNEG["A"],
            _NONNEG["B"],
            _NONNEG["C"],
            _POS["L"],
            _NONNEG["delta0"],
            _POS["gamma"],
            _T_INT,
        ),
    )
    mode, (b_, c_, A, B, C, L, delta0, gamma, T) = _arith.coerce(b, c, A, B, C, L, delta0, gamma, T)
    if enforce_step and not _step_ok(gamma, demidovich_step_bound(b=b_, B=B, L=L)):
        raise ValueError(
            "Demidovich et al. Theorem 3: the step must satisfy 0 < gamma <= b/(L B); "
            "reduce gamma or pass enforce_step=False."
        )
    value = _growth_term(mode, 1 + L * A * gamma**2, T, 2 / (b_ * gamma * T), delta0) + L * C * gamma / b_ + c_ / b_
    return _finish(mode, value)


# --------------------------------------------------------------------------------------------
# Ehrhardt & Roberts (2023)


def ehrhardt_roberts_bound(
    *, B_norm: Any, residual: Any, mu: Any, grad_g_norm: Any, L_B: Any, L_g: Any, G: Any
) -> Any:
    r"""A-posteriori hypergradient error bound of [9] (constant lower-level Hessian, :math:`L_H = 0`).

    .. math::

        \|z - \nabla F\| \le \frac{\|B(x_\epsilon)\| R}{\mu} + \frac{\|\nabla g(x_\epsilon)\| L_B G}{\mu^2}
        + \frac{\|B(x_\epsilon)\| L_g G}{\mu^2} + \frac{L_B L_g G^2}{\mu^3}

    with :math:`G = \|\nabla_x h(x_\epsilon)\|`, :math:`R = \|H q - \nabla g(x_\epsilon)\|`, :math:`\mu`
    the strong convexity modulus of :math:`h(\cdot, \theta)`.
    """
    check_domain(
        "Ehrhardt-Roberts bound",
        dict(B_norm=B_norm, residual=residual, mu=mu, grad_g_norm=grad_g_norm, L_B=L_B, L_g=L_g, G=G),
        (
            _NONNEG["B_norm"],
            _NONNEG["residual"],
            _POS["mu"],
            _NONNEG["grad_g_norm"],
            _NONNEG["L_B"],
            _NONNEG["L_g"],
            _NONNEG["G"],
        ),
    )
    mode, (Bn, R, mu, gg, LB, Lg, G) = _arith.coerce(B_norm, residual, mu, grad_g_norm, L_B, L_g, G)
    value = Bn * R / mu + gg * LB * G / mu**2 + Bn * Lg * G / mu**2 + LB * Lg * G**2 / mu**3
    return _finish(mode, value)


# --------------------------------------------------------------------------------------------
# sympy forms (the same code on symbols)


def _syms() -> dict[str, Any]:
    s = SYMBOLS
    return dict(A=s.A, B=s.B, C=s.C, L=s.L, delta0=s.delta0, eps2=s.eps2, zeta=s.zeta, eta=s.eta)


def theorem1_rhs_expr() -> sp.Expr:
    """Sympy form of :func:`theorem1_rhs` (Theorem 1 as printed)."""
    return sp.sympify(theorem1_rhs(**_syms(), alpha=SYMBOLS.alpha, T=SYMBOLS.T, enforce_step=False))


def theorem1_rhs_source_expr() -> sp.Expr:
    """Sympy form of :func:`theorem1_rhs_source` ([5, Theorem 3] with Proposition 1's constants)."""
    return sp.sympify(theorem1_rhs_source(**_syms(), alpha=SYMBOLS.alpha, T=SYMBOLS.T, enforce_step=False))


def corollary1_iterations_expr() -> sp.Expr:
    """Sympy form of :func:`corollary1_iterations`."""
    return sp.sympify(corollary1_iterations(**_syms()))


def corollary1_step_expr() -> sp.Expr:
    """Sympy form of :func:`corollary1_step`."""
    kw = _syms()
    kw.pop("delta0")
    return sp.sympify(corollary1_step(**kw, T=SYMBOLS.T))


def corollary1_bound_expr() -> sp.Expr:
    """Sympy form of :func:`corollary1_bound`."""
    return sp.sympify(corollary1_bound(eps2=SYMBOLS.eps2, zeta=SYMBOLS.zeta))


def khaled_richtarik_rhs_expr() -> sp.Expr:
    """Sympy form of :func:`khaled_richtarik_rhs` (step ``alpha``, horizon ``T``)."""
    s = SYMBOLS
    return sp.sympify(
        khaled_richtarik_rhs(A=s.A, B=s.B, C=s.C, L=s.L, delta0=s.delta0, gamma=s.alpha, K=s.T, enforce_step=False)
    )


def demidovich_theorem3_rhs_expr() -> sp.Expr:
    """Sympy form of :func:`demidovich_theorem3_rhs` (step ``alpha``, horizon ``T``)."""
    s = SYMBOLS
    return sp.sympify(
        demidovich_theorem3_rhs(
            b=s.b, c=s.c, A=s.A, B=s.B, C=s.C, L=s.L, delta0=s.delta0, gamma=s.alpha, T=s.T, enforce_step=False
        )
    )
