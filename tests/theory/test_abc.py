"""Empirical ABC and (b, c) constants: recovery, never violating the data, diagnostics, confidence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import theory as th


def _violates_abc(est: th.ABCEstimate, x, g, y) -> bool:
    return bool(np.any(np.asarray(y, float) > 2 * est.A * np.asarray(x, float) + est.B * np.asarray(g, float) + est.C))


@pytest.mark.parametrize("A, B, C", [(0.7, 1.3, 0.4), (2.0, 0.0, 0.0), (0.0, 0.5, 3.0), (1e-3, 1e3, 1e-6)])
def test_recovers_known_constants(A, B, C) -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 5, 40)
    g = rng.uniform(0, 3, 40)
    x[:3] = 0.0  # points at the minimum value pin C
    g[3:6] = 0.0
    y = 2 * A * x + B * g + C
    est = th.estimate_abc(x, g, y)
    # the LP is solved to a feasibility tolerance relative to the data's scale: an error of
    # 1e-8 max(y) in the bound moves constant j by at most about 1e-8 max(y)/max(column j)
    tol = 1e-8 * y.max()
    assert est.A == pytest.approx(A, rel=1e-6, abs=tol / (2 * x.max()))
    assert est.B == pytest.approx(B, rel=1e-6, abs=tol / g.max())
    assert est.C == pytest.approx(C, rel=1e-6, abs=tol)
    assert not _violates_abc(est, x, g, y)
    assert est.active.size >= 3
    assert not any("cannot be told apart" in d for d in est.diagnostics)


def test_recovery_below_the_plane_keeps_the_plane_feasible_and_no_larger_on_average() -> None:
    rng = np.random.default_rng(4)
    x, g = rng.uniform(0, 4, 60), rng.uniform(0, 4, 60)
    y = (2 * 0.5 * x + 0.8 * g + 0.2) * rng.uniform(0.5, 1.0, 60)
    est = th.estimate_abc(x, g, y)
    assert not _violates_abc(est, x, g, y)
    assert est.objective <= np.mean(2 * 0.5 * x + 0.8 * g + 0.2) * (1 + 1e-9)


finite = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 25), elements=finite),
    st.data(),
    st.sampled_from([None, {"B": 0.0}, {"A": 0.0}, {"C": 0.0}]),
)
def test_never_violates_its_data(x, data, fixed) -> None:
    n = x.size
    g = data.draw(hnp.arrays(np.float64, n, elements=finite))
    y = data.draw(hnp.arrays(np.float64, n, elements=finite))
    try:
        est = th.estimate_abc(x, g, y, fixed=fixed)
    except ValueError as err:
        # only when the fixed constants make the data infeasible
        assert fixed is not None and "no constants satisfy" in str(err)
        return
    assert min(est.A, est.B, est.C) >= 0
    assert not _violates_abc(est, x, g, y)
    for k, v in (fixed or {}).items():
        assert getattr(est, k) == v


def test_quadratic_data_cannot_tell_A_from_B() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, 30)
    L = 2.0
    g = 2 * L * x  # a quadratic: ||grad f||^2 = 2 L (f - f*)
    y = 2 * 1.0 * x + 0.5 * g + 0.1
    est = th.estimate_abc(x, g, y)
    assert any("A and B cannot be told apart" in d for d in est.diagnostics)
    lo_A, hi_A = est.ranges["A"]
    assert lo_A == pytest.approx(0.0, abs=1e-7) and hi_A == pytest.approx(2.0, rel=1e-6)
    assert est.A == pytest.approx(0.0, abs=1e-7)  # tie-break: A first
    assert not _violates_abc(est, x, g, y)


def test_abc_on_a_finite_sum_is_no_worse_than_the_theory() -> None:
    """Data from quadratic finite sums with tau-nice sampling: fitted constants never exceed the
    theoretical bound on average, and the theory's constants are feasible for the LP."""
    rng = np.random.default_rng(9)
    m, d = 5, 2
    h = rng.uniform(0.5, 3.0, size=(m, d))
    cen = rng.normal(size=(m, d))
    law = th.TauNice(m, 2)
    x_star = (h * cen).sum(0) / h.sum(0)
    f = lambda t: float(np.mean(0.5 * np.sum(h * (t - cen) ** 2, axis=1)))  # noqa: E731
    f_inf = f(x_star)
    thetas = rng.normal(scale=2.0, size=(80, d))
    G = h[None] * (thetas[:, None, :] - cen[None])
    xs = np.array([f(t) for t in thetas]) - f_inf
    gs = np.sum(G.mean(axis=1) ** 2, axis=-1)
    ys = law.expected_sq_norm(G)
    est = th.estimate_abc(xs, gs, ys)
    A, B, C = law.derived_constants(h.max(axis=1), f_inf - 0.0)
    theory_mean = np.mean(2 * A * xs + B * gs + C)
    assert np.all(ys <= 2 * A * xs + B * gs + C + 1e-12 * (1 + ys))
    assert est.objective <= theory_mean * (1 + 1e-9)
    assert not _violates_abc(est, xs, gs, ys)


def test_monte_carlo_confidence() -> None:
    rng = np.random.default_rng(1)
    x, g = rng.uniform(0, 4, 20), rng.uniform(0, 4, 20)
    y_true = 2 * 0.5 * x + 1.0 * g + 0.3
    samples = y_true[:, None] * rng.exponential(size=(20, 400))  # nonnegative, mean y_true
    est = th.estimate_abc(x, g, samples=samples, confidence=0.95)
    assert est.confidence == 0.95
    assert np.all(est.second_moments >= samples.mean(axis=1))
    assert not _violates_abc(est, x, g, est.second_moments)
    assert not _violates_abc(est, x, g, y_true)  # with this seed the bounds cover the truth
    ucb_t = th.upper_confidence_bounds(samples, 0.95, "student_t")
    ucb_h = th.upper_confidence_bounds(np.minimum(samples, 40.0), 0.95, "hoeffding", sample_range=40.0)
    ucb_b = th.upper_confidence_bounds(np.minimum(samples, 40.0), 0.95, "empirical_bernstein", sample_range=40.0)
    assert np.all(ucb_h >= np.minimum(samples, 40.0).mean(axis=1))
    assert np.all(ucb_b >= np.minimum(samples, 40.0).mean(axis=1))
    assert np.all(ucb_t >= samples.mean(axis=1))
    lcb = th.lower_confidence_bounds(samples, 0.95)
    assert np.all(lcb <= samples.mean(axis=1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: th.estimate_abc([1.0], [1.0]), "exactly one of"),
        (lambda: th.estimate_abc([1.0, 2.0], [1.0], [1.0, 1.0]), "equal length"),
        (lambda: th.estimate_abc([-1.0], [1.0], [1.0]), "nonnegative"),
        (lambda: th.estimate_abc([0.0], [0.0], [1.0], fixed={"C": 0.0}), "no constants satisfy"),
        (lambda: th.estimate_abc([1.0], [1.0], [1.0], fixed={"D": 0.0}), "fixed keys"),
        (lambda: th.upper_confidence_bounds([[1.0]], 0.9), "at least 2 samples"),
        (lambda: th.upper_confidence_bounds([[1.0, 2.0]], 0.9, "hoeffding"), "sample_range"),
        (lambda: th.upper_confidence_bounds([[1.0, 2.0]], 1.5), "confidence"),
        (lambda: th.estimate_bias([1.0], [-1.0]), "nonnegative"),
    ],
)
def test_bad_inputs_raise(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------------------------------------
# bias constants


@pytest.mark.parametrize("b, c", [(0.8, 0.2), (1.0, 0.0), (0.3, 2.0)])
def test_bias_recovers_known_constants(b, c) -> None:
    rng = np.random.default_rng(6)
    g = rng.uniform(0, 5, 40)
    g[0] = 0.0
    s = b * g - c
    est = th.estimate_bias(s, g)
    assert est.b == pytest.approx(b, rel=1e-6)
    assert est.c == pytest.approx(c, rel=1e-6, abs=1e-8)
    assert np.all(s >= est.b * g - est.c)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 25), elements=finite), st.data(), st.one_of(st.none(), st.floats(0.0, 2.0)))
def test_bias_never_violates_its_data(g, data, b) -> None:
    s = data.draw(hnp.arrays(np.float64, g.size, elements=st.floats(-1e4, 1e4)))
    est = th.estimate_bias(s, g, b=b, b_max=10.0)
    assert est.b >= 0 and est.c >= 0
    assert np.all(s >= est.b * g - est.c)
    if b is not None:
        assert est.b == b
        assert est.c == pytest.approx(max(0.0, float(np.max(b * g - s))), rel=1e-9, abs=1e-9)


def test_bias_from_an_oracle_matches_proposition1() -> None:
    """Exact <grad f, E z> at random points of a biased oracle: the fitted (b, c) are no worse on
    average than Proposition 1's (b(zeta), c(zeta, eps^2)) at zeta = 1, which are feasible."""
    rng = np.random.default_rng(8)
    inner, gsq, eps2 = [], [], []
    for _ in range(50):
        K, d = 3, 2
        o = th.OracleInstance(probs=rng.dirichlet(np.ones(K)), grad_fv=rng.normal(size=(K, d)), errors=0.3 * rng.normal(size=(K, d)))
        inner.append(o.inner_z)
        gsq.append(o.grad_sq)
        eps2.append(o.eps2)
    inner, gsq = np.array(inner), np.array(gsq)
    eps_max = max(eps2)
    b1, c1 = float(th.b(1.0)), float(th.c(1.0, eps_max))
    assert np.all(inner >= b1 * gsq - c1)
    est = th.estimate_bias(inner, gsq)
    assert np.mean(est.b * gsq - est.c) >= np.mean(b1 * gsq - c1) * (1 - 1e-9) - 1e-12
