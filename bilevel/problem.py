r"""The lower-level problem of every image (DESIGN.md, "Per-image problems").

.. math::

    h_i(x, \theta) = \tfrac12 \|A x - y_i\|^2 + R_\theta(x) + \tfrac{\mu}{2} \|x\|^2 ,

with ``R_theta`` convex or weakly convex: ``grad^2 R_theta(x) >= -rho_theta I`` for every ``x`` with a
certified ``rho_theta >= 0`` (``BoundRegularizer.negative_curvature_bound``; ``0`` for convex families
such as the FoE). ``h_i`` is ``mu_h``-strongly convex with the certified modulus
``mu_h = lambda_min-bound(A^T A) + mu - rho_theta`` and ``L_h``-smooth with
``L_h = ||A||^2-bound + mu + sup_x ||grad^2 R_theta(x)||``-bound. Both depend on the image size (and
``theta``) only, never on the batch; a ``theta`` whose modulus would not be positive is refused.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .operators import GaussianBlur, Identity
from .regularizer import BoundRegularizer, Regularizer
from .validate import check_images, check_like, check_theta


@dataclass
class LowerLevelProblem:
    """Operator, regularizer family and ridge ``mu >= 0`` (``mu > 0`` unless ``A`` is injective)."""

    operator: Identity | GaussianBlur
    regularizer: Regularizer
    mu: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.mu, (int, float)) and math.isfinite(self.mu) and self.mu >= 0):
            raise ValueError(f"mu must be a finite number >= 0, got {self.mu!r}")

    def modulus(self, height: int, width: int, reg: BoundRegularizer | None = None) -> float:
        """Certified strong convexity modulus ``mu_h`` of ``h_i(., theta)``.

        Without ``reg`` it is the data term's and the ridge's, ``lambda_min-bound(A^T A) + mu`` (valid for
        every convex regularizer); with ``reg`` (the regularizer bound to ``theta``) it is lowered by
        the certified negative-curvature bound of a weakly convex regularizer (``0`` for convex ones).
        """
        m = self.operator.gram_lower_bound(height, width) + self.mu
        if m <= 0:
            raise ValueError(
                f"mu = {self.mu} with the operator {self.operator.describe()}, which is not certified injective: "
                "the lower-level problem may not be strongly convex. Pass mu > 0 (e.g. mu = 1e-2)."
            )
        rho = 0.0 if reg is None else float(reg.negative_curvature_bound(height, width))
        if not (math.isfinite(rho) and rho >= 0):
            raise ValueError(f"the regularizer reported an invalid negative-curvature bound {rho!r}")
        if m - rho <= 0:
            raise ValueError(
                f"the regularizer's certified negative curvature {rho:.6g} is not below the data term's modulus "
                f"{m:.6g} (operator {self.operator.describe()}, "
                f"mu = {self.mu}): the lower-level problem is not certified strongly convex at this theta. Use a "
                "regularizer family with a smaller prescribed weak convexity (e.g. --weak-convexity below the modulus) "
                "or a larger mu."
            )
        return float(m - rho)

    def bind(self, theta: torch.Tensor, y: torch.Tensor) -> "BoundLowerLevel":
        """Fix ``theta`` and the measurements ``y`` of shape ``(B, C, H, W)``."""
        check_theta(theta, self.regularizer.dim)
        check_images("y", y, self.regularizer.channels)
        check_like("theta", theta, "y", y, same_shape=False)
        return BoundLowerLevel(self, theta, y)

    def describe(self) -> dict:
        return {"operator": self.operator.describe(), "regularizer": self.regularizer.describe(), "mu": self.mu}


@dataclass
class BoundLowerLevel:
    """``h_i(., theta)`` for a batch of measurements; ``index`` selects images (rows of ``y``)."""

    problem: LowerLevelProblem
    theta: torch.Tensor
    y: torch.Tensor
    reg: BoundRegularizer = field(init=False)
    modulus: float = field(init=False)
    smoothness: float = field(init=False)

    def __post_init__(self) -> None:
        H, W = self.y.shape[-2:]
        self.reg = self.problem.regularizer.at(self.theta)
        self.modulus = self.problem.modulus(H, W, self.reg)
        self.smoothness = (
            self.problem.operator.norm_sq_bound(H, W) + self.problem.mu + self.reg.grad_lipschitz_bound(H, W)
        )

    def subset(self, index: torch.Tensor) -> "BoundLowerLevel":
        """The same problem restricted to the images ``index`` (rows of ``y``)."""
        out = object.__new__(BoundLowerLevel)
        out.problem, out.theta, out.y = self.problem, self.theta, self.y.index_select(0, index)
        out.reg, out.modulus, out.smoothness = self.reg, self.modulus, self.smoothness
        return out

    def _y(self, index: torch.Tensor | None) -> torch.Tensor:
        return self.y if index is None else self.y.index_select(0, index)

    def initial_point(self) -> torch.Tensor:
        """Default start ``A^T y`` (``y`` itself for denoising)."""
        return self.problem.operator.adjoint(self.y).clone()

    def value(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``h_i(x_i)`` per image, shape ``(B,)``."""
        op = self.problem.operator
        res = op.forward(x) - self._y(index)
        val = 0.5 * res.pow(2).sum(dim=(1, 2, 3)) + self.reg.value(x)
        if self.problem.mu:
            val = val + 0.5 * self.problem.mu * x.pow(2).sum(dim=(1, 2, 3))
        return val

    def gradient(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``grad_x h_i(x_i) = A^T (A x - y_i) + mu x + grad R_theta(x)``."""
        op = self.problem.operator
        g = op.adjoint(op.forward(x) - self._y(index)) + self.reg.grad(x)
        if self.problem.mu:
            g = g.add_(x, alpha=self.problem.mu)
        return g

    def curvature(self, x: torch.Tensor):
        return self.reg.curvature(x)

    def hvp(self, curv, v: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``grad_x^2 h_i(x_i) v = A^T A v + mu v + grad^2 R_theta(x_i) v``."""
        out = self.problem.operator.normal(v) + self.reg.hvp(curv, v, index)
        if self.problem.mu:
            out = out.add_(v, alpha=self.problem.mu)
        return out
