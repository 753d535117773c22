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

    def constants(self, x: torch.Tensor, curv: None, q: torch.Tensor) -> RegularizerConstants:
        """``L_H = 0``; ``(B(x') - B(x))^T q = (w_j <D_j (x' - x), D_j q>)_j``, ``||D_j|| <= 2``."""
        with torch.no_grad():
            rows = torch.stack(
                [
                    (self.w[0] * _diff_adjoint(_diff(x, -1), -1)).flatten(1).norm(dim=1),
                    (self.w[1] * _diff_adjoint(_diff(x, -2), -2)).flatten(1).norm(dim=1),
                ],
                dim=1,
            )
            jac = rows.norm(dim=1)
            lip = (4.0 * self.w.detach()).norm().expand(x.shape[0]).clone()
            jac_q = torch.stack(
                [2.0 * self.w[0] * _diff(q, -1).flatten(1).norm(dim=1), 2.0 * self.w[1] * _diff(q, -2).flatten(1).norm(dim=1)],
                dim=1,
            ).norm(dim=1)
        zero = torch.zeros_like(jac)
        return RegularizerConstants(jac, lip, zero, zero, jac_q)
