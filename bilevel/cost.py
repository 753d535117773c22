"""Honest cost accounting (DESIGN.md, "Cost").

"Computations", the x-axis of the paper's figures, is the sum over images of lower-level
iterations plus conjugate-gradient iterations, plus the CG iterations of a refined error
certification when one was asked for (``hypergradient(certify="refined")``: a Newton-CG solve and an
adjoint re-solve per image; zero otherwise, so runs without it count exactly the paper's measure).
Oracle calls and wall time are recorded beside it.
Costs are values returned by solvers and added up by the caller; nothing counts through globals.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Cost:
    """Aggregate cost of some work (sums over images).

    Attributes
    ----------
    lower_iterations:
        Lower-level solver iterations (gradient steps), summed over images.
    cg_iterations:
        Conjugate-gradient iterations, summed over images.
    gradient_evals:
        Evaluations of ``grad_x h`` (one more than the iterations per solve: the stopping check).
    hvps:
        Hessian-vector products (CG iterations plus residual evaluations).
    jacobian_products:
        Mixed products ``B^T q`` (one per image and hypergradient).
    power_iterations:
        Power-method iterations (step-size estimation), if any.
    certification_iterations:
        CG iterations of the refined error certification (Newton correction and adjoint re-solve),
        summed over images; part of ``computations``.
    wall_time:
        Seconds of wall-clock time.
    """

    lower_iterations: int = 0
    cg_iterations: int = 0
    gradient_evals: int = 0
    hvps: int = 0
    jacobian_products: int = 0
    power_iterations: int = 0
    certification_iterations: int = 0
    wall_time: float = 0.0

    @property
    def computations(self) -> int:
        """Lower-level plus CG iterations (the paper's cost measure) plus certification iterations."""
        return self.lower_iterations + self.cg_iterations + self.certification_iterations

    def __add__(self, other: "Cost") -> "Cost":
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict:
        d = asdict(self)
        d["computations"] = self.computations
        return d
