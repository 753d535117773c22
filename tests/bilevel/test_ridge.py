"""Weakly convex ridge family: analytic products against autograd (float64), the certified negative
curvature and smoothness against exact eigenvalues, the budget parametrisation, constants."""
from __future__ import annotations

import math

import pytest
import torch

from bilevel.padding import PADDING_MODES
from bilevel.reference import ridge_gershgorin, ridge_value
from bilevel.ridge import (
    ATOMS,
    WeaklyConvexRidge,
    atom_derivatives,
    atom_phi,
    autocorrelations,
    dct_basis,
    dct_opponent_kernels,
    filter_activity,
    gershgorin,
)


def _setup(mode="reflect", atom="cauchy", backend="direct", shape=(2, 3, 12, 10), J=5, k=5, rho_max=0.8, seed=0,
           dtype=torch.float64, kernel_scale=1.0, atom_sign="add"):
    fam = WeaklyConvexRidge(num_filters=J, kernel_size=k, weak_convexity=rho_max, atom=atom, padding=mode, backend=backend,
                            kernel_scale=kernel_scale, atom_sign=atom_sign)
    gen = torch.Generator().manual_seed(seed)
    theta = fam.init_theta(scale=0.5, nu=0.1, shape=0.2, rest=0.3, perturbation=0.5, seed=seed)
    theta = theta + 0.3 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    x = 0.3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    return fam, theta.to(dtype), x.to(dtype)


def _dense(fn, n: int, like: torch.Tensor) -> torch.Tensor:
    """The matrix of a linear map of flattened images (columns = images of unit vectors)."""
    eye = torch.eye(n, dtype=like.dtype).view(n, *like.shape[1:])
    return fn(eye).reshape(n, n).T


def test_atom_constants_are_the_sups():
    v = torch.linspace(-40, 40, 2_000_001, dtype=torch.float64)
    for name, at in ATOMS.items():
        d1, d2, d3 = atom_derivatives(name, v, order=3)
        assert float(d2[v.abs().argmin()]) == pytest.approx(1.0)
        assert float(d2.min()) == pytest.approx(-at.kappa, rel=1e-9)
        assert float(d1.abs().max()) == pytest.approx(at.d1_sup, rel=1e-9)
        assert float(d3.abs().max()) == pytest.approx(at.d3_sup, rel=1e-8)
        assert float((v * d3).abs().max()) == pytest.approx(at.vd3_sup, rel=1e-8)
        assert float(d3.abs().max()) <= at.d3_sup and float((v * d3).abs().max()) <= at.vd3_sup
        # derivatives are derivatives of phi
        vr = v[::1000].clone().requires_grad_(True)
        g1 = torch.autograd.grad(atom_phi(name, vr).sum(), vr, create_graph=True)[0]
        g2 = torch.autograd.grad(g1.sum(), vr, create_graph=True)[0]
        g3 = torch.autograd.grad(g2.sum(), vr)[0]
        e1, e2, e3 = atom_derivatives(name, vr.detach(), order=3)
        assert torch.allclose(g1, e1) and torch.allclose(g2, e2) and torch.allclose(g3, e3, atol=1e-12)


def test_layout_pack_unpack_and_dimension():
    fam = WeaklyConvexRidge(num_filters=48, kernel_size=7)
    assert fam.dim == 1 + 3 * 48 + 48 * 3 * 49
    theta = torch.randn(fam.dim, dtype=torch.float64)
    p = fam.unpack(theta)
    assert torch.equal(fam.pack(float(p.budget_logit), p.log_share, p.log_nu, p.log_s, p.kernels), theta)
    with pytest.raises(ValueError, match="shape"):
        fam.unpack(theta[:-1])
    scaled = WeaklyConvexRidge(num_filters=48, kernel_size=7, kernel_scale=0.25)
    q = scaled.unpack(theta)
    assert torch.allclose(q.kernels, 0.25 * p.kernels) and torch.equal(q.log_nu, p.log_nu)
    assert torch.allclose(scaled.pack(float(q.budget_logit), q.log_share, q.log_nu, q.log_s, q.kernels), theta)
    for bad in (dict(kernel_size=4), dict(weak_convexity=-0.1), dict(atom="huber"), dict(padding="mirror"),
                dict(backend="winograd"), dict(num_filters=0), dict(weak_convexity=float("nan")), dict(kernel_scale=0.0)):
        with pytest.raises(ValueError):
            WeaklyConvexRidge(**bad)


def test_init_filters_are_unit_zero_mean_dct_in_opponent_colours():
    ker = dct_opponent_kernels(64, 3, 7)
    assert torch.allclose(ker.flatten(1).norm(dim=1), torch.ones(64, dtype=torch.float64))
    assert ker.flatten(1).mean(dim=1).abs().max() < 1e-12
    basis = dct_basis(7)
    assert torch.allclose(basis.flatten(1) @ basis.flatten(1).T, torch.eye(49, dtype=torch.float64), atol=1e-12)
    lum = ker[0]  # a luminance filter: equal on every channel
    assert torch.allclose(lum[0], lum[1]) and torch.allclose(lum[1], lum[2])
    fam = WeaklyConvexRidge()
    assert torch.allclose(fam.project(fam.init_theta()), fam.init_theta())


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("atom", sorted(ATOMS))
@pytest.mark.parametrize("backend", ["direct", "fft", "auto"])
def test_value_gradient_hvp_mixed_against_autograd(mode, atom, backend):
    # the subtracted atom on the auto backend (with a kernel scale), the added one elsewhere
    fam, theta, x = _setup(mode, atom, backend, kernel_scale=0.3 if backend == "auto" else 1.0,
                           atom_sign="subtract" if backend == "auto" else "add")
    R = fam.at(theta)
    xr = x.clone().requires_grad_(True)
    val = ridge_value(fam, theta, xr)
    assert torch.allclose(R.value(x), val.detach(), rtol=1e-11, atol=1e-12)
    gx = torch.autograd.grad(val.sum(), xr, create_graph=True)[0]
    assert torch.allclose(R.grad(x), gx.detach(), rtol=1e-10, atol=1e-11)
    v = torch.randn_like(x)
    hv = torch.autograd.grad((gx * v).sum(), xr)[0]
    curv = R.curvature(x)
    assert torch.allclose(R.hvp(curv, v), hv, rtol=1e-10, atol=1e-11)
    idx = torch.tensor([1])
    assert torch.allclose(R.hvp(curv, v[1:], idx), hv[1:], rtol=1e-10, atol=1e-11)
    q = torch.randn_like(x)
    thr = theta.clone().requires_grad_(True)
    gx2 = torch.autograd.grad(ridge_value(fam, thr, xr).sum(), xr, create_graph=True)[0]
    ref = torch.autograd.grad((gx2 * q).sum(), thr)[0]
    got = R.mixed_vjp(x, q, curv)
    assert torch.allclose(got, ref, rtol=1e-9, atol=1e-10), (got - ref).abs().max()
    per = R.mixed_vjp(x, q, curv, per_image=True)
    assert per.shape == (x.shape[0], fam.dim)
    for i in range(x.shape[0]):
        gi = torch.autograd.grad(ridge_value(fam, thr, xr[i:i + 1]).sum(), xr, create_graph=True)[0]
        refi = torch.autograd.grad((gi * q).sum(), thr)[0]
        assert torch.allclose(per[i], refi, rtol=1e-9, atol=1e-10)


def test_micro_batching_changes_nothing():
    fam, theta, x = _setup(shape=(5, 3, 12, 10), backend="fft")
    sliced = WeaklyConvexRidge(num_filters=5, kernel_size=5, weak_convexity=0.8, backend="fft", micro_batch=2)
    R, Rs = fam.at(theta), sliced.at(theta)
    q = torch.randn_like(x)
    c, cs = R.curvature(x), Rs.curvature(x)
    assert torch.allclose(R.grad(x), Rs.grad(x), atol=1e-13)
    assert torch.allclose(R.hvp(c, q), Rs.hvp(cs, q), atol=1e-13)
    assert torch.allclose(R.mixed_vjp(x, q, c), Rs.mixed_vjp(x, q, cs), atol=1e-12)
    assert torch.allclose(R.mixed_vjp(x, q, c, per_image=True), Rs.mixed_vjp(x, q, cs, per_image=True), atol=1e-12)
    for a, b in zip(R.constants(x, c, q), Rs.constants(x, cs, q)):
        assert torch.allclose(a, b, rtol=1e-12)


def test_gershgorin_matches_an_independent_computation_and_is_homogeneous():
    fam, theta, _ = _setup(J=6, k=5)
    p = fam.unpack(theta)
    w = torch.rand(6, dtype=torch.float64)
    g = gershgorin(w, autocorrelations(p.kernels))
    assert float(g.value) == pytest.approx(float(ridge_gershgorin(w, p.kernels)), rel=1e-12)
    assert float(gershgorin(3 * w, autocorrelations(p.kernels)).value) == pytest.approx(3 * float(g.value), rel=1e-12)


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("rho_max", [0.3, 0.95])
@pytest.mark.parametrize("atom_sign", ["add", "subtract"])
def test_prescribed_bound_holds_for_every_theta_and_certifies_the_hessian(mode, rho_max, atom_sign):
    """The parametrisation keeps Gamma(rho) = rho_max tau < rho_max, and -Gamma is below every eigenvalue
    of the exact Hessian (dense, small images, at many points x), whatever theta and atom sign."""
    for seed in range(3):
        fam, theta, x = _setup(mode, shape=(1, 3, 11, 9), J=4, k=3, rho_max=rho_max, seed=seed, atom_sign=atom_sign)
        theta = theta.clone()
        theta[0] = 4.0  # tau close to 1: the largest negative curvature allowed
        R = fam.at(theta)
        bound = R.negative_curvature_bound()
        assert bound == pytest.approx(rho_max * float(torch.sigmoid(theta[0])), rel=1e-10)
        assert bound < rho_max
        n = x[0].numel()
        for scale in (0.0, 0.05, 0.3, 2.0):
            xs = scale * torch.randn_like(x, generator=None) if scale else torch.zeros_like(x)
            curv = R.curvature(xs)
            Hm = _dense(lambda v: R.hvp(type(curv)(curv.u.expand(v.shape[0], -1, -1, -1),
                                                   curv.weight.expand(v.shape[0], -1, -1, -1)), v), n, x)
            Hm = 0.5 * (Hm + Hm.T)
            eig = torch.linalg.eigvalsh(Hm)
            assert float(eig.min()) >= -bound - 1e-10
            assert float(eig.abs().max()) <= R.grad_lipschitz_bound(11, 9) * (1 + 1e-10)


def test_negative_curvature_is_attained_up_to_the_gershgorin_factor():
    """The certificate is not vacuous: with a nonconvex potential saturated (x where every response sits
    at the atom's most negative curvature is not reachable, so check the interior Gram operator itself)
    the exact norm of sum_j rho_j (S K_j)^T (S K_j) is within a factor 4 of Gamma."""
    fam, theta, x = _setup(shape=(1, 3, 16, 16), J=6, k=5)
    R = fam.at(theta)
    n = x[0].numel()
    J = 6
    mask = 1.0 - R.border_mask(16, 16, x)
    rho = R.rho.view(1, J, 1, 1)
    G = _dense(lambda v: R.adjoint(rho * mask * R.forward(v)), n, x)
    lam = float(torch.linalg.eigvalsh(0.5 * (G + G.T)).max())
    bound = R.negative_curvature_bound()
    assert lam <= bound * (1 + 1e-10)
    assert lam >= bound / 4


def test_budget_and_convex_member():
    fam = WeaklyConvexRidge(num_filters=4, kernel_size=3, weak_convexity=0.0)
    theta = fam.init_theta()
    R = fam.at(theta)
    assert R.negative_curvature_bound() == 0.0
    assert torch.all(R.rho == 0)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    curv = R.curvature(x)
    assert float(curv.weight.min()) >= 0.0


@pytest.mark.parametrize("atom,kernel_scale,atom_sign", [("cauchy", 1.0, "add"), ("welsch", 1.0, "add"), ("cauchy", 0.3, "add"),
                                                      ("cauchy", 1.0, "subtract"), ("welsch", 0.3, "subtract")])
def test_constants_bound_the_true_variations(atom, kernel_scale, atom_sign):
    """Each certified constant is above the corresponding variation at random pairs of points."""
    fam, theta, x = _setup(atom=atom, shape=(2, 3, 12, 10), kernel_scale=kernel_scale, atom_sign=atom_sign)
    R = fam.at(theta)
    q = torch.randn_like(x)
    curv = R.curvature(x)
    consts = R.global_constants(x, curv, q)
    paired = R.constants(x, curv, q, torch.full((2,), 0.1, dtype=x.dtype), 0.25)  # the error bound's form
    assert torch.allclose(paired.jac_energy, consts.jac_norm / 0.5) and torch.allclose(paired.hess_q_energy, consts.hess_q / 0.5)
    assert torch.equal(paired.jac_q, consts.jac_q) and torch.equal(paired.jac_lipschitz, consts.jac_lipschitz)
    n = x[0].numel()
    d = fam.dim
    # ||B(x_i)||: the exact operator norm, from the dense matrix of q -> B_i^T q
    for i in range(2):
        eye = torch.eye(n, dtype=x.dtype).view(n, *x.shape[1:])
        rep = lambda t: t[i:i + 1].expand(n, *t.shape[1:])  # noqa: E731
        Bt = R.mixed_vjp(rep(x), eye, type(curv)(rep(curv.u), rep(curv.weight)), per_image=True)  # (n, d)
        assert float(torch.linalg.matrix_norm(Bt, ord=2)) <= float(consts.jac_norm[i]) * (1 + 1e-9)
    gen = torch.Generator().manual_seed(3)
    for trial in range(4):
        dx = (0.5 if trial % 2 else 0.01) * torch.randn(x.shape, generator=gen, dtype=x.dtype)
        x2 = x + dx
        c2 = R.curvature(x2)
        dn = dx.flatten(1).norm(dim=1)
        # (H(x2) - H(x)) q and (B(x2) - B(x))^T q
        hq = (R.hvp(c2, q) - R.hvp(curv, q)).flatten(1).norm(dim=1) / dn
        assert torch.all(hq <= consts.hess_q * (1 + 1e-9))
        jq = (R.mixed_vjp(x2, q, c2, per_image=True) - R.mixed_vjp(x, q, curv, per_image=True)).norm(dim=1) / dn
        assert torch.all(jq <= consts.jac_q * (1 + 1e-9))
        # L_H and L_B with random directions v
        v = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        v = v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        hv = (R.hvp(c2, v) - R.hvp(curv, v)).flatten(1).norm(dim=1) / dn
        assert torch.all(hv <= consts.hess_lipschitz * (1 + 1e-9))
        bv = (R.mixed_vjp(x2, v, c2, per_image=True) - R.mixed_vjp(x, v, curv, per_image=True)).norm(dim=1) / dn
        assert torch.all(bv <= consts.jac_lipschitz * (1 + 1e-9))
    assert all(math.isfinite(float(c.max())) for c in consts)


def test_filter_activity_counts_the_filters_that_carry_weight():
    """At the documented start only the 2C first differences carry weight (the rest start at ``rest``
    times their norm); with ``rest`` above the threshold every filter counts; tau is the budget."""
    fam = WeaklyConvexRidge(num_filters=10, kernel_size=3)
    act = filter_activity(fam, fam.init_theta(scale=0.2, rest=0.01, budget=0.3))
    assert act.active == 6 and len(act.norms) == 10
    assert math.isclose(max(act.norms), 0.2, rel_tol=1e-12) and math.isclose(min(act.norms), 0.002, rel_tol=1e-12)
    assert math.isclose(act.budget_in_use, 0.3, rel_tol=1e-12)
    assert filter_activity(fam, fam.init_theta(scale=0.2, rest=0.5)).active == 10
    assert filter_activity(fam, fam.init_theta(scale=0.2, rest=0.5), threshold=0.6).active == 6
    d = act.as_dict()
    assert d["active"] == 6 and d["filters"] == 10 and math.isclose(d["median_norm"], 0.2, rel_tol=1e-12)
    with pytest.raises(ValueError, match="threshold"):
        filter_activity(fam, fam.init_theta(), threshold=0.0)


@pytest.mark.parametrize("atom", sorted(ATOMS))
def test_subtracted_atom_lowers_the_slope_and_keeps_the_curvature_bound(atom):
    """With ``atom_sign="subtract"`` the potential's slope lies below the smoothed absolute value's for
    t > 0 (less penalty on large responses), it dips by ``rho s phi'(1)`` at ``t = s`` for the Cauchy
    atom, and ``psi'' >= -rho`` on a fine grid; the added atom raises the slope instead."""
    fam_s = WeaklyConvexRidge(num_filters=1, kernel_size=3, channels=1, weak_convexity=0.9, atom=atom, atom_sign="subtract")
    fam_a = WeaklyConvexRidge(num_filters=1, kernel_size=3, channels=1, weak_convexity=0.9, atom=atom)
    assert fam_s.atom_coefficient == -1.0 and fam_a.atom_coefficient > 1.0
    theta = fam_s.init_theta(scale=0.5, nu=0.01, shape=0.4, budget=0.9)
    t = torch.linspace(1e-3, 2.0, 4001, dtype=torch.float64)
    slopes, curvs = {}, {}
    for name, fam in (("subtract", fam_s), ("add", fam_a)):
        R = fam.at(theta)
        nu, s, rho, omega = float(R.nu[0]), float(R.s[0]), float(R.rho[0]), float(R.omega[0])
        tt = t.clone().requires_grad_(True)
        psi = torch.sqrt(tt * tt + nu * nu) - nu + omega * s * s * atom_phi(atom, tt / s)
        d1 = torch.autograd.grad(psi.sum(), tt, create_graph=True)[0]
        d2 = torch.autograd.grad(d1.sum(), tt)[0]
        slopes[name], curvs[name] = d1.detach(), d2
        assert float(d2.min()) >= -rho * (1 + 1e-9)
    absolute = t / torch.sqrt(t * t + nu * nu)
    assert torch.all(slopes["subtract"] <= absolute + 1e-12) and torch.all(slopes["add"] >= absolute - 1e-12)
    near = t <= 3 * s  # where the atom's slope is not lost to rounding (the Welsch atom's decays like exp(-v^2))
    assert torch.all(slopes["subtract"][near] < absolute[near]) and torch.all(slopes["add"][near] > absolute[near])
    if atom == "cauchy":  # s phi'(t/s) at t = s is s/2
        i = int(torch.argmin((t - s).abs()))
        assert float(absolute[i] - slopes["subtract"][i]) == pytest.approx(rho * s / 2, rel=1e-3)
    with pytest.raises(ValueError, match="atom_sign"):
        WeaklyConvexRidge(atom_sign="minus")
