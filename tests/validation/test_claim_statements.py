"""Claim statements evaluated on independent computations: theory instances, brute-force runs, closed forms.

The statements are the claims' own sympy expressions (validation.engine.claims); the observables come
from theory.instances or from a hand-written moment recursion, never from the case families.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import theory as th
from validation.engine.claims import CLAIMS, get_claim
from validation.engine.statement import ALL, PRINTED, O, Verdict, evaluate

SMALL = st.fractions(min_value=-4, max_value=4, max_denominator=7)
POSITIVE = st.fractions(min_value=Fraction(1, 7), max_value=8, max_denominator=7)
NONNEG = st.fractions(min_value=0, max_value=8, max_denominator=7)


def verdict(cid: str, values: dict, reading: str = PRINTED, exact: bool = True) -> Verdict:
    return evaluate(get_claim(cid).reading(reading).statement, values, exact=exact)


def oracle_values(inst: th.OracleInstance, **extra: object) -> dict:
    vals = {O.grad_sq.name: inst.grad_sq, O.inner_bias.name: inst.inner_bias, O.inner_z.name: inst.inner_z,
            O.mean_error_norm.name: inst.mean_error_norm, O.eps2.name: inst.eps2, O.second_moment.name: inst.second_moment,
            O.second_moment_z.name: inst.second_moment_z}
    vals.update({k: v for k, v in extra.items()})
    return vals


@st.composite
def finite_oracles(draw: st.DrawFn) -> th.OracleInstance:
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 3))
    w = draw(st.lists(st.integers(0, 9), min_size=k, max_size=k).filter(lambda x: sum(x) > 0))
    probs = [Fraction(x, sum(w)) for x in w]
    grads = np.array([[draw(SMALL) for _ in range(d)] for _ in range(k)], dtype=object)
    errs = np.array([[draw(SMALL) for _ in range(d)] for _ in range(k)], dtype=object)
    return th.OracleInstance(probs=probs, grad_fv=grads, errors=errs)


@settings(max_examples=60, deadline=None)
@given(finite_oracles(), POSITIVE, POSITIVE, NONNEG, NONNEG, NONNEG)
def test_lemmas_and_proposition1_hold_exactly(inst, zeta, eta, A, B, extra) -> None:
    """Lemma 2 (5), Lemma 3 (6), Proposition 1 (8), (9): exact expectations, exact verdicts."""
    f_gap = Fraction(1, 2) + extra
    C = max(Fraction(0), inst.second_moment - 2 * A * f_gap - B * inst.grad_sq) + extra  # (11) holds at this point
    vals = oracle_values(inst, zeta=zeta, eta=eta, A=A, B=B, C=C, f_gap=f_gap)
    for cid in ("paper.lemma2", "paper.lemma3", "paper.prop1.eq8", "paper.prop1.eq9"):
        v = verdict(cid, vals)
        assert v.applicable, (cid, v.failed)
        assert v.holds is True, (cid, v.lhs, v.rhs)


@settings(max_examples=30, deadline=None)
@given(finite_oracles(), POSITIVE)
def test_lemma2_is_tight_where_young_is(inst, zeta) -> None:
    """With e_v = e constant and grad f_v = zeta e, Lemma 2 holds with equality (so the check can bind)."""
    e = inst.errors[0]
    k = inst.errors.shape[0]
    tight = th.OracleInstance(probs=inst.probs, grad_fv=np.array([zeta * e] * k, dtype=object), errors=np.array([e] * k, dtype=object))
    v = verdict("paper.lemma2", oracle_values(tight, zeta=zeta))
    assert v.holds is True and sp.simplify(sp.sympify(v.rhs) - sp.sympify(v.lhs)) == 0


def test_hypothesis_failure_is_not_applicable() -> None:
    inst = th.OracleInstance(probs=[Fraction(1)], grad_fv=[[Fraction(2)]], errors=[[Fraction(1)]])
    v = verdict("paper.prop1.eq9", oracle_values(inst, zeta=1, eta=1, A=0, B=0, C=1, f_gap=0))
    assert v.applicable is False and "(11) at theta" in v.failed
    with pytest.raises(ValueError, match="no value for"):
        verdict("paper.lemma2", {"grad_sq": 1})


# ----------------------------------------------------------------------------------------------
# runs (Theorem 1, Corollary 1, sources) on independent computations


def _theorem1_witness(T: int = 14) -> dict:
    """f_1 = theta^2, f_2 = 0, single uniform, exact gradients, theta0 = 1, alpha = 3/2, zeta = eta = 1:
    E||grad f(theta_t)||^2 = (5/2)^t, so min_{t<T} = 1; A = 2 (the single-uniform row), B = 1/6, C = 0 also satisfy Lemma 1."""
    return {"L": Fraction(1), "delta_0": Fraction(1, 2), "A": Fraction(2), "B": Fraction(1, 6), "C": Fraction(0),
            "alpha": Fraction(3, 2), "T": Fraction(T), "min_t_E_grad_f_sq": Fraction(1), "E_eps_T_sq": Fraction(0),
            "max_t_E_eps_t_sq": Fraction(0), "avg_t_E_eps_t_sq": Fraction(0), "zeta": Fraction(1), "eta": Fraction(1)}


def test_theorem1_exponent_witness_by_hand() -> None:
    vals = _theorem1_witness(14)
    printed = verdict("paper.theorem1", vals)
    assert printed.applicable and printed.holds is False and printed.rhs == sp.Rational(20, 21)
    assert verdict("paper.theorem1", vals, "source exponent").holds is True
    assert verdict("paper.theorem1", vals, "max accuracy").holds is False  # no error at all: the accuracy reading cannot help
    assert verdict("paper.theorem1", vals, ALL).holds is True
    kr = {**vals, "A": Fraction(2), "B": Fraction(1, 6)}
    assert verdict("kr.theorem", kr).holds is True
    too_big = {**vals, "alpha": Fraction(8, 5)}
    v = verdict("paper.theorem1", too_big)
    assert not v.applicable and "alpha <= c1/L" in v.failed


def _quadratic_biased_sgd(h, cents, bias, alpha, theta0, T):
    """E||grad f(theta_t)||^2, t < T, for SGD on f = mean_i h_i/2 (theta - c_i)^2, single uniform sampling,
    a deterministic bias added to every stochastic gradient (a hand-written moment recursion)."""
    h, cents = np.asarray(h, dtype=float), np.asarray(cents, dtype=float)
    Hbar, mbar = h.mean(), (h * cents).mean()
    m1, m2 = theta0, theta0**2
    out = np.empty(T)
    for t in range(T):
        out[t] = Hbar**2 * m2 - 2 * Hbar * mbar * m1 + mbar**2
        a = 1 - alpha * h
        k = alpha * h * cents - alpha * bias
        m1, m2 = float(np.mean(a * m1 + k)), float(np.mean(a**2 * m2 + 2 * a * k * m1 + k**2))
    return out


@pytest.mark.parametrize("theta0, bias", [(0.0, 0.3), (0.0, 1.0), (-0.4, 0.3)])
def test_corollary1_holds_on_a_biased_sgd_run(theta0: float, bias: float) -> None:
    """A real biased SGD run with the corollary's own T and alpha (from the claim's prescriptions): it holds."""
    h, cents = np.array([1.0, 3.0]), np.array([1.0, -1.0])
    f = lambda x: float(np.mean(h / 2 * (x - cents) ** 2))  # noqa: E731
    f_inf = f((h * cents).mean() / h.mean())
    A, B, C = (float(v) for v in th.SingleUniform(2).derived_constants(h, f_inf))
    base = {"L": h.mean(), "delta_0": f(theta0) - f_inf, "A": A, "B": B, "C": C, "zeta": 1.0, "eta": 1.0}
    st = get_claim("paper.corollary1").reading("max accuracy").statement
    from validation.engine.statement import _numeric

    e2 = bias**2
    T = int(np.ceil(_numeric(st.prescriptions["T_min"], {**base, "max_t_E_eps_t_sq": e2})))
    alpha = _numeric(st.prescriptions["alpha"], {**base, "max_t_E_eps_t_sq": e2, "T": float(T)})
    obs = float(np.min(_quadratic_biased_sgd(h, cents, bias, alpha, theta0, T)))
    vals = {**base, "T": float(T), "alpha": alpha, "min_t_E_grad_f_sq": obs, "E_eps_T_sq": e2, "max_t_E_eps_t_sq": e2,
            "avg_t_E_eps_t_sq": e2}
    for reading in (PRINTED, "max accuracy"):
        v = verdict("paper.corollary1", vals, reading, exact=False)
        assert v.applicable, v.failed
        assert v.holds is True, (v.lhs, v.rhs)
    v = verdict("paper.corollary1", {**vals, "alpha": alpha / 2}, exact=False)
    assert not v.applicable and "alpha = alpha(T)" in v.failed


def test_remark2_zeta_half_is_ill_posed_not_false() -> None:
    vals = {"lim_T_min_t_E_grad_f_sq": Fraction(1), "sum_t_E_eps_t_sq": Fraction(2), "zeta": Fraction(1, 2), "eta": Fraction(1),
            "lim_T_T_min_over_T": sp.nan}
    v = verdict("paper.remark2", vals)
    assert v.applicable and v.ill_posed is not None and v.ill_posed.startswith("b(zeta) = 0") and not v.violated
    v = verdict("paper.remark2", {**vals, "zeta": Fraction(1), "lim_T_T_min_over_T": sp.oo})
    assert not v.applicable  # the premise T >= T(E[eps_T^2]) fails for all large T
    v = verdict("paper.remark2", {**vals, "zeta": Fraction(1)}, "fixed step")
    assert v.violated and v.lhs == 1


def test_ehrhardt_roberts_bound_on_linear_quadratic_bilevel() -> None:
    """Constant Hessian in x, g(x) = ||x - y||^2/2: the bound holds for random inexact x_eps, q (float64 linear algebra)."""
    rng = np.random.default_rng(7)
    n = 4
    for _ in range(100):
        Q = rng.normal(size=(n, n))
        H = Q @ Q.T + n * np.eye(n)
        Kq = rng.normal(size=(n, n))
        K = (Kq + Kq.T) / 2
        t = rng.uniform(-0.5, 0.5)
        Ht = H + t * K
        c, y = rng.normal(size=n), rng.normal(size=n)
        x_star = np.linalg.solve(Ht, c)
        grad_F = -(K @ x_star) @ np.linalg.solve(Ht, x_star - y)
        x_eps = x_star + rng.normal(scale=10.0 ** rng.uniform(-3, 0), size=n)
        q = np.linalg.solve(Ht, x_eps - y) + rng.normal(scale=10.0 ** rng.uniform(-3, 0), size=n)
        z = -(K @ x_eps) @ q
        vals = {"error_norm": abs(z - grad_F), "B_norm": float(np.linalg.norm(K @ x_eps)),
                "R": float(np.linalg.norm(Ht @ q - (x_eps - y))), "mu": float(np.linalg.eigvalsh(Ht)[0]),
                "grad_g_norm": float(np.linalg.norm(x_eps - y)), "L_B": float(np.linalg.norm(K, 2)), "L_g": 1.0,
                "G": float(np.linalg.norm(Ht @ x_eps - c)), "L_H": 0.0}
        v = verdict("ehrhardt_roberts.a_posteriori", vals, exact=False)
        assert v.applicable and v.holds is True, (v.lhs, v.rhs)


@pytest.mark.parametrize("target", [2.0, 5.0])
def test_khaled_richtarik_corollary_and_theorem_on_sgd_runs(target: float) -> None:
    h, cents = np.array([1.0, 3.0]), np.array([1.0, -1.0])
    f = lambda x: float(np.mean(h / 2 * (x - cents) ** 2))  # noqa: E731
    f_inf = f((h * cents).mean() / h.mean())
    A, B, C = (float(v) for v in th.SingleUniform(2).derived_constants(h, f_inf))
    L, theta0 = h.mean(), 0.0
    base = {"L": L, "delta_0": f(theta0) - f_inf, "A": A, "B": B, "C": C, "target_eps2": target}
    st = get_claim("kr.corollary").statement()
    from validation.engine.statement import _numeric

    K = int(np.ceil(_numeric(st.prescriptions["T_min"], base)))
    gamma = _numeric(st.prescriptions["alpha"], {**base, "T": float(K)})
    assert K == int(np.ceil(th.khaled_richtarik_corollary_iterations(A=A, B=B, C=C, L=L, delta0=base["delta_0"], eps2=target)))
    vals = {**base, "T": float(K), "alpha": gamma, "min_t_E_grad_f_sq": float(np.min(_quadratic_biased_sgd(h, cents, 0.0, gamma, theta0, K)))}
    for cid in ("kr.corollary", "kr.theorem"):
        v = verdict(cid, vals, exact=False)
        assert v.applicable and v.holds is True, (cid, v.failed, v.lhs, v.rhs)


def test_statements_match_theory_bounds() -> None:
    """One source of truth: Theorem 1's statement equals theory.bounds' Theorem 1 and source-route right sides."""
    S = th.SYMBOLS
    rd = get_claim("paper.theorem1").reading(PRINTED).statement
    assert sp.simplify(rd.rhs - th.theorem1_rhs_expr().xreplace({S.eps2: O.eps2_T})) == 0
    src = get_claim("paper.theorem1").reading(ALL).statement
    assert sp.simplify(src.rhs - th.theorem1_rhs_source_expr().xreplace({S.eps2: O.eps2_max})) == 0
    assert set(CLAIMS) >= {"paper.lemma1", "paper.lemma2", "paper.lemma3", "paper.prop1.eq8", "paper.prop1.eq9",
                           "paper.theorem1", "paper.corollary1", "paper.remark1.prop2", "paper.remark1.prop3", "paper.remark2",
                           "kr.prop2", "kr.prop3", "kr.theorem", "kr.corollary", "demidovich.theorem3", "ehrhardt_roberts.a_posteriori"}
