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

    def negative_curvature_bound(self, height: int, width: int) -> float:
        """Certified ``rho >= 0`` with ``grad_x^2 R_theta(x) >= -rho I`` for every ``x`` (``0`` when convex);
        :meth:`bilevel.problem.LowerLevelProblem.modulus` subtracts it from the data term's modulus."""

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


#: Names of the regularizer families the training commands build (``TrainConfig.regularizer``).
REGULARIZERS = ("foe", "ridge")


def _families() -> dict[str, type]:
    # imported here: the families import this module for RegularizerConstants
    from .foe import FieldOfExperts
    from .quadratic import QuadraticDifferences
    from .ridge import WeaklyConvexRidge

    return {"foe": FieldOfExperts, "ridge": WeaklyConvexRidge, "quadratic_differences": QuadraticDifferences}


def regularizer_from_description(description: dict) -> Regularizer:
    """Rebuild a regularizer family from its ``describe()`` dict: the one place that maps names to families.

    ``description["name"]`` picks the family (``foe``: :class:`~bilevel.foe.FieldOfExperts`, ``ridge``:
    :class:`~bilevel.ridge.WeaklyConvexRidge`, ``quadratic_differences``); the other keys are its
    constructor options (missing ones take their defaults). Derived entries such as ``dim`` are
    checked against the rebuilt family, so a stored ``theta`` keeps its meaning.
    """
    import dataclasses

    if not isinstance(description, dict) or "name" not in description:
        raise ValueError(f"a regularizer description is a dict with a 'name' key, got {description!r}")
    families = _families()
    name = description["name"]
    if name not in families:
        raise ValueError(f"unknown regularizer family {name!r}; known: {sorted(families)}")
    cls = families[name]
    options = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(description) - options - {"name", "dim"})
    if unknown:
        raise ValueError(f"unknown options {unknown} for the regularizer family {name!r}; it takes {sorted(options)}")
    family = cls(**{k: v for k, v in description.items() if k in options})
    if "dim" in description and description["dim"] != family.dim:
        raise ValueError(f"the description says dim = {description['dim']} but the rebuilt {name!r} family has "
                         f"dim = {family.dim}: the description is inconsistent (edited by hand?)")
    return family
