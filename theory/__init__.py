r"""Theory of *Bilevel Learning with Inexact Stochastic Gradients* as code: constants, bounds, instances, proof machinery.

Pure mathematics (sympy, numpy, scipy); depends on no other package of this project.

Modules
-------
constants   b, c, A~, B~, C~ (Proposition 1) and c1..c6 (proof of Theorem 1): sympy + numeric twins.
bounds      Theorem 1 (as printed and by the source route), Corollary 1, Khaled & Richtarik,
            Demidovich et al. Theorem 3, Ehrhardt & Roberts.
optimize    zeta and eta minimizing each bound.
sampling    sampling laws with exact second moments; Khaled & Richtarik Propositions 2 and 3.
instances   problem instances (finite laws, finite sums, runs): exact observables of one point or run.
proofs      proof machinery (statuses computed from sympy steps, gap certificates) and elementary facts.

The claims of the paper and of its sources (statements built from these constants, readings, case
families, derived proofs) live in :mod:`validation.engine.claims`, one unit per claim.
abc         empirical ABC and (b, c) constants by linear programming, with confidence bounds.
"""

from .abc import (
    ABCEstimate,
    BiasEstimate,
    estimate_abc,
    estimate_bias,
    lower_confidence_bounds,
    upper_confidence_bounds,
)
from .bounds import (
    corollary1_bound,
    corollary1_bound_expr,
    corollary1_iterations,
    corollary1_iterations_expr,
    corollary1_step,
    corollary1_step_expr,
    demidovich_step_bound,
    demidovich_theorem3_rhs,
    demidovich_theorem3_rhs_expr,
    ehrhardt_roberts_bound,
    khaled_richtarik_corollary_iterations,
    khaled_richtarik_corollary_step,
    khaled_richtarik_rhs,
    khaled_richtarik_rhs_expr,
    khaled_richtarik_step_bound,
    theorem1_rhs,
    theorem1_rhs_expr,
    theorem1_rhs_source,
    theorem1_rhs_source_expr,
    theorem1_step_bound,
)
from .constants import (
    CONSTANTS,
    SYMBOLS,
    ZETA_OVER_HALF,
    A_tilde,
    B_tilde,
    C_tilde,
    SymbolicConstant,
    Theorem1Constants,
    b,
    c,
    c1,
    c2,
    c3,
    c4,
    c5,
    c6,
    theorem1_constants,
)
from .instances import BiasedABC, FiniteSumInstance, HypergradientErrorInstance, OracleInstance, RunInstance
from .optimize import (
    OptimalParameters,
    optimal_bias_floor,
    optimal_corollary1_bound,
    optimal_corollary1_eta,
    optimal_source_parameters,
    optimal_theorem1_parameters,
)
from .proofs import FROM_PREMISES, NOT_PROVEN, PROVEN, Proof, Step, Term, certificate, prove_all
from .sampling import (
    ABCConstants,
    FiniteLaw,
    Independent,
    SamplingLaw,
    SingleImportance,
    SingleUniform,
    Support,
    TauNice,
    WithReplacement,
)

__all__ = [
    # constants
    "SYMBOLS",
    "ZETA_OVER_HALF",
    "CONSTANTS",
    "SymbolicConstant",
    "Theorem1Constants",
    "b",
    "c",
    "A_tilde",
    "B_tilde",
    "C_tilde",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "theorem1_constants",
    # bounds
    "theorem1_step_bound",
    "theorem1_rhs",
    "theorem1_rhs_source",
    "corollary1_iterations",
    "corollary1_step",
    "corollary1_bound",
    "khaled_richtarik_step_bound",
    "khaled_richtarik_rhs",
    "khaled_richtarik_corollary_iterations",
    "khaled_richtarik_corollary_step",
    "demidovich_step_bound",
    "demidovich_theorem3_rhs",
    "ehrhardt_roberts_bound",
    "theorem1_rhs_expr",
    "theorem1_rhs_source_expr",
    "corollary1_iterations_expr",
    "corollary1_step_expr",
    "corollary1_bound_expr",
    "khaled_richtarik_rhs_expr",
    "demidovich_theorem3_rhs_expr",
    # optimize
    "OptimalParameters",
    "optimal_bias_floor",
    "optimal_corollary1_bound",
    "optimal_corollary1_eta",
    "optimal_theorem1_parameters",
    "optimal_source_parameters",
    # sampling
    "ABCConstants",
    "Support",
    "SamplingLaw",
    "SingleUniform",
    "SingleImportance",
    "TauNice",
    "Independent",
    "WithReplacement",
    "FiniteLaw",
    # instances
    "BiasedABC",
    "OracleInstance",
    "FiniteSumInstance",
    "RunInstance",
    "HypergradientErrorInstance",
    # proofs
    "PROVEN",
    "FROM_PREMISES",
    "NOT_PROVEN",
    "Proof",
    "Step",
    "Term",
    "certificate",
    "prove_all",
    # abc
    "ABCEstimate",
    "BiasEstimate",
    "estimate_abc",
    "estimate_bias",
    "upper_confidence_bounds",
    "lower_confidence_bounds",
]
