"""Claims versus numbers, in two wings.

``validation.engine`` (torch-free; depends on :mod:`theory` only): exact expectations, case families,
counterexample search, witnesses, reports and the ``isgd verify`` command.

``validation.experiments`` (depends on :mod:`bilevel`): the bound check on real FoE runs, the paper's
figures, the main job (``isgd demo``) and ``isgd bench``.

:mod:`validation.cli` assembles the ``isgd`` command from both wings and from :mod:`bilevel`. Importing
this package imports the engine only.

Engine modules
--------------
exact              exact first and second moments of ISGD on quadratic finite sums (any finite sampling law;
                   zero, constant, affine or scheduled errors), rational or float64 for horizons up to 10^7.
bilevel_quadratic  quadratic bilevel problems with K-step lower-level solvers (affine inexact hypergradients)
                   and instances of Ehrhardt & Roberts' a-posteriori bound.
quadratic_abc      exact ABC / biased-ABC constants of quadratic problems (PSD tests in rationals).
problems           problem families, sampling laws, error models, scenarios (JSON round trip).
cases              one point of a claim's parameter space -> the claim's instance -> a Trial.
search             per-claim counterexample search (grids, hypothesis, climbing; exact confirmation).
witness            witnesses saved as JSON and re-checked from scratch.
report, verify     report.md, figures, results.json; the ``isgd verify`` command and quick_verification().
"""


from .engine.bilevel_quadratic import ErrorBoundCase, LowerSolver, QuadraticBilevel
from .engine.cases import CorollaryCase, ErrorBoundPoint, PointCase, Remark2Case, RunCase, SkipCase, Trial, evaluate
from .engine.exact import AffineBias, MomentEngine, MomentSummary, QuadraticFiniteSum, Schedule
from .engine.problems import LawSpec, Scenario, make_scenario, theorem1_witness_scenario
from .engine.quadratic_abc import abc_valid, lemma1_constants, minimal_C, minimal_c, quadratic_forms
from .engine.search import ClaimResult, search_claim, search_claims, select_claims
from .engine.verify import VerifySummary, quick_verification
from .engine.witness import Recheck, load_witness, recheck, recheck_file, save_witness

__all__ = [
    "AffineBias",
    "ClaimResult",
    "CorollaryCase",
    "ErrorBoundCase",
    "ErrorBoundPoint",
    "LawSpec",
    "LowerSolver",
    "MomentEngine",
    "MomentSummary",
    "PointCase",
    "QuadraticBilevel",
    "QuadraticFiniteSum",
    "Recheck",
    "Remark2Case",
    "RunCase",
    "Scenario",
    "Schedule",
    "SkipCase",
    "Trial",
    "VerifySummary",
    "abc_valid",
    "evaluate",
    "lemma1_constants",
    "load_witness",
    "make_scenario",
    "minimal_C",
    "minimal_c",
    "quadratic_forms",
    "quick_verification",
    "recheck",
    "recheck_file",
    "save_witness",
    "search_claim",
    "search_claims",
    "select_claims",
    "theorem1_witness_scenario",
]
