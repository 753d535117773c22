r"""Weakly convex ridge regularizers: many filters, learned smooth potentials, certified curvature.

The family goes beyond the paper's Field of Experts (Section 3.1) in the direction of Goujon, Neumayer
and Unser (2023): sums of ridge functions of many learned filters whose potentials may be *nonconvex*,
with a prescribed bound on their negative curvature, so that the lower-level energy
``h(x) = 1/2 ||A x - y||^2 + R_theta(x) + mu/2 ||x||^2`` stays strongly convex with a modulus the code
certifies.

.. math::

    R_\theta(x) = \sum_{j=1}^{J} \sum_p \psi_j\big((K_j x)_p\big)
        + \sum_{j} \frac{\rho_j}{2} \sum_{p \in \partial} (K_j x)_p^2 ,
    \qquad
    \psi_j(t) = \sqrt{t^2 + \nu_j^2} - \nu_j + \omega_j\, s_j^2\, \phi(t / s_j),
    \qquad \omega_j = c \rho_j,

with ``K_j = C_j P`` a ``k x k`` correlation over ``C`` channels after padding ``P`` (as in
:mod:`bilevel.foe`), ``partial`` the *border* outputs (those whose window reads the padding) and
``phi`` a smooth weakly convex atom with ``phi''(0) = 1`` and ``inf phi'' = -kappa``:

* ``cauchy``: ``phi(v) = log(1 + v^2) / 2`` (a Student-t potential), ``kappa = 1/8``;
* ``welsch``: ``phi(v) = (1 - exp(-v^2)) / 2``, ``kappa = 2 exp(-3/2)``.

The atom is added (``atom_sign="add"``, ``c = 1/kappa``: a Cauchy or Welsch term on top of the smoothed
absolute value, more penalty on every response) or subtracted (``"subtract"``, ``c = -1``: the slope
of ``psi_j`` dips by up to ``rho_j s_j / 2`` around ``|t| = s_j``, less penalty on large responses
such as edges). Either way ``inf c phi'' = -1`` (``sup phi'' = phi''(0) = 1``), so ``psi_j'' >= -rho_j``.

Both have bounded third derivatives, so the Hessian of ``R`` is Lipschitz (the certified error bound
needs it). The first term of ``psi_j`` is the FoE's convex smoothed absolute value; the strength of a
filter is the norm of its kernel (the FoE's weight ``e^{theta_0 + theta_j}`` times its kernel is one
filter here: ``D |c . x|_nu = |(D c) . x|_{D nu}``), so with ``rho_j = 0`` the family is the FoE with
one smoothing parameter per filter. Keeping the strength in the kernel makes a plain gradient step
change every filter by the same absolute amount, weak or strong, so weak filters can grow.

**Certified negative curvature.** ``psi_j'' >= -rho_j``, so ``psi_j(t) + rho_j t^2 / 2`` is convex and

.. math::

    \nabla^2 R \succeq -\sum_j \rho_j (S K_j)^\top (S K_j) \succeq -\Gamma(\rho, c)\, I,
    \qquad \Gamma(\rho, c) = \max_{c_0} \sum_{c', \Delta} \Big| \sum_j \rho_j A_j[c_0, c'](\Delta) \Big|,

where ``S`` keeps the interior outputs (the border term above completes ``psi_j`` to a convex
function there), ``S K_j = S C_j^{full}`` reads no padding, so
``(S K_j)^T (S K_j)`` is below the Toeplitz Gram matrix of ``c_j`` whose kernel is the
autocorrelation ``A_j[c, c'](Delta) = sum_k c_j[c](k) c_j[c'](k + Delta)``, and ``Gamma`` is
Gershgorin's bound on the weighted sum (it keeps the cancellations inside each autocorrelation and
between filters). The lower level is therefore strongly convex with the certified modulus
``lambda_min-bound(A^T A) + mu - Gamma``.

**Prescribed bound, enforced by the parametrisation.** ``Gamma`` is positively homogeneous in
``rho``; the family sets

.. math::

    \rho_j = \rho_{\max}\, \tau\, \frac{\pi_j}{\Gamma(\pi, c)}, \qquad
    \tau = \mathrm{sigmoid}(\theta_\tau), \quad \pi_j = e^{b_j},

so ``Gamma(rho, c) = rho_max tau < rho_max`` for *every* ``theta``: no projection is needed and an
(inexact) gradient step can never leave the certified set. ``rho_max`` (``weak_convexity``) is
prescribed; ``tau`` and the shares ``pi_j`` are learned.

Parameter layout of ``theta`` (``d = 1 + 3 J + J C k^2``):
``[theta_tau, b_1..b_J, log nu_1..J, log s_1..J, kernels (J, C, k, k) / kernel_scale]``.

Derivatives (``u_j = K_j x``, ``r_j = K_j q``, ``m`` the border mask, ``v = u / s``):

* ``grad_x R = sum_j K_j^T w_j``, ``w_j = u / sqrt(u^2 + nu_j^2) + omega_j s_j phi'(v) + rho_j m u``,
  ``omega_j = c rho_j``;
* ``grad_x^2 R v = sum_j K_j^T (h_j . K_j v)``,
  ``h_j = nu_j^2 / (u^2 + nu_j^2)^{3/2} + omega_j phi''(v) + rho_j m``;
* ``B^T q = grad_theta <grad_x R, q>``: ``d/d log nu_j = -<u nu^2/(u^2+nu^2)^{3/2}, r_j>``,
  ``d/d log s_j = omega_j <s phi'(v) - u phi''(v), r_j>``, and through
  ``e_j = d<grad R, q>/d rho_j = <c s_j phi'(v) + m u, r_j>``, ``E = sum_j rho_j e_j``:
  ``d/d theta_tau = (1 - tau) E``, ``d/d b_k = rho_k e_k - pi_k gamma_k E / Gamma``,
  ``d/d c_j = corr(w_j, P q) + corr(h_j r_j, P x) - (E / Gamma) dGamma/dc_j``, with
  ``gamma_k = dGamma/dpi_k`` (``Gamma`` is a maximum of absolute values: piecewise smooth, and these
  are its derivatives wherever the maximizing row and the signs do not change).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .foe import CPU_MICRO_BATCH_BYTES, CPU_MICRO_BATCH_MAX, PSI3_SUP, fast_fft_length
from .padding import check_padding, pad, pad_adjoint, padding_multiplicities
from .regularizer import RegularizerConstants

#: Backends of the correlations (as in :mod:`bilevel.foe`); ``auto`` follows the FoE's rule: on the CPU
#: FFTs for the transposed correlation in float32 and for both directions in float64, the direct
#: correlation forward in float32 (with 48 filters of 7x7 on 96x96 images, measured 4x faster than
#: its FFT, while the FFT adjoint is 1.2x faster than conv_transpose2d); cuDNN on GPUs.
CONV_BACKENDS = ("auto", "direct", "fft")
#: How the weakly convex atom enters the potentials: ``add`` (``+ (rho_j / kappa) s_j^2 phi``: more penalty on
#: every response) or ``subtract`` (``- rho_j s_j^2 phi``: less penalty on large responses, edge-preserving).
ATOM_SIGNS = ("add", "subtract")


# -- potentials ---------------------------------------------------------------------------------


class Atom(NamedTuple):
    """A smooth weakly convex atom ``phi`` with ``phi''(0) = 1`` and its certified constants.

    ``kappa = -inf phi''``, ``d1_sup = sup |phi'|``, ``d3_sup = sup |phi'''|``,
    ``vd3_sup = sup |v phi'''(v)|`` (closed forms at the critical points, see :func:`atom`).
    """

    name: str
    kappa: float
    d1_sup: float
    d3_sup: float
    vd3_sup: float


def _cauchy_constants() -> Atom:
    # phi''' = 2 v (v^2 - 3) / (1 + v^2)^3 is extremal at v^2 = 3 -+ 2 sqrt 2 (v^4 - 6 v^2 + 1 = 0);
    # v phi''' = 2 w (w - 3) / (1 + w)^3 (w = v^2) at w = 4 -+ sqrt 13 (w^2 - 8 w + 3 = 0).
    d3 = max(abs(2 * v * (v * v - 3) / (1 + v * v) ** 3) for v in (math.sqrt(2) - 1, math.sqrt(2) + 1))
    vd3 = max(abs(2 * w * (w - 3) / (1 + w) ** 3) for w in (4 - math.sqrt(13), 4 + math.sqrt(13)))
    return Atom("cauchy", 0.125, 0.5, d3, vd3)


def _welsch_constants() -> Atom:
    # phi''' = (4 v^3 - 6 v) e^{-v^2} is extremal at v^2 = (3 -+ sqrt 6)/2 (4 v^4 - 12 v^2 + 3 = 0);
    # v phi''' = (4 w^2 - 6 w) e^{-w} at w = 1/2 and w = 3.
    d3 = max(abs((4 * w - 6) * math.sqrt(w) * math.exp(-w)) for w in ((3 - math.sqrt(6)) / 2, (3 + math.sqrt(6)) / 2))
    vd3 = max(abs((4 * w * w - 6 * w) * math.exp(-w)) for w in (0.5, 3.0))
    return Atom("welsch", 2.0 * math.exp(-1.5), math.exp(-0.5) / math.sqrt(2.0), d3, vd3)


#: A tiny relative margin on closed-form constants evaluated in floating point.
_MARGIN = 1.0 + 1e-12

ATOMS: dict[str, Atom] = {a.name: a._replace(d3_sup=a.d3_sup * _MARGIN, vd3_sup=a.vd3_sup * _MARGIN)
                          for a in (_cauchy_constants(), _welsch_constants())}


def atom(name: str) -> Atom:
    if name not in ATOMS:
        raise ValueError(f"unknown potential atom {name!r}; use one of {sorted(ATOMS)}")
    return ATOMS[name]


def atom_phi(name: str, v: torch.Tensor) -> torch.Tensor:
    """``phi(v)``."""
    if name == "cauchy":
        return 0.5 * torch.log1p(v * v)
    return -0.5 * torch.expm1(-v * v)


def atom_derivatives(name: str, v: torch.Tensor, order: int = 2) -> tuple[torch.Tensor, ...]:
    """``(phi'(v), phi''(v)[, phi'''(v)])`` for ``order`` 2 or 3."""
    v2 = v * v
    if name == "cauchy":
        inv = 1.0 / (1.0 + v2)
        d1 = v * inv
        d2 = (1.0 - v2) * inv * inv
        if order == 2:
            return d1, d2
        return d1, d2, 2.0 * v * (v2 - 3.0) * inv * inv * inv
    e = torch.exp(-v2)
    d1 = v * e
    d2 = (1.0 - 2.0 * v2) * e
    if order == 2:
        return d1, d2
    return d1, d2, (4.0 * v2 - 6.0) * v * e


# -- filters ------------------------------------------------------------------------------------


def dct_basis(kernel_size: int) -> torch.Tensor:
    """Orthonormal 2-D DCT-II basis ``(k^2, k, k)`` ordered by frequency ``i + j`` (then ``max(i, j)``, ``i``)."""
    k = kernel_size
    n = np.arange(k)
    c = np.sqrt(2.0 / k) * np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * k))
    c[0] /= np.sqrt(2.0)
    pairs = sorted(((i, j) for i in range(k) for j in range(k)), key=lambda ij: (ij[0] + ij[1], max(ij), ij[0]))
    return torch.from_numpy(np.stack([np.outer(c[i], c[j]) for i, j in pairs]))


#: Orthonormal opponent colour vectors: luminance, red-blue and green-magenta (as in CBM3D).
OPPONENT = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]], dtype=torch.float64)
OPPONENT = OPPONENT / OPPONENT.norm(dim=1, keepdim=True)


def _dct_atoms(count: int, kernel_size: int) -> list[torch.Tensor]:
    """``count`` DCT atoms without DC, centred in ``k x k``: first every atom of the largest odd block
    ``t x t`` (``t <= k``, ``t^2 - 1 <= count``), so all frequencies are covered at that resolution, then
    the lowest-frequency atoms of the ``k x k`` basis (cycled if needed)."""
    if count <= 0:
        return []
    t = 1
    while t + 2 <= kernel_size and (t + 2) ** 2 - 1 <= count:
        t += 2
    out = []
    if t >= 3:
        off = (kernel_size - t) // 2
        for a in dct_basis(t)[1:]:
            z = torch.zeros(kernel_size, kernel_size, dtype=torch.float64)
            z[off:off + t, off:off + t] = a
            out.append(z)
    big = dct_basis(kernel_size)[1:]
    i = 0
    while len(out) < count:
        out.append(big[i % big.shape[0]])
        i += 1
    return out


def dct_opponent_kernels(num_filters: int, channels: int, kernel_size: int, chroma_fraction: float = 1 / 3) -> torch.Tensor:
    """Unit-norm, zero-mean initial filters: DCT atoms (no DC) in an opponent colour space.

    A fraction ``chroma_fraction`` of the filters is split between the two chroma vectors, the rest
    carries luminance; each colour gets every atom of the largest DCT block its count allows (so
    all its frequencies are covered, at a coarser resolution for the chroma), then low-frequency
    atoms of the full ``k x k`` block (:func:`_dct_atoms`). A sliding transform of this kind is what
    transform-domain denoisers (CBM3D) shrink. With one channel all filters are luminance atoms.
    """
    if channels == 3:
        n_chroma = int(round(chroma_fraction * num_filters))
        n_lum = num_filters - n_chroma
        counts = [(OPPONENT[0], n_lum), (OPPONENT[1], n_chroma - n_chroma // 2), (OPPONENT[2], n_chroma // 2)]
    else:
        counts = [(torch.ones(channels, dtype=torch.float64) / math.sqrt(channels), num_filters)]
    ker = torch.stack([col[:, None, None] * a[None] for col, n in counts for a in _dct_atoms(n, kernel_size)])
    ker = ker - ker.mean(dim=(1, 2, 3), keepdim=True)
    return ker / ker.flatten(1).norm(dim=1)[:, None, None, None]


def opponent_differences(channels: int, kernel_size: int) -> torch.Tensor:
    """Unit-norm horizontal and vertical forward differences of each opponent colour (luminance, then
    the two chroma vectors of ``OPPONENT``), centred in ``k x k``: ``(2 C, C, k, k)``. With one channel,
    the plain differences."""
    c = kernel_size // 2
    colours = OPPONENT if channels == 3 else torch.eye(channels, dtype=torch.float64)
    out = []
    for col in colours:
        for di, dj in ((0, 1), (1, 0)):
            d = torch.zeros(kernel_size, kernel_size, dtype=torch.float64)
            d[c, c], d[c + di, c + dj] = -1.0, 1.0
            out.append(col[:, None, None] * d[None] / math.sqrt(2.0))
    return torch.stack(out)


def autocorrelations(kernels: torch.Tensor) -> torch.Tensor:
    """``A[j, c, c', p] = sum_k c_j[c](k) c_j[c'](k + Delta_p)``, ``Delta_p`` over ``[-2r, 2r]^2``: ``(J, C, C, (4r+1)^2)``."""
    J, C, k, _ = kernels.shape
    r2 = 2 * (k // 2)
    windows = F.unfold(F.pad(kernels, (r2, r2, r2, r2)), k)  # (J, C k^2, (4r+1)^2)
    windows = windows.view(J, C, k * k, -1)
    return torch.einsum("jck,jdkp->jcdp", kernels.reshape(J, C, k * k), windows)


class Gershgorin(NamedTuple):
    """``Gamma(w, c)``: Gershgorin's bound on ``||sum_j w_j Toeplitz(A_j)||`` and what its derivatives need."""

    value: torch.Tensor  # ()
    row: int  # maximizing channel c*
    sign: torch.Tensor  # (C, (4r+1)^2): sign of the Gram kernel's row c*
    gram: torch.Tensor  # (C, C, (4r+1)^2): sum_j w_j A_j


def gershgorin(weights: torch.Tensor, acorr: torch.Tensor) -> Gershgorin:
    """``max_c sum_{c', Delta} |sum_j w_j A_j[c, c'](Delta)|`` (see the module docstring)."""
    gram = torch.einsum("j,jcdp->cdp", weights, acorr)
    rows = gram.abs().sum(dim=(1, 2))
    row = int(torch.argmax(rows))
    return Gershgorin(rows[row], row, torch.sign(gram[row]), gram)


def gershgorin_kernel_gradient(kernels: torch.Tensor, weights: torch.Tensor, g: Gershgorin) -> torch.Tensor:
    """``dGamma/dc_j`` ``(J, C, k, k)`` where the maximizing row and the signs are fixed.

    ``Gamma = sum_j w_j sum_{c', Delta} S[c'](Delta) sum_k c_j[c*](k) c_j[c'](k + Delta)``: the
    derivative through ``c_j[c*]`` is a correlation of ``c_j`` with ``S``, the one through ``c_j[c']``
    a convolution of ``c_j[c*]`` with ``S[c']``.
    """
    J, C, k, _ = kernels.shape
    r2 = 2 * (k // 2)
    side = 2 * r2 + 1
    S = g.sign.view(C, side, side).to(kernels.dtype)
    cpad = F.pad(kernels, (r2, r2, r2, r2))
    first = F.conv2d(cpad, S.view(1, C, side, side))  # (J, 1, k, k)
    second = F.conv2d(cpad[:, g.row:g.row + 1], S.flip(-1, -2).view(C, 1, side, side))  # (J, C, k, k)
    out = second.clone()
    out[:, g.row] += first[:, 0]
    return out * weights.view(J, 1, 1, 1)


class FilterActivity(NamedTuple):
    """Which filters of a ridge regularizer carry weight: the strength of filter ``j`` is its kernel norm
    ``||c_j||`` (the module docstring), so a filter far below the strongest does almost nothing."""

    norms: tuple[float, ...]  # ||c_j||, in filter order
    threshold: float  # relative to the largest norm
    active: int  # filters with ||c_j|| >= threshold * max_j ||c_j||
    budget_in_use: float  # tau: fraction of the prescribed weak convexity in use

    def as_dict(self) -> dict:
        n = np.asarray(self.norms)
        return {"active": self.active, "filters": len(self.norms), "threshold_relative_to_largest": self.threshold,
                "largest_norm": float(n.max()), "median_norm": float(np.median(n)), "smallest_norm": float(n.min()),
                "budget_in_use": self.budget_in_use, "norms": [float(v) for v in self.norms]}


def filter_activity(family: "WeaklyConvexRidge", theta: torch.Tensor, threshold: float = 0.1) -> FilterActivity:
    """Kernel norms of the filters at ``theta``, how many reach ``threshold`` times the largest, and ``tau``."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    p = family.unpack(theta.detach().to(torch.float64))
    norms = p.kernels.flatten(1).norm(dim=1)
    active = int((norms >= threshold * norms.max()).sum())
    return FilterActivity(tuple(float(v) for v in norms), threshold, active, float(torch.sigmoid(p.budget_logit)))


# -- the family -----------------------------------------------------------------------------------


class RidgeParams(NamedTuple):
    """Views into a flat parameter vector of :class:`WeaklyConvexRidge`."""

    budget_logit: torch.Tensor  # ()
    log_share: torch.Tensor  # (J,)
    log_nu: torch.Tensor  # (J,)
    log_s: torch.Tensor  # (J,)
    kernels: torch.Tensor  # (J, C, k, k)


class RidgeConstants(NamedTuple):
    """Euclidean constants of the ridge family at ``x`` for the adjoint ``q``, valid for every ``x'``
    (shape ``(B,)`` each): ``jac_norm >= ||B(x)||``, ``jac_lipschitz >= ||B(x') - B(x)|| / ||x' - x||``,
    ``hess_lipschitz >= ||H(x') - H(x)|| / ||x' - x||``, ``hess_q >= ||(H(x') - H(x)) q|| / ||x' - x||``,
    ``jac_q >= ||(B(x') - B(x))^T q|| / ||x' - x||``. :meth:`BoundRidge.constants` turns them into the
    :class:`~bilevel.regularizer.RegularizerConstants` of the error bound."""

    jac_norm: torch.Tensor
    jac_lipschitz: torch.Tensor
    hess_lipschitz: torch.Tensor
    hess_q: torch.Tensor
    jac_q: torch.Tensor


class RidgeCurvature(NamedTuple):
    """What Hessian-vector and mixed products at ``x`` reuse: ``u = K x`` and ``h = psi''(u) + rho m``."""

    u: torch.Tensor  # (B, J, H, W)
    weight: torch.Tensor  # (B, J, H, W)


@dataclass(frozen=True)
class WeaklyConvexRidge:
    """The weakly convex ridge family; ``at(theta)`` binds parameters (formulas in the module docstring).

    Parameters
    ----------
    num_filters, kernel_size, channels:
        ``J``, ``k`` (odd) and ``C``.
    weak_convexity:
        The prescribed ``rho_max >= 0``: the certified negative curvature of ``R_theta`` stays below it
        for every ``theta`` (``0`` gives a convex family: per-filter FoE experts).
    atom:
        The weakly convex atom of the potentials: ``"cauchy"`` or ``"welsch"``.
    padding, backend, micro_batch:
        As in :class:`bilevel.foe.FieldOfExperts`.
    kernel_scale:
        ``theta`` stores the filters divided by this factor (the filters are ``kernel_scale`` times
        their block of ``theta``). A reparametrisation, so every statement about ``R`` is unchanged;
        for a gradient method it is a diagonal preconditioner: a step of size ``a`` moves the filters
        as a step ``a kernel_scale^2`` would without it, while the potentials move at ``a``.
    """

    num_filters: int = 48
    kernel_size: int = 7
    channels: int = 3
    weak_convexity: float = 0.9
    atom: str = "cauchy"
    padding: str = "reflect"
    backend: str = "auto"
    micro_batch: int | None = None
    kernel_scale: float = 1.0
    atom_sign: str = "add"

    def __post_init__(self) -> None:
        check_padding(self.padding)
        atom(self.atom)
        if self.atom_sign not in ATOM_SIGNS:
            raise ValueError(f"atom_sign must be one of {ATOM_SIGNS}, got {self.atom_sign!r}")
        if not (isinstance(self.kernel_scale, (int, float)) and math.isfinite(self.kernel_scale) and self.kernel_scale > 0):
            raise ValueError(f"kernel_scale must be a positive number, got {self.kernel_scale!r}")
        if self.backend not in CONV_BACKENDS:
            raise ValueError(f"unknown convolution backend {self.backend!r}; use one of {CONV_BACKENDS}")
        if self.micro_batch is not None and (not isinstance(self.micro_batch, int) or self.micro_batch < 1):
            raise ValueError(f"micro_batch must be None (automatic) or a positive integer, got {self.micro_batch!r}")
        if not isinstance(self.num_filters, int) or self.num_filters < 1 or not isinstance(self.channels, int) or self.channels < 1:
            raise ValueError(f"num_filters and channels must be positive integers, got {self.num_filters!r}, {self.channels!r}")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 3 or self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be an odd integer >= 3, got {self.kernel_size!r}")
        if not (isinstance(self.weak_convexity, (int, float)) and math.isfinite(self.weak_convexity) and self.weak_convexity >= 0):
            raise ValueError(f"weak_convexity (rho_max) must be a finite number >= 0, got {self.weak_convexity!r}")

    @property
    def atom_coefficient(self) -> float:
        """``c`` of ``omega_j = c rho_j``: ``1 / kappa`` (``add``) or ``-1`` (``subtract``); either way
        ``inf (c phi'') = -1`` (``sup phi'' = phi''(0) = 1``), so ``psi_j'' >= -rho_j``."""
        return 1.0 / atom(self.atom).kappa if self.atom_sign == "add" else -1.0

    # -- layout -------------------------------------------------------------------------------
    @property
    def kernel_numel(self) -> int:
        return self.num_filters * self.channels * self.kernel_size**2

    @property
    def dim(self) -> int:
        """Number of parameters ``d = 1 + 3 J + J C k^2``."""
        return 1 + 3 * self.num_filters + self.kernel_numel

    @property
    def kernel_slice(self) -> slice:
        start = 1 + 3 * self.num_filters
        return slice(start, start + self.kernel_numel)

    def unpack(self, theta: torch.Tensor) -> RidgeParams:
        if theta.ndim != 1 or theta.shape[0] != self.dim:
            raise ValueError(f"theta must have shape ({self.dim},) for this ridge regularizer, got {tuple(theta.shape)}")
        J = self.num_filters
        blocks = [theta[1 + i * J:1 + (i + 1) * J] for i in range(3)]
        k = self.kernel_size
        ker = theta[self.kernel_slice].view(J, self.channels, k, k)
        return RidgeParams(theta[0], *blocks, ker * self.kernel_scale if self.kernel_scale != 1.0 else ker)

    def pack(self, budget_logit: float, log_share, log_nu, log_s, kernels) -> torch.Tensor:
        """Inverse of :meth:`unpack` (float64 on the CPU; per-filter entries may be scalars)."""
        J = self.num_filters
        parts = [torch.tensor([float(budget_logit)], dtype=torch.float64)]
        for name, v in (("log_share", log_share), ("log_nu", log_nu), ("log_s", log_s)):
            t = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
            if t.numel() == 1:
                t = t.expand(J)
            if t.numel() != J:
                raise ValueError(f"{name} needs {J} entries (or one), got {t.numel()}")
            parts.append(t)
        ker = torch.as_tensor(kernels, dtype=torch.float64).reshape(-1) / self.kernel_scale
        if ker.numel() != self.kernel_numel:
            raise ValueError(f"expected {self.kernel_numel} kernel entries, got {ker.numel()}")
        return torch.cat(parts + [ker])

    def init_theta(
        self,
        scale: float = 0.1,
        nu: float = 0.01,
        shape: float = 0.1,
        budget: float = 0.3,
        rest: float = 0.01,
        perturbation: float = 0.0,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """Documented initialization, a total-variation start.

        Filters: the horizontal and vertical first differences of the opponent colours
        (:func:`opponent_differences`, ``2C`` filters: a smoothed anisotropic TV that treats luminance
        and chroma apart, measured 0.3 dB better than per-channel TV on McMaster crops) of norm
        ``scale``, then DCT atoms in
        opponent colours (:func:`dct_opponent_kernels`) of norm ``rest * scale``: nearly inactive, but
        their gradients do not vanish with their norm, so they grow where the data ask for them.
        Smoothing ``nu_j = nu scale`` and atom scales ``s_j = shape scale`` for every filter (in units
        of the responses of the TV filters; a weak filter that grows must not become sharp), equal
        shares of the budget ``tau = budget`` (a fraction of ``rho_max``).
        Seeded Gaussian noise of relative size ``perturbation`` is added to the filter shapes. The
        defaults are close to the best smoothed TV at sigma = 25/255 (about 9 dB over the noisy input).
        """
        if not (scale > 0 and nu > 0 and shape > 0 and 0 < budget < 1 and rest > 0 and perturbation >= 0):
            raise ValueError("init_theta needs scale, nu, shape, rest > 0, 0 < budget < 1 and perturbation >= 0")
        J, C, k = self.num_filters, self.channels, self.kernel_size
        n_tv = min(J, 2 * C)
        ker = opponent_differences(C, k)[:n_tv]
        if J > n_tv:
            ker = torch.cat([ker, dct_opponent_kernels(J - n_tv, C, k)])
        if perturbation > 0:
            gen = torch.Generator().manual_seed(seed)
            noise = torch.randn(J, C, k, k, generator=gen, dtype=torch.float64)
            ker = ker + perturbation * noise / noise.flatten(1).norm(dim=1)[:, None, None, None]
        ker = ker - ker.mean(dim=(1, 2, 3), keepdim=True)
        ker = ker / ker.flatten(1).norm(dim=1)[:, None, None, None]
        norms = torch.full((J,), rest * scale, dtype=torch.float64)
        norms[:n_tv] = scale
        theta = self.pack(math.log(budget / (1 - budget)), 0.0, math.log(nu * scale), math.log(shape * scale),
                          ker * norms[:, None, None, None])
        return theta.to(dtype=dtype, device=device)

    def project(self, theta: torch.Tensor) -> torch.Tensor:
        """Euclidean projection onto zero-mean filters (each over its channels and taps), as for the FoE."""
        out = theta.clone()
        ker = out[self.kernel_slice].view(self.num_filters, -1)
        ker -= ker.mean(dim=1, keepdim=True)
        return out

    def at(self, theta: torch.Tensor) -> "BoundRidge":
        return BoundRidge(self, theta)

    def describe(self) -> dict:
        return {
            "name": "ridge",
            "num_filters": self.num_filters,
            "kernel_size": self.kernel_size,
            "channels": self.channels,
            "weak_convexity": self.weak_convexity,
            "atom": self.atom,
            "padding": self.padding,
            "backend": self.backend,
            "micro_batch": self.micro_batch,
            "kernel_scale": self.kernel_scale,
            "atom_sign": self.atom_sign,
            "dim": self.dim,
        }


class BoundRidge:
    """``R_theta`` at a fixed ``theta``; all methods are batched and per image."""

    def __init__(self, family: WeaklyConvexRidge, theta: torch.Tensor) -> None:
        self.family = family
        self.theta = theta
        prm = family.unpack(theta)
        self.kernels = prm.kernels
        self.pad = family.kernel_size // 2
        self.mode = family.padding
        self.atom = atom(family.atom)
        J = family.num_filters
        self.nu = torch.exp(prm.log_nu)
        self.s = torch.exp(prm.log_s)
        self.tau = torch.sigmoid(prm.budget_logit)
        self.share = torch.exp(prm.log_share - prm.log_share.max())  # pi_j up to a common factor
        with torch.no_grad():
            self._acorr = autocorrelations(self.kernels.detach())
            self._gersh = gershgorin(self.share.detach(), self._acorr)
        self.rho = family.weak_convexity * self.tau * self.share / self._gersh.value  # (J,)
        self.coefficient = family.atom_coefficient
        self.omega = self.coefficient * self.rho  # the atom's signed weight
        self._view = lambda t: t.view(1, J, 1, 1)
        self._nu4, self._s4 = self._view(self.nu), self._view(self.s)
        self._nu2 = self._nu4**2
        self._omega4, self._rho4 = self._view(self.omega), self._view(self.rho)
        self._omega_s4 = self._view(self.omega * self.s)
        self._s2 = self._s4**2
        self._inv_s2 = 1.0 / self._s2
        self._omega_s2 = self._omega4 * self._s2
        self._cache: dict[tuple, object] = {}

    # -- linear maps ---------------------------------------------------------------------------
    def _use_fft(self, t: torch.Tensor, adjoint: bool) -> bool:
        backend = self.family.backend
        if backend != "auto":
            return backend == "fft"
        return t.device.type == "cpu" and (adjoint or t.dtype == torch.float64)

    def _spectrum(self, hp: int, wp: int) -> tuple[torch.Tensor, int, int]:
        key = ("spec", hp, wp)
        if key not in self._cache:
            n, m = fast_fft_length(hp), fast_fft_length(wp)
            self._cache[key] = (torch.fft.rfft2(self.kernels, s=(n, m)).permute(2, 3, 0, 1).contiguous(), n, m)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``u = K x``: ``(B, C, H, W) -> (B, J, H, W)``."""
        xp = pad(x, self.pad, self.mode)
        if not self._use_fft(x, adjoint=False):
            return F.conv2d(xp, self.kernels)
        H, W = x.shape[-2:]
        spec, n, m = self._spectrum(xp.shape[-2], xp.shape[-1])
        X = torch.fft.rfft2(xp, s=(n, m)).permute(2, 3, 0, 1)
        U = torch.matmul(X, spec.conj().transpose(-1, -2))
        return torch.fft.irfft2(U.permute(2, 3, 0, 1), s=(n, m))[..., :H, :W]

    def adjoint(self, v: torch.Tensor) -> torch.Tensor:
        """``K^T v``: ``(B, J, H, W) -> (B, C, H, W)``."""
        if not self._use_fft(v, adjoint=True):
            return pad_adjoint(F.conv_transpose2d(v, self.kernels), self.pad, self.mode)
        hp, wp = v.shape[-2] + 2 * self.pad, v.shape[-1] + 2 * self.pad
        spec, n, m = self._spectrum(hp, wp)
        V = torch.fft.rfft2(v, s=(n, m)).permute(2, 3, 0, 1)
        full = torch.fft.irfft2(torch.matmul(V, spec).permute(2, 3, 0, 1), s=(n, m))[..., :hp, :wp]
        return pad_adjoint(full, self.pad, self.mode)

    def border_mask(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """``1`` at outputs whose window reads the padding, ``0`` inside: ``(1, 1, H, W)``."""
        key = ("mask", height, width, like.dtype, like.device)
        if key not in self._cache:
            r = self.pad
            m = torch.ones(1, 1, height, width, dtype=like.dtype, device=like.device)
            m[..., r:height - r, r:width - r] = 0.0
            self._cache[key] = m
        return self._cache[key]

    # -- slicing (CPU micro-batching, as in bilevel.foe) ----------------------------------------------
    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.family.channels:
            raise ValueError(f"expected images of shape (B, {self.family.channels}, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) <= 2 * self.pad:
            raise ValueError(f"images of {x.shape[-2]}x{x.shape[-1]} pixels are too small for {self.family.kernel_size}x"
                             f"{self.family.kernel_size} filters: use images larger than {2 * self.pad} pixels")

    def slice_size(self, x: torch.Tensor) -> int:
        if self.family.micro_batch is not None:
            return self.family.micro_batch
        if x.device.type != "cpu":
            return max(1, x.shape[0])
        per_image = self.family.num_filters * x.shape[-2] * x.shape[-1] * x.element_size()
        return max(1, min(CPU_MICRO_BATCH_MAX, CPU_MICRO_BATCH_BYTES // per_image))

    def _sliced(self, fn, *batches: torch.Tensor):
        n = self.slice_size(batches[0])
        if batches[0].shape[0] <= n:
            return fn(*batches)
        parts = [fn(*chunk) for chunk in zip(*(b.split(n) for b in batches))]
        if isinstance(parts[0], tuple):
            return type(parts[0])(*(torch.cat(p) for p in zip(*parts)))
        return torch.cat(parts)

    # -- potentials ------------------------------------------------------------------------------
    def _add_border(self, out: torch.Tensor, coef: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """``out += coef * m (* u)`` on the border strips only (``m`` of :meth:`border_mask`), in place."""
        r = self.pad
        H = out.shape[-2]
        for rows in (slice(0, r), slice(H - r, H)):
            out[..., rows, :] += coef if u is None else coef * u[..., rows, :]
        mid = (slice(r, H - r), slice(0, r)), (slice(r, H - r), slice(out.shape[-1] - r, out.shape[-1]))
        for rows, cols in mid:
            out[..., rows, cols] += coef if u is None else coef * u[..., rows, cols]
        return out

    def _first(self, u: torch.Tensor) -> torch.Tensor:
        """``w = psi'(u) + rho m u`` (fused: ``u (1 / sqrt(u^2 + nu^2) + omega s phi'(v) / u)``)."""
        u2 = u * u
        t = torch.rsqrt(u2 + self._nu2)
        if self.atom.name == "cauchy":  # omega s phi'(u/s) = omega u s^2 / (s^2 + u^2)
            t.add_((u2 + self._s2).reciprocal_().mul_(self._omega_s2))
        else:  # omega s phi'(u/s) = omega u exp(-u^2/s^2)
            t.add_(torch.exp(u2.mul_(-self._inv_s2)).mul_(self._omega4))
        return self._add_border(t.mul_(u), self._rho4, u)

    def _second(self, u: torch.Tensor) -> torch.Tensor:
        """``h = psi''(u) + rho m``."""
        u2 = u * u
        inv = torch.rsqrt(u2 + self._nu2)
        h = inv * inv
        h.mul_(inv).mul_(self._nu2)
        if self.atom.name == "cauchy":  # omega phi''(u/s) = omega s^2 (s^2 - u^2) / (s^2 + u^2)^2
            den = (u2 + self._s2).reciprocal_()
            h.add_(den.mul_(den).mul_(self._s2 - u2).mul_(self._omega_s2))
        else:  # omega phi''(u/s) = omega (1 - 2 u^2/s^2) exp(-u^2/s^2)
            a = u2.mul_(self._inv_s2)
            h.add_(torch.exp(-a).mul_(1.0 - 2.0 * a).mul_(self._omega4))
        return self._add_border(h, self._rho4)

    # -- value, gradient, curvature ---------------------------------------------------------------
    def value(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self._sliced(self._value, x)

    def _value(self, x: torch.Tensor) -> torch.Tensor:
        u = self.forward(x)
        mask = self.border_mask(*x.shape[-2:], u)
        val = (torch.sqrt(u * u + self._nu2) - self._nu4
               + self._omega4 * self._s4**2 * atom_phi(self.atom.name, u / self._s4)
               + 0.5 * self._rho4 * mask * u * u)
        return val.sum(dim=(1, 2, 3))

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self._sliced(self._grad, x)

    def _grad(self, x: torch.Tensor) -> torch.Tensor:
        return self.adjoint(self._first(self.forward(x)))

    def curvature(self, x: torch.Tensor) -> RidgeCurvature:
        self._check(x)
        return self._sliced(self._curvature, x)

    def _curvature(self, x: torch.Tensor) -> RidgeCurvature:
        u = self.forward(x)
        return RidgeCurvature(u, self._second(u))

    def hvp(self, curv: RidgeCurvature, v: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        w = curv.weight if index is None else curv.weight.index_select(0, index)
        return self._sliced(self._hvp, v, w)

    def _hvp(self, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.adjoint(w * self.forward(v))

    # -- parameters of the budget ------------------------------------------------------------------
    def _budget_derivatives(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``gamma = dGamma/dpi`` ``(J,)`` and ``dGamma/dc`` ``(J, C, k, k)`` at this theta (cached)."""
        if "budget" not in self._cache:
            with torch.no_grad():
                g = self._gersh
                gamma = (self._acorr[:, g.row] * g.sign.unsqueeze(0)).sum(dim=(1, 2))
                dker = gershgorin_kernel_gradient(self.kernels.detach(), self.share.detach(), g)
            self._cache["budget"] = (gamma, dker)
        return self._cache["budget"]

    def negative_curvature_bound(self, height: int | None = None, width: int | None = None) -> float:
        r"""Certified ``Gamma(rho, c) >= -lambda_min(grad_x^2 R_theta(x))`` for every ``x`` and image size.

        Recomputed in float64 from the autocorrelations (it equals ``rho_max tau`` up to rounding).
        """
        key = "negcurv"
        if key not in self._cache:
            with torch.no_grad():
                acorr = autocorrelations(self.kernels.detach().double())
                self._cache[key] = float(gershgorin(self.rho.detach().double(), acorr).value)
        return self._cache[key]

    # -- mixed product B^T q ------------------------------------------------------------------------
    def mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: RidgeCurvature, per_image: bool = False) -> torch.Tensor:
        """``grad_theta <grad_x R_theta(x), q>``, summed over images or per image ``(B, d)``."""
        n = self.slice_size(x)
        if x.shape[0] <= n:
            return self._mixed_vjp(x, q, curv, per_image)
        parts = [self._mixed_vjp(xs, qs, RidgeCurvature(us, ws), per_image)
                 for xs, qs, us, ws in zip(x.split(n), q.split(n), curv.u.split(n), curv.weight.split(n))]
        return torch.cat(parts) if per_image else torch.stack(parts).sum(dim=0)

    def _mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: RidgeCurvature, per_image: bool) -> torch.Tensor:
        fam = self.family
        B, C, H, W = x.shape
        J, k = fam.num_filters, fam.kernel_size
        u, h = curv.u, curv.weight
        mask = self.border_mask(H, W, u)
        r = self.forward(q)
        inv = torch.rsqrt(u * u + self._nu2)
        v = u / self._s4
        d1, d2 = atom_derivatives(self.atom.name, v)
        w = u * inv + self._omega_s4 * d1 + self._rho4 * mask * u
        sums = lambda t: (t * r).sum(dim=(2, 3))  # noqa: E731  <t_j, r_j> per image, (B, J)
        g_nu = -sums(u * self._nu2 * inv * inv * inv)
        g_s = self.omega * sums(self._s4 * d1 - u * d2)
        e = sums(self.coefficient * self._s4 * d1 + mask * u)  # d<grad R, q>/d rho_j
        E = (e * self.rho).sum(dim=1, keepdim=True)  # (B, 1)
        gamma, dker = self._budget_derivatives()
        gam = self._gersh.value
        g_tau = (1.0 - self.tau) * E
        g_share = self.rho * e - (self.share * gamma / gam) * E
        xq = pad(torch.cat([q, x], dim=0), self.pad, self.mode)
        go = torch.cat([w, h * r], dim=0)
        if per_image:
            inp = xq.view(2, B * C, H + 2 * self.pad, W + 2 * self.pad)
            gk = torch.nn.grad.conv2d_weight(inp, (B * J, C, k, k), go.view(2, B * J, H, W), groups=B).view(B, -1)
            gk = (gk - (E / gam) * dker.reshape(1, -1)) * fam.kernel_scale
            return torch.cat([g_tau, g_share, g_nu, g_s, gk], dim=1)
        gk = torch.nn.grad.conv2d_weight(xq, (J, C, k, k), go).reshape(-1) - (E.sum() / gam) * dker.reshape(-1)
        return torch.cat([g_tau.sum(0), g_share.sum(0), g_nu.sum(0), g_s.sum(0), gk * fam.kernel_scale])

    # -- certified constants ----------------------------------------------------------------------------
    def kernel_norm_sq_bound(self, height: int, width: int) -> torch.Tensor:
        """Certified ``||K_j||^2`` bounds ``(J,)``: largest row sum of ``|K_j|^T |K_j|`` (as in the FoE)."""
        key = ("kn", height, width)
        if key not in self._cache:
            J, C = self.family.num_filters, self.family.channels
            ak = self.kernels.detach().abs()
            ones = torch.ones(1, C, height, width, dtype=ak.dtype, device=ak.device)
            v = F.conv2d(pad(ones, self.pad, self.mode), ak)
            back = pad_adjoint(F.conv_transpose2d(v, ak, groups=J), self.pad, self.mode)
            self._cache[key] = back.reshape(J, C * height * width).amax(dim=1)
        return self._cache[key]

    def curvature_sup(self) -> torch.Tensor:
        """``sup |psi_j''(t) + rho_j m| <= 1 / nu_j + |omega_j| + rho_j`` ``(J,)`` (``sup |phi''| = 1``)."""
        return (1.0 / self.nu + self.omega.abs() + self.rho).detach()

    def third_sup(self) -> torch.Tensor:
        """``sup |psi_j'''| <= c3 / nu_j^2 + |omega_j| sup|phi'''| / s_j`` ``(J,)``."""
        return (PSI3_SUP / self.nu**2 + self.omega.abs() * self.atom.d3_sup / self.s).detach()

    def grad_lipschitz_bound(self, height: int, width: int) -> float:
        r"""Certified ``sup_x ||grad_x^2 R_theta(x)||`` on ``height x width`` images.

        The Hessian lies between ``-Gamma`` and ``sum_j H_j K_j^T K_j`` (``H_j`` of
        :meth:`curvature_sup`). Two Gershgorin bounds of the latter, the smaller is kept: the row
        sums of ``P^T |C|^T diag(H) |C| P`` (no cancellation, as for the FoE) and those of
        ``P^T |T_g| P`` with ``T_g`` the Toeplitz matrix of ``g = sum_j H_j A_j`` on the padded grid
        (valid correlations are restrictions of full ones, so ``C_j^T C_j <= T_{A_j}``; the
        autocorrelations keep the cancellations).
        """
        key = ("lip", height, width)
        if key not in self._cache:
            J, C = self.family.num_filters, self.family.channels
            hs = self.curvature_sup()
            ak = self.kernels.detach().abs()
            ones = torch.ones(1, C, height, width, dtype=ak.dtype, device=ak.device)
            ones_p = pad(ones, self.pad, self.mode)
            v = F.conv2d(ones_p, ak) * hs.view(1, J, 1, 1)
            b1 = float(pad_adjoint(F.conv_transpose2d(v, ak), self.pad, self.mode).max())
            side = 4 * self.pad + 1
            g = torch.einsum("j,jcdp->cdp", hs, self._acorr).abs().view(C, C, side, side)
            rows = F.conv2d(ones_p, g, padding=2 * self.pad)
            b2 = float(pad_adjoint(rows, self.pad, self.mode).max())
            self._cache[key] = max(min(b1, b2), self.negative_curvature_bound())
        return self._cache[key]

    def _window_energy(self, z: torch.Tensor) -> torch.Tensor:
        """``sum_{c,k} (P z)_c(p + k)^2`` for every output pixel ``p``: ``(B, 1, H, W)``."""
        k = self.family.kernel_size
        z2 = pad(z, self.pad, self.mode).pow(2).sum(dim=1, keepdim=True)
        return F.conv2d(z2, torch.ones(1, 1, k, k, dtype=z.dtype, device=z.device))

    def constants(self, x: torch.Tensor, curv: RidgeCurvature, q: torch.Tensor, radius=None,
                  modulus: float = 1.0) -> RegularizerConstants:
        r"""Certified constants at ``x`` for the adjoint ``q`` (:class:`RegularizerConstants`).

        Every bound below holds for all ``x'`` (not only on the ball of ``radius``, which is therefore
        not needed), and the energy forms use only ``H' >= mu_h I`` with ``mu_h = modulus`` the
        certified modulus of the lower level (already lowered by this family's negative curvature):
        ``jac_energy = ||B(x)|| / sqrt(mu_h)`` and ``hess_q_energy = sup ||(H(x') - H(x)) q|| /
        (||x' - x|| sqrt(mu_h))``. Pairing with the regularizer's own curvature, as the Field of
        Experts does, is not available for a weakly convex potential (its curvature may be negative).

        Notation: ``kn_j^2 >= ||K_j||^2``, ``H_j`` and ``L3_j`` the sups of :meth:`curvature_sup` and
        :meth:`third_sup`, ``M_P``, ``m_w`` the padding counts of
        :func:`bilevel.padding.padding_multiplicities`, ``S_z = sum_{c,k} ||win_k(P z)_c||^2``,
        ``V_j = sum_p h_j(p)^2 (box * sum_c (P x)_c^2)(p)``, ``r_j = K_j q``, ``c`` the atom coefficient
        (:attr:`WeaklyConvexRidge.atom_coefficient`) and the atom's
        ``sup |v phi'''|`` (``c_v``). Every block of ``B^T q`` is a sum over filters of
        ``<f(u_j), r_j>`` (Lipschitz constants of ``f``: ``1/nu_j`` for the ``log nu`` rows, ``c_v``
        for ``log s``, ``|c| + 1`` for ``e_j``) or a kernel block:

        * ``||B(x)||^2 <= sum_j (kn_j ||f_j(u_j)||)^2`` over the ``log nu``/``log s``
          rows ``+ ((1 - tau) E')^2 + (||rho e'|| + ||pi gamma|| E'/Gamma)^2
          + (sqrt(sum_j (||w_j|| sqrt(M_P) + kn_j sqrt(V_j))^2) + E' ||dGamma/dc||/Gamma)^2`` with
          ``e'_j = kn_j ||c s phi'(v) + m u||``, ``E' = sum_j rho_j e'_j``;
        * ``L_B``: the same rows with ``kn_j^2`` times the Lipschitz constants, and kernel blocks
          ``2 H_j kn_j sqrt(M_P) + L3_j ||c_j|| sqrt(m_w) kn_j sqrt(S_x)``;
        * ``L_H <= sum_j kn_j^2 L3_j ||c_j|| sqrt(m_w)``, ``||(H(x') - H(x)) q|| / ||x' - x|| <=
          sum_j kn_j^2 L3_j ||r_j||_inf``;
        * ``||(B(x') - B(x))^T q|| / ||x' - x||``: as ``L_B`` with the known ``||r_j||`` and
          ``||r_j||_inf``, kernel blocks ``H_j kn_j sqrt(S_q) + L3_j kn_j ||r_j||_inf sqrt(S_x)
          + H_j sqrt(M_P) ||r_j||``.

        With ``kernel_scale != 1`` every kernel block (a derivative in the filters) is multiplied by
        ``kernel_scale``, the derivative of the filters in their block of ``theta``.
        """
        if not modulus > 0:
            raise ValueError(f"the strong convexity modulus must be positive, got {modulus}")
        g = self._sliced(lambda xs, us, ws, qs: self._constants(xs, RidgeCurvature(us, ws), qs), x, curv.u, curv.weight, q)
        smu = math.sqrt(modulus)
        return RegularizerConstants(g.jac_norm / smu, g.hess_q / smu, g.jac_q, g.jac_lipschitz)

    def global_constants(self, x: torch.Tensor, curv: RidgeCurvature, q: torch.Tensor) -> "RidgeConstants":
        """The Euclidean constants of :meth:`constants` (valid for every ``x'``), before the energy pairing."""
        return self._sliced(lambda xs, us, ws, qs: self._constants(xs, RidgeCurvature(us, ws), qs), x, curv.u, curv.weight, q)

    def _constants(self, x: torch.Tensor, curv: RidgeCurvature, q: torch.Tensor) -> "RidgeConstants":
        fam = self.family
        B, C, H, W = x.shape
        mult = padding_multiplicities(H, W, fam.kernel_size, fam.padding)
        sqrt_mp, sqrt_mw = math.sqrt(mult.window_sum), math.sqrt(mult.window_max)
        coef = self.coefficient
        with torch.no_grad():
            nu, s = self.nu.detach(), self.s.detach()
            rho, omega, tau = self.rho.detach(), self.omega.detach(), float(self.tau)
            omega_abs = omega.abs()
            share, gam = self.share.detach(), float(self._gersh.value)
            gamma, dker = self._budget_derivatives()
            pg = (share * gamma).norm() / gam  # ||pi gamma|| / Gamma
            dk = dker.norm() / gam  # ||dGamma/dc|| / Gamma
            kn2 = self.kernel_norm_sq_bound(H, W)
            kn = kn2.sqrt()
            cn = self.kernels.detach().flatten(1).norm(dim=1)
            hs, l3 = self.curvature_sup(), self.third_sup()
            u, h = curv.u, curv.weight
            mask = self.border_mask(H, W, u)
            inv = torch.rsqrt(u * u + self._nu2.detach())
            v = u / self._s4.detach()
            d1, d2 = atom_derivatives(self.atom.name, v)
            norm = lambda t: t.flatten(2).norm(dim=2)  # noqa: E731  per image and filter, (B, J)
            w = u * inv + (omega * s).view(1, -1, 1, 1) * d1 + rho.view(1, -1, 1, 1) * mask * u
            # ||B(x)||
            rows_nu = kn * norm(u * self._nu2.detach() * inv**3)
            rows_s = omega_abs * kn * norm(s.view(1, -1, 1, 1) * d1 - u * d2)
            e_bar = kn * norm(coef * s.view(1, -1, 1, 1) * d1 + mask * u)
            E_bar = (rho * e_bar).sum(dim=1)
            box_x = self._window_energy(x)
            s_x = box_x.flatten(1).sum(dim=1)
            v_j = (h.pow(2) * box_x).sum(dim=(2, 3))
            ks = fam.kernel_scale  # the kernel block of theta is the filters / ks: its derivatives carry a factor ks
            kb = ks * ((norm(w) * sqrt_mp + kn * v_j.sqrt()).pow(2).sum(dim=1).sqrt() + E_bar * dk)
            jac_norm = ((rows_nu**2).sum(1) + (rows_s**2).sum(1) + ((1 - tau) * E_bar) ** 2
                        + ((rho * e_bar).norm(dim=1) + pg * E_bar) ** 2
                        + kb**2).sqrt()
            # L_B (worst case over x')
            lip_e = abs(coef) + 1.0  # |c| sup|phi''| + 1
            lw = kn2 / nu  # log nu rows
            ls = omega_abs * kn2 * self.atom.vd3_sup
            le = rho * lip_e * kn2  # (J,)
            LE = le.sum()
            lk = (2.0 * hs * kn * sqrt_mp)[None, :] + (l3 * cn * sqrt_mw * kn)[None, :] * s_x.sqrt()[:, None]
            jac_lip = ((lw**2).sum() + (ls**2).sum() + ((1 - tau) * LE) ** 2 + (le.norm() + pg * LE) ** 2
                       + ks**2 * (lk.pow(2).sum(dim=1).sqrt() + LE * dk) ** 2).sqrt()
            hess_lip = (kn2 * l3 * cn * sqrt_mw).sum().expand(B).clone()
            # terms with the known adjoint q
            r = self.forward(q)
            r_inf = r.abs().amax(dim=(2, 3))
            r_2 = norm(r)
            hess_q = (kn2 * l3 * r_inf).sum(dim=1)
            qw = (kn / nu) * r_2
            qs = (omega_abs * kn * self.atom.vd3_sup) * r_2
            qe = (rho * lip_e * kn) * r_2
            QE = qe.sum(dim=1)
            s_q = self._window_energy(q).flatten(1).sum(dim=1)
            qk = hs * kn * s_q.sqrt()[:, None] + l3 * kn * r_inf * s_x.sqrt()[:, None] + hs * sqrt_mp * r_2
            jac_q = ((qw**2).sum(1) + (qs**2).sum(1) + ((1 - tau) * QE) ** 2 + (qe.norm(dim=1) + pg * QE) ** 2
                     + ks**2 * (qk.pow(2).sum(dim=1).sqrt() + QE * dk) ** 2).sqrt()
        return RidgeConstants(jac_norm, jac_lip, hess_lip, hess_q, jac_q)
