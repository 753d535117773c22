"""The interface every learnable regularizer ``R_theta`` implements.

A regularizer is a parametrized family; ``reg.at(theta)`` binds a parameter vector and returns an
object with the per-image value, gradient, Hessian-vector product and mixed product
``B^T q = grad_theta <grad_x R_theta(x), q>`` (DESIGN.md, "Hypergradient"), plus the certified
constants that the a-posteriori error bound of :mod:`bilevel.hypergradient` needs.

All methods act on batches ``(B, C, H, W)`` and return one value per image; nothing depends on the
batch size. An optional ``index`` (a ``LongTensor``) selects the rows of a cached curvature so that
solvers can drop converged images from the batch.

What a new family must provide (checked by the tests of ``tests/bilevel/test_hypergradient.py``
against dense float64 references, so a wrong constant fails there):

* ``value``, ``grad``, ``curvature``, ``hvp``, ``mixed_vjp`` exactly as documented in
  :class:`BoundRegularizer` (analytic, batched, compared with autograd in the tests);
* ``grad_lipschitz_bound(H, W)``: a certified ``sup_x ||grad_x^2 R_theta(x)||`` (the lower-level
  solver's step ``1/L_h`` and the problem's smoothness rest on it);
* ``constants(x, curv, q, radius, modulus)``: the four certified constants of
  :class:`RegularizerConstants`, each valid on the ball ``||x' - x|| <= radius_i`` around the
  given point, with ``modulus = mu_h`` (every Hessian of ``h`` is ``>= mu_h I + grad_x^2 R_theta``).
  The error bound evaluates them at the Newton-corrected point with the tiny radius ``e-``, so
  constants computed from the actual values at ``x`` -- local suprema of derivatives over the
  responses ``x'`` can take -- are far tighter than global ones and are what the bound needs. The
  simplest valid implementation: ``jac_energy = ||B(x)|| / sqrt(mu_h)``, ``hess_q_energy = c /
  sqrt(mu_h)`` with ``c`` a Lipschitz constant of ``x -> grad_x^2 R_theta(x) q`` on the ball, and
  global ``jac_q``, ``jac_lipschitz``; pairing with the regularizer's own curvature (the "energy"
  forms) is what makes the bound tight for small ``mu_h`` (deblurring);
* optionally ``project(theta)`` (the feasible set of the upper level; identity if absent).

The lower-level problem adds the data term and the ridge; a family only describes ``R_theta``. Its
convexity (or a certified weak-convexity modulus below the data term's strong convexity) is what
makes ``mu_h`` of :meth:`bilevel.problem.LowerLevelProblem.modulus` valid; a weakly convex family must
lower that modulus accordingly.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch


class RegularizerConstants(NamedTuple):
    """Certified constants at a point ``x`` for an adjoint ``q``, valid on the ball ``||x' - x|| <= radius``.

    Every entry has shape ``(B,)`` (one per image). With ``B(x) = d_theta grad_x R_theta(x)``
    (so ``B(x)^T q = grad_theta <grad_x R_theta(x), q>``), ``H_R(x) = grad_x^2 R_theta(x)``, and
    ``||v||_{H'} = sqrt(v^T H' v)`` for ``H'`` any Hessian of ``h`` on the ball (``H' >= mu_h I +
    H_R(x')``):

    Attributes
    ----------
    jac_energy:
        ``>= sup_v ||B(x)^T v|| / ||v||_{H'}`` (``beta``), at the point itself; ``||B(x)|| /
        sqrt(mu_h)`` is always valid.
    hess_q_energy:
        ``>= ||(H_R(x') - H_R(x)) q||_{H'^{-1}} / ||x' - x||`` for every ``x'`` in the ball and the
        given ``q`` (``c_H``); ``||(H_R(x') - H_R(x)) q|| / (sqrt(mu_h) ||x' - x||)`` is valid.
    jac_q:
        ``>= ||(B(x') - B(x))^T q|| / ||x' - x||`` for every ``x'`` in the ball, for the given ``q``
        (``c_B``).
    jac_lipschitz:
        ``>= ||B(x') - B(x)|| / ||x' - x||`` for every ``x'`` in the ball (``L_B``; enters only the
        second-order term, so a coarse value is fine).

    The data term and the ridge of the lower level have a constant Hessian and no ``theta``, so these
    constants of ``R_theta`` are those of ``h``.
    """

    jac_energy: torch.Tensor
    hess_q_energy: torch.Tensor
    jac_q: torch.Tensor
    jac_lipschitz: torch.Tensor


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

    def constants(self, x: torch.Tensor, curv: Any, q: torch.Tensor, radius: torch.Tensor, modulus: float) -> RegularizerConstants:
        """Certified constants at ``x`` for the adjoint ``q`` on the balls of radius ``radius`` ``(B,)``,
        for a lower level of strong convexity ``modulus`` (see :class:`RegularizerConstants`)."""


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
