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

    def _kernel_weights(self, kind: str) -> torch.Tensor:
        """``c_j`` (``"plain"``), ``D_j c_j`` (``"scaled"``) or ``|c_j|`` (``"abs"``), shape ``(J, C, k, k)``."""
        if kind == "plain":
            return self.kernels
        if kind == "scaled":
            return self._kernels_scaled
        return self.kernels.detach().abs()

    def _spectrum(self, hp: int, wp: int, scaled, kind: str | None = None,
                  dtype: torch.dtype | None = None) -> tuple[torch.Tensor, int, int]:
        """Spectra of the kernels on an ``N x M`` grid (``N >= hp``, ``M >= wp``): ``(N, M//2+1, J, C)``."""
        kind = kind or ("scaled" if scaled else "plain")
        key = ("spec", hp, wp, kind, dtype)
        if key not in self._cache:
            n, m = fast_fft_length(hp), fast_fft_length(wp)
            w = self._kernel_weights(kind)
            w = w if dtype is None else w.to(dtype)
            self._cache[key] = (torch.fft.rfft2(w, s=(n, m)).permute(2, 3, 0, 1).contiguous(), n, m)
        return self._cache[key]

    def adjoint_of(self, v: torch.Tensor, kind: str = "plain", per_expert: bool = False) -> torch.Tensor:
        """``sum_j K_j^T v_j`` with the kernels of :meth:`_kernel_weights` (``(B, C, H, W)``), or with
        ``per_expert`` every ``K_j^T v_j`` separately (``(B, J, C, H, W)``). Used by the certified
        constants; same backends as :meth:`adjoint`."""
        J, C = self.family.num_experts, self.family.channels
        B = v.shape[0]
        if not self._use_fft(v, adjoint=True):
            w = self._kernel_weights(kind).to(v.dtype)
            if per_expert:
                out = pad_adjoint(F.conv_transpose2d(v, w, groups=J), self.pad, self.mode)
                return out.view(B, J, C, *out.shape[-2:])
            return pad_adjoint(F.conv_transpose2d(v, w), self.pad, self.mode)
        hp, wp = v.shape[-2] + 2 * self.pad, v.shape[-1] + 2 * self.pad
        spec, n, m = self._spectrum(hp, wp, None, kind, v.dtype)
        V = torch.fft.rfft2(v, s=(n, m)).permute(2, 3, 0, 1)  # (N, M', B, J)
        if not per_expert:
            full = torch.fft.irfft2(torch.matmul(V, spec).permute(2, 3, 0, 1), s=(n, m))[..., :hp, :wp]
            return pad_adjoint(full, self.pad, self.mode)
        prod = V.unsqueeze(-1) * spec.unsqueeze(2)  # (N, M', B, J, C)
        full = torch.fft.irfft2(prod.permute(2, 3, 4, 0, 1), s=(n, m))[..., :hp, :wp]  # (B, J, C, hp, wp)
        out = pad_adjoint(full.reshape(B, J * C, hp, wp), self.pad, self.mode)
        return out.view(B, J, C, *out.shape[-2:])

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
    def _abs_ones(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """``|K_j| 1``: the padded correlation with ``|c_j|`` applied to an all-ones image ``(1, J, H, W)``."""
        key = ("abs1", height, width, dtype, device)
        if key not in self._cache:
            ones = torch.ones(1, self.family.channels, height, width, dtype=dtype, device=device)
            self._cache[key] = F.conv2d(pad(ones, self.pad, self.mode), self.kernels.detach().abs().to(dtype))
        return self._cache[key]

    def _transposed(self, v: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``conv_transpose2d(v, weight, groups)`` computed as a correlation with the flipped kernels
        over the fully padded input (the same numbers; on CPUs conv2d is several times faster)."""
        k = self.family.kernel_size
        J = weight.shape[0]
        C = weight.shape[1]
        w = weight.flip(-1, -2)
        if groups == 1:
            w = w.transpose(0, 1)  # (C, J, k, k)
        else:
            w = w.reshape(J * C, 1, k, k)
        return F.conv2d(F.pad(v, (k - 1,) * 4), w.contiguous(), groups=groups)

    def _abs_adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``sum_j |K_j|^T v_j`` (transposed correlation with ``|c_j|``): ``(B, J, H, W) -> (B, C, H, W)``."""
        return self.adjoint_of(v, "abs")

    def weighted_gram_bound(self, weights: torch.Tensor) -> torch.Tensor:
        r"""Gershgorin bound on ``||sum_j K_j^T diag(a_j) K_j||`` for pixel weights ``a >= 0`` ``(B, J, H, W)``.

        ``|sum_j K_j^T diag(a_j) K_j| <= sum_j |K_j|^T diag(a_j) |K_j|`` entrywise (``P`` is a 0/1
        matrix, so ``|C_j P| <= |C_j| P``), hence the largest row sum, ``max(sum_j |K_j|^T (a_j .
        |K_j| 1))``, bounds the norm. Returns ``(B,)``.
        """
        H, W = weights.shape[-2:]
        rows = self._abs_adjoint(weights * self._abs_ones(H, W, weights.dtype, weights.device))
        return rows.flatten(1).amax(dim=1)

    def _abs_operator_rows(self, height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Per expert, the largest row sum of ``|K_j|^T |K_j|`` (Gershgorin bound on ``||K_j||^2``)."""
        key = ("kn", height, width, dtype, device)
        if key not in self._cache:
            J = self.family.num_experts
            v = self._abs_ones(height, width, dtype, device)
            back = pad_adjoint(self._transposed(v, self.kernels.detach().abs().to(dtype), groups=J), self.pad, self.mode)
            self._cache[key] = back.reshape(J, -1).amax(dim=1)
        return self._cache[key]

    def _fourier_grid(self, height: int, width: int) -> tuple[int, int, float]:
        """DFT grid on which the correlation is a restriction of a circulant, and ``||P||^2``.

        Circular padding makes ``K_j`` exactly the circulant on the ``H x W`` torus. Otherwise
        ``K_j = C_j P`` with ``C_j`` a valid correlation, a restriction of the circulant on any grid of
        at least ``(H + 2p) x (W + 2p)``, so ``||K_j|| <= ||P|| max_w |c_j^(w)|`` there.
        """
        if self.mode == "circular":
            return height, width, 1.0
        mult = padding_multiplicities(height, width, self.family.kernel_size, self.mode)
        return height + 2 * self.pad, width + 2 * self.pad, float(mult.pad_norm_sq)

    def _kernel_norms(self, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Certified ``||K_j||^2`` per expert ``(J,)`` and ``||K||^2 = ||sum_j K_j^T K_j||`` (all stacked).

        Each is the smaller of the Gershgorin bound (exact boundary handling, ``|c_j|``) and the
        Fourier bound ``||P||^2 max_w lambda_max(sum_j c_j^(w) c_j^(w)^*)`` (signed kernels, the exact
        norm for circular padding); see :meth:`_fourier_grid`. Computed in float64, cached per size.
        """
        key = ("norms", height, width)
        if key not in self._cache:
            ker = self.kernels.detach().to(torch.float64)
            n, m, factor = self._fourier_grid(height, width)
            spec = torch.fft.rfft2(ker, s=(n, m))  # (J, C, n, m//2+1)
            per_expert = spec.abs().pow(2).sum(dim=1).flatten(1).amax(dim=1) * factor
            gram = torch.einsum("jcab,jdab->abcd", spec, spec.conj())
            stacked_f = float(torch.linalg.eigvalsh(gram).amax()) * factor
            gersh = self._abs_operator_rows(height, width, torch.float64, ker.device)
            ones = torch.ones(1, self.family.num_experts, height, width, dtype=torch.float64, device=ker.device)
            stacked_g = float(self.weighted_gram_bound(ones)[0])
            kn2 = torch.minimum(gersh, per_expert.to(gersh))
            self._cache[key] = (kn2, torch.tensor(min(stacked_g, stacked_f), dtype=torch.float64, device=ker.device))
        return self._cache[key]

    def kernel_norm_sq_bound(self, height: int, width: int) -> torch.Tensor:
        """Certified ``||K_j||^2`` bounds, shape ``(J,)``, float64 (see :meth:`_kernel_norms`)."""
        return self._kernel_norms(height, width)[0]

    def stacked_norm_sq_bound(self, height: int, width: int) -> float:
        """Certified ``||sum_j K_j^T K_j||`` (all experts stacked into one operator ``K``)."""
        return float(self._kernel_norms(height, width)[1])

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

    def _adjoint_per_expert(self, v: torch.Tensor) -> torch.Tensor:
        """``K_j^T v_j`` for every expert separately: ``(B, J, H, W) -> (B, J, C, H, W)``."""
        return self.adjoint_of(v, "plain", per_expert=True)

    def local_derivative_bounds(self, u: torch.Tensor, reach: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Suprema of ``|psi2|``, ``|psi3|`` and ``|(v psi2(v))'|`` over ``|v - u| <= reach``, pixel by pixel.

        Writing ``psi2, psi3`` for the second and third derivatives of ``psi``, ``lo = max(|u| - t, 0)``
        and ``hi = |u| + t``: ``psi2(v) = nu^2 / (v^2 + nu^2)^{3/2}`` is largest at ``lo``;
        ``|psi3(v)| = 3 nu^2 |v| / (v^2 + nu^2)^{5/2}`` increases up to ``nu/2`` (value
        ``PSI3_SUP / nu^2``) and decreases after, so its supremum is at ``clamp(nu/2, lo, hi)``;
        ``|(v psi2)'| = nu^2 |nu^2 - 2 v^2| / (v^2 + nu^2)^{5/2} <= psi2(lo) max(nu^2, 2 hi^2) /
        (lo^2 + nu^2)``. ``u`` is ``(B, J, H, W)``; ``reach`` broadcasts to it.
        """
        nu2 = self._nu2.detach().to(u.dtype)
        nu = self._nu4.detach().to(u.dtype)
        a = u.abs()
        lo = (a - reach).clamp_min(0.0)
        hi = a + reach
        den_lo = lo * lo + nu2
        m2 = nu2 / (den_lo * den_lo.sqrt())
        v = torch.minimum(torch.maximum(0.5 * nu.expand_as(lo), lo), hi)
        den_v = v * v + nu2
        m3 = 3.0 * nu2 * v / (den_v * den_v * den_v.sqrt())
        mnu = m2 * torch.maximum(nu2.expand_as(hi), 2.0 * hi * hi) / den_lo
        return m2, m3, mnu

    def constants(self, x: torch.Tensor, curv: FoECurvature, q: torch.Tensor, radius, modulus: float) -> RegularizerConstants:
        r"""Certified constants at ``x`` for the adjoint ``q`` on the balls ``||x' - x|| <= radius`` (per image).

        Notation: ``u_j = K_j x``, ``r_j = K_j q``, ``v_j = K_j (x' - x)``; ``kn_j^2 >= ||K_j||^2`` and
        ``ks^2 >= ||sum_j K_j^T K_j||`` (:meth:`_kernel_norms`); ``M_P``, ``m_w`` the window counts of
        :func:`bilevel.padding.padding_multiplicities`; ``box_z(p) = sum_{c,k} (P z)_c(p + k)^2``;
        ``psi1, psi2, psi3`` the derivatives of ``psi``; ``mu = modulus``. A response moves by at most
        ``t_j = ||c_j||_2 sqrt(m_w) radius`` at any pixel (``|(K_j v)_p| <= ||c_j|| ||window_p(P v)||``),
        so the local suprema ``m2_j, m3_j, mnu_j`` of :meth:`local_derivative_bounds` at ``(u_j, t_j)``
        bound ``psi2``, ``psi3`` and ``(v psi2)'`` on the segment from ``x`` to any ``x'`` of the ball
        (mean value theorem, pixel by pixel), and ``W_j = D_j nu^2 / ((|u_j| + t_j)^2 + nu^2)^{3/2}``
        bounds ``D_j psi2`` from below there. Hence every Hessian ``H'`` of ``h`` on the ball satisfies
        ``H' >= mu I + sum_j K_j^T diag(W_j) K_j``, which gives the two energy pairings used below:
        ``||v|| <= ||v||_{H'} / sqrt(mu)`` and ``sum_j ||sqrt(W_j) K_j v||^2 <= ||v||_{H'}^2``, and dually
        ``||sum_j K_j^T s_j||_{H'^{-1}} <= ||(s_j / sqrt(W_j))_j||``. Each pixel uses the cheaper one:
        the set ``S_j = {W_j > mu / kn_j^2}`` (``{W_j > mu / ks^2}`` for stacked rows) goes through
        ``W``, the rest through ``mu`` and the operator norms.

        * ``jac_energy >= sup_v ||B(x)^T v|| / ||v||_{H'}``, by blocks of rows, each bounded by
          ``A ||v|| + E``: ``theta_0`` (``<sum_j K_j^T a_j, v>``, ``a_j = D_j psi1(u_j)``): either
          exactly ``||grad R|| ||v||`` or ``ks ||a 1_{not S}|| ||v|| + ||a 1_S / sqrt(W)|| ||v||_{H'}``;
          ``theta_j`` and ``log nu`` alike (per expert with ``kn_j``, or stacked); kernel block ``j``
          (``v -> D_j [corr(psi1(u_j), P v) + corr(psi2(u_j) K_j v, P x)]``):
          ``D_j (sqrt(M_P) ||psi1(u_j)|| + kn_j sqrt(sum_{not S_j} psi2^2 box_x)) ||v||
          + D_j sqrt(sum_{S_j} psi2^2 box_x / W_j) ||sqrt(W_j) K_j v||`` (Cauchy-Schwarz over the taps
          with pixel weights). By Minkowski, ``jac_energy = sqrt(sum A^2) / sqrt(mu) + sqrt(E_stacked^2
          + max_j E_j^2)`` (per-expert energy parts share ``sum_j ||sqrt(W_j) K_j v||^2 <= ||v||_{H'}^2``).
        * ``hess_q_energy >= ||(H(x') - H(x)) q||_{H'^{-1}} / ||x' - x||``: ``(H(x') - H(x)) q =
          sum_j K_j^T y_j``, ``|y_j| <= a_j |v_j|`` with ``a_j = D_j m3_j |r_j|``; the smaller of
          ``min(sum_j kn_j^2 max a_j, ks^2 max a, ks sqrt(G(a^2))) / sqrt(mu)`` and
          ``ks sqrt(G(a^2)) / sqrt(mu) + sqrt(G(a^2 1_S / W))`` (``G(a^2 1_{not S}) <= G(a^2)``) with
          ``G`` the weighted Gershgorin bound of :meth:`weighted_gram_bound`.
        * ``jac_q``: rows ``theta_j`` change by ``D_j <psi1(u') - psi1(u), r_j> <= beta_j ||v_j||``,
          ``beta_j = D_j ||m2_j r_j||`` (``theta_0`` by their sum; ``log nu`` likewise with ``mnu``);
          kernel block ``j`` is ``D_j [corr(psi1(u') - psi1(u), P q) + corr((psi2(u') - psi2(u)) r_j,
          P x') + corr(psi2(u) r_j, P (x' - x))]``, bounded by
          ``D_j [(A_j + B_j) kn_j + C_j] ||x' - x||`` with ``A_j = sqrt(sum_p m2_j^2 box_q)``,
          ``B_j = sqrt(sum_p (m3_j r_j)^2 box_x) + ||m3_j r_j||_inf sqrt(M_P) radius`` and
          ``C_j = sqrt(M_P) ||psi2(u_j) r_j||`` (Cauchy-Schwarz with pixel weights over the taps).
        * ``jac_lipschitz`` (any unit ``q``): the same rows with ``||r_j|| <= kn_j``, maxima over
          pixels of ``m2, m3, mnu``, ``psi2(u) <= max psi2(u_j)`` and
          ``sqrt(S_x') <= sqrt(S_x) + sqrt(M_P) radius`` (``S_z = sum_p box_z(p)``).
        """
        if not modulus > 0:
            raise ValueError(f"the strong convexity modulus must be positive, got {modulus}")
        radius = torch.as_tensor(radius, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0]).contiguous()
        return self._sliced(lambda xs, us, ws, qs, rs: self._constants(xs, FoECurvature(us, ws), qs, rs, float(modulus)),
                            x, curv.u, curv.weight, q, radius)

    def _constants(self, x: torch.Tensor, curv: FoECurvature, q: torch.Tensor, radius: torch.Tensor,
                   mu: float) -> RegularizerConstants:
        fam = self.family
        B, C, H, W = x.shape
        J = fam.num_experts
        mult = padding_multiplicities(H, W, fam.kernel_size, fam.padding)
        sqrt_mp, sqrt_mw = math.sqrt(mult.window_sum), math.sqrt(mult.window_max)
        smu = math.sqrt(mu)

        def norm2(t: torch.Tensor) -> torch.Tensor:  # per (image, expert) norm over pixels
            return t.flatten(2).norm(dim=2)

        with torch.no_grad():
            coef = self.coef.detach().to(x.dtype)
            kn2_t, ks2_t = self._kernel_norms(H, W)
            kn2, ks2 = kn2_t.to(x.dtype), ks2_t.to(x.dtype)
            kn, ks = kn2.sqrt(), ks2.sqrt()
            cnorm = self.kernels.detach().to(x.dtype).flatten(1).norm(dim=1)  # ||c_j||_2
            u = curv.u
            nu2 = self._nu2.detach().to(x.dtype)
            inv = torch.rsqrt(u * u + nu2)
            dpsi = u * inv
            d2psi = nu2 * inv**3
            reach = (cnorm.view(1, J) * sqrt_mw * radius.view(B, 1)).view(B, J, 1, 1)
            m2, m3, mnu = self.local_derivative_bounds(u, reach)
            cs = coef.view(1, J)
            c4 = coef.view(1, J, 1, 1)
            hi = u.abs() + reach
            den_hi = hi * hi + nu2
            w_low = c4 * nu2 / (den_hi * den_hi.sqrt())  # D_j psi2 >= w_low on the ball
            inv_w = w_low.rsqrt()
            s_exp = w_low > mu / kn2.view(1, J, 1, 1)  # pixels paired through W (per expert)
            s_stk = w_low > mu / ks2  # (stacked rows)
            zero = torch.zeros((), dtype=x.dtype, device=x.device)

            def split(a: torch.Tensor, mask: torch.Tensor, norm_sq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                """(Euclidean coefficient, energy coefficient) of a row ``<K^T a, v>`` split by ``mask``."""
                eu = norm_sq.sqrt() * torch.where(mask, zero, a)
                en = torch.where(mask, a * inv_w, zero)
                return eu, en

            # -- jac_energy: rows theta_0, theta_j, log nu, kernels -----------------------------
            a = dpsi * c4
            exact_w = kn * norm2(a)  # >= ||K_j^T a_j||, (B, J)
            exact_0 = self.adjoint_of(a).flatten(1).norm(dim=1)  # ||grad R||
            eu, en = split(a, s_stk, ks2)
            A0, E0 = eu.flatten(1).norm(dim=1), en.flatten(1).norm(dim=1)
            use = A0 / smu + E0 < exact_0 / smu
            A0, E0 = torch.where(use, A0, exact_0), torch.where(use, E0, zero)
            eu, en = split(a, s_exp, kn2.view(1, J, 1, 1))
            Aw, Ew = norm2(eu), norm2(en)
            use = Aw / smu + Ew < exact_w / smu
            Aw, Ew = torch.where(use, Aw, exact_w), torch.where(use, Ew, zero)
            n_t = u * d2psi * c4
            if fam.per_expert_smoothing:
                exact = kn * norm2(n_t)
                eu, en = split(n_t, s_exp, kn2.view(1, J, 1, 1))
                An, En = norm2(eu), norm2(en)
                use = An / smu + En < exact / smu
                An_sq = (torch.where(use, An, exact) ** 2).sum(1)
                En_j = torch.where(use, En, zero)
                En_stk = zero
            else:
                exact = self.adjoint_of(n_t).flatten(1).norm(dim=1)
                eu, en = split(n_t, s_stk, ks2)
                An, En = eu.flatten(1).norm(dim=1), en.flatten(1).norm(dim=1)
                use = An / smu + En < exact / smu
                An_sq = torch.where(use, An, exact) ** 2
                En_stk = torch.where(use, En, zero)
                En_j = torch.zeros_like(Aw)
            box_x = self._window_energy(x)  # (B, 1, H, W)
            p2 = d2psi.pow(2) * box_x
            Ak = cs * (norm2(dpsi) * sqrt_mp + kn * torch.where(s_exp, zero, p2).sum(dim=(2, 3)).sqrt())
            Ek = cs * (torch.where(s_exp, p2 / w_low, zero).sum(dim=(2, 3))).sqrt()
            A_sq = A0**2 + (Aw**2).sum(1) + An_sq + (Ak**2).sum(1)
            E_stk_sq = E0**2 + En_stk**2
            E_max_sq = (Ew**2 + En_j**2 + Ek**2).amax(dim=1)
            jac_energy = A_sq.sqrt() / smu + (E_stk_sq + E_max_sq).sqrt()
            # -- hess_q_energy: weights alpha_j = D_j m3_j |r_j| ----------------------------------
            r = self.forward(q)
            alpha = m3 * r.abs() * c4
            al2 = alpha * alpha
            amax_j = alpha.flatten(2).amax(dim=2)  # (B, J)
            g_all = self.weighted_gram_bound(al2)  # also bounds the part outside S
            euclid = torch.minimum(torch.minimum((kn2 * amax_j).sum(dim=1), ks2 * amax_j.amax(dim=1)), ks * g_all.sqrt())
            split_h = ks * g_all.sqrt() / smu + self.weighted_gram_bound(torch.where(s_stk, al2 / w_low, zero)).sqrt()
            hess_energy = torch.minimum(euclid / smu, split_h)
            # -- jac_q --------------------------------------------------------------------------
            beta = cs * norm2(m2 * r)  # (B, J)
            gamma = cs * norm2(mnu * r)
            box_q = self._window_energy(q)
            Aq = (m2.pow(2) * box_q).sum(dim=(2, 3)).sqrt()
            m3r = m3 * r
            Bq = (m3r.pow(2) * box_x).sum(dim=(2, 3)).sqrt() + m3r.abs().flatten(2).amax(dim=2) * sqrt_mp * radius.view(B, 1)
            Cq = sqrt_mp * norm2(d2psi * r)
            rows_b = beta * kn
            rows_g = gamma * kn
            nu_q_sq = (rows_g**2).sum(1) if fam.per_expert_smoothing else rows_g.sum(1) ** 2
            kq = cs * ((Aq + Bq) * kn + Cq)
            jac_q = (rows_b.sum(1) ** 2 + (rows_b**2).sum(1) + nu_q_sq + (kq**2).sum(1)).sqrt()
            # -- jac_lipschitz: any unit q, maxima over pixels ----------------------------------
            M2 = m2.flatten(2).amax(dim=2)
            M3 = m3.flatten(2).amax(dim=2)
            Mnu = mnu.flatten(2).amax(dim=2)
            P2 = d2psi.flatten(2).amax(dim=2)
            lip_w = cs * M2 * kn2
            lip_g = cs * Mnu * kn2
            lip_nu_sq = (lip_g**2).sum(1) if fam.per_expert_smoothing else lip_g.sum(1) ** 2
            s_x = box_x.flatten(1).sum(dim=1).sqrt() + sqrt_mp * radius
            lip_k = cs * (M2 * kn * sqrt_mp + M3 * cnorm.view(1, J) * sqrt_mw * kn * s_x.view(B, 1) + P2 * kn * sqrt_mp)
            jac_lip = (lip_w.sum(1) ** 2 + (lip_w**2).sum(1) + lip_nu_sq + (lip_k**2).sum(1)).sqrt()
        return RegularizerConstants(jac_energy, hess_energy, jac_q, jac_lip)
