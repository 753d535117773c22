"""Sampling laws: exact second moments against enumeration; Khaled & Richtarik constants on quadratic finite sums."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory as th

Q = [Fraction(1, 10), Fraction(2, 10), Fraction(3, 10), Fraction(4, 10)]
P = [Fraction(1, 3), Fraction(1, 2), Fraction(9, 10), Fraction(1)]


def _laws() -> list[th.SamplingLaw]:
    return [
        th.SingleUniform(4),
        th.SingleImportance(Q),
        th.TauNice(4, 1),
        th.TauNice(4, 2),
        th.TauNice(4, 4),
        th.Independent(P),
        th.WithReplacement(Q, 1),
        th.WithReplacement(Q, 2),
        th.WithReplacement(Q, 3),
    ]


def _enumerated_second_moment(law: th.SamplingLaw) -> np.ndarray:
    sup = law.support()
    m = law.m
    M = np.empty((m, m), dtype=object)
    for i in range(m):
        for j in range(m):
            M[i, j] = sum(p * v[i] * v[j] for v, p in zip(sup.vectors, sup.probs))
    return M


@pytest.mark.parametrize("law", _laws(), ids=repr)
def test_support_is_a_sampling_vector_law(law: th.SamplingLaw) -> None:
    sup = law.support()
    assert sum(sup.probs) == 1
    for i in range(law.m):
        assert sum(p * v[i] for v, p in zip(sup.vectors, sup.probs)) == 1  # E[v_i] = 1, exactly
    assert (_enumerated_second_moment(law) == law.second_moment_matrix()).all()


def test_with_replacement_closed_form() -> None:
    """E[v v^T] = diag(1/(tau q)) + (1 - 1/tau) 11^T by enumeration (exact)."""
    for tau in (1, 2, 3, 4):
        law = th.WithReplacement(Q, tau)
        M = _enumerated_second_moment(law)
        for i in range(4):
            for j in range(4):
                want = (1 / (tau * Q[i]) if i == j else 0) + 1 - Fraction(1, tau)
                assert M[i, j] == want
        d, beta = law.diagonal_plus_constant()
        assert beta == 1 - Fraction(1, tau)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.fractions(-3, 3, max_denominator=5), min_size=8, max_size=8))
def test_expected_sq_norm_matches_enumeration(entries) -> None:
    G = np.array(entries, dtype=object).reshape(4, 2)
    for law in _laws():
        sup = law.support()
        want = sum(p * sum(x * x for x in (v @ G) / 4) for v, p in zip(sup.vectors, sup.probs))
        assert law.expected_sq_norm(G) == want, law
    finite = th.FiniteLaw(th.TauNice(4, 2).support().vectors, th.TauNice(4, 2).support().probs)
    assert finite.expected_sq_norm(G) == th.TauNice(4, 2).expected_sq_norm(G)


def _quadratic_sum(rng: np.random.Generator, m: int, d: int, law: th.SamplingLaw, theta: np.ndarray) -> th.FiniteSumInstance:
    """f_i(x) = 1/2 (x - c_i)^T diag(h_i) (x - c_i) + s_i with rational data: everything exact."""
    h = [[Fraction(int(rng.integers(0, 6)), int(rng.integers(1, 4))) for _ in range(d)] for _ in range(m)]
    cen = [[Fraction(int(rng.integers(-5, 6)), int(rng.integers(1, 4))) for _ in range(d)] for _ in range(m)]
    s = [Fraction(int(rng.integers(-3, 4)), int(rng.integers(1, 3))) for _ in range(m)]
    grads = [[h[i][k] * (theta[k] - cen[i][k]) for k in range(d)] for i in range(m)]
    vals = [sum(h[i][k] * (theta[k] - cen[i][k]) ** 2 for k in range(d)) / 2 + s[i] for i in range(m)]
    L = [max(h[i]) for i in range(m)]
    # inf f, coordinatewise: minimizer sum_i h_ik c_ik / sum_i h_ik (any point if the sum vanishes)
    x_star = []
    for k in range(d):
        tot = sum(h[i][k] for i in range(m))
        x_star.append(sum(h[i][k] * cen[i][k] for i in range(m)) / tot if tot else Fraction(0))
    f_inf = sum(sum(h[i][k] * (x_star[k] - cen[i][k]) ** 2 for k in range(d)) / 2 + s[i] for i in range(m)) / m
    return th.FiniteSumInstance(
        component_grads=grads, component_values=vals, component_inf=s, smoothness=L, f_inf=f_inf, law=law
    )


@pytest.mark.parametrize("law", _laws(), ids=repr)
def test_khaled_richtarik_constants_on_random_quadratic_sums(law: th.SamplingLaw) -> None:
    """Propositions 2 and 3 (and the derived constants) hold exactly at random points of random quadratics."""
    rng = np.random.default_rng(11)
    for _ in range(15):
        theta = [Fraction(int(rng.integers(-6, 7)), int(rng.integers(1, 4))) for _ in range(2)]
        inst = _quadratic_sum(rng, 4, 2, law, np.array(theta, dtype=object))
        assert inst.exact
        rows = [law.prop2_constants(inst.smoothness, inst.delta_inf)]
        if not isinstance(law, th.SingleImportance):  # the importance row needs q proportional to L
            rows.append(law.prop3_constants(inst.smoothness, inst.delta_inf))
        for row in rows:  # [18, Propositions 2 and 3]: expected smoothness at this point, exactly
            assert inst.second_moment <= 2 * row.A * inst.f_gap + row.B * inst.grad_sq + row.C, (law, row)
        A, B, C = law.derived_constants(inst.smoothness, inst.delta_inf)
        assert inst.second_moment <= 2 * A * inst.f_gap + B * inst.grad_sq + C
        # E||grad f_v||^2 = (1/m^2) sum_i d_i ||g_i||^2 + beta ||grad f||^2, exactly
        d, beta = law.diagonal_plus_constant()
        sq = [sum(x * x for x in g) for g in inst.component_grads]
        assert inst.second_moment == sum(di * s for di, s in zip(d, sq)) / 16 + beta * inst.grad_sq


def test_recorded_rows_against_derived_constants() -> None:
    L = [Fraction(1), Fraction(2), Fraction(3), Fraction(4)]
    for law in _laws():
        if isinstance(law, th.SingleImportance):
            continue
        row = law.prop3_constants(L, Fraction(0))
        derived = law.derived_constants(L, Fraction(0))
        assert row.A == derived.A, law
        assert row.B >= derived.B, law
    tau_nice = th.TauNice(4, 2).derived_constants(L, Fraction(0))
    assert tau_nice.B == Fraction(4 * 1, 2 * 3)
    assert th.WithReplacement(Q, 3).derived_constants(L, Fraction(0)).B == Fraction(2, 3)
    assert th.WithReplacement(Q, 3).prop3_constants(L, Fraction(0)).B == 1
    # Proposition 2 is looser by the factor m for single uniform sampling
    assert th.SingleUniform(4).prop2_constants(L, Fraction(0)).A == 4 * th.SingleUniform(4).prop3_constants(L, Fraction(0)).A


@pytest.mark.parametrize("tau", [2, 3, 5])
def test_with_replacement_B_is_exactly_one_minus_one_over_tau(tau: int) -> None:
    """Identical components, uniform q: E||grad f_v||^2 = ||grad f||^2 and the A-term gives ||grad f||^2/tau,
    so B = 1 - 1/tau is needed and suffices (the recorded B = 1 is valid, not tight)."""
    m = 3
    q = [Fraction(1, m)] * m
    law = th.WithReplacement(q, tau)
    g = [Fraction(2), Fraction(-1)]
    Lc = Fraction(3)
    # f_i(x) = Lc/2 ||x||^2 at a point with gradient g, all equal: f_i - f_i^inf = ||g||^2/(2 Lc)
    gap = (g[0] ** 2 + g[1] ** 2) / (2 * Lc)
    inst = th.FiniteSumInstance(
        component_grads=[g] * m, component_values=[gap] * m, component_inf=[Fraction(0)] * m,
        smoothness=[Lc] * m, f_inf=Fraction(0), law=law,
    )
    A, B, C = law.derived_constants(inst.smoothness, inst.delta_inf)
    assert B == 1 - Fraction(1, tau) and C == 0
    assert inst.second_moment == 2 * A * inst.f_gap + B * inst.grad_sq  # equality: B is tight
    smaller = B - Fraction(1, 100)
    assert inst.second_moment > 2 * A * inst.f_gap + smaller * inst.grad_sq
    row = law.prop3_constants(inst.smoothness, inst.delta_inf)
    assert row.A == A and row.B == 1


def test_remark1_on_inexact_finite_sum() -> None:
    rng = np.random.default_rng(5)
    for law in (th.TauNice(4, 2), th.Independent(P), th.WithReplacement(Q, 2)):
        theta = np.array([Fraction(1, 2), Fraction(-1)], dtype=object)
        base = _quadratic_sum(rng, 4, 2, law, theta)
        errs = [[Fraction(int(rng.integers(-3, 4)), 4) for _ in range(2)] for _ in range(4)]
        inst = th.FiniteSumInstance(
            component_grads=base.component_grads, component_values=base.component_values,
            component_inf=base.component_inf, smoothness=base.smoothness, f_inf=base.f_inf, law=law,
            component_errors=errs, eta=Fraction(1, 3),
        )
        eta = Fraction(1, 3)
        for row in (law.prop2_constants(inst.smoothness, inst.delta_inf), law.prop3_constants(inst.smoothness, inst.delta_inf)):
            rhs = 2 * th.A_tilde(eta, row.A) * inst.f_gap + th.B_tilde(eta, row.B) * inst.grad_sq + th.C_tilde(eta, row.C, inst.eps2)
            assert inst.second_moment_z <= rhs, (law, row)  # Remark 1 with the row's constants
        oracle = inst.to_oracle(eta=eta, zeta=Fraction(2))
        assert oracle.second_moment_z == inst.second_moment_z
        assert oracle.eps2 == inst.eps2
        assert oracle.inner_z >= th.b(Fraction(2)) * oracle.grad_sq - th.c(Fraction(2), oracle.eps2)  # Proposition 1 (8)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: th.SingleImportance([0.5, 0.6]), "sum to 1"),
        (lambda: th.SingleImportance([1.0, 0.0]), "must be > 0"),
        (lambda: th.TauNice(3, 4), "tau must be an integer in"),
        (lambda: th.Independent([0.5, 0.0]), "must be > 0"),
        (lambda: th.WithReplacement([0.5, 0.5], 0), "positive integer"),
        (lambda: th.FiniteLaw([[2.0, 0.0], [0.0, 1.0]], [0.5, 0.5]), "E\\[v_i\\] = 1"),
        (lambda: th.SingleUniform(0), "positive integer"),
        (lambda: th.TauNice(40, 20).support(), "max_size"),
        (lambda: th.SingleImportance([0.5, 0.5]).prop3_constants([1.0, 3.0], 0.0), "q_i = L_i"),
        (lambda: th.SingleUniform(2).prop2_constants([1.0, 1.0], -1.0), "never negative"),
        (lambda: th.FiniteLaw([[2.0, 0.0], [0.0, 2.0]], [0.5, 0.5]).prop3_constants([1.0, 1.0], 0.0), "no row"),
    ],
)
def test_invalid_laws_raise(make, message) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_importance_row_with_proportional_q() -> None:
    L = [Fraction(1), Fraction(3)]
    law = th.SingleImportance([Fraction(1, 4), Fraction(3, 4)])
    assert law.prop3_constants(L, Fraction(0)).A == 2
    assert law.derived_constants(L, Fraction(0)).A == 2


def test_repr_writes_equal_probabilities_once() -> None:
    """A uniform law over m = 64 prints as ``[q]*64``, not 64 numbers (it lands in reports)."""

    assert repr(th.WithReplacement([1 / 64] * 64, 8)) == "WithReplacement(q=[0.015625]*64, tau=8)"
    assert repr(th.WithReplacement([0.25, 0.5, 0.25], 2)) == "WithReplacement(q=[0.25, 0.5, 0.25], tau=2)"
    assert repr(th.Independent([0.5, 0.5])) == "Independent(p=[0.5]*2)"
    assert repr(th.WithReplacement([Fraction(1, 3)] * 3, 2)) == "WithReplacement(q=[1/3]*3, tau=2)"  # exact (sympy) entries
