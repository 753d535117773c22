"""Autograd references: the FoE and weakly convex ridge energies written as plain differentiable
functions, and an autograd-only hypergradient (the baseline of ``benchmarks/bench_core.py``).

These are deliberately straightforward: lower-level gradients by ``torch.autograd.grad``,
Hessian-vector products by double backward, fixed-step FISTA with a power-method step size, and the
mixed product by differentiating ``<grad_x h, q>`` in ``theta``. Tests compare the analytic products
of :mod:`bilevel.foe` and :mod:`bilevel.ridge` with them.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .foe import FieldOfExperts
from .padding import pad
from .ridge import WeaklyConvexRidge, atom


def foe_value(family: FieldOfExperts, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``R_theta(x_i)`` per image via ordinary differentiable torch operations."""
    prm = family.unpack(theta)
    u = F.conv2d(pad(x, family.kernel_size // 2, family.padding), prm.kernels)
    nu = torch.exp(prm.log_nu).view(1, -1, 1, 1)
    psi = torch.sqrt(u * u + nu * nu) - nu
    return (psi.sum(dim=(2, 3)) * torch.exp(prm.log_scale + prm.log_weights)).sum(dim=1)


def ridge_gershgorin(weights: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """``max_c sum_{c', Delta} |sum_j w_j A_j[c, c'](Delta)|`` by one small correlation per filter and
    channel pair (independent of :func:`bilevel.ridge.autocorrelations`; differentiable)."""
    J, C, k, _ = kernels.shape
    r2 = 2 * (k // 2)
    rows = []
    for c in range(C):
        total = 0.0
        for c2 in range(C):
            acc = 0.0
            for j in range(J):
                inp = F.pad(kernels[j, c2][None, None], (r2, r2, r2, r2))
                acc = acc + weights[j] * F.conv2d(inp, kernels[j, c][None, None])
            total = total + acc.abs().sum()
        rows.append(total)
    return torch.stack(rows).max()


def ridge_value(family: WeaklyConvexRidge, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``R_theta(x_i)`` of the weakly convex ridge family per image, with plain torch operations."""
    prm = family.unpack(theta)
    k = family.kernel_size
    r = k // 2
    u = F.conv2d(pad(x, r, family.padding), prm.kernels)
    H, W = x.shape[-2:]
    border = torch.ones(H, W, dtype=x.dtype, device=x.device)
    border[r:H - r, r:W - r] = 0.0
    share = torch.exp(prm.log_share)
    tau = torch.sigmoid(prm.budget_logit)
    rho = family.weak_convexity * tau * share / ridge_gershgorin(share, prm.kernels)
    at = atom(family.atom)
    nu, s = (torch.exp(t).view(1, -1, 1, 1) for t in (prm.log_nu, prm.log_s))
    rho4 = rho.view(1, -1, 1, 1)
    v = u / s
    phi = 0.5 * torch.log1p(v * v) if at.name == "cauchy" else 0.5 * (1.0 - torch.exp(-v * v))
    coef = 1.0 / at.kappa if family.atom_sign == "add" else -1.0  # written out, not atom_coefficient
    psi = torch.sqrt(u * u + nu * nu) - nu + coef * rho4 * s * s * phi + 0.5 * rho4 * border * u * u
    return psi.sum(dim=(1, 2, 3))


def regularizer_value(family, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The reference value of any family with one here (FoE or weakly convex ridge)."""
    if isinstance(family, WeaklyConvexRidge):
        return ridge_value(family, theta, x)
    if isinstance(family, FieldOfExperts):
        return foe_value(family, theta, x)
    raise ValueError(f"no autograd reference for the regularizer {family.describe().get('name')!r}")


def lower_energy(family, operator, mu, theta, x, y) -> torch.Tensor:
    """``h_i(x_i, theta)`` per image (autograd-friendly)."""
    res = operator.forward(x) - y
    return 0.5 * res.pow(2).sum(dim=(1, 2, 3)) + regularizer_value(family, theta, x) + 0.5 * mu * x.pow(2).sum(dim=(1, 2, 3))


class ReferenceResult(NamedTuple):
    grad: torch.Tensor
    x: torch.Tensor
    q: torch.Tensor
    lower_iterations: int
    cg_iterations: int
    power_iterations: int
    wall_time: float


def autograd_hypergradient(
    family: FieldOfExperts,
    operator,
    mu: float,
    modulus: float,
    theta: torch.Tensor,
    y: torch.Tensor,
    x_star: torch.Tensor,
    eps: float,
    delta: float,
    power_iterations: int = 20,
    max_iter: int = 20000,
) -> ReferenceResult:
    """Mean hypergradient computed with autograd only (a baseline, not certified).

    Stops the batch when every image satisfies ``||grad h_i|| <= modulus eps`` (the same rule as
    :func:`bilevel.solvers.solve_lower`) and CG when every residual is ``<= delta``.
    """
    t0 = time.perf_counter()
    th = theta.detach()

    def grad_h(x: torch.Tensor, create_graph: bool = False, th=th) -> torch.Tensor:
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            e = lower_energy(family, operator, mu, th, x, y).sum()
            return torch.autograd.grad(e, x, create_graph=create_graph)[0]

    # power method for the step size, on the Hessian at x = 0: with zero-mean kernels u = K 0 = 0,
    # where psi'' = 1/nu is maximal, so this estimates the global smoothness constant from below
    x = operator.adjoint(y).detach().clone()
    with torch.enable_grad():
        xr = torch.zeros_like(x).requires_grad_(True)
        g = grad_h(xr, create_graph=True)
        v = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype).to(y.device)
        lam = 1.0
        for _ in range(power_iterations):  # noqa: B007
            v = v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            hv = torch.autograd.grad(g, xr, v, retain_graph=True)[0]
            lam = float((v * hv).flatten(1).sum(dim=1).max())
            v = hv
    L = 1.05 * lam
    # plain FISTA with fixed step 1/L
    xk, yk, t = x, x, 1.0
    its = 0
    tol = modulus * eps
    while its < max_iter:
        g = grad_h(yk)
        if float(g.flatten(1).norm(dim=1).max()) <= tol:
            xk = yk
            break
        xn = yk - g / L
        tn = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        yk = xn + ((t - 1) / tn) * (xn - xk)
        xk, t = xn, tn
        its += 1
    xs = xk.detach()
    # CG with double-backward Hessian-vector products
    b = 2.0 * (xs - x_star)
    with torch.enable_grad():
        xr = xs.clone().requires_grad_(True)
        g = grad_h(xr, create_graph=True)

        def hvp(v: torch.Tensor) -> torch.Tensor:
            return torch.autograd.grad(g, xr, v, retain_graph=True)[0]

        q = torch.zeros_like(b)
        r = b.clone()
        p = r.clone()
        rs = r.flatten(1).pow(2).sum(dim=1)
        cg_its = 0
        while float(rs.sqrt().max()) > delta and cg_its < max_iter:
            hp = hvp(p)
            alpha = rs / (p * hp).flatten(1).sum(dim=1)
            q = q + alpha.view(-1, 1, 1, 1) * p
            r = r - alpha.view(-1, 1, 1, 1) * hp
            rs_new = r.flatten(1).pow(2).sum(dim=1)
            p = r + (rs_new / rs).view(-1, 1, 1, 1) * p
            rs = rs_new
            cg_its += 1
        # mixed product: grad_theta <grad_x h(x, theta), q>
        thr = th.clone().requires_grad_(True)
        gx = grad_h(xr, create_graph=True, th=thr)
        z = -torch.autograd.grad((gx * q.detach()).sum(), thr)[0] / y.shape[0]
    B = y.shape[0]
    return ReferenceResult(z.detach(), xs, q.detach(), its * B, cg_its * B, power_iterations, time.perf_counter() - t0)


class TightReference(NamedTuple):
    """A float64 reference hypergradient solved far beyond any accuracy under test.

    Attributes
    ----------
    per_image: ``grad f_i`` up to ``error_bound`` ``(B, d)``; ``grad``: their mean.
    x, q: lower-level solutions and adjoints; ``grad_norm``: ``||grad h_i(x_i)||``;
    residual_norm: ``||H_i q_i - grad g_i(x_i)||``.
    error_bound: certified bound on ``||per_image_i - grad f_i||`` (the direct bound of
        :mod:`bilevel.hypergradient` at this point; about 1e-8 relative or less).
    """

    per_image: torch.Tensor
    grad: torch.Tensor
    x: torch.Tensor
    q: torch.Tensor
    grad_norm: torch.Tensor
    residual_norm: torch.Tensor
    error_bound: torch.Tensor


def tight_reference(problem, theta: torch.Tensor, y: torch.Tensor, x_star: torch.Tensor, *,
                    grad_tol: float = 1e-11, residual_tol: float = 1e-13, loss=None) -> TightReference:
    """Reference per-image hypergradients in float64: the lower level solved to ``||grad h|| <= grad_tol``
    (accelerated gradient to ``1e-3``, then Newton-CG), the adjoint to a true residual ``residual_tol``.

    Built from the analytic products of the regularizer (which the tests compare with autograd and
    :func:`autograd_hypergradient`) and certified by its own bound, so a test can require
    ``||z - grad f|| <= bound(z) + reference.error_bound``.
    """
    from .hypergradient import SquaredError, error_bound
    from .solvers import conjugate_gradient, newton_refine, solve_lower

    loss = loss or SquaredError()
    th, y64, xs64 = theta.detach().double(), y.double(), x_star.double()
    lower = problem.bind(th, y64)
    with torch.no_grad():
        start = solve_lower(lower, 1e-3)
        ref = newton_refine(lower, start.x, grad_tol, rel_tol=1e-3, max_steps=30)
        if not bool(ref.converged.all()):
            raise RuntimeError(f"the reference lower level stalled at ||grad h|| = {float(ref.grad_norm.max()):.3g} "
                               f"> {grad_tol:g}; loosen grad_tol")
        x = ref.x
        b = loss.grad(x, xs64)
        curv = lower.curvature(x)
        cg = conjugate_gradient(lambda v, idx: lower.hvp(curv, v, idx), b, residual_tol, max_iter=20000)
        per = -lower.reg.mixed_vjp(x, cg.q, curv, per_image=True)
        dist = ref.grad_norm / lower.modulus
        consts = lower.reg.constants(x, curv, cg.q, dist, lower.modulus)
        bound = error_bound(consts, lower.modulus, dist, cg.residual_norm, loss.lipschitz).total()
    return TightReference(per, per.mean(dim=0), x, cg.q, ref.grad_norm, cg.residual_norm, bound)
