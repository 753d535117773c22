"""The PyTorch core: operators, Field of Experts, weakly convex ridge regularizers, lower-level solvers
and certified hypergradients.

Public API (see each module for the formulas and the paper's equation numbers)::

    from bilevel import FieldOfExperts, GaussianBlur, Identity, LowerLevelProblem, WeaklyConvexRidge, hypergradient
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public names and the module that defines each. They load on first use (PEP 562), so the
#: torch-free modules of this package (``bilevel.io``, ``bilevel.rundir``) import without torch.
_EXPORTS = {
    "Cost": "cost", "DEBLURRING": "data", "DENOISING": "data", "embedded_crops": "data",
    "make_measurements": "data", "psnr": "data", "FieldOfExperts": "foe", "HypergradientResult": "hypergradient",
    "SquaredError": "hypergradient", "error_bound": "hypergradient", "hypergradient": "hypergradient",
    "GaussianBlur": "operators", "Identity": "operators", "make_operator": "operators",
    "LowerLevelProblem": "problem", "QuadraticDifferences": "quadratic",
    "regularizer_from_description": "regularizer", "WeaklyConvexRidge": "ridge", "CGResult": "solvers",
    "LowerLevelResult": "solvers", "conjugate_gradient": "solvers", "solve_lower": "solvers",
}

if TYPE_CHECKING:  # what the names are, for type checkers and readers
    from .cost import Cost
    from .data import DEBLURRING, DENOISING, embedded_crops, make_measurements, psnr
    from .foe import FieldOfExperts
    from .hypergradient import HypergradientResult, SquaredError, error_bound, hypergradient
    from .operators import GaussianBlur, Identity, make_operator
    from .problem import LowerLevelProblem
    from .quadratic import QuadraticDifferences
    from .regularizer import regularizer_from_description
    from .ridge import WeaklyConvexRidge
    from .solvers import CGResult, LowerLevelResult, conjugate_gradient, solve_lower


def __getattr__(name: str) -> Any:
    """Load a public name (or a submodule, ``bilevel.foe``) on first access."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CGResult", "Cost", "DEBLURRING", "DENOISING", "FieldOfExperts", "GaussianBlur", "HypergradientResult",
    "Identity", "LowerLevelProblem", "LowerLevelResult", "QuadraticDifferences", "SquaredError",
    "conjugate_gradient", "embedded_crops", "error_bound", "hypergradient", "make_measurements",
    "make_operator", "psnr", "regularizer_from_description", "solve_lower", "WeaklyConvexRidge",
]
