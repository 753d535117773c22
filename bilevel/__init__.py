"""The PyTorch core: operators, Field of Experts, weakly convex ridge regularizers, lower-level solvers
and certified hypergradients.

Public API (see each module for the formulas and the paper's equation numbers)::

    from bilevel import FieldOfExperts, GaussianBlur, Identity, LowerLevelProblem, WeaklyConvexRidge, hypergradient
"""
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

__all__ = [
    "CGResult", "Cost", "DEBLURRING", "DENOISING", "FieldOfExperts", "GaussianBlur", "HypergradientResult",
    "Identity", "LowerLevelProblem", "LowerLevelResult", "QuadraticDifferences", "SquaredError",
    "conjugate_gradient", "embedded_crops", "error_bound", "hypergradient", "make_measurements",
    "make_operator", "psnr", "regularizer_from_description", "solve_lower", "WeaklyConvexRidge",
]
