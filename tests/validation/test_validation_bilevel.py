"""Quadratic bilevel problems: exact upper level, affine inexact hypergradients, [9]'s bound instances."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from theory.sampling import SingleUniform
from validation.engine import rational as rq
from validation.engine.bilevel_quadratic import ErrorBoundCase, LowerSolver, QuadraticBilevel
from validation.engine.claims import get_claim
from validation.engine.exact import MomentEngine
from validation.engine.families import ErrorCase
from validation.engine.problems import RandomPicker, make_bilevel
from validation.engine.search import evaluate_case
from validation.engine.statement import PRINTED

F = Fraction


def _problem(seed: int = 3, m: int = 2, n: int = 2, d: int = 2) -> QuadraticBilevel:
    return make_bilevel(RandomPicker(seed), m, n, d)


def _gd(H: np.ndarray, rhs: np.ndarray, x0: np.ndarray, beta: Fraction, K: int) -> np.ndarray:
    x = x0.copy()
    for _ in range(K):
        x = x - beta * (H.dot(x) - rhs)
    return x


def test_upper_level_is_g_of_the_lower_solution() -> None:
    bl = _problem()
    pr = bl.problem()
    theta = np.array([F(1, 2), F(-3, 2)], dtype=object)
    for i in range(bl.m):
        x_hat = rq.solve(bl.H[i], bl.J[i].dot(theta) + bl.y[i])
        r = x_hat - bl.x_star[i]
        assert pr.component_values(theta)[i] == r.dot(r) / 2
        # implicit function theorem (2): grad f_i = J^T H^-1 (x_hat - x*)
        assert list(pr.component_grads(theta)[i]) == list(bl.J[i].T.dot(rq.solve(bl.H[i], r)))


@pytest.mark.parametrize("adjoint, K_adj", [("exact", 0), ("gd", 3), ("unrolled", 0)])
def test_inexact_hypergradient_is_affine_and_matches_the_solver(adjoint: str, K_adj: int) -> None:
    """z_i(theta) = Z_i theta + zeta_i equals running K gradient steps (and the adjoint) at several theta."""
    bl = _problem(seed=5)
    solver = LowerSolver(K=3, adjoint=adjoint, K_adjoint=K_adj)
    for i in range(bl.m):
        Z, zeta = bl.hypergradient_map(i, solver)
        beta = 1 / rq.lambda_max_upper(bl.H[i])
        for theta in ([F(0), F(1)], [F(2, 3), F(-1, 2)], [F(-2), F(5)]):
            th = np.array(theta, dtype=object)
            x = _gd(bl.H[i], bl.J[i].dot(th) + bl.y[i], np.zeros(bl.n, dtype=object) * F(0), beta, 3)
            resid = x - bl.x_star[i]
            if adjoint == "exact":
                z = bl.J[i].T.dot(rq.solve(bl.H[i], resid))
            elif adjoint == "gd":
                q = _gd(bl.H[i], resid, np.zeros(bl.n, dtype=object) * F(0), beta, K_adj)
                z = bl.J[i].T.dot(q)
            else:
                A, _ = bl.lower_iterate_map(i, solver)
                z = A.T.dot(resid)
            assert list(Z.dot(th) + zeta) == list(z)


def test_unrolled_hypergradient_is_the_exact_gradient_of_g_of_x_K() -> None:
    """Differentiating through K steps: for the quadratic f_K(theta) = g(x_K(theta)) a central difference is exact."""
    bl = _problem(seed=8, m=1, n=2, d=2)
    solver = LowerSolver(K=2, adjoint="unrolled")
    A, a = bl.lower_iterate_map(0, solver)
    Z, zeta = bl.hypergradient_map(0, solver)

    def fK(th: np.ndarray) -> Fraction:
        r = A.dot(th) + a - bl.x_star[0]
        return r.dot(r) / 2

    th = np.array([F(1, 3), F(-1)], dtype=object)
    h = F(1, 7)
    for j in range(2):
        e = np.array([F(int(k == j)) for k in range(2)], dtype=object)
        assert (fK(th + h * e) - fK(th - h * e)) / (2 * h) == (Z.dot(th) + zeta)[j]


def test_errors_vanish_as_the_lower_level_converges() -> None:
    """The affine error P theta + r of K gradient steps decays geometrically in K (exact adjoint)."""
    bl = _problem(seed=2)
    sizes = []
    for K in (0, 5, 40, 400):
        bias = bl.error_bias(LowerSolver(K=K))
        sizes.append(max(abs(float(e)) for e in list(bias.r.ravel()) + list(bias.P.ravel())))
    assert sizes[0] > sizes[1] > sizes[2] > sizes[3] and sizes[3] < 1e-6 * sizes[0]


def test_bilevel_errors_feed_the_exact_engine() -> None:
    """A bilevel scenario runs through the engine exactly and agrees with float64."""
    bl = _problem(seed=4, m=2, n=1, d=1)
    pr = bl.problem()
    bias = bl.error_bias(LowerSolver(K=1, adjoint="gd", K_adjoint=1))
    ex = MomentEngine(pr, SingleUniform(2), bias, F(1, 4) / pr.lipschitz(), [F(1)])
    fl = MomentEngine(pr.to_float(), SingleUniform(2), type(bias)(bias.mode, rq.as_float(bias.r), rq.as_float(bias.P)),
                      0.25 / float(pr.lipschitz()), [1.0])
    np.testing.assert_allclose(fl.run(40, keep_sequences=True).grad_sq, rq.as_float(ex.run(40).grad_sq), rtol=1e-11)


def test_error_bound_cases_satisfy_ehrhardt_roberts_exactly() -> None:
    """[9]'s a-posteriori bound holds on exact instances, and its two sides shrink with more iterations."""
    R = rq.cayley_orthogonal([F(1, 2)], 2)
    H0 = R.dot(np.diag(np.array([F(2), F(1)], dtype=object))).dot(R.T)
    K = R.dot(np.diag(np.array([F(1, 2), F(-1, 2)], dtype=object))).dot(R.T)
    vec = lambda *v: np.array([F(x) for x in v], dtype=object)  # noqa: E731
    claim = get_claim("ehrhardt_roberts.a_posteriori")
    prev = None
    for it in (1, 4, 12):
        case = ErrorCase(ErrorBoundCase(H0, K, vec(1, -1), vec(F(1, 2), 1), vec(0, 2), F(1, 4), it, it))
        chk = evaluate_case(claim, claim.readings(), case, exact=True)[PRINTED]
        assert chk.applicable is True and chk.holds is True and chk.exact
        if prev is not None:
            assert float(chk.rhs) < prev
        prev = float(chk.rhs)
    assert evaluate_case(claim, claim.readings(), case, exact=False)[PRINTED].holds is True


def test_bad_bilevel_input() -> None:
    with pytest.raises(ValueError, match="positive definite"):
        QuadraticBilevel([[[0]]], [[[1]]], [[0]], [[0]])
    with pytest.raises(ValueError, match="adjoint"):
        LowerSolver(K=1, adjoint="newton")
    with pytest.raises(ValueError, match="K"):
        LowerSolver(K=-1)
