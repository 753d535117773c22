"""The interface every learnable regularizer ``R_theta`` implements.

A regularizer is a parametrized family; ``reg.at(theta)`` binds a parameter vector and returns an
object with the per-image value, gradient, Hessian-vector product and mixed product
``B^T q = grad_theta <grad_x R_theta(x), q>`` (DESIGN.md, "Hypergradient"), plus the certified
constants that the a-posteriori error bound of :mod:`bilevel.hypergradient` needs.

All methods act on batches ``(B, C, H, W)`` and return one value per image; nothing depends on the
batch size. An optional ``index`` (a ``LongTensor``) selects the rows of a cached curvature so that
solvers can drop converged images from the batch.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch


class RegularizerConstants(NamedTuple):
    """Certified constants at an approximate lower-level solution ``x~`` (one entry per image).

    Attributes
    ----------
    jac_norm:
        Upper bound on ``||B(x~)||``, ``B = d_theta grad_x h`` (operator norm), shape ``(B,)``.
    jac_lipschitz:
        Upper bound on ``||B(x~) - B(x)|| / ||x~ - x||`` for every ``x`` (``L_B``), shape ``(B,)``.
    hess_lipschitz:
        Upper bound on ``||H(x) - H(x')|| / ||x - x'||`` (``L_H``), shape ``(B,)``.
    hess_q:
        Upper bound on ``||(H(x) - H(x~)) q~|| / ||x - x~||`` for the given ``q~``, shape ``(B,)``.
    jac_q:
        Upper bound on ``||(B(x) - B(x~))^T q~|| / ||x - x~||`` for the given ``q~``, shape ``(B,)``.

    The last two exploit that ``q~`` is known (sup-norms of ``K q~`` instead of ``||q~||`` times
    worst-case constants), which tightens the bound by orders of magnitude.
    """

    jac_norm: torch.Tensor
    jac_lipschitz: torch.Tensor
    hess_lipschitz: torch.Tensor
    hess_q: torch.Tensor
    jac_q: torch.Tensor


class BoundRegularizer(Protocol):
    """``R_theta`` at a fixed ``theta``."""

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """``R_theta(x_i)`` per image, shape ``(B,)``."""

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """``grad_x R_theta(x)``, shape of ``x``."""

    def curvature(self, x: torch.Tensor) -> Any:
        """Precompute what Hessian-vector products at ``x`` need (one forward pass)."""

    def hvp(self, curv: Any, v: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``grad_x^2 R_theta(x) v`` at the point of ``curv`` (rows ``index`` of it)."""

    def mixed_vjp(self, x: torch.Tensor, q: torch.Tensor, curv: Any, per_image: bool = False) -> torch.Tensor:
        """``sum_i B_i^T q_i`` (shape ``(d,)``) or, with ``per_image``, ``B_i^T q_i`` (``(B, d)``)."""

    def grad_lipschitz_bound(self, height: int, width: int) -> float:
        """Certified ``sup_x ||grad_x^2 R_theta(x)||`` on ``height x width`` images."""

    def constants(self, x: torch.Tensor, curv: Any, q: torch.Tensor) -> RegularizerConstants:
        """Certified constants at ``x`` for the adjoint ``q`` (see :class:`RegularizerConstants`)."""


class Regularizer(Protocol):
    """A parametrized regularizer family ``theta -> R_theta`` with ``dim`` parameters."""

    dim: int
    channels: int

    def at(self, theta: torch.Tensor) -> BoundRegularizer:
        ...

    def describe(self) -> dict:
        ...


def regularizer_from_description(description: dict) -> Regularizer:
    """Rebuild a regularizer family from its ``describe()`` dict (stored in run directories,
    checkpoints and exported regularizer files).

    This is the one place that knows every family by its ``name``; a new family adds one branch
    here. A stored ``dim`` must match the rebuilt family's.
    """
    if not isinstance(description, dict) or "name" not in description:
        raise ValueError(f"a regularizer description must be a dict with a 'name', got {description!r}")
    name = description["name"]
    if name == "foe":
        from dataclasses import fields

        from .foe import FieldOfExperts

        options = {f.name for f in fields(FieldOfExperts)}
        family: Regularizer = FieldOfExperts(**{k: v for k, v in description.items() if k in options})
    else:
        raise ValueError(f"unknown regularizer family {name!r}; this toolkit knows: foe")
    if "dim" in description and int(description["dim"]) != family.dim:
        raise ValueError(f"the description of {name!r} says dim = {description['dim']}, the rebuilt family has "
                         f"{family.dim} parameters")
    return family
