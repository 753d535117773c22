"""Claims registry: Lemmas 2, 3 and Proposition 1 on random exact finite laws, and the registry itself."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from theory_strategies import NONNEG, POSITIVE, finite_oracles

import theory as th
from theory.claims import CLAIMS, get_claim, list_claims

ORACLE_CLAIMS = ("paper.lemma2", "paper.lemma3", "paper.prop1.eq8", "paper.prop1.eq9")

REQUIRED_IDS = {
    "paper.lemma1",
    "paper.lemma2",
    "paper.lemma3",
    "paper.prop1.eq8",
    "paper.prop1.eq9",
    "paper.theorem1",
    "paper.theorem1.from_source",
    "paper.corollary1",
    "paper.corollary1.uniform_accuracy",
    "paper.remark1.prop2",
    "paper.remark1.prop3",
    "paper.remark2",
    "kr.prop2",
    "kr.prop3",
    "kr.theorem",
    "kr.corollary",
    "demidovich.assumption9.inner",
    "demidovich.assumption9.second_moment",
    "demidovich.theorem3",
    "ehrhardt_roberts.a_posteriori",
}


def _oracle(data: dict, zeta: Fraction, eta: Fraction, A: Fraction, B: Fraction, extra: Fraction) -> th.OracleInstance:
    base = th.OracleInstance(**data, zeta=zeta, eta=eta)
    f_gap = Fraction(1, 2) + extra
    # C makes Lemma 1's (11) hold at this point, as Proposition 1 assumes
    C = max(Fraction(0), base.second_moment - 2 * A * f_gap - B * base.grad_sq) + extra
    return th.OracleInstance(**data, zeta=zeta, eta=eta, f_gap=f_gap, A=A, B=B, C=C)


@settings(max_examples=60, deadline=None)
@given(finite_oracles(), POSITIVE, POSITIVE, NONNEG, NONNEG, NONNEG)
def test_lemmas_and_proposition1_hold_exactly(data, zeta, eta, A, B, extra) -> None:
    """Lemma 2 (5), Lemma 3 (6), Proposition 1 (8), (9): exact expectations, exact comparisons."""
    inst = _oracle(data, zeta, eta, A, B, extra)
    assert inst.exact
    for cid in ORACLE_CLAIMS:
        res = get_claim(cid).check(inst)
        assert res.applicable is True, (cid, res.hypotheses)
        assert res.holds is True, (cid, res.lhs, res.rhs)


@settings(max_examples=40, deadline=None)
@given(finite_oracles(), POSITIVE)
def test_lemma2_is_tight_where_young_is(data, zeta) -> None:
    """With e_v = constant e and grad f = zeta e, Lemma 2 holds with equality (so the check can bind)."""
    errs = np.array(data["errors"], dtype=object)
    e = errs[0]
    k = errs.shape[0]
    errors = np.array([e] * k, dtype=object)
    grads = np.array([zeta * e] * k, dtype=object)
    inst = th.OracleInstance(probs=data["probs"], grad_fv=grads, errors=errors, zeta=zeta)
    res = get_claim("paper.lemma2").check(inst)
    assert res.holds is True
    assert sp.simplify(sp.sympify(res.rhs) - sp.sympify(res.lhs)) == 0


def test_float_batched_oracles() -> None:
    rng = np.random.default_rng(3)
    K, d, n = 5, 3, 7
    probs = rng.dirichlet(np.ones(K), size=n)
    inst = th.OracleInstance(
        probs=probs,
        grad_fv=rng.normal(size=(n, K, d)),
        errors=rng.normal(size=(n, K, d)),
        zeta=0.8,
        eta=0.25,
        f_gap=np.full(n, 2.0),
        A=1.0,
        B=1.0,
        C=50.0,
    )
    for cid in ORACLE_CLAIMS:
        res = get_claim(cid).check(inst)
        assert res.holds.shape == (n,)
        assert np.all(res.holds), cid


def test_a_false_inequality_is_reported_violated() -> None:
    """The machinery can fail: Lemma 3 with the wrong sign of a constant is not a claim, but a
    biased ABC with too small C is violated exactly."""
    inst = th.OracleInstance(
        probs=[Fraction(1, 2), Fraction(1, 2)],
        grad_fv=[[Fraction(1)], [Fraction(3)]],
        errors=[[Fraction(0)], [Fraction(0)]],
        f_gap=Fraction(1),
        biased=th.BiasedABC(b=Fraction(1), c=Fraction(0), A=Fraction(0), B=Fraction(1), C=Fraction(0)),
    )
    res = get_claim("demidovich.assumption9.second_moment").check(inst)
    assert res.lhs == 5 and res.rhs == 4
    assert res.holds is False and res.violated is True


def test_prop1_eq9_not_applicable_when_eq11_fails() -> None:
    inst = th.OracleInstance(
        probs=[Fraction(1)],
        grad_fv=[[Fraction(2)]],
        errors=[[Fraction(1)]],
        f_gap=Fraction(0),
        A=Fraction(0),
        B=Fraction(0),
        C=Fraction(1),
        zeta=Fraction(1),
        eta=Fraction(1),
    )
    res = get_claim("paper.prop1.eq9").check(inst)
    assert res.hypotheses["(11) at theta"] is False
    assert res.applicable is False


def test_registry_is_complete_and_well_formed() -> None:
    assert REQUIRED_IDS <= set(CLAIMS)
    for cl in list_claims():
        assert cl.source and cl.statement
        assert cl.relation in ("<=", ">=", "==")
        if cl.sympy_form is not None:
            form = cl.sympy_form()
            assert isinstance(form, sp.core.relational.Relational), cl.id
    assert {c.id for c in list_claims("kr.")} == {"kr.prop2", "kr.prop3", "kr.theorem", "kr.corollary"}
    with pytest.raises(ValueError, match="unknown claim id"):
        get_claim("paper.lemma9")


def test_claim_rejects_wrong_instance_type() -> None:
    with pytest.raises(ValueError, match="takes a RunInstance"):
        get_claim("paper.theorem1").check(th.OracleInstance(probs=[1.0], grad_fv=[[1.0]], errors=[[0.0]]))


def test_sympy_forms_match_numeric_sides() -> None:
    """The sympy form of Proposition 1 (9) evaluated at an instance equals rhs(instance)."""
    inst = th.OracleInstance(
        probs=[Fraction(1, 3), Fraction(2, 3)],
        grad_fv=[[Fraction(1), Fraction(0)], [Fraction(-1, 2), Fraction(2)]],
        errors=[[Fraction(1, 2), Fraction(1)], [Fraction(0), Fraction(-1)]],
        f_gap=Fraction(3),
        A=Fraction(1),
        B=Fraction(2),
        C=Fraction(5),
        zeta=Fraction(3, 2),
        eta=Fraction(1, 3),
    )
    form = get_claim("paper.prop1.eq9").sympy_form()
    S = th.SYMBOLS
    subs = {S.eta: sp.Rational(1, 3), S.A: 1, S.B: 2, S.C: 5, S.f_gap: 3, S.grad_sq: sp.Rational(inst.grad_sq), S.eps2: sp.Rational(inst.eps2)}
    assert sp.simplify(form.rhs.subs(subs) - sp.Rational(get_claim("paper.prop1.eq9").rhs(inst))) == 0


# ----------------------------------------------------------------------------------------------
# run claims


def test_theorem1_counterexample_is_detected() -> None:
    ce = th.theorem1_counterexample()
    assert ce.lhs == 1 and ce.rhs == Fraction(20, 21)
    check = get_claim("paper.theorem1").check(ce.instance)
    assert check.applicable is True and check.holds is False and check.violated is True
    source = get_claim("paper.theorem1.from_source").check(ce.instance)
    assert source.applicable is True and source.holds is True
    kr = get_claim("kr.theorem").check(ce.instance)
    assert kr.holds is True


def test_theorem1_step_hypothesis() -> None:
    ce = th.theorem1_counterexample()
    too_big = th.RunInstance(**{**_run_fields(ce.instance), "alpha": Fraction(8, 5)})
    res = get_claim("paper.theorem1").check(too_big)
    assert res.hypotheses["0 < alpha <= c1/L"] is False
    assert res.applicable is False


def _run_fields(r: th.RunInstance) -> dict:
    names = ("L", "delta0", "A", "B", "C", "alpha", "T", "grad_sq", "eps2", "zeta", "eta", "b", "c", "target_eps2", "running_min_limit", "step_rule", "eps2_sum")
    return {n: getattr(r, n) for n in names}


def test_eps2_readings() -> None:
    r = th.RunInstance(L=1.0, delta0=1.0, A=1.0, B=1.0, C=0.0, alpha=0.1, T=3, grad_sq=[3.0, 2.0, 1.0], eps2=[4.0, 1.0, 2.0, 0.5], zeta=1.0, eta=1.0)
    assert r.observed_min == 1.0
    assert r.eps2_T == 0.5  # as printed: index T
    assert r.eps2_max == 4.0  # uniform over t < T
    short = th.RunInstance(L=1.0, delta0=1.0, A=1.0, B=1.0, C=0.0, alpha=0.1, T=3, grad_sq=[3.0, 2.0, 1.0], eps2=[4.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="index 3"):
        _ = short.eps2_T


def _quadratic_biased_sgd(h, cents, bias, alpha, theta0, T):
    """Exact E||grad f(theta_t)||^2, t < T, for SGD on f = mean_i h_i/2 (theta - c_i)^2 with single
    uniform sampling and a deterministic bias e added to every stochastic gradient."""
    h = np.asarray(h, dtype=float)
    cents = np.asarray(cents, dtype=float)
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
def test_corollary1_and_source_theorem_hold_on_a_biased_sgd_run(theta0: float, bias: float) -> None:
    """A real (exact-moment) biased SGD run with Corollary 1's T and alpha: the claims hold."""
    h = np.array([1.0, 3.0])
    cents = np.array([1.0, -1.0])
    m = h.size
    Hbar = h.mean()
    theta_star = (h * cents).mean() / Hbar
    f = lambda th_: float(np.mean(h / 2 * (th_ - cents) ** 2))  # noqa: E731
    f_inf = f(theta_star)
    law = th.SingleUniform(m)
    consts = law.derived_constants(h, f_inf - 0.0)
    A, B, C = float(consts.A), float(consts.B), float(consts.C)
    L = Hbar
    delta0 = f(theta0) - f_inf
    eps2 = bias**2
    zeta, eta = 1.0, 1.0
    T = int(np.ceil(th.corollary1_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=eps2, zeta=zeta, eta=eta)))
    alpha = float(th.corollary1_step(A=A, B=B, C=C, L=L, eps2=eps2, zeta=zeta, eta=eta, T=T))
    grad_sq = _quadratic_biased_sgd(h, cents, bias, alpha, theta0, T)
    run = th.RunInstance(L=L, delta0=delta0, A=A, B=B, C=C, alpha=alpha, T=T, grad_sq=grad_sq, eps2=eps2, zeta=zeta, eta=eta)
    for cid in ("paper.corollary1", "paper.corollary1.uniform_accuracy", "paper.theorem1.from_source"):
        res = get_claim(cid).check(run)
        assert res.applicable is True, (cid, res.hypotheses)
        assert res.holds is True, (cid, res.lhs, res.rhs)
    wrong_step = th.RunInstance(**{**_run_fields(run), "alpha": alpha / 2})
    assert get_claim("paper.corollary1").check(wrong_step).hypotheses["alpha = alpha(T)"] is False


def test_remark2_needs_the_limit_and_flags_zeta_half() -> None:
    r = th.RunInstance(
        L=1.0, delta0=1.0, A=1.0, B=0.0, C=0.0, alpha=0.1, T=2, grad_sq=[1.0, 1.0], eps2=[1.0, 0.25, 0.1],
        zeta=0.5, eta=1.0, running_min_limit=0.0, step_rule="horizon", eps2_sum=2.0,
    )
    res = get_claim("paper.remark2").check(r)
    assert res.applicable is True and res.holds is True  # as printed, zeta = 1/2 is admitted
    no_limit = th.RunInstance(**{**_run_fields(r), "running_min_limit": None})
    with pytest.raises(ValueError, match="running_min_limit"):
        get_claim("paper.remark2").check(no_limit)
    constant = th.RunInstance(**{**_run_fields(r), "step_rule": "constant", "running_min_limit": 0.2})
    res = get_claim("paper.remark2").check(constant)
    assert res.applicable is False and res.holds is False


def test_ehrhardt_roberts_bound_on_linear_quadratic_bilevel() -> None:
    """h(x, t) = x^T (H + t K) x/2 - c^T x (constant Hessian in x), g(x) = ||x - y||^2/2: the bound
    holds for random inexact x_eps, q (exact linear algebra in float64)."""
    rng = np.random.default_rng(7)
    n = 4
    claim = get_claim("ehrhardt_roberts.a_posteriori")
    for _ in range(200):
        Q = rng.normal(size=(n, n))
        H = Q @ Q.T + n * np.eye(n)
        Kq = rng.normal(size=(n, n))
        K = (Kq + Kq.T) / 2
        t = rng.uniform(-0.5, 0.5)
        Ht = H + t * K
        mu = float(np.linalg.eigvalsh(Ht)[0])
        c, y = rng.normal(size=n), rng.normal(size=n)
        x_star = np.linalg.solve(Ht, c)
        grad_F = -(K @ x_star) @ np.linalg.solve(Ht, x_star - y)
        x_eps = x_star + rng.normal(scale=10.0 ** rng.uniform(-3, 0), size=n)
        q = np.linalg.solve(Ht, x_eps - y) + rng.normal(scale=10.0 ** rng.uniform(-3, 0), size=n)
        z = -(K @ x_eps) @ q
        inst = th.HypergradientErrorInstance(
            error_norm=abs(z - grad_F),
            B_norm=float(np.linalg.norm(K @ x_eps)),
            residual=float(np.linalg.norm(Ht @ q - (x_eps - y))),
            mu=mu,
            grad_g_norm=float(np.linalg.norm(x_eps - y)),
            L_B=float(np.linalg.norm(K, 2)),
            L_g=1.0,
            G=float(np.linalg.norm(Ht @ x_eps - c)),
        )
        res = claim.check(inst)
        assert res.applicable is True
        assert res.holds is True, (res.lhs, res.rhs)


@pytest.mark.parametrize("target", [2.0, 5.0])
def test_khaled_richtarik_corollary_and_demidovich_on_sgd_runs(target: float) -> None:
    """Exact-moment SGD (unbiased) with [18]'s corollary step and horizon; and the biased run
    against [5, Theorem 3] with Proposition 1's constants given explicitly."""
    h, cents = np.array([1.0, 3.0]), np.array([1.0, -1.0])
    f = lambda t: float(np.mean(h / 2 * (t - cents) ** 2))  # noqa: E731
    f_inf = f((h * cents).mean() / h.mean())
    A, B, C = (float(v) for v in th.SingleUniform(2).derived_constants(h, f_inf))
    L, theta0 = h.mean(), 0.0
    delta0 = f(theta0) - f_inf
    K = int(np.ceil(th.khaled_richtarik_corollary_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=target)))
    gamma = float(th.khaled_richtarik_corollary_step(A=A, B=B, C=C, L=L, eps2=target, K=K))
    run = th.RunInstance(L=L, delta0=delta0, A=A, B=B, C=C, alpha=gamma, T=K, grad_sq=_quadratic_biased_sgd(h, cents, 0.0, gamma, theta0, K), target_eps2=target)
    for cid in ("kr.corollary", "kr.theorem"):
        res = get_claim(cid).check(run)
        assert res.applicable is True and res.holds is True, (cid, res.hypotheses, res.lhs, res.rhs)
    zeta, eta, bias, alpha, T = 1.0, 1.0, 0.5, 0.05, 400
    eps2 = bias**2
    biased = th.RunInstance(
        L=L, delta0=delta0, A=float(th.A_tilde(eta, A)), B=float(th.B_tilde(eta, B)), C=float(th.C_tilde(eta, C, eps2)),
        alpha=alpha, T=T, grad_sq=_quadratic_biased_sgd(h, cents, bias, alpha, theta0, T),
        b=float(th.b(zeta)), c=float(th.c(zeta, eps2)),
    )
    res = get_claim("demidovich.theorem3").check(biased)
    assert res.applicable is True and res.holds is True
