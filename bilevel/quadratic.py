r"""A quadratic regularizer whose lower-level solution solves a linear system.

.. math::

    R_\theta(x) = \tfrac12 \sum_{j} e^{\theta_j} \| D_j x \|^2,

with ``D_1``, ``D_2`` the horizontal and vertical circular forward differences (per channel). Then
``x^(theta) = (A^T A + mu I + sum_j e^{theta_j} D_j^T D_j)^{-1} A^T y`` in closed form, which makes this
family the ground truth for hypergradient tests (STYLE.md: "a quadratic problem with an exact
hypergradient is the ground truth for every solver"). ``B^T q = (e^{theta_j} <D_j x, D_j q>)_j``,
``L_H = 0``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .regularizer import RegularizerConstants


def _diff(x: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.roll(x, shifts=-1, dims=axis) - x


def _diff_adjoint(v: torch.Tensor, axis: int) -> torch.Tensor:
    return torch.roll(v, shifts=1, dims=axis) - v


@dataclass(frozen=True)
class QuadraticDifferences:
    """``theta = (log w_horizontal, log w_vertical)``; ``dim = 2``."""

    channels: int = 3
    dim: int = 2

    def project(self, theta: torch.Tensor) -> torch.Tensor:
        """No constraint: the identity."""
        return theta

    def at(self, theta: torch.Tensor) -> "BoundQuadratic":
        if theta.shape != (2,):
            raise ValueError(f"theta must have shape (2,), got {tuple(theta.shape)}")
        return BoundQuadratic(self, theta)

    def describe(self) -> dict:
        return {"name": "quadratic_differences", "channels": self.channels, "dim": self.dim}


class BoundQuadratic:
    def __init__(self, family: QuadraticDifferences, theta: torch.Tensor) -> None:
        self.family = family
        self.theta = theta
        self.w = torch.exp(theta)

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        return self.w[0] * _diff_adjoint(_diff(x, -1), -1) + self.w[1] * _diff_adjoint(_diff(x, -2), -2)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.w[0] * _diff(x, -1).pow(2).sum(dim=(1, 2, 3)) + self.w[1] * _diff(x, -2).pow(2).sum(dim=(1, 2, 3)))

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return self._normal(x)

    def curvature(self, x: torch.Tensor) -> None:
        return None

    def hvp(self, curv: None, v: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        return self._normal(v)

    def mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: None, per_image: bool = False) -> torch.Tensor:
        g = torch.stack(
            [
                self.w[0] * (_diff(x, -1) * _diff(q, -1)).sum(dim=(1, 2, 3)),
                self.w[1] * (_diff(x, -2) * _diff(q, -2)).sum(dim=(1, 2, 3)),
            ],
            dim=1,
        )
        return g if per_image else g.sum(dim=0)

    def grad_lipschitz_bound(self, height: int, width: int) -> float:
        return float(4.0 * self.w.sum())  # ||D_j||^2 <= 4

    def negative_curvature_bound(self, height: int, width: int) -> float:
        """Convex: ``0``."""
        return 0.0

    def constants(self, x: torch.Tensor, curv: None, q: torch.Tensor, radius: torch.Tensor | None = None,
                  modulus: float = 1.0) -> RegularizerConstants:
        """Exact for every radius: ``H`` is constant (``hess_q_energy = 0``) and ``B(x)`` is linear in ``x``.

        Row ``j`` of ``B(x)^T v`` is ``w_j <D_j x, D_j v>``; since ``H >= mu I`` and ``H >= w_j D_j^T D_j``,
        ``|w_j <D_j x, D_j v>| <= min(||w_j D_j^T D_j x|| / sqrt(mu), sqrt(w_j) ||D_j x||) ||v||_H``
        (``jac_energy`` is the norm of these row bounds). ``(B(x') - B(x))^T q = (w_j <x' - x, D_j^T D_j q>)_j``
        gives ``jac_q = ||(w_j D_j^T D_j q)_j||`` and ``jac_lipschitz = ||(4 w_j)_j||`` (``||D_j||^2 <= 4``).
        """
        if not modulus > 0:
            raise ValueError(f"the strong convexity modulus must be positive, got {modulus}")
        with torch.no_grad():
            w = self.w.detach()
            axes = (-1, -2)
            rows_e = torch.stack([torch.minimum((w[j] * _diff_adjoint(_diff(x, a), a)).flatten(1).norm(dim=1) / modulus**0.5,
                                                w[j].sqrt() * _diff(x, a).flatten(1).norm(dim=1)) for j, a in enumerate(axes)], dim=1)
            rows_q = torch.stack([(w[j] * _diff_adjoint(_diff(q, a), a)).flatten(1).norm(dim=1) for j, a in enumerate(axes)], dim=1)
            jac = rows_e.norm(dim=1)
            lip = (4.0 * w).norm().expand(x.shape[0]).clone()
            jac_q = rows_q.norm(dim=1)
        return RegularizerConstants(jac, torch.zeros_like(jac), jac_q, lip)
