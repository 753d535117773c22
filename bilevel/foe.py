r"""Field of Experts regularizer (the paper, Section 3.1).

.. math::

    R_\theta(x) = e^{\theta_0} \sum_{j=1}^{J} e^{\theta_j} \| c_j * x \|_{\nu_j},
    \qquad \|u\|_\nu = \sum_p \sqrt{u_p^2 + \nu^2} - \nu,

with ``J`` kernels ``c_j`` of size ``k x k`` over ``C`` channels, ``c_j * x = C_j P x`` a valid
cross-correlation after padding ``P`` (reflect by default). Write ``psi(u) = sqrt(u^2 + nu^2) - nu``,
``psi' = u / sqrt(u^2 + nu^2)``, ``psi'' = nu^2 / (u^2 + nu^2)^{3/2}``, ``D_j = e^{theta_0 + theta_j}``
and ``K_j = C_j P``. Then

* ``grad_x R = sum_j D_j K_j^T psi'(K_j x)``,
* ``grad_x^2 R v = sum_j K_j^T (D_j psi''(K_j x) . K_j v)``,
* ``B^T q = grad_theta <grad_x R_theta(x), q>`` with, for ``r_j = K_j q``,
  ``d/d theta_0 = sum_j D_j <psi'(u_j), r_j>``, ``d/d theta_j = D_j <psi'(u_j), r_j>``,
  ``d/d log nu = -sum_j D_j <u_j psi''(u_j), r_j>`` and
  ``d/d c_j = D_j [corr(psi'(u_j), P q) + corr(psi''(u_j) . r_j, P x)]``.

Parameter layout of ``theta`` (``d = 1 + J + n_nu + J C k^2``):
``[theta_0 (log scale), theta_1..theta_J (log expert weights), log nu (1 shared, or J), kernels]``.
With the paper's sizes (J = 10, k = 7, C = 3) and one shared smoothing parameter, ``d = 1482``
(DESIGN.md); ``per_expert_smoothing=True`` gives the printed formula's ``d = 1491``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .padding import check_padding, pad, pad_adjoint, padding_multiplicities
from .regularizer import RegularizerConstants

#: ``sup_u |psi'''(u)| = PSI3_SUP / nu^2`` (attained at ``u = nu / 2``): ``48 / (25 sqrt 5)``.
PSI3_SUP = 48.0 / (25.0 * math.sqrt(5.0))


#: How the correlations are computed: ``direct`` (conv2d / conv_transpose2d), ``fft`` (products of
#: spectra on a grid of at least ``(H + k - 1) x (W + k - 1)``, which is exact: no wrap-around), or
#: ``auto``: on the CPU the FFT for the transposed correlation in float32 and for both directions in
#: float64 (measured 2.6x and 4-8x faster there, see benchmarks/), direct on GPUs.
CONV_BACKENDS = ("auto", "direct", "fft")

#: CPU micro-batching (``micro_batch=None``): gradients, Hessian-vector products, curvatures,
#: values, mixed products and certified constants of a batch are computed over slices of at most
#: ``CPU_MICRO_BATCH_MAX`` images whose expert responses ``(b, J, H, W)`` take at most
#: ``CPU_MICRO_BATCH_BYTES``, so the intermediates stay in the cache. Measured on a 2-core x86 CPU
#: (benchmarks/bench_throughput.py): a batch of 32 colour 96x96 images is 2.5x faster per image in
#: slices of 4 than whole; slices of 16 or more are slow whatever the image size. GPUs get the
#: whole batch.
CPU_MICRO_BATCH_BYTES = 3 * 2**19
CPU_MICRO_BATCH_MAX = 8


def fast_fft_length(n: int) -> int:
    """The smallest ``m >= n`` whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


class FoEParams(NamedTuple):
    """Views into a flat FoE parameter vector."""

    log_scale: torch.Tensor  # ()
    log_weights: torch.Tensor  # (J,)
    log_nu: torch.Tensor  # (1,) or (J,)
    kernels: torch.Tensor  # (J, C, k, k)


class FoECurvature(NamedTuple):
    """What Hessian-vector and mixed products at a point ``x`` reuse."""

    u: torch.Tensor  # (B, J, H, W) = K x
    weight: torch.Tensor  # (B, J, H, W) = D_j psi''(u_j)


def difference_kernels(num_experts: int, channels: int, kernel_size: int) -> torch.Tensor:
    """Finite-difference stencils centred in ``k x k`` kernels, unit Frobenius norm, zero mean.

    First the horizontal and vertical forward differences on every channel separately (``2C``
    kernels), then stencils acting on all channels alike: the two diagonal differences, the
    5-point Laplacian, the horizontal and vertical second differences (cycled if more are needed).
    """
    if kernel_size < 3:
        raise ValueError(f"difference kernels need kernel_size >= 3, got {kernel_size}")
    c = kernel_size // 2
    shared = []
    for taps in (
        [((0, 0), -1.0), ((1, 1), 1.0)],
        [((0, 1), -1.0), ((1, 0), 1.0)],
        [((0, 0), -4.0), ((-1, 0), 1.0), ((1, 0), 1.0), ((0, -1), 1.0), ((0, 1), 1.0)],
        [((0, 0), 2.0), ((0, -1), -1.0), ((0, 1), -1.0)],
        [((0, 0), 2.0), ((-1, 0), -1.0), ((1, 0), -1.0)],
    ):
        k = torch.zeros(channels, kernel_size, kernel_size, dtype=torch.float64)
        for (di, dj), w in taps:
            k[:, c + di, c + dj] = w
        shared.append(k)
    per_channel = []
    for ch in range(channels):
        for di, dj in ((0, 1), (1, 0)):
            k = torch.zeros(channels, kernel_size, kernel_size, dtype=torch.float64)
            k[ch, c, c] = -1.0
            k[ch, c + di, c + dj] = 1.0
            per_channel.append(k)
    pool = per_channel + shared
    ker = torch.stack([pool[j % len(pool)] for j in range(num_experts)])
    return ker / ker.flatten(1).norm(dim=1)[:, None, None, None]


@dataclass(frozen=True)
class FieldOfExperts:
    """The FoE family; ``at(theta)`` binds parameters (see the module docstring for the formulas).

    Parameters
    ----------
    num_experts, kernel_size, channels:
        ``J``, ``k`` (odd) and ``C``; the paper uses 10, 7 and 3.
    per_expert_smoothing:
        One smoothing parameter ``nu_j`` per expert (``d = 1491``) instead of a shared one (``1482``).
    padding:
        Boundary handling of the convolutions: ``"reflect"`` (default), ``"circular"``, ``"zero"``.
    backend:
        How correlations are computed (see ``CONV_BACKENDS``).
    micro_batch:
        Images per slice for gradients, Hessian-vector products, curvatures, values, mixed
        products and certified constants: ``None`` (default) picks a cache-sized slice on the CPU
        and the whole batch on GPUs (see ``CPU_MICRO_BATCH_BYTES``); a positive number forces that
        slice on every device. Slicing changes no formula, only the order of floating-point work.
    """

    num_experts: int = 10
    kernel_size: int = 7
    channels: int = 3
    per_expert_smoothing: bool = False
    padding: str = "reflect"
    backend: str = "auto"
    micro_batch: int | None = None

    def __post_init__(self) -> None:
        check_padding(self.padding)
        if self.backend not in CONV_BACKENDS:
            raise ValueError(f"unknown convolution backend {self.backend!r}; use one of {CONV_BACKENDS}")
        if self.micro_batch is not None and (not isinstance(self.micro_batch, int) or self.micro_batch < 1):
            raise ValueError(f"micro_batch must be None (automatic) or a positive integer, got {self.micro_batch!r}")
        if self.num_experts < 1 or self.channels < 1:
            raise ValueError("num_experts and channels must be positive")
        if self.kernel_size < 1 or self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be a positive odd integer, got {self.kernel_size}")

    @property
    def num_nu(self) -> int:
        return self.num_experts if self.per_expert_smoothing else 1

    @property
    def kernel_numel(self) -> int:
        return self.num_experts * self.channels * self.kernel_size**2

    @property
    def dim(self) -> int:
        """Number of parameters ``d``."""
        return 1 + self.num_experts + self.num_nu + self.kernel_numel

    @property
    def kernel_slice(self) -> slice:
        start = 1 + self.num_experts + self.num_nu
        return slice(start, start + self.kernel_numel)

    def unpack(self, theta: torch.Tensor) -> FoEParams:
        """Split a flat ``theta`` of shape ``(d,)`` into named views."""
        if theta.ndim != 1 or theta.shape[0] != self.dim:
            raise ValueError(f"theta must have shape ({self.dim},) for this FoE, got {tuple(theta.shape)}")
        J = self.num_experts
        return FoEParams(
            theta[0],
            theta[1:1 + J],
            theta[1 + J:1 + J + self.num_nu],
            theta[self.kernel_slice].view(J, self.channels, self.kernel_size, self.kernel_size),
        )

    def pack(self, log_scale: float, log_weights: torch.Tensor, log_nu: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`unpack` (float64 on CPU; move it with ``.to``)."""
        lw = torch.as_tensor(log_weights, dtype=torch.float64).reshape(-1)
        ln = torch.as_tensor(log_nu, dtype=torch.float64).reshape(-1)
        if lw.numel() != self.num_experts or ln.numel() != self.num_nu:
            raise ValueError(f"expected {self.num_experts} log weights and {self.num_nu} log nu values")
        ker = torch.as_tensor(kernels, dtype=torch.float64).reshape(-1)
        if ker.numel() != self.kernel_numel:
            raise ValueError(f"expected {self.kernel_numel} kernel entries, got {ker.numel()}")
        return torch.cat([torch.tensor([float(log_scale)], dtype=torch.float64), lw, ln, ker])

    def init_theta(
        self,
        scale: float = 0.02,
        nu: float = 0.05,
        perturbation: float = 0.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Documented initialization.

        Kernels are the finite-difference stencils of :func:`difference_kernels` (first
        differences per channel, then shared second-order stencils), plus seeded Gaussian noise of
        relative size ``perturbation``, projected to zero mean and normalized. Expert weights
        ``e^{theta_j} = 1``, scale ``e^{theta_0} = scale``, smoothing ``nu``. The defaults give a
        weak regularizer (about +2 dB over the noisy input at sigma = 25/255), the usual start of
        bilevel learning.
        """
        if not (scale > 0 and nu > 0 and perturbation >= 0):
            raise ValueError("init_theta needs scale > 0, nu > 0 and perturbation >= 0")
        J, C, k = self.num_experts, self.channels, self.kernel_size
        ker = difference_kernels(J, C, k)
        if perturbation > 0:
            gen = torch.Generator().manual_seed(seed)
            noise = torch.randn(J, C, k, k, generator=gen, dtype=torch.float64)
            noise = noise / noise.flatten(1).norm(dim=1)[:, None, None, None]
            ker = ker + perturbation * noise
        ker = ker - ker.mean(dim=(1, 2, 3), keepdim=True)
        ker = ker / ker.flatten(1).norm(dim=1)[:, None, None, None]
        theta = self.pack(math.log(scale), torch.zeros(J), torch.full((self.num_nu,), math.log(nu)), ker)
        return theta.to(dtype=dtype, device=device)

    def project(self, theta: torch.Tensor) -> torch.Tensor:
        """Euclidean projection onto zero-mean kernels (each kernel over its channels and taps)."""
        out = theta.clone()
        ker = out[self.kernel_slice].view(self.num_experts, -1)
        ker -= ker.mean(dim=1, keepdim=True)
        return out

    def at(self, theta: torch.Tensor) -> "BoundFoE":
        return BoundFoE(self, theta)

    def describe(self) -> dict:
        return {
            "name": "foe",
            "num_experts": self.num_experts,
            "kernel_size": self.kernel_size,
            "channels": self.channels,
            "per_expert_smoothing": self.per_expert_smoothing,
            "padding": self.padding,
            "backend": self.backend,
            "micro_batch": self.micro_batch,
            "dim": self.dim,
        }


class BoundFoE:
    """``R_theta`` at a fixed ``theta``; all methods are batched and per image."""

    def __init__(self, family: FieldOfExperts, theta: torch.Tensor) -> None:
        self.family = family
        self.theta = theta
        prm = family.unpack(theta)
        self.kernels = prm.kernels
        self.pad = family.kernel_size // 2
        self.mode = family.padding
        J = family.num_experts
        self.coef = torch.exp(prm.log_scale + prm.log_weights)  # D_j, (J,)
        nu = torch.exp(prm.log_nu)
        self.nu = nu.expand(J) if nu.numel() == 1 else nu  # (J,)
        self._nu4 = self.nu.view(1, J, 1, 1)
        self._nu2 = self._nu4**2
        self._kernels_scaled = self.kernels * self.coef.view(J, 1, 1, 1)  # D_j c_j
        self._cache: dict[tuple, object] = {}

    # -- linear maps -------------------------------------------------------------------------
    def _use_fft(self, t: torch.Tensor, adjoint: bool) -> bool:
        backend = self.family.backend
        if backend != "auto":
            return backend == "fft"
        return t.device.type == "cpu" and (adjoint or t.dtype == torch.float64)

    def _spectrum(self, hp: int, wp: int, scaled: bool) -> tuple[torch.Tensor, int, int]:
        """Spectra of the kernels on an ``N x M`` grid (``N >= hp``, ``M >= wp``): ``(N, M//2+1, J, C)``."""
        key = ("spec", hp, wp, scaled)
        if key not in self._cache:
            n, m = fast_fft_length(hp), fast_fft_length(wp)
            w = self._kernels_scaled if scaled else self.kernels
            self._cache[key] = (torch.fft.rfft2(w, s=(n, m)).permute(2, 3, 0, 1).contiguous(), n, m)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``u = K x``: ``(B, C, H, W) -> (B, J, H, W)``."""
        xp = pad(x, self.pad, self.mode)
        if not self._use_fft(x, adjoint=False):
            return F.conv2d(xp, self.kernels)
        H, W = x.shape[-2:]
        spec, n, m = self._spectrum(xp.shape[-2], xp.shape[-1], False)
        X = torch.fft.rfft2(xp, s=(n, m)).permute(2, 3, 0, 1)  # (N, M', B, C)
        U = torch.matmul(X, spec.conj().transpose(-1, -2))  # correlation: X . conj(c^)
        return torch.fft.irfft2(U.permute(2, 3, 0, 1), s=(n, m))[..., :H, :W]

    def adjoint(self, v: torch.Tensor, scaled: bool = False) -> torch.Tensor:
        """``K^T v`` (or ``K^T (D . v)`` with ``scaled``): ``(B, J, H, W) -> (B, C, H, W)``."""
        if not self._use_fft(v, adjoint=True):
            w = self._kernels_scaled if scaled else self.kernels
            return pad_adjoint(F.conv_transpose2d(v, w), self.pad, self.mode)
        hp, wp = v.shape[-2] + 2 * self.pad, v.shape[-1] + 2 * self.pad
        spec, n, m = self._spectrum(hp, wp, scaled)
        V = torch.fft.rfft2(v, s=(n, m)).permute(2, 3, 0, 1)  # (N, M', B, J)
        full = torch.fft.irfft2(torch.matmul(V, spec).permute(2, 3, 0, 1), s=(n, m))[..., :hp, :wp]
        return pad_adjoint(full, self.pad, self.mode)

    # -- value, gradient, curvature ----------------------------------------------------------
    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.family.channels:
            raise ValueError(f"expected images of shape (B, {self.family.channels}, H, W), got {tuple(x.shape)}")

    def slice_size(self, x: torch.Tensor) -> int:
        """Images per slice for a batch like ``x`` (see ``FieldOfExperts.micro_batch``)."""
        if self.family.micro_batch is not None:
            return self.family.micro_batch
        if x.device.type != "cpu":
            return max(1, x.shape[0])
        per_image = self.family.num_experts * x.shape[-2] * x.shape[-1] * x.element_size()
        return max(1, min(CPU_MICRO_BATCH_MAX, CPU_MICRO_BATCH_BYTES // per_image))

    def _sliced(self, fn, *batches: torch.Tensor):
        """``fn`` over slices of the batch dimension of ``batches``, results concatenated."""
        n = self.slice_size(batches[0])
        if batches[0].shape[0] <= n:
            return fn(*batches)
        parts = [fn(*chunk) for chunk in zip(*(b.split(n) for b in batches))]
        if isinstance(parts[0], tuple):
            return type(parts[0])(*(torch.cat(p) for p in zip(*parts)))
        return torch.cat(parts)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self._sliced(self._value, x)

    def _value(self, x: torch.Tensor) -> torch.Tensor:
        u = self.forward(x)
        psi = torch.sqrt(u * u + self._nu2) - self._nu4
        return (psi.sum(dim=(2, 3)) * self.coef).sum(dim=1)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return self._sliced(self._grad, x)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        u = self.forward(x)
        return self.adjoint(u * torch.rsqrt(u * u + self._nu2), scaled=True)

    def curvature(self, x: torch.Tensor) -> FoECurvature:
        return self._sliced(self._curvature, x)

    def _curvature(self, x: torch.Tensor) -> FoECurvature:
        u = self.forward(x)
        s = torch.rsqrt(u * u + self._nu2)
        weight = self._nu2 * s * s * s * self.coef.view(1, -1, 1, 1)
        return FoECurvature(u, weight)

    def hvp(self, curv: FoECurvature, v: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        w = curv.weight if index is None else curv.weight.index_select(0, index)
        return self._sliced(self._hvp, v, w)

    def _hvp(self, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.adjoint(w * self.forward(v))

    # -- mixed product B^T q -------------------------------------------------------------------
    def mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: FoECurvature, per_image: bool = False) -> torch.Tensor:
        """``grad_theta <grad_x R_theta(x), q>``, summed over images or per image ``(B, d)``."""
        n = self.slice_size(x)
        if x.shape[0] <= n:
            return self._mixed_vjp(x, q, curv, per_image)
        parts = [self._mixed_vjp(xs, qs, FoECurvature(us, ws), per_image)
                 for xs, qs, us, ws in zip(x.split(n), q.split(n), curv.u.split(n), curv.weight.split(n))]
        return torch.cat(parts) if per_image else torch.stack(parts).sum(dim=0)

    def _mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: FoECurvature, per_image: bool) -> torch.Tensor:
        fam = self.family
        B, C, H, W = x.shape
        J, k = fam.num_experts, fam.kernel_size
        u = curv.u
        r = self.forward(q)  # (B, J, H, W)
        inv = torch.rsqrt(u * u + self._nu2)
        dpsi = u * inv  # psi'(u)
        d2psi = self._nu2 * inv * inv * inv  # psi''(u)
        coef = self.coef.view(1, J)
        s_pr = (dpsi * r).sum(dim=(2, 3))  # <psi'(u_j), r_j>, (B, J)
        s_nu = (u * d2psi * r).sum(dim=(2, 3))  # <u_j psi''(u_j), r_j>
        g_weights = coef * s_pr  # d / d theta_j
        g_scale = g_weights.sum(dim=1, keepdim=True)  # d / d theta_0
        g_nu = -coef * s_nu
        if not fam.per_expert_smoothing:
            g_nu = g_nu.sum(dim=1, keepdim=True)
        cs = self.coef.view(1, J, 1, 1)
        go1 = dpsi * cs  # pairs with P q
        go2 = d2psi * r * cs  # pairs with P x
        xq = pad(torch.cat([q, x], dim=0), self.pad, self.mode)  # (2B, C, Hp, Wp)
        if per_image:
            inp = xq.view(2, B * C, H + 2 * self.pad, W + 2 * self.pad)
            go = torch.cat([go1, go2], dim=0).view(2, B * J, H, W)
            gk = torch.nn.grad.conv2d_weight(inp, (B * J, C, k, k), go, groups=B).view(B, -1)
            return torch.cat([g_scale, g_weights, g_nu, gk], dim=1)
        gk = torch.nn.grad.conv2d_weight(xq, (J, C, k, k), torch.cat([go1, go2], dim=0)).reshape(-1)
        return torch.cat([g_scale.sum(0), g_weights.sum(0), g_nu.sum(0), gk])

    # -- certified constants ----------------------------------------------------------------
    def _abs_operator_rows(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Per expert, the largest row sum of ``|K_j|^T |K_j|`` (Gershgorin bound on ``||K_j||^2``).

        ``|C_j P| <= |C_j| P`` entrywise because ``P`` is a 0/1 matrix, so applying the padded
        correlation with ``|c_j|`` to an all-ones image bounds every row sum of ``|K_j^T K_j|``.
        """
        key = ("kn", height, width, dtype, device)
        if key not in self._cache:
            J, C = self.family.num_experts, self.family.channels
            ak = self.kernels.detach().abs()
            ones = torch.ones(1, C, height, width, dtype=dtype, device=device)
            v = F.conv2d(pad(ones, self.pad, self.mode), ak)  # (1, J, H, W)
            back = pad_adjoint(F.conv_transpose2d(v, ak, groups=J), self.pad, self.mode)
            self._cache[key] = back.reshape(J, C * height * width).amax(dim=1)
        return self._cache[key]

    def kernel_norm_sq_bound(self, height: int, width: int) -> torch.Tensor:
        """Certified ``||K_j||^2`` bounds, shape ``(J,)``."""
        return self._abs_operator_rows(height, width, self.kernels.dtype, self.kernels.device)

    def grad_lipschitz_bound(self, height: int, width: int) -> float:
        """Certified ``sup_x ||grad_x^2 R|| <= max row sum of P^T |C|^T diag(D/nu) |C| P``."""
        key = ("lip", height, width)
        if key not in self._cache:
            J, C = self.family.num_experts, self.family.channels
            ak = self.kernels.detach().abs()
            ones = torch.ones(1, C, height, width, dtype=ak.dtype, device=ak.device)
            v = F.conv2d(pad(ones, self.pad, self.mode), ak) * (self.coef / self.nu).detach().view(1, J, 1, 1)
            back = pad_adjoint(F.conv_transpose2d(v, ak), self.pad, self.mode)
            self._cache[key] = float(back.max())
        return self._cache[key]

    def negative_curvature_bound(self, height: int, width: int) -> float:
        """The FoE is convex (``psi'' > 0``): it lowers the lower-level modulus by nothing."""
        return 0.0

    def _window_energy(self, z: torch.Tensor) -> torch.Tensor:
        """``sum_{c,k} (P z)_c(p + k)^2`` for every output pixel ``p``: ``(B, 1, H, W)``."""
        k = self.family.kernel_size
        z2 = pad(z, self.pad, self.mode).pow(2).sum(dim=1, keepdim=True)
        return F.conv2d(z2, torch.ones(1, 1, k, k, dtype=z.dtype, device=z.device))

    def constants(self, x: torch.Tensor, curv: FoECurvature, q: torch.Tensor) -> RegularizerConstants:
        r"""Certified constants at ``x~ = x`` for the adjoint ``q~ = q``.

        Notation: ``kn_j^2 >= ||K_j||^2`` (Gershgorin), ``M_P`` and ``m_w`` the window counts of
        :func:`bilevel.padding.padding_multiplicities`, ``S_z = sum_{c,k} ||win_k(P z)_c||^2``,
        ``V_j = sum_p psi2(u_j)^2 (box * sum_c (P x)_c^2)(p)``, ``r_j = K_j q``, ``c3 = PSI3_SUP``,
        writing ``psi1, psi2, psi3`` for the derivatives of ``psi``: ``|psi2| <= 1/nu``,
        ``|psi3| <= c3/nu^2`` and ``|d/du (u psi2(u))| <= 1/nu``.

        * ``||B(x)||^2 <= ||grad R||^2 + sum_j (D_j kn_j ||psi1_j||)^2 + ||nu rows||^2
          + sum_j D_j^2 (||psi1_j|| sqrt(M_P) + kn_j sqrt(V_j))^2``;
        * ``L_B^2 <= L_R^2 + sum_j (D_j kn_j^2/nu_j)^2 + (nu rows)^2
          + sum_j D_j^2 (2 kn_j sqrt(M_P)/nu_j + c3 ||c_j||_2 sqrt(m_w) kn_j sqrt(S_x)/nu_j^2)^2``;
        * ``L_H <= sum_j D_j kn_j^2 c3 ||c_j||_2 sqrt(m_w)/nu_j^2``;
        * ``||(H(x') - H(x)) q|| / ||x' - x|| <= sum_j D_j kn_j^2 c3 ||r_j||_inf / nu_j^2``;
        * ``||(B(x') - B(x))^T q|| / ||x' - x||``: rows ``theta_0``, ``theta_j``, ``log nu`` bounded by
          ``D_j kn_j ||r_j|| / nu_j`` (summed where rows are sums), kernel block ``j`` by
          ``D_j (kn_j sqrt(S_q)/nu_j + c3 kn_j ||r_j||_inf sqrt(S_x)/nu_j^2 + sqrt(M_P) ||r_j||/nu_j)``.
        """
        return self._sliced(lambda xs, us, ws, qs: self._constants(xs, FoECurvature(us, ws), qs), x, curv.u, curv.weight, q)

    def _constants(self, x: torch.Tensor, curv: FoECurvature, q: torch.Tensor) -> RegularizerConstants:
        fam = self.family
        B, C, H, W = x.shape
        J = fam.num_experts
        mult = padding_multiplicities(H, W, fam.kernel_size, fam.padding)
        sqrt_mp, sqrt_mw = math.sqrt(mult.window_sum), math.sqrt(mult.window_max)
        with torch.no_grad():
            coef, nu = self.coef.detach(), self.nu.detach()
            kn2 = self.kernel_norm_sq_bound(H, W)  # (J,)
            kn = kn2.sqrt()
            cnorm = self.kernels.detach().flatten(1).norm(dim=1)  # ||c_j||_2
            u = curv.u
            inv = torch.rsqrt(u * u + self._nu2.detach())
            dpsi = u * inv
            d2psi = self._nu2.detach() * inv**3
            # ||B(x)||: rows theta_0 and (shared) log nu exactly, the per-expert rows bounded by
            # ||D_j K_j^T w_j|| <= D_j kn_j ||w_j|| (cheaper than one transposed correlation per expert)
            grad_r = self.adjoint(dpsi, scaled=True)  # sum_j D_j K_j^T psi1(u_j)
            row_scale = grad_r.flatten(1).norm(dim=1)
            rows_w = coef * kn * dpsi.flatten(2).norm(dim=2)  # (B, J)
            nu_terms = u * d2psi
            if fam.per_expert_smoothing:
                rows_nu_sq = ((coef * kn * nu_terms.flatten(2).norm(dim=2)) ** 2).sum(dim=1)
            else:
                rows_nu_sq = self.adjoint(nu_terms, scaled=True).flatten(1).norm(dim=1) ** 2
            box_x = self._window_energy(x)  # (B, 1, H, W)
            s_x = box_x.flatten(1).sum(dim=1)  # (B,)
            v_j = (d2psi.pow(2) * box_x).sum(dim=(2, 3))  # (B, J)
            kb = coef * (dpsi.flatten(2).norm(dim=2) * sqrt_mp + kn * v_j.sqrt())
            jac_norm = (row_scale**2 + (rows_w**2).sum(1) + rows_nu_sq + (kb**2).sum(1)).sqrt()
            # L_B and L_H (worst case over x')
            l_r = self.grad_lipschitz_bound(H, W)
            lip_w = coef * kn2 / nu  # (J,)
            lip_nu_sq = (lip_w**2).sum() if fam.per_expert_smoothing else lip_w.sum() ** 2
            third = PSI3_SUP * cnorm * sqrt_mw * kn / nu**2  # (J,)
            lip_k = coef * (2.0 * kn * sqrt_mp / nu + third[None, :] * s_x.sqrt()[:, None])  # (B, J)
            jac_lip = (l_r**2 + (lip_w**2).sum() + lip_nu_sq + (lip_k**2).sum(1)).sqrt()
            hess_lip = (coef * kn2 * PSI3_SUP * cnorm * sqrt_mw / nu**2).sum().expand(B).clone()
            # terms that use the known adjoint q
            r = self.forward(q)
            r_inf = r.abs().amax(dim=(2, 3))  # (B, J)
            r_2 = r.flatten(2).norm(dim=2)
            hess_q = (coef * kn2 * PSI3_SUP / nu**2 * r_inf).sum(dim=1)
            row_j = coef * kn * r_2 / nu  # (B, J)
            rows_nu_q_sq = (row_j**2).sum(1) if fam.per_expert_smoothing else row_j.sum(1) ** 2
            s_q = self._window_energy(q).flatten(1).sum(dim=1)  # (B,)
            kq = coef * (
                kn * s_q.sqrt()[:, None] / nu + PSI3_SUP * kn * r_inf * s_x.sqrt()[:, None] / nu**2 + sqrt_mp * r_2 / nu
            )
            jac_q = (row_j.sum(1) ** 2 + (row_j**2).sum(1) + rows_nu_q_sq + (kq**2).sum(1)).sqrt()
        return RegularizerConstants(jac_norm, jac_lip, hess_lip, hess_q, jac_q)
