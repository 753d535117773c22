"""Right sides of Theorem 1, Corollary 1 and the source theorems."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import theory as th
from theory.constants import SYMBOLS

S = SYMBOLS
POS = st.floats(min_value=1e-3, max_value=1e2)
NONNEG = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e2))
ZETA = st.floats(min_value=0.5 + 1e-3, max_value=20.0)


def _explicit_theorem1(A, B, C, L, delta0, eps2, zeta, eta, alpha, T):
    b = 1 - 1 / (2 * zeta)
    At = (1 + eta) / eta * A
    c2, c3 = 2 / b, 2 * At / b
    c4, c5, c6 = (1 + eta) * C / (eta * b), (1 + eta) / b, zeta / (2 * b)
    return (c2 + c3 * L * alpha**2) / (alpha * T) * delta0 + (c4 + c5 * eps2) * L * alpha + c6 * eps2


def test_theorem1_rhs_exact_value() -> None:
    kw = dict(A=Fraction(2), B=Fraction(1, 6), C=Fraction(0), L=Fraction(1), delta0=Fraction(1, 2), eps2=Fraction(0), zeta=Fraction(1), eta=Fraction(1), alpha=Fraction(3, 2))
    assert th.theorem1_rhs(**kw, T=14) == Fraction(20, 21)
    assert th.theorem1_rhs_source(**kw, T=14) == Fraction(2 * 10**14, 21)
    assert th.theorem1_rhs(**kw, T=1) == th.theorem1_rhs_source(**kw, T=1)


@settings(max_examples=80, deadline=None)
@given(NONNEG, NONNEG, NONNEG, POS, NONNEG, NONNEG, ZETA, POS, st.floats(0.01, 1.0), st.integers(1, 50))
def test_theorem1_printed_and_source(A, B, C, L, delta0, eps2, zeta, eta, frac, T) -> None:
    """Printed formula as written; source = printed for T = 1 and >= printed for T >= 2."""
    bound = th.theorem1_step_bound(zeta=zeta, eta=eta, B=B, L=L)
    alpha = frac * min(bound, 10.0)
    kw = dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta, alpha=alpha)
    printed = th.theorem1_rhs(**kw, T=T)
    assert printed == pytest.approx(_explicit_theorem1(**kw, T=T), rel=1e-12)
    src1 = th.theorem1_rhs_source(**kw, T=1)
    assert src1 == pytest.approx(th.theorem1_rhs(**kw, T=1), rel=1e-12)
    if T >= 2:
        assert th.theorem1_rhs_source(**kw, T=T) >= printed * (1 - 1e-12)


def test_step_condition_is_enforced() -> None:
    kw = dict(A=1.0, B=1.0, C=1.0, L=1.0, delta0=1.0, eps2=0.1, zeta=1.0, eta=1.0, T=10)
    limit = th.theorem1_step_bound(zeta=1.0, eta=1.0, B=1.0, L=1.0)
    assert limit == pytest.approx(0.25)
    th.theorem1_rhs(**kw, alpha=limit)
    with pytest.raises(ValueError, match="alpha <= c1/L"):
        th.theorem1_rhs(**kw, alpha=0.3)
    assert np.isfinite(th.theorem1_rhs(**kw, alpha=0.3, enforce_step=False))
    with pytest.raises(ValueError, match="gamma <= 1/\\(L B\\)"):
        th.khaled_richtarik_rhs(A=1.0, B=2.0, C=0.0, L=1.0, delta0=1.0, gamma=0.6, K=3)
    with pytest.raises(ValueError, match="b/\\(L B\\)"):
        th.demidovich_theorem3_rhs(b=0.5, c=0.0, A=1.0, B=1.0, C=0.0, L=1.0, delta0=1.0, gamma=0.6, T=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(zeta=0.5), "zeta must be > 1/2"),
        (dict(eta=0.0), "eta must be > 0"),
        (dict(T=0), "T must be an integer >= 1"),
        (dict(T=2.5), "T must be an integer"),
        (dict(A=-1.0), "A must be >= 0"),
        (dict(L=0.0), "L must be > 0"),
    ],
)
def test_theorem1_rejects_arguments_outside_hypotheses(kwargs, message) -> None:
    kw = dict(A=1.0, B=1.0, C=1.0, L=1.0, delta0=1.0, eps2=0.1, zeta=1.0, eta=1.0, alpha=0.1, T=10)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=message):
        th.theorem1_rhs(**kw)


def test_overflow_gives_inf_without_warnings() -> None:
    big = th.khaled_richtarik_rhs(A=1.0, B=1.0, C=0.0, L=1.0, delta0=1.0, gamma=1.0, K=10**6)
    assert np.isinf(big)
    zero = th.khaled_richtarik_rhs(A=1.0, B=1.0, C=0.0, L=1.0, delta0=0.0, gamma=1.0, K=10**6)
    assert zero == 0.0


def test_vectorized_bounds() -> None:
    alpha = np.array([0.01, 0.02, 0.05])
    out = th.theorem1_rhs(A=1.0, B=0.5, C=0.1, L=2.0, delta0=1.0, eps2=0.1, zeta=1.0, eta=1.0, alpha=alpha, T=100)
    assert out.shape == (3,)
    np.testing.assert_allclose(out, [_explicit_theorem1(1.0, 0.5, 0.1, 2.0, 1.0, 0.1, 1.0, 1.0, a, 100) for a in alpha], rtol=1e-13)


def test_expressions_match_numeric() -> None:
    vals = {S.A: 1.5, S.B: 0.5, S.C: 0.2, S.L: 2.0, S.delta0: 3.0, S.eps2: 0.1, S.zeta: 1.3, S.eta: 0.7, S.alpha: 0.05, S.T: 40}
    num = dict(A=1.5, B=0.5, C=0.2, L=2.0, delta0=3.0, eps2=0.1, zeta=1.3, eta=0.7)
    assert float(th.theorem1_rhs_expr().subs(vals)) == pytest.approx(th.theorem1_rhs(**num, alpha=0.05, T=40), rel=1e-12)
    assert float(th.theorem1_rhs_source_expr().subs(vals)) == pytest.approx(th.theorem1_rhs_source(**num, alpha=0.05, T=40), rel=1e-12)
    assert float(th.corollary1_iterations_expr().subs(vals)) == pytest.approx(th.corollary1_iterations(**num), rel=1e-12)
    step_num = {k: v for k, v in num.items() if k != "delta0"}
    assert float(th.corollary1_step_expr().subs(vals)) == pytest.approx(th.corollary1_step(**step_num, T=40), rel=1e-12)
    assert float(th.corollary1_bound_expr().subs(vals)) == pytest.approx(th.corollary1_bound(eps2=0.1, zeta=1.3), rel=1e-12)
    kr = th.khaled_richtarik_rhs_expr().subs(vals)
    assert float(kr) == pytest.approx(th.khaled_richtarik_rhs(A=1.5, B=0.5, C=0.2, L=2.0, delta0=3.0, gamma=0.05, K=40), rel=1e-12)
    dm = th.demidovich_theorem3_rhs_expr().subs({**vals, S.b: 0.6, S.c: 0.01})
    assert float(dm) == pytest.approx(
        th.demidovich_theorem3_rhs(b=0.6, c=0.01, A=1.5, B=0.5, C=0.2, L=2.0, delta0=3.0, gamma=0.05, T=40), rel=1e-12
    )


@settings(max_examples=80, deadline=None)
@given(NONNEG, NONNEG, NONNEG, POS, POS, POS, ZETA, POS)
def test_corollary1_choice_makes_both_bounds_small(A, B, C, L, delta0, eps2, zeta, eta) -> None:
    """With T >= T(eps^2) and alpha as printed, Theorem 1 (printed and source) <= 3 zeta eps^2/(2b)."""
    T_req = th.corollary1_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta)
    T = max(1, math.ceil(T_req))
    if T > 10**12:
        return
    alpha = th.corollary1_step(A=A, B=B, C=C, L=L, eps2=eps2, zeta=zeta, eta=eta, T=T)
    kw = dict(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta, alpha=alpha, T=T)
    target = th.corollary1_bound(eps2=eps2, zeta=zeta)
    assert th.theorem1_rhs(**kw) <= target * (1 + 1e-12)
    assert th.theorem1_rhs_source(**kw) <= target * (1 + 1e-12)


@settings(max_examples=80, deadline=None)
@given(NONNEG, NONNEG, NONNEG, POS, POS, POS)
def test_khaled_richtarik_corollary(A, B, C, L, delta0, eps2) -> None:
    K_req = th.khaled_richtarik_corollary_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2)
    K = max(1, math.ceil(K_req))
    if K > 10**12:
        return
    gamma = th.khaled_richtarik_corollary_step(A=A, B=B, C=C, L=L, eps2=eps2, K=K)
    if not np.isfinite(gamma):
        return  # A = B = C = 0: any step; the corollary's min is then infinite
    assert th.khaled_richtarik_rhs(A=A, B=B, C=C, L=L, delta0=delta0, gamma=gamma, K=K) <= eps2 * (1 + 1e-12)


def test_corollary1_exact_step_is_algebraic() -> None:
    alpha = th.corollary1_step(A=Fraction(2), B=Fraction(0), C=Fraction(0), L=Fraction(1), eps2=Fraction(1, 10), zeta=Fraction(1), eta=Fraction(1), T=8)
    assert alpha == 1 / sp.sqrt(32) or sp.simplify(alpha - 1 / sp.sqrt(32)) == 0


def test_ehrhardt_roberts_formula() -> None:
    got = th.ehrhardt_roberts_bound(B_norm=2.0, residual=0.1, mu=0.5, grad_g_norm=3.0, L_B=1.0, L_g=4.0, G=0.2)
    want = 2 * 0.1 / 0.5 + 3 * 1 * 0.2 / 0.25 + 2 * 4 * 0.2 / 0.25 + 1 * 4 * 0.04 / 0.125
    assert got == pytest.approx(want, rel=1e-14)
    with pytest.raises(ValueError, match="mu must be > 0"):
        th.ehrhardt_roberts_bound(B_norm=2.0, residual=0.1, mu=0.0, grad_g_norm=3.0, L_B=1.0, L_g=4.0, G=0.2)
