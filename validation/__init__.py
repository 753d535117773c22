"""Claims versus numbers, in two wings.

``validation.engine`` (torch-free; depends on :mod:`theory` only): one unit per claim (statement,
readings, case family, derived proof), exact expectations, counterexample search with mechanisms and
severities, witnesses, reports and the ``isgd verify`` command.

``validation.experiments`` (depends on :mod:`bilevel`): the bound check on real FoE runs, the paper's
figures, the main job (``isgd demo``) and ``isgd bench``.

:mod:`validation.cli` assembles the ``isgd`` command from both wings and from :mod:`bilevel`. Importing
this package imports the engine only.

Engine modules
--------------
statement          what a claim is: sympy statements, hypotheses, boundaries, corrections, readings; evaluation.
claims/            the claim units, one module per part of the paper and per cited source; the registry.
families           case families (point, run, prescribed horizon, limit T -> oo, a-posteriori bound) with regimes.
exact              exact first and second moments of ISGD on quadratic finite sums (rational or float64, T up to 10^7).
stationary         limits T -> oo: exact stationary moments with a certified tail.
bilevel_quadratic  quadratic bilevel problems with K-step lower-level solvers and [9]'s bound instances.
quadratic_abc      exact ABC / biased-ABC constants of quadratic problems (PSD tests in rationals).
problems           problem families, sampling laws, error models, scenarios (JSON round trip).
search             per-claim search over every reading: regimes, random cases, climbing, mechanisms, severities.
witness            witness files (documented schema) re-checked from scratch.
report, verify     report.md, figures, results.json; the ``isgd verify`` command and quick_verification().
"""

from .engine.bilevel_quadratic import ErrorBoundCase, LowerSolver, QuadraticBilevel
from .engine.claims import CLAIMS, get_claim, register, select_claims
from .engine.exact import AffineBias, MomentEngine, MomentSummary, QuadraticFiniteSum, Schedule
from .engine.problems import LawSpec, Scenario, make_scenario, theorem1_witness_scenario
from .engine.quadratic_abc import abc_valid, lemma1_constants, minimal_C, minimal_c, quadratic_forms
from .engine.search import ClaimResult, ReadingResult, Trial, evaluate_case, search_claim, search_claims
from .engine.statement import Claim, Correction, Hypothesis, Reading, Statement, evaluate
from .engine.verify import VerifySummary, quick_verification
from .engine.witness import Recheck, load_witness, recheck, recheck_file, save_witness, witness_json

__all__ = [
    "CLAIMS",
    "Claim",
    "ClaimResult",
    "Correction",
    "Hypothesis",
    "Reading",
    "ReadingResult",
    "Recheck",
    "Statement",
    "Trial",
    "VerifySummary",
    "evaluate",
    "evaluate_case",
    "get_claim",
    "load_witness",
    "quick_verification",
    "recheck",
    "recheck_file",
    "register",
    "save_witness",
    "search_claim",
    "search_claims",
    "select_claims",
    "witness_json",
    "AffineBias",
    "ErrorBoundCase",
    "LawSpec",
    "LowerSolver",
    "MomentEngine",
    "MomentSummary",
    "QuadraticBilevel",
    "QuadraticFiniteSum",
    "Scenario",
    "Schedule",
    "abc_valid",
    "lemma1_constants",
    "make_scenario",
    "minimal_C",
    "minimal_c",
    "quadratic_forms",
    "theorem1_witness_scenario",
]
