"""Lower-level solver and CG: certified stopping, masks, warm starts."""
from __future__ import annotations

import pytest
import torch

from bilevel.foe import FieldOfExperts
from bilevel.operators import GaussianBlur, Identity
from bilevel.problem import LowerLevelProblem
from bilevel.solvers import conjugate_gradient, float32_reachable_eps, solve_lower, solve_lower_mixed


def _bound(seed=0, op=None, mu=0.0, shape=(3, 3, 10, 10), scale=0.1, nu=0.03):
    fam = FieldOfExperts(num_experts=4, kernel_size=3)
    gen = torch.Generator().manual_seed(seed)
    theta = fam.init_theta(scale=scale, nu=nu)
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    op = op or Identity()
    y = op.forward(x) + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return LowerLevelProblem(op, fam, mu).bind(theta, y)


@pytest.mark.parametrize("momentum", ["strongly_convex", "fista", "none"])
@pytest.mark.parametrize("check_every", [1, 7])
def test_stopping_rule_certifies_distance(momentum, check_every):
    lower = _bound()
    eps = 1e-4
    res = solve_lower(lower, eps, momentum=momentum, check_every=check_every)
    assert bool(res.converged.all())
    g = lower.gradient(res.x).flatten(1).norm(dim=1)
    assert torch.allclose(g, res.grad_norm, rtol=1e-10)
    assert bool((g <= lower.modulus * eps).all())
    exact = solve_lower(lower, 1e-12).x
    assert bool(((res.x - exact).flatten(1).norm(dim=1) <= eps).all())
    assert torch.equal(res.gradient_evals, res.iterations + 1)


@pytest.mark.parametrize("blur", [False, True])
@pytest.mark.parametrize("momentum", ["strongly_convex", "fista"])
def test_adaptive_step_certifies_the_same_distance(blur, momentum):
    """The adaptive step (secant curvature estimate, never above L_h) stops by the same certified test:
    every image ends within eps of the exact solution, also after other images left the batch."""
    op, mu = (GaussianBlur(5, 1.5), 0.05) if blur else (Identity(), 0.0)
    lower = _bound(seed=5, op=op, mu=mu, scale=0.5, nu=0.02)
    eps = torch.tensor([1e-2, 1e-4, 1e-7], dtype=torch.float64)
    res = solve_lower(lower, eps, momentum=momentum, step_rule="adaptive")
    assert bool(res.converged.all())
    g = lower.gradient(res.x).flatten(1).norm(dim=1)
    assert bool((g <= lower.modulus * eps).all())
    exact = solve_lower(lower, 1e-12).x
    assert bool(((res.x - exact).flatten(1).norm(dim=1) <= eps).all())
    assert res.iterations[0] < res.iterations[2]  # images stop (and leave the batch) at their own eps


def test_check_every_does_not_change_iterations():
    lower = _bound(seed=3)
    a = solve_lower(lower, 1e-6, check_every=1)
    b = solve_lower(lower, 1e-6, check_every=5)
    assert torch.equal(a.iterations, b.iterations)
    assert torch.equal(a.x, b.x)


def test_per_image_eps_and_warm_start():
    lower = _bound(seed=1)
    eps = torch.tensor([1e-2, 1e-5, 1e-8], dtype=torch.float64)
    res = solve_lower(lower, eps)
    assert res.iterations[0] < res.iterations[1] < res.iterations[2]
    again = solve_lower(lower, 1e-8, x0=res.x)
    assert int(again.iterations[2]) == 0
    assert bool((again.iterations[:2] > 0).all())


def test_max_iter_reports_not_converged(caplog):
    lower = _bound()
    with caplog.at_level("WARNING"):
        res = solve_lower(lower, 1e-10, max_iter=3)
    assert not bool(res.converged.any())
    assert bool((res.iterations == 3).all())
    assert "stopped before" in caplog.text


@pytest.mark.parametrize("blur", [False, True])
def test_mixed_precision_solve_certifies_the_same_distance(blur, caplog):
    """A float32 pre-solve then float64: the float64 test certifies eps also below float32's floor
    (1e-7 here), without the pre-solve's expected warning; both stages' iterations are counted."""
    op, mu = (GaussianBlur(5, 1.5), 0.05) if blur else (Identity(), 0.0)
    lower = _bound(seed=2, op=op, mu=mu, scale=0.5, nu=0.02)
    problem = LowerLevelProblem(op, lower.reg.family, mu)
    theta, y = lower.reg.theta, lower.y
    exact = solve_lower(lower, 1e-12).x
    for eps in (1e-3, 1e-7):
        caplog.clear()
        with caplog.at_level("WARNING"):
            res = solve_lower_mixed(problem, theta, y, eps)
        assert "stopped before" not in caplog.text
        assert bool(res.converged.all()) and res.x.dtype == torch.float64
        assert bool(((res.x - exact).flatten(1).norm(dim=1) <= eps).all())
        assert bool((lower.gradient(res.x).flatten(1).norm(dim=1) <= lower.modulus * eps).all())
        low32 = problem.bind(theta.float(), y.float())
        eps32 = float32_reachable_eps(problem.bind(theta, y), low32, eps, None)
        pre = solve_lower(low32, eps32, stall_iters=200, warn=False)
        assert torch.equal(res.iterations >= pre.iterations, torch.ones_like(res.converged))
        # one gradient more per stage, and the two of the float32 floor
        assert bool((res.gradient_evals >= res.iterations + 4).all())
    # anything but float64 is a plain solve
    plain = solve_lower(problem.bind(theta.float(), y.float()), 1e-3)
    assert torch.equal(solve_lower_mixed(problem, theta.float(), y.float(), 1e-3).x, plain.x)


def test_mixed_precision_solve_falls_back_to_a_cold_solve(monkeypatch):
    """An image the warm float64 stage leaves uncertified is solved again from the start in float64."""
    import bilevel.solvers as solvers

    lower = _bound(seed=2)
    problem = LowerLevelProblem(Identity(), lower.reg.family, 0.0)
    real, calls = solvers.solve_lower, []

    def warm_stage_misses_image_1(lw, eps, x0=None, **kw):
        res = real(lw, eps, x0, **kw)
        calls.append((lw.y.dtype, lw.y.shape[0], x0 is not None))
        if x0 is not None and lw.y.dtype == torch.float64:  # pretend the warm stage stalled on image 1
            conv = res.converged.clone()
            conv[1] = False
            return res._replace(converged=conv, x=torch.zeros_like(res.x))
        return res

    monkeypatch.setattr(solvers, "solve_lower", warm_stage_misses_image_1)
    eps = torch.tensor([1e-3, 1e-6, 1e-3], dtype=torch.float64)
    res = solvers.solve_lower_mixed(problem, lower.reg.theta, lower.y, eps)
    assert calls == [(torch.float32, 3, False), (torch.float64, 3, True), (torch.float64, 1, False)]
    cold = real(problem.bind(lower.reg.theta, lower.y[1:2]), 1e-6)
    assert bool(res.converged.all()) and torch.equal(res.x[1], cold.x[0])
    assert torch.equal(res.x[0], torch.zeros_like(res.x[0]))  # the others keep the warm stage's result
    assert int(res.iterations[1]) > int(cold.iterations[0])  # every stage counted


def test_mixed_precision_solve_caps_all_stages_together(caplog):
    """max_iter bounds the float32 stage, the float64 stage and a cold restart together, per image."""
    lower = _bound(seed=2, scale=0.5, nu=0.02)
    problem = LowerLevelProblem(Identity(), lower.reg.family, 0.0)
    full = solve_lower_mixed(problem, lower.reg.theta, lower.y, 1e-7)
    assert bool(full.converged.all())
    cap = int(full.iterations.max()) // 2
    with caplog.at_level("WARNING"):
        res = solve_lower_mixed(problem, lower.reg.theta, lower.y, 1e-7, max_iter=cap)
    assert bool((res.iterations <= cap).all()) and not bool(res.converged.all())
    assert "spent max_iter" in caplog.text or "stopped before" in caplog.text


def test_deblurring_needs_and_uses_mu():
    lower = _bound(op=GaussianBlur(5, 1.0), mu=0.05)
    assert lower.modulus == pytest.approx(0.05)
    res = solve_lower(lower, 1e-4)
    assert bool(res.converged.all())


def test_cg_per_image_residuals_and_warm_start():
    lower = _bound(seed=4)
    x = solve_lower(lower, 1e-8).x
    curv = lower.curvature(x)
    gen = torch.Generator().manual_seed(0)
    b = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    b[1] = 0.0  # guarded zero right-hand side
    delta = torch.tensor([1e-3, 1e-3, 1e-9], dtype=torch.float64)
    res = conjugate_gradient(lambda v, i: lower.hvp(curv, v, i), b, delta)
    true_r = (lower.hvp(curv, res.q) - b).flatten(1).norm(dim=1)
    assert torch.allclose(true_r, res.residual_norm, rtol=1e-6, atol=1e-14)
    assert bool((true_r <= delta).all())
    assert int(res.iterations[1]) == 0 and float(res.q[1].abs().max()) == 0.0
    assert res.iterations[0] < res.iterations[2]
    warm = conjugate_gradient(lambda v, i: lower.hvp(curv, v, i), b, 1e-3, q0=res.q)
    assert int(warm.iterations.sum()) == 0
    assert bool((warm.hvps >= 1).all())


def test_bad_solver_options():
    lower = _bound()
    with pytest.raises(ValueError, match="momentum"):
        solve_lower(lower, 1e-3, momentum="heavy")
    with pytest.raises(ValueError, match="step rule"):
        solve_lower(lower, 1e-3, step_rule="guess")
    with pytest.raises(ValueError, match="max_iter"):
        solve_lower(lower, 1e-3, max_iter=-1)
    with pytest.raises(ValueError, match="eps"):
        solve_lower(lower, torch.tensor([1e-3, -1.0, 1e-3], dtype=torch.float64))


def test_float32_stage_aims_at_what_float32_can_certify():
    """The float32 stage's target is eps where float32 reaches it, else a multiple of the measured
    rounding floor of its gradients (so it does not wait out its stall test)."""
    from bilevel.solvers import PRESOLVE_FLOOR_FACTOR

    for op, mu in ((Identity(), 0.0), (GaussianBlur(5, 1.5), 0.05)):
        lower = _bound(seed=2, op=op, mu=mu, scale=0.5, nu=0.02)
        problem = LowerLevelProblem(op, lower.reg.family, mu)
        theta, y = lower.reg.theta, lower.y
        low64, low32 = problem.bind(theta, y), problem.bind(theta.float(), y.float())
        x0 = low64.initial_point()
        floor = (low32.gradient(x0.float()).double() - low64.gradient(x0)).flatten(1).norm(dim=1)
        g0 = low64.gradient(x0).flatten(1).norm(dim=1)
        assert bool((floor > 0).all()) and bool((floor < 1e-5 * g0).all())  # float32 rounding, not an error
        loose = float32_reachable_eps(low64, low32, 1e-1, None)
        assert torch.allclose(loose, torch.full_like(loose, 1e-1))  # reachable: eps itself
        tight = float32_reachable_eps(low64, low32, 1e-9, None)
        expected = PRESOLVE_FLOOR_FACTOR * floor / low64.modulus
        assert torch.allclose(tight.double(), expected, rtol=1e-6) and bool((tight > 1e-9).all())
        # the float32 stage certifies its target without stalling
        pre = solve_lower(low32, tight, stall_iters=200, warn=False)
        assert bool(pre.converged.all())
    with pytest.raises(ValueError, match="presolve_floor_factor"):
        solve_lower_mixed(problem, theta, y, 1e-3, presolve_floor_factor=0.5)
