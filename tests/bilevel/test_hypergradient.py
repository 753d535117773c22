"""Hypergradients: finite differences, closed form, certified bound, batching, determinism, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bilevel.foe import FieldOfExperts
from bilevel.hypergradient import SquaredError, hypergradient
from bilevel.operators import GaussianBlur, Identity
from bilevel.problem import LowerLevelProblem
from bilevel.quadratic import QuadraticDifferences, _diff, _diff_adjoint
from bilevel.reference import tight_reference
from bilevel.solvers import solve_lower

TIGHT = 1e-11


def _foe_instance(seed=0, op=None, mu=0.0, shape=(2, 3, 8, 8), experts=3, k=3, scale=0.05, nu=0.05):
    fam = FieldOfExperts(num_experts=experts, kernel_size=k, channels=shape[1])
    gen = torch.Generator().manual_seed(seed)
    theta = fam.init_theta(scale=scale, nu=nu, perturbation=0.5, seed=seed)
    theta = theta + 0.2 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    x_star = torch.rand(shape, generator=gen, dtype=torch.float64)
    op = op or Identity()
    y = op.forward(x_star) + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return LowerLevelProblem(op, fam, mu), theta, y, x_star


def _mean_loss(problem, theta, y, x_star):
    low = solve_lower(problem.bind(theta, y), TIGHT)
    return float(SquaredError().value(low.x, x_star).mean())


@pytest.mark.parametrize("op,mu", [(Identity(), 0.0), (GaussianBlur(5, 1.0), 0.1)])
def test_hypergradient_matches_central_differences(op, mu):
    problem, theta, y, x_star = _foe_instance(op=op, mu=mu)
    res = hypergradient(problem, theta, y, x_star, TIGHT, TIGHT)
    gen = torch.Generator().manual_seed(7)
    for _ in range(3):
        d = torch.randn(theta.shape, generator=gen, dtype=torch.float64)
        d /= d.norm()
        h = 1e-5
        fd = (_mean_loss(problem, theta + h * d, y, x_star) - _mean_loss(problem, theta - h * d, y, x_star)) / (2 * h)
        assert float(res.grad @ d) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def _closed_form(op, mu, w, y, x_star):
    """Exact hypergradient of the quadratic regularizer by dense linear algebra."""
    B, C, H, W = y.shape
    n = C * H * W
    eye = torch.eye(n, dtype=torch.float64).view(n, C, H, W)
    A = op.forward(eye).reshape(n, n).T
    D = [_diff(eye, -1).reshape(n, n).T, _diff(eye, -2).reshape(n, n).T]
    M = A.T @ A + mu * torch.eye(n, dtype=torch.float64) + w[0] * D[0].T @ D[0] + w[1] * D[1].T @ D[1]
    out = []
    for i in range(B):
        xh = torch.linalg.solve(M, A.T @ y[i].reshape(-1))
        gg = 2 * (xh - x_star[i].reshape(-1))
        adj = torch.linalg.solve(M, gg)
        out.append(torch.stack([-adj @ (w[j] * D[j].T @ D[j] @ xh) for j in range(2)]))
    return torch.stack(out)


@pytest.mark.parametrize("op,mu", [(Identity(), 0.0), (GaussianBlur(3, 1.0, "circular"), 0.0), (GaussianBlur(5, 1.0), 0.05)])
def test_hypergradient_matches_quadratic_closed_form(op, mu):
    gen = torch.Generator().manual_seed(2)
    shape = (3, 2, 6, 5)
    x_star = torch.rand(shape, generator=gen, dtype=torch.float64)
    y = op.forward(x_star) + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
    theta = torch.tensor([0.3, -0.5], dtype=torch.float64)
    problem = LowerLevelProblem(op, QuadraticDifferences(channels=2), mu)
    res = hypergradient(problem, theta, y, x_star, TIGHT, TIGHT, per_image=True)
    exact = _closed_form(op, mu, torch.exp(theta), y, x_star)
    assert torch.allclose(res.per_image, exact, rtol=1e-8, atol=1e-10)
    assert torch.allclose(res.grad, exact.mean(dim=0), rtol=1e-8, atol=1e-10)
    # the bound is valid here as well, at a loose accuracy, and the estimate is close to the error
    for mode in ("refined", "direct"):
        loose = hypergradient(problem, theta, y, x_star, 1e-2, 1e-2, per_image=True, certify=mode)
        err = (loose.per_image - exact).norm(dim=1)
        assert bool((err <= loose.error_bound).all())
    assert torch.allclose(loose.error_estimate if mode == "refined" else err, err)
    refined = hypergradient(problem, theta, y, x_star, 1e-2, 1e-2, per_image=True)
    err = (refined.per_image - exact).norm(dim=1)
    assert torch.allclose(refined.error_estimate, err, rtol=5e-2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    log_eps=st.floats(-5.0, -1.0),
    log_delta=st.floats(-5.0, -1.0),
    scale=st.sampled_from([0.02, 0.1, 0.5]),
    nu=st.sampled_from([0.01, 0.05, 0.3]),
    blur=st.booleans(),
    mode=st.sampled_from(["refined", "direct"]),
)
def test_error_bound_never_below_true_error(seed, log_eps, log_delta, scale, nu, blur, mode):
    """Certified bound >= true error against a float64 reference, both tasks (denoising and a blur
    with a small ridge), both certification modes, generated thetas, images and accuracies."""
    op, mu = (GaussianBlur(3, 1.0), 0.05) if blur else (Identity(), 0.0)
    problem, theta, y, x_star = _foe_instance(seed=seed, op=op, mu=mu, shape=(2, 3, 7, 6), scale=scale, nu=nu)
    exact = tight_reference(problem, theta, y, x_star)
    approx = hypergradient(problem, theta, y, x_star, 10**log_eps, 10**log_delta, per_image=True, certify=mode)
    err = (approx.per_image - exact.per_image).norm(dim=1)
    # the reference itself is only certified to within its own (tiny) bound
    assert bool((err <= approx.error_bound + exact.error_bound).all()), (err, approx.error_bound)
    mean_err = float((approx.grad - exact.grad).norm())
    assert mean_err <= approx.grad_error_bound + float(exact.error_bound.mean())
    assert bool((approx.distance_bound <= 10**log_eps * (1 + 1e-12)).all())
    dist = (approx.x - exact.x).flatten(1).norm(dim=1)
    assert bool((dist <= approx.distance_bound + exact.grad_norm / problem.modulus(7, 6)).all())
    assert bool((approx.cg.residual_norm <= 10**log_delta).all())
    terms = sum(v for k, v in approx.error_terms.items())
    assert torch.allclose(terms, approx.error_bound, rtol=1e-12)


@pytest.mark.parametrize("blur", [False, True])
@pytest.mark.parametrize("learned", [False, True])
def test_error_estimate_tracks_the_true_error(blur, learned):
    """The estimate ``||z - z-||`` is within a factor 3 (in fact a few per cent) of the true error for
    eps = delta from 1e-1 to 1e-5, on both tasks, at an initial and at a sharper ("learned") theta."""
    op, mu = (GaussianBlur(3, 1.0), 0.1) if blur else (Identity(), 0.0)
    scale, nu = (0.2, 0.03) if learned else (0.02, 0.05)
    problem, theta, y, x_star = _foe_instance(seed=21 + blur, op=op, mu=mu, shape=(2, 3, 9, 8), scale=scale, nu=nu)
    exact = tight_reference(problem, theta, y, x_star)
    ratios = []
    for eps in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5):
        approx = hypergradient(problem, theta, y, x_star, eps, eps, per_image=True)
        err = (approx.per_image - exact.per_image).norm(dim=1)
        ratios += (approx.error_estimate / err).tolist()
        mean_err = float((approx.grad - exact.grad).norm())
        ratios.append(approx.grad_error_estimate / mean_err)
        assert bool((approx.error_bound >= approx.error_estimate).all())
    ratios = np.array(ratios)
    assert np.all((ratios > 1 / 3) & (ratios < 3)), ratios
    assert np.median(np.abs(np.log(ratios))) < 0.1


def test_batch_equals_one_by_one():
    problem, theta, y, x_star = _foe_instance(shape=(3, 3, 8, 8), seed=11)
    res = hypergradient(problem, theta, y, x_star, 1e-6, 1e-6, per_image=True)
    for i in range(3):
        one = hypergradient(problem, theta, y[i:i + 1], x_star[i:i + 1], 1e-6, 1e-6, per_image=True)
        assert int(one.lower.iterations[0]) == int(res.lower.iterations[i])
        assert int(one.cg.iterations[0]) == int(res.cg.iterations[i])
        assert torch.allclose(one.per_image[0], res.per_image[i], rtol=1e-9, atol=1e-12)
        assert torch.allclose(one.x[0], res.x[i], rtol=1e-10, atol=1e-13)
    assert torch.allclose(res.grad, res.per_image.mean(dim=0), rtol=1e-10, atol=1e-13)


def test_weights_and_warm_start():
    problem, theta, y, x_star = _foe_instance(shape=(3, 3, 8, 8), seed=12)
    w = torch.tensor([0.5, 0.0, 2.0], dtype=torch.float64)
    res = hypergradient(problem, theta, y, x_star, 1e-7, 1e-7, weights=w, per_image=True)
    assert torch.allclose(res.grad, w @ res.per_image, rtol=1e-9, atol=1e-12)
    # the batch bound adds the error vectors before taking norms: at most the weighted sum of bounds
    assert res.grad_error_bound == pytest.approx(float(res.error_vector.norm()) + res.grad_error_remainder)
    assert res.grad_error_bound <= float(w @ res.error_bound) * (1 + 1e-12)
    assert res.grad_error_estimate == pytest.approx(float(res.error_vector.norm()))
    direct = hypergradient(problem, theta, y, x_star, 1e-7, 1e-7, weights=w, certify="direct")
    assert direct.grad_error_bound == pytest.approx(float(w @ direct.error_bound))
    warm = hypergradient(problem, theta, y, x_star, 1e-7, 1e-7, x0=res.x, q0=res.q, weights=w)
    assert warm.computations < res.computations
    assert torch.allclose(warm.grad, res.grad, rtol=1e-5, atol=1e-8)


def test_same_seed_same_bits():
    a = hypergradient(*_foe_instance(seed=5), 1e-4, 1e-4, per_image=True)
    b = hypergradient(*_foe_instance(seed=5), 1e-4, 1e-4, per_image=True)
    assert torch.equal(a.grad, b.grad) and torch.equal(a.per_image, b.per_image) and torch.equal(a.x, b.x)


def test_cost_accounting():
    problem, theta, y, x_star = _foe_instance(shape=(2, 3, 8, 8), seed=3)
    res = hypergradient(problem, theta, y, x_star, 1e-5, 1e-5, certify=False)
    c = res.cost
    assert c.lower_iterations == int(res.lower.iterations.sum()) > 0
    assert c.cg_iterations == int(res.cg.iterations.sum()) > 0
    assert c.certification_iterations == 0
    assert c.computations == c.lower_iterations + c.cg_iterations
    assert c.gradient_evals == c.lower_iterations + 2  # one stopping check per image
    assert c.hvps >= c.cg_iterations + 2  # plus the true-residual confirmation
    assert c.jacobian_products == 2 and c.wall_time > 0
    assert res.certify == "none" and np.isnan(res.grad_error_bound) and np.isnan(res.grad_error_estimate)
    direct = hypergradient(problem, theta, y, x_star, 1e-5, 1e-5, certify="direct")
    assert direct.cost.computations == c.computations and direct.cost.certification_iterations == 0
    assert np.isnan(direct.grad_error_estimate) and np.isfinite(direct.grad_error_bound)
    refined = hypergradient(problem, theta, y, x_star, 1e-5, 1e-5)
    rc, ref = refined.cost, refined.refinement
    assert rc.certification_iterations == int(ref.certification_iterations.sum()) > 0
    assert int(ref.certification_iterations.sum()) >= int(ref.newton.cg_iterations.sum() + ref.adjoint.iterations.sum())
    single = hypergradient(problem, theta, y, x_star, 1e-5, 1e-5, refine_rounds=1)
    one = single.refinement
    assert single.cost.certification_iterations == int(one.newton.cg_iterations.sum() + one.adjoint.iterations.sum())
    assert bool((one.rounds == 1).all()) and bool((ref.rounds >= 1).all())
    # tightening rounds only lower the bound (never the estimate's meaning)
    assert bool((refined.error_bound <= single.error_bound * (1 + 1e-9)).all())
    assert rc.computations == c.computations + rc.certification_iterations
    assert rc.jacobian_products == 2 + int(ref.rounds.sum())
    # the refined point is tau times more accurate than x~ (tau = refine_tol = 1e-2)
    assert bool((ref.distance_bound <= 1e-2 * refined.distance_bound.double() * (1 + 1e-9)).all())
    assert bool((ref.residual_norm <= 1e-2 * refined.cg.residual_norm.double() * (1 + 1e-9)).all())


def test_float32_runs_and_agrees_with_float64():
    problem, theta, y, x_star = _foe_instance(shape=(2, 3, 16, 16), seed=8)
    r64 = hypergradient(problem, theta, y, x_star, 1e-3, 1e-3)
    r32 = hypergradient(problem, theta.float(), y.float(), x_star.float(), 1e-3, 1e-3)
    assert r32.grad.dtype == torch.float32
    assert torch.allclose(r32.grad.double(), r64.grad, rtol=1e-2, atol=1e-3 * float(r64.grad.norm()))


@pytest.mark.gpu
def test_cuda_matches_cpu():
    problem, theta, y, x_star = _foe_instance(shape=(2, 3, 16, 16), seed=9)
    cpu = hypergradient(problem, theta, y, x_star, 1e-6, 1e-6)
    gpu = hypergradient(problem, theta.cuda(), y.cuda(), x_star.cuda(), 1e-6, 1e-6)
    assert torch.allclose(gpu.grad.cpu(), cpu.grad, rtol=1e-6, atol=1e-9)


class TestBadInput:
    def setup_method(self):
        self.problem, self.theta, self.y, self.x_star = _foe_instance()

    def call(self, **kw):
        args = dict(problem=self.problem, theta=self.theta, y=self.y, x_star=self.x_star, eps=1e-3, delta=1e-3)
        args.update(kw)
        return hypergradient(args.pop("problem"), args.pop("theta"), args.pop("y"), args.pop("x_star"), args.pop("eps"), args.pop("delta"), **args)

    def test_wrong_shapes(self):
        with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
            self.call(y=self.y[0])
        with pytest.raises(ValueError, match="channels"):
            self.call(y=self.y[:, :2], x_star=self.x_star[:, :2])
        with pytest.raises(ValueError, match="shape"):
            self.call(x_star=self.x_star[:1])
        with pytest.raises(ValueError, match="theta must have shape"):
            self.call(theta=self.theta[:-1])

    def test_dtypes(self):
        with pytest.raises(ValueError, match="dtype"):
            self.call(theta=self.theta.float())
        with pytest.raises(ValueError, match="float32 or float64"):
            self.call(y=(self.y * 255).long())

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a second device")
    def test_devices(self):
        with pytest.raises(ValueError, match="device"):
            self.call(theta=self.theta.cuda())

    @pytest.mark.parametrize("bad", [0.0, -1e-3, float("nan"), float("inf")])
    def test_tolerances(self, bad):
        with pytest.raises(ValueError, match="eps"):
            self.call(eps=bad)
        with pytest.raises(ValueError, match="delta"):
            self.call(delta=bad)

    def test_nan(self):
        y = self.y.clone()
        y[0, 0, 0, 0] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            self.call(y=y)
        th = self.theta.clone()
        th[3] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            self.call(theta=th)
        x0 = self.y.clone()
        x0[1, 1, 1, 1] = float("inf")
        with pytest.raises(ValueError, match="x0"):
            self.call(x0=x0)

    def test_mu_zero_with_non_injective_operator(self):
        problem = LowerLevelProblem(GaussianBlur(7, 2.0), self.problem.regularizer, 0.0)
        with pytest.raises(ValueError, match="mu > 0"):
            self.call(problem=problem)
        with pytest.raises(ValueError, match="mu"):
            LowerLevelProblem(Identity(), self.problem.regularizer, -1.0)

    def test_weights_shape(self):
        with pytest.raises(ValueError, match="weights"):
            self.call(weights=torch.ones(5, dtype=torch.float64))


def test_circular_blur_is_injective_and_needs_no_ridge():
    fam = FieldOfExperts(num_experts=2, kernel_size=3)
    problem = LowerLevelProblem(GaussianBlur(3, 0.5, "circular"), fam, 0.0)
    assert problem.modulus(8, 8) > 0
    assert np.isfinite(problem.modulus(8, 8))
