"""FoE: analytic gradient, Hessian-vector and mixed products against autograd; certified constants."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bilevel.foe import PSI3_SUP, FieldOfExperts, difference_kernels
from bilevel.padding import PADDING_MODES
from bilevel.reference import foe_value


def _setup(mode="reflect", per_expert=False, dtype=torch.float64, device="cpu", seed=0, shape=(2, 3, 11, 9), backend="auto"):
    fam = FieldOfExperts(padding=mode, per_expert_smoothing=per_expert, backend=backend)
    gen = torch.Generator().manual_seed(seed)
    theta = fam.init_theta(perturbation=0.5, seed=seed) + 0.3 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    return fam, theta.to(dtype=dtype, device=device), x.to(dtype=dtype, device=device)


def test_dimension_matches_paper():
    assert FieldOfExperts().dim == 1482
    assert FieldOfExperts(per_expert_smoothing=True).dim == 1491


def test_pack_unpack_roundtrip():
    fam = FieldOfExperts(num_experts=4, kernel_size=5, channels=2)
    theta = torch.randn(fam.dim, dtype=torch.float64)
    prm = fam.unpack(theta)
    again = fam.pack(float(prm.log_scale), prm.log_weights, prm.log_nu, prm.kernels)
    assert torch.equal(again, theta)
    with pytest.raises(ValueError, match="shape"):
        fam.unpack(torch.zeros(fam.dim + 1))


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("per_expert", [False, True])
@pytest.mark.parametrize("backend", ["direct", "fft"])
def test_value_gradient_hvp_mixed_against_autograd(mode, per_expert, backend, device):
    fam, theta, x = _setup(mode, per_expert, device=device, backend=backend)
    R = fam.at(theta)
    xr = x.clone().requires_grad_(True)
    val = foe_value(fam, theta, xr)
    assert torch.allclose(R.value(x), val.detach(), rtol=1e-12)
    gx = torch.autograd.grad(val.sum(), xr, create_graph=True)[0]
    assert torch.allclose(R.grad(x), gx.detach(), rtol=1e-10, atol=1e-12)
    v = torch.randn_like(x)
    hv = torch.autograd.grad((gx * v).sum(), xr)[0]
    curv = R.curvature(x)
    assert torch.allclose(R.hvp(curv, v), hv, rtol=1e-10, atol=1e-12)
    # mixed product B^T q = grad_theta <grad_x R, q>
    q = torch.randn_like(x)
    thr = theta.clone().requires_grad_(True)
    gx2 = torch.autograd.grad(foe_value(fam, thr, xr).sum(), xr, create_graph=True)[0]
    ref = torch.autograd.grad((gx2 * q).sum(), thr)[0]
    assert torch.allclose(R.mixed_vjp(x, q, curv), ref, rtol=1e-10, atol=1e-11)
    per = R.mixed_vjp(x, q, curv, per_image=True)
    assert per.shape == (x.shape[0], fam.dim)
    for i in range(x.shape[0]):
        gi = torch.autograd.grad(foe_value(fam, thr, xr[i:i + 1]).sum(), xr, create_graph=True)[0]
        refi = torch.autograd.grad((gi * q).sum(), thr)[0]
        assert torch.allclose(per[i], refi, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mode", PADDING_MODES)
def test_fft_backend_equals_direct(dtype, mode):
    fam_d, theta, x = _setup(mode, dtype=dtype, backend="direct", shape=(3, 3, 17, 13))
    fam_f = FieldOfExperts(padding=mode, backend="fft")
    Rd, Rf = fam_d.at(theta), fam_f.at(theta)
    v = torch.randn(3, 10, 17, 13, dtype=dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-12)
    assert torch.allclose(Rf.forward(x), Rd.forward(x), **tol)
    assert torch.allclose(Rf.adjoint(v), Rd.adjoint(v), **tol)
    assert torch.allclose(Rf.adjoint(v, scaled=True), Rd.adjoint(v, scaled=True), **tol)
    assert torch.allclose(Rf.grad(x), Rd.grad(x), **tol)
    with pytest.raises(ValueError, match="backend"):
        FieldOfExperts(backend="winograd")


def test_fft_lengths_are_fast():
    from bilevel.foe import fast_fft_length

    assert [fast_fft_length(n) for n in (1, 7, 102, 103, 262)] == [1, 8, 108, 108, 270]


def test_hvp_with_index_selects_rows():
    fam, theta, x = _setup()
    R = fam.at(theta)
    curv = R.curvature(x)
    v = torch.randn_like(x)
    idx = torch.tensor([1])
    assert torch.allclose(R.hvp(curv, v[1:2], idx), R.hvp(curv, v)[1:2])


@pytest.mark.parametrize("slice_", [1, 2, 3])
def test_micro_batches_equal_whole_batch(slice_):
    fam, theta, x = _setup(dtype=torch.float64, shape=(5, 3, 12, 11))
    whole = FieldOfExperts(micro_batch=64).at(theta)
    sliced = FieldOfExperts(micro_batch=slice_).at(theta)
    v = torch.randn_like(x)
    tol = dict(rtol=1e-12, atol=1e-13)
    assert torch.allclose(sliced.value(x), whole.value(x), **tol)
    assert torch.allclose(sliced.grad(x), whole.grad(x), **tol)
    cs, cw = sliced.curvature(x), whole.curvature(x)
    assert torch.allclose(cs.u, cw.u, **tol) and torch.allclose(cs.weight, cw.weight, **tol)
    assert torch.allclose(sliced.hvp(cs, v), whole.hvp(cw, v), **tol)
    idx = torch.tensor([4, 0, 2])
    assert torch.allclose(sliced.hvp(cs, v[idx], idx), whole.hvp(cw, v)[idx], **tol)
    q = torch.randn_like(x)
    assert torch.allclose(sliced.mixed_vjp(x, q, cs), whole.mixed_vjp(x, q, cw), **tol)
    assert torch.allclose(sliced.mixed_vjp(x, q, cs, per_image=True), whole.mixed_vjp(x, q, cw, per_image=True), **tol)
    radius = torch.tensor([1e-3, 1e-2, 0.1, 1e-4, 0.5], dtype=torch.float64)
    for a, b in zip(sliced.constants(x, cs, q, radius, 0.3), whole.constants(x, cw, q, radius, 0.3)):
        assert a.shape == (5,) and torch.allclose(a, b, **tol)


def test_micro_batch_rule_and_validation():
    from bilevel.foe import CPU_MICRO_BATCH_MAX

    R = FieldOfExperts().at(FieldOfExperts().init_theta())
    small = torch.zeros(64, 3, 8, 8)
    large = torch.zeros(4, 3, 512, 512)
    assert R.slice_size(small) == CPU_MICRO_BATCH_MAX  # tiny images: capped
    assert R.slice_size(large) == 1  # one image's responses exceed the budget
    assert 1 < R.slice_size(torch.zeros(8, 3, 96, 96)) < CPU_MICRO_BATCH_MAX
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="micro_batch"):
            FieldOfExperts(micro_batch=bad)


def test_gradcheck_float64():
    fam = FieldOfExperts(num_experts=2, kernel_size=3, channels=2)
    gen = torch.Generator().manual_seed(3)
    theta = (fam.init_theta() + 0.2 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)).requires_grad_(True)
    x = torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, z: foe_value(fam, t, z), (theta, x))
    R = fam.at(theta.detach())
    # the analytic gradient is a function of x whose Jacobian is the analytic Hessian
    assert torch.autograd.gradcheck(lambda z: R.grad(z), (x,))
    assert torch.autograd.gradcheck(lambda t: fam.at(t).grad(x.detach()), (theta,))


def test_projection_zero_mean_and_idempotent():
    fam = FieldOfExperts()
    theta = torch.randn(fam.dim, dtype=torch.float64)
    p = fam.project(theta)
    assert torch.allclose(fam.unpack(p).kernels.mean(dim=(1, 2, 3)), torch.zeros(10, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(fam.project(p), p)
    # only kernels change
    ks = fam.kernel_slice
    assert torch.equal(p[: ks.start], theta[: ks.start])


def test_init_is_documented_and_deterministic():
    fam = FieldOfExperts()
    a, b = fam.init_theta(perturbation=0.1, seed=4), fam.init_theta(perturbation=0.1, seed=4)
    assert torch.equal(a, b)
    ker = fam.unpack(fam.init_theta()).kernels
    assert torch.allclose(ker.mean(dim=(1, 2, 3)), torch.zeros(10, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(ker.flatten(1).norm(dim=1), torch.ones(10, dtype=torch.float64))
    assert torch.allclose(ker, difference_kernels(10, 3, 7), atol=1e-15)
    with pytest.raises(ValueError):
        fam.init_theta(scale=-1.0)


def _dense_hessian(R, x):
    n = x.numel()
    curv = R.curvature(x)
    eye = torch.eye(n, dtype=x.dtype).view(n, *x.shape[1:])
    cols = [R.hvp(type(curv)(*(c.expand(n, *c.shape[1:]) for c in curv)), eye)]
    return cols[0].reshape(n, n)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_grad_lipschitz_bound_is_certified(mode):
    fam = FieldOfExperts(num_experts=3, kernel_size=3, channels=2, padding=mode)
    gen = torch.Generator().manual_seed(5)
    theta = fam.init_theta(perturbation=0.7, seed=2) + 0.2 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    R = fam.at(theta)
    H, W = 5, 6
    bound = R.grad_lipschitz_bound(H, W)
    kn2 = R.kernel_norm_sq_bound(H, W)
    for _ in range(5):
        x = 0.3 * torch.randn(1, 2, H, W, generator=gen, dtype=torch.float64)
        Hd = _dense_hessian(R, x)
        assert np.linalg.eigvalsh(Hd.numpy()).max() <= bound + 1e-10
    # each ||K_j||^2 below its Gershgorin bound
    for j in range(3):
        n = 2 * H * W
        eye = torch.eye(n, dtype=torch.float64).view(n, 2, H, W)
        Kj = R.forward(eye)[:, j].reshape(n, -1)
        assert np.linalg.norm(Kj.numpy(), 2) ** 2 <= float(kn2[j]) + 1e-10


def test_psi_third_derivative_constant():
    u = np.linspace(-5, 5, 200001)
    nu = 0.7
    psi3 = -3 * nu**2 * u / (u**2 + nu**2) ** 2.5
    assert np.abs(psi3).max() <= PSI3_SUP / nu**2 + 1e-12
    assert np.abs(psi3).max() == pytest.approx(PSI3_SUP / nu**2, rel=1e-6)


def _dense_mixed(R, x):
    """``B(x)^T`` of one image as a dense ``(d, n)`` matrix (columns ``B^T e_k``)."""
    n = x[0].numel()
    eye = torch.eye(n, dtype=x.dtype).view(n, *x.shape[1:])
    xs = x.expand(n, *x.shape[1:]).contiguous()
    return R.mixed_vjp(xs, eye, R.curvature(xs), per_image=True).T


def _ball_points(x, radius, gen, count=6):
    """Points of the ball ``||x' - x|| <= radius``: random directions and single-pixel spikes."""
    pts = []
    for k in range(count):
        d = torch.randn(x.shape, generator=gen, dtype=x.dtype)
        if k % 2:
            d = torch.zeros_like(x)
            d.view(-1)[int(torch.randint(x.numel(), (1,), generator=gen))] = 1.0
        pts.append(x + radius * float(torch.rand(1, generator=gen)) * d / d.norm())
    return pts


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("per_expert", [False, True])
@pytest.mark.parametrize("radius,mu", [(1e-3, 1.0), (0.05, 0.01), (1.0, 0.1)])
def test_local_constants_are_certified(mode, per_expert, radius, mu):
    """Each constant of ``constants(x, curv, q, radius, mu)`` against its definition, densely, with the
    smallest Hessians the bound allows (``H' = mu I + grad^2 R(x')``) on a small float64 case."""
    fam = FieldOfExperts(num_experts=3, kernel_size=3, channels=2, padding=mode, per_expert_smoothing=per_expert)
    gen = torch.Generator().manual_seed(int(radius * 1000) + len(mode))
    theta = fam.init_theta(scale=0.3, nu=0.05, perturbation=0.6, seed=3) + 0.2 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    R = fam.at(theta)
    x = 0.3 * torch.rand(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    q = torch.randn(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    curv = R.curvature(x)
    c = R.constants(x, curv, q, torch.tensor([radius], dtype=torch.float64), mu)
    Bx = _dense_mixed(R, x)
    n = x.numel()
    for xp in [x] + _ball_points(x, radius, gen):
        dist = float((xp - x).norm())
        Hp = mu * torch.eye(n, dtype=torch.float64) + _dense_hessian(R, xp)
        evals, evecs = torch.linalg.eigh(Hp)
        inv_sqrt = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
        assert float(torch.linalg.matrix_norm(Bx @ inv_sqrt, 2)) <= float(c.jac_energy[0]) * (1 + 1e-10)
        if dist == 0:
            continue
        cp = R.curvature(xp)
        dh = (R.hvp(cp, q) - R.hvp(curv, q)).reshape(-1)
        assert float((inv_sqrt @ dh).norm()) <= float(c.hess_q_energy[0]) * dist * (1 + 1e-9) + 1e-13
        dj = R.mixed_vjp(xp, q, cp, per_image=True) - R.mixed_vjp(x, q, curv, per_image=True)
        assert float(dj.norm()) <= float(c.jac_q[0]) * dist * (1 + 1e-9) + 1e-13
        dB = _dense_mixed(R, xp) - Bx
        assert float(torch.linalg.matrix_norm(dB, 2)) <= float(c.jac_lipschitz[0]) * dist * (1 + 1e-9) + 1e-13


def test_local_constants_shrink_with_the_radius():
    fam, theta, x = _setup(shape=(1, 3, 12, 12))
    R = fam.at(theta)
    q = torch.randn_like(x)
    curv = R.curvature(x)
    small = R.constants(x, curv, q, torch.tensor([1e-6], dtype=torch.float64), 1.0)
    large = R.constants(x, curv, q, torch.tensor([10.0], dtype=torch.float64), 1.0)
    assert float(small.jac_energy) <= float(large.jac_energy)
    assert float(small.hess_q_energy) < float(large.hess_q_energy) and float(small.jac_q) <= float(large.jac_q)
    assert float(small.jac_lipschitz) <= float(large.jac_lipschitz)


def test_local_derivative_bounds_are_suprema():
    fam = FieldOfExperts(num_experts=2, kernel_size=3, channels=1)
    R = fam.at(fam.init_theta(nu=0.07))
    nu = float(R.nu[0])
    u = torch.linspace(-0.4, 0.4, 81, dtype=torch.float64).view(1, 1, 81, 1).expand(1, 2, 81, 1).contiguous()
    for t in (0.0, 0.01, 0.05, 0.3):
        m2, m3, mnu = R.local_derivative_bounds(u, torch.tensor(t, dtype=torch.float64))
        v = u[..., None] + torch.linspace(-t, t, 401, dtype=torch.float64)
        d2 = nu**2 / (v * v + nu**2) ** 1.5
        d3 = (3 * nu**2 * v / (v * v + nu**2) ** 2.5).abs()
        dn = (nu**2 * (nu**2 - 2 * v * v) / (v * v + nu**2) ** 2.5).abs()
        assert bool((d2.amax(-1) <= m2 * (1 + 1e-12)).all())
        assert bool((d3.amax(-1) <= m3 * (1 + 1e-12)).all())
        assert bool((dn.amax(-1) <= mnu * (1 + 1e-12)).all())
        # the suprema of the second and third derivatives are attained (up to the grid)
        assert torch.allclose(d2.amax(-1), m2, rtol=1e-3)
        assert torch.allclose(d3.amax(-1), m3, rtol=2e-2)
    assert float(m3.max()) == pytest.approx(PSI3_SUP / nu**2)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_stacked_and_weighted_norms_are_certified(mode):
    fam = FieldOfExperts(num_experts=3, kernel_size=3, channels=2, padding=mode)
    gen = torch.Generator().manual_seed(9)
    theta = fam.init_theta(perturbation=0.8, seed=1) + 0.2 * torch.randn(fam.dim, generator=gen, dtype=torch.float64)
    R = fam.at(theta)
    H, W = 5, 6
    n = 2 * H * W
    eye = torch.eye(n, dtype=torch.float64).view(n, 2, H, W)
    K = R.forward(eye).reshape(n, 3, H * W)  # K[k, j, p] = (K_j e_k)_p
    stacked = torch.einsum("kjp,ljp->kl", K, K)
    assert float(torch.linalg.eigvalsh(stacked).max()) <= R.stacked_norm_sq_bound(H, W) * (1 + 1e-10)
    a = torch.rand(1, 3, H, W, generator=gen, dtype=torch.float64)
    weighted = torch.einsum("kjp,jp,ljp->kl", K, a[0].reshape(3, -1), K)
    assert float(torch.linalg.eigvalsh(weighted).max()) <= float(R.weighted_gram_bound(a)[0]) * (1 + 1e-10)
