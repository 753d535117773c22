r"""Counterexample search: for every claim, deterministic grids and hypothesis-driven search over cases
that satisfy the claim's own hypotheses; the claim's status is what the search finds.

For a claim, :func:`search_claim`

1. walks a deterministic grid (a seeded order of the product of the claim's axes: problem family,
   sampling law, error model, schedule, step, horizon, :math:`\zeta`, :math:`\eta`, constants), then
2. runs :func:`hypothesis.find` on a strategy over the same axes, looking for a violation (hypothesis
   shrinks what it finds towards the simplest case),
3. confirms violations in exact rational arithmetic where feasible (a float64 violation must also beat
   its rounding estimate), and keeps the simplest confirmed one as the witness.

Status (:class:`ClaimResult`): ``"holds"`` (no violation on everything tried; the worst ratio and the
counts are reported), ``"violated"`` (with a witness), ``"not applicable"`` (no tried case met the
hypotheses). Nothing about a claim's status is written in advance.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from theory.claims import CLAIMS

from .bilevel_quadratic import ErrorBoundCase
from .cases import (
    CLAIM_CASE_TYPE,
    CorollaryCase,
    ErrorBoundPoint,
    PointCase,
    Remark2Case,
    RunCase,
    SkipCase,
    Trial,
    evaluate,
)
from .problems import (
    BIAS_KINDS,
    LAW_KINDS,
    DrawPicker,
    Picker,
    RandomPicker,
    make_scenario,
    make_schedule,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ClaimResult",
    "search_claim",
    "search_claims",
    "select_claims",
    "searchable_claims",
    "make_case",
    "HOLDS",
    "VIOLATED",
    "NOT_APPLICABLE",
    "NO_SEARCH",
]

HOLDS = "holds"
VIOLATED = "violated"
NOT_APPLICABLE = "not applicable"
NO_SEARCH = "no search"

ZETAS = (Fraction(1), Fraction(51, 100), Fraction(3, 4), Fraction(2), Fraction(10), Fraction(1, 2), Fraction(1, 10))
"""Values of :math:`\\zeta` tried (run claims keep those their hypotheses allow, e.g. :math:`\\zeta > 1/2`)."""

ETAS = (Fraction(1), Fraction(1, 10), Fraction(1, 2), Fraction(2), Fraction(10))
"""Values of :math:`\\eta` tried."""

STEPS = (Fraction(1), Fraction(1, 2), Fraction(9, 10), Fraction(1, 10), Fraction(3, 2), Fraction(2), Fraction(4))
"""Step as a fraction of the claim's largest step (values above 1 are used only where the bound is infinite)."""

HORIZONS = (14, 1, 2, 5, 50, 200, 1000, 10_000, 100_000, 1_000_000, 10_000_000)
"""Horizons :math:`T` tried for run claims."""

SOURCES = ("prop2", "derived", "prop3", "fitted")
FIT_A = (Fraction(1), Fraction(0), Fraction(2), Fraction(1, 2), Fraction(4), Fraction(10))
"""Values of :math:`A` for fitted constants (source ``"fitted"``): the smallest valid :math:`B` from
:data:`FIT_B`, then the smallest valid :math:`C`, are computed exactly."""

FIT_B = (Fraction(0), Fraction(1, 2), Fraction(1), Fraction(2), Fraction(4), Fraction(10), Fraction(100), Fraction(10**4))

B9S = (Fraction(1, 2), Fraction(1, 4), Fraction(3, 4), Fraction(1), Fraction(9, 10))
"""Values of :math:`b` of [5, Assumption 9] (with the smallest valid :math:`c`)."""

FACTORS = (Fraction(1), Fraction(2), Fraction(10))
TARGETS = (Fraction(1, 2), Fraction(1, 10), Fraction(1, 100))

SHRINK_HORIZONS = (1, 2, 3, 4, 5, 7, 10, 14, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 3000)
"""Horizons tried, in order, to simplify a run-claim violation before exact confirmation."""

NEAR_TIGHT = 1.0 - 1e-9
"""Point cases whose float64 ratio reaches this are re-evaluated exactly."""


# ----------------------------------------------------------------------------------------------
# case builders: every axis fixed (grid) or picked (random / hypothesis)


def _axis(fix: dict[str, Any], name: str, pk: Picker, options: Sequence[Any]) -> Any:
    return fix[name] if name in fix else pk.pick(options)


def _available_source(sc: Any, source: str) -> str:
    """``source`` if the scenario's law has it ([18, Proposition 3] has rows for five laws only), else ``"derived"``."""
    if source != "prop3":
        return source
    law = sc.sampling_law()
    try:
        law.prop3_constants(sc.problem.smoothness(), Fraction(0))
    except ValueError:
        return "derived"
    return source


def _fit_pair(sc: Any, A: Fraction, inexact: bool) -> tuple[Fraction, Fraction] | None:
    """Given :math:`A`, the smallest :math:`B` in :data:`FIT_B` for which some :math:`C` makes the ABC inequality hold for all :math:`\theta`."""
    from .quadratic_abc import minimal_C, quadratic_forms

    forms = quadratic_forms(sc.problem, sc.sampling_law(), sc.bias)
    for B in FIT_B:
        if minimal_C(forms, A, B, inexact=inexact) is not None:
            return A, B
    return None


def _fit_b(sc: Any, b: Fraction) -> Fraction | None:
    """The largest of ``b, b/2, b/4, ...`` (down to :math:`2^{-10}b`) with a finite smallest :math:`c` ([5, Assumption 9])."""
    from .quadratic_abc import minimal_c, quadratic_forms

    forms = quadratic_forms(sc.problem, sc.sampling_law(), sc.bias)
    for k in range(11):
        if minimal_c(forms, b / 2**k) is not None:
            return b / 2**k
    return None


def _point_case(pk: Picker, claim_id: str, fix: dict[str, Any]) -> PointCase:
    remark1 = claim_id.startswith("paper.remark1")
    if remark1:
        bias_kind = _axis(fix, "bias", pk, ("component", "component_affine", "zero", "bilevel"))
    else:
        bias_kind = _axis(fix, "bias", pk, BIAS_KINDS + ("bilevel",))
    problem_kind = "bilevel" if bias_kind == "bilevel" else _axis(fix, "problem", pk, ("commuting", "general", "interpolating", "bilevel"))
    sc = make_scenario(
        pk,
        problem_kind=problem_kind,
        law_kind=_axis(fix, "law", pk, LAW_KINDS),
        bias_kind=None if bias_kind == "bilevel" else bias_kind,
    )
    theta = np.array([pk.small() for _ in range(sc.problem.d)], dtype=object)
    source, A, B = _pick_source(pk, sc, fix)
    biased = _axis(fix, "biased", pk, ("prop1", "fitted")) if claim_id.startswith("demidovich") else "prop1"
    b = A9 = B9 = None
    if biased == "fitted":
        b = _fit_b(sc, _axis(fix, "b", pk, B9S))
        fit9 = _fit_pair(sc, _axis(fix, "fitA9", pk, FIT_A), inexact=True)
        if b is None or fit9 is None:
            biased = "prop1"
            b = None
        else:
            A9, B9 = fit9
    return PointCase(sc, theta, _axis(fix, "zeta", pk, ZETAS), _axis(fix, "eta", pk, ETAS), source, biased, b, A9, B9, A, B)


def _pick_source(pk: Picker, sc: Any, fix: dict[str, Any]) -> tuple[str, Any, Any]:
    """Where the ABC constants come from; ``fitted`` (with its ``(A, B)``) falls back to ``derived``
    when no fit exists for the scenario."""
    source = _available_source(sc, _axis(fix, "source", pk, SOURCES))
    if source == "fitted":
        fit = _fit_pair(sc, _axis(fix, "fitA", pk, FIT_A), inexact=False)
        if fit is not None:
            return source, fit[0], fit[1]
        source = "derived"
    return source, None, None


def _run_case(pk: Picker, claim_id: str, fix: dict[str, Any]) -> RunCase:
    unbiased = claim_id == "kr.theorem"
    bias_kind = "zero" if unbiased else _axis(fix, "bias", pk, BIAS_KINDS + ("bilevel",))
    problem_kind = "bilevel" if bias_kind == "bilevel" else _axis(fix, "problem", pk, ("commuting", "general", "interpolating"))
    sched = make_schedule(pk, _axis(fix, "schedule", pk, ("constant", "step", "geometric", "power")), horizon=fix.get("T"))
    T = _axis(fix, "T", pk, HORIZONS)
    if sched.kind == "step":
        sched = type(sched)("step", sched.sigma, after=sched.after, at=int(T))
    d = _axis(fix, "d", pk, (1, 2, 3))
    sc = make_scenario(
        pk, m=_axis(fix, "m", pk, (2, 1, 3, 4)), d=d, problem_kind=problem_kind,
        law_kind=_axis(fix, "law", pk, LAW_KINDS),
        bias_kind=None if bias_kind == "bilevel" else bias_kind, schedule=sched,
    )
    step = _axis(fix, "step", pk, STEPS)
    source, A, B = _pick_source(pk, sc, fix)
    zeta = eta = b = A9 = B9 = None
    if claim_id in ("paper.theorem1", "paper.theorem1.from_source"):
        zeta = _axis(fix, "zeta", pk, tuple(z for z in ZETAS if z > Fraction(1, 2)))
        eta = _axis(fix, "eta", pk, ETAS)
    if claim_id == "demidovich.theorem3":
        b = _fit_b(sc, _axis(fix, "b", pk, B9S))
        fit9 = _fit_pair(sc, _axis(fix, "fitA9", pk, FIT_A), inexact=True)
        if b is None or fit9 is None:
            raise SkipCase("no global Assumption 9 constants for this scenario")
        A9, B9 = fit9
    return RunCase(sc, int(T), step, zeta, eta, source, A, B, b, A9, B9)


def _corollary_case(pk: Picker, claim_id: str, fix: dict[str, Any]) -> CorollaryCase:
    if claim_id == "kr.corollary":
        sc = make_scenario(pk, m=_axis(fix, "m", pk, (2, 1, 3)), d=_axis(fix, "d", pk, (1, 2)),
                           problem_kind=_axis(fix, "problem", pk, ("commuting", "general", "interpolating")),
                           law_kind=_axis(fix, "law", pk, LAW_KINDS), bias_kind="zero")
        return CorollaryCase(sc, None, None, _available_source(sc, _axis(fix, "source", pk, ("prop2", "derived", "prop3"))),
                             _axis(fix, "factor", pk, FACTORS), _axis(fix, "target", pk, TARGETS))
    sched = make_schedule(pk, _axis(fix, "schedule", pk, ("constant", "step", "geometric", "power")), horizon=1)
    sc = make_scenario(pk, m=_axis(fix, "m", pk, (2, 1, 3)), d=_axis(fix, "d", pk, (1, 2)),
                       problem_kind=_axis(fix, "problem", pk, ("commuting", "general", "interpolating")),
                       law_kind=_axis(fix, "law", pk, LAW_KINDS),
                       bias_kind=_axis(fix, "bias", pk, ("constant", "component")), schedule=sched,
                       theta_independent=True, bias_scale=_axis(fix, "scale", pk, (Fraction(1), Fraction(1, 2), Fraction(2))))
    if _axis(fix, "start", pk, ("near", "far")) == "near":
        sc = _restart(sc, sc.problem.minimizer() + np.array([pk.small() / 4 for _ in range(sc.problem.d)], dtype=object))
    return CorollaryCase(sc, _axis(fix, "zeta", pk, tuple(z for z in ZETAS if z > Fraction(1, 2))), _axis(fix, "eta", pk, ETAS),
                         _available_source(sc, _axis(fix, "source", pk, ("prop2", "derived", "prop3"))), _axis(fix, "factor", pk, FACTORS))


def _remark2_case(pk: Picker, claim_id: str, fix: dict[str, Any]) -> Remark2Case:
    sched = make_schedule(pk, _axis(fix, "schedule", pk, ("geometric", "power")), summable=True)
    sc = make_scenario(pk, m=_axis(fix, "m", pk, (2, 1, 3)), d=_axis(fix, "d", pk, (1, 2)),
                       problem_kind=_axis(fix, "problem", pk, ("commuting", "general", "interpolating")),
                       law_kind=_axis(fix, "law", pk, LAW_KINDS),
                       bias_kind=_axis(fix, "bias", pk, ("constant", "component")), schedule=sched, theta_independent=True)
    zetas = (Fraction(1), Fraction(1, 2), Fraction(3, 4), Fraction(2))
    return Remark2Case(sc, _axis(fix, "zeta", pk, zetas), _axis(fix, "eta", pk, ETAS),
                       _available_source(sc, _axis(fix, "source", pk, ("prop2", "derived", "prop3"))),
                       _axis(fix, "reading", pk, ("printed", "uniform")))


def _error_bound_case(pk: Picker, claim_id: str, fix: dict[str, Any]) -> ErrorBoundPoint:
    from .problems import _rotation

    n = _axis(fix, "n", pk, (1, 2, 3))
    R = _rotation(pk, n)
    d0 = [pk.pick((Fraction(1), Fraction(2), Fraction(4), Fraction(1, 2))) for _ in range(n)]
    dk = [pk.pick((Fraction(0), Fraction(1, 2), Fraction(-1, 2), Fraction(1))) for _ in range(n)]
    H0 = R.dot(np.diag(np.array(d0, dtype=object))).dot(R.T)
    K = R.dot(np.diag(np.array(dk, dtype=object))).dot(R.T)
    theta = _axis(fix, "theta", pk, (Fraction(0), Fraction(1, 4), Fraction(-1, 4), Fraction(1, 2)))
    lam = [a + theta * b for a, b in zip(d0, dk)]
    if min(lam) <= 0:
        theta = Fraction(0)
    vec = lambda: np.array([pk.small() for _ in range(n)], dtype=object)  # noqa: E731
    return ErrorBoundPoint(ErrorBoundCase(H0, K, vec(), vec(), vec(), theta,
                                          _axis(fix, "K_lower", pk, (0, 1, 2, 5, 20)), _axis(fix, "K_adjoint", pk, (0, 1, 3, 10))))


def _restart(sc: Any, theta0: Any) -> Any:
    """The scenario with another start :math:`\theta_0`."""
    from .problems import Scenario

    return Scenario(sc.problem, sc.law, sc.bias, theta0, sc.origin)


def _rescale_bias(sc: Any, k: Fraction) -> Any:
    """The scenario with its error multiplied by ``k`` (0 gives exact hypergradients)."""
    from .exact import AffineBias
    from .problems import Scenario

    bias = sc.bias
    nb = AffineBias(bias.mode, bias.r * k, None if bias.P is None else bias.P * k, bias.schedule)
    origin = dict(sc.origin)
    origin["bias"] = f"{origin.get('bias', bias.mode)} x {k}"
    return Scenario(sc.problem, sc.law, nb, sc.theta0, origin)


def _others(value: Any, options: Sequence[Any]) -> list[Any]:
    return [o for o in options if o != value]


def neighbours(claim_id: str, case: Any) -> list[Any]:
    """Cases one move away from ``case`` (used to climb towards a violation from the worst case found)."""
    from dataclasses import replace

    out: list[Any] = []
    kind = CLAIM_CASE_TYPE[claim_id]
    if kind == "remark2":
        return out
    if kind == "error_bound":
        c = case.case
        for KL in {max(0, c.K_lower - 1), c.K_lower + 1, 2 * c.K_lower + 1}:
            out.append(ErrorBoundPoint(replace(c, K_lower=KL)))
        for KA in {max(0, c.K_adjoint - 1), c.K_adjoint + 1}:
            out.append(ErrorBoundPoint(replace(c, K_adjoint=KA)))
        return out
    sc = case.scenario
    for k in (Fraction(2), Fraction(1, 2), Fraction(4)):
        out.append(replace(case, scenario=_restart(sc, sc.theta0 * k)))
    if not sc.bias.is_zero:
        for k in (Fraction(2), Fraction(1, 2), Fraction(0)):
            if kind == "corollary" and k == 0:
                continue
            out.append(replace(case, scenario=_rescale_bias(sc, k)))
    if getattr(case, "zeta", None) is not None:
        opts = ZETAS if kind == "point" else tuple(z for z in ZETAS if z > Fraction(1, 2))
        out += [replace(case, zeta=z) for z in _others(case.zeta, opts)]
    if getattr(case, "eta", None) is not None:
        out += [replace(case, eta=e) for e in _others(case.eta, ETAS)]
    if kind == "point":
        out.append(replace(case, theta=case.theta * 2))
        out.append(replace(case, theta=case.theta / 2))
    if kind == "run":
        i = HORIZONS_SORTED.index(case.T) if case.T in HORIZONS_SORTED else None
        for T in (case.T * 10, case.T * 100, max(1, case.T // 10)):
            if T <= HORIZONS_SORTED[-1] and (i is None or T != case.T):
                out.append(case.with_T(T))
        out += [replace(case, step=st) for st in _others(case.step, STEPS)]
    if kind == "corollary":
        out += [replace(case, factor=f) for f in _others(case.factor, FACTORS)]
    return out


HORIZONS_SORTED = tuple(sorted(HORIZONS))


_BUILDERS: dict[str, Callable[[Picker, str, dict[str, Any]], Any]] = {
    "point": _point_case,
    "run": _run_case,
    "corollary": _corollary_case,
    "remark2": _remark2_case,
    "error_bound": _error_bound_case,
}

_GRID_AXES: dict[str, dict[str, Sequence[Any]]] = {
    "point": {"law": LAW_KINDS, "bias": BIAS_KINDS + ("bilevel",), "zeta": ZETAS, "eta": ETAS},
    "run": {"step": STEPS, "T": HORIZONS, "d": (1, 2, 3)},
    "corollary": {"schedule": ("constant", "step", "power", "geometric"), "law": LAW_KINDS, "zeta": (Fraction(1), Fraction(3, 4), Fraction(2)),
                  "factor": FACTORS},
    "remark2": {"zeta": (Fraction(1, 2), Fraction(1), Fraction(3, 4), Fraction(2)), "reading": ("printed", "uniform"),
                "source": ("prop2", "derived", "prop3"), "schedule": ("geometric", "power"), "law": LAW_KINDS},
    "error_bound": {"n": (1, 2, 3), "K_lower": (0, 1, 2, 5, 20), "K_adjoint": (0, 1, 3, 10)},
}
"""Axes crossed by each claim's deterministic grid, simplest options first (the other axes of a grid
point are drawn from a seeded generator); the hypothesis phase draws every axis."""


def _grid_axes(claim_id: str) -> dict[str, Sequence[Any]]:
    kind = CLAIM_CASE_TYPE[claim_id]
    axes = dict(_GRID_AXES[kind])
    if claim_id.startswith("paper.remark1"):
        axes["bias"] = ("component", "component_affine", "zero", "bilevel")
    if claim_id == "kr.corollary":
        axes = {"target": TARGETS, "law": LAW_KINDS, "factor": FACTORS}
    return axes


def make_case(claim_id: str, picker: Picker, **fix: Any) -> Any:
    """A case for ``claim_id`` with the axes in ``fix`` fixed and the others picked."""
    kind = CLAIM_CASE_TYPE.get(claim_id)
    if kind is None:
        raise ValueError(f"no search for claim {claim_id!r}")
    return _BUILDERS[kind](picker, claim_id, fix)


def _grid(claim_id: str, seed: int) -> Iterator[tuple[dict[str, Any], Any]]:
    """The claim's grid in a seeded order: ``(fixed axes, case)``; the rest of each case is drawn from a seeded generator."""
    axes = _grid_axes(claim_id)
    names = list(axes)
    sizes = [len(axes[n]) for n in names]
    positions = np.indices(sizes).reshape(len(sizes), -1)
    # simplest first: by the sum of option positions (every axis lists its simplest option first),
    # ties in a seeded random order
    tie = np.random.default_rng(seed).permutation(positions.shape[1])
    order = np.lexsort((tie, positions.sum(axis=0)))
    for k, idx in enumerate(order.tolist()):
        pos = positions[:, idx]
        fix = {n: axes[n][int(p)] for n, p in zip(names, pos)}
        pk = RandomPicker(np.random.default_rng([seed, k]))
        try:
            yield fix, make_case(claim_id, pk, **fix)
        except (SkipCase, ValueError) as err:
            logger.debug("grid point %s of %s not built: %s", fix, claim_id, err)
            yield fix, None


def _strategy(claim_id: str) -> Any:
    from hypothesis import strategies as st

    @st.composite
    def cases(draw: Any) -> Any:
        try:
            return make_case(claim_id, DrawPicker(draw))
        except (SkipCase, ValueError):
            return None

    return cases()


# ----------------------------------------------------------------------------------------------
# results


@dataclass
class ClaimResult:
    """What the search found for one claim.

    Attributes
    ----------
    claim_id, source, statement : str
    as_printed : bool
        The paper's (or source's) own statement, or a derived reading.
    status : str
        ``"holds"``, ``"violated"``, ``"not applicable"`` or ``"no search"``.
    tried, applicable, skipped : int
        Cases evaluated, cases meeting the hypotheses, cases that could not be evaluated.
    worst_ratio : float or None
        Largest trial ratio over applicable cases (``small/big``; > 1 is a violation).
    worst : Trial or None
        The applicable case with the worst ratio (or largest gap for ``==`` claims).
    witness : Trial or None
        The violation kept as witness (exact when confirmable).
    exact_checked : int
        Trials decided in exact rational arithmetic.
    seconds : float
    notes : list of str
    """

    claim_id: str
    source: str
    statement: str
    as_printed: bool
    status: str = NOT_APPLICABLE
    tried: int = 0
    applicable: int = 0
    skipped: int = 0
    worst_ratio: float | None = None
    worst: Trial | None = None
    witness: Trial | None = None
    violations: int = 0
    exact_checked: int = 0
    seconds: float = 0.0
    grid_tried: int = 0
    hypothesis_tried: int = 0
    climb_tried: int = 0
    notes: list[str] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    violation_kinds: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id, "source": self.source, "statement": self.statement, "as_printed": self.as_printed,
            "status": self.status, "tried": self.tried, "applicable": self.applicable, "skipped": self.skipped,
            "worst_ratio": None if self.worst_ratio is None else float(self.worst_ratio) if math.isfinite(self.worst_ratio) else str(self.worst_ratio),
            "worst": None if self.worst is None else self.worst.to_json(),
            "witness": None if self.witness is None else self.witness.to_json(),
            "violations": self.violations, "exact_checked": self.exact_checked, "seconds": round(self.seconds, 3),
            "grid_tried": self.grid_tried, "hypothesis_tried": self.hypothesis_tried, "climb_tried": self.climb_tried,
            "notes": list(self.notes),
            "skip_reasons": dict(self.skip_reasons), "violation_kinds": dict(self.violation_kinds),
        }


class _Recorder:
    """Accumulates trials of one claim (counts, worst ratio, violations)."""

    def __init__(self, result: ClaimResult, exact_confirm: bool) -> None:
        self.res = result
        self.exact_confirm = exact_confirm
        self.violations: list[Trial] = []
        self.seen: dict[str, bool] = {}
        self.candidates: list[tuple[float, Any]] = []

    def run(self, case: Any) -> Trial | None:
        res = self.res
        res.tried += 1
        try:
            trial = self._evaluate(case)
        except SkipCase as err:
            res.skipped += 1
            key = str(err).split(";")[0][:90]
            res.skip_reasons[key] = res.skip_reasons.get(key, 0) + 1
            return None
        except (ValueError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError) as err:
            res.skipped += 1
            key = f"{type(err).__name__}: {str(err)[:80]}"
            res.skip_reasons[key] = res.skip_reasons.get(key, 0) + 1
            logger.debug("case of %s failed: %s", res.claim_id, err)
            return None
        if trial.exact:
            res.exact_checked += 1
        if not trial.applicable:
            return trial
        res.applicable += 1
        self._track_worst(trial)
        if trial.ratio is not None and math.isfinite(trial.ratio):
            self.candidates.append((trial.ratio, case))
            if len(self.candidates) > 64:
                self.candidates = sorted(self.candidates, key=lambda tc: -tc[0])[:16]
        if trial.violated:
            res.violations += 1
            self.violations.append(trial)
            if trial.note.startswith("regime:"):
                kind = trial.note[len("regime:"):].split(";")[0].strip()
                res.violation_kinds[kind] = res.violation_kinds.get(kind, 0) + 1
        return trial

    def _evaluate(self, case: Any) -> Trial:
        cid = self.res.claim_id
        kind = CLAIM_CASE_TYPE[cid]
        if kind in ("remark2",):
            return evaluate(cid, case, exact=True)
        trial = evaluate(cid, case, exact=False)
        if not trial.applicable or not self.exact_confirm:
            return trial
        if kind in ("point", "error_bound") and (trial.violated or (trial.ratio is not None and trial.ratio >= NEAR_TIGHT)):
            return self._exact_or(case, trial)
        if kind == "run" and trial.violated:
            return self._confirm_run(case, trial)
        if kind == "run" and trial.ratio is not None and trial.ratio >= NEAR_TIGHT:
            return self._exact_or(case, trial)
        return trial

    def _exact_or(self, case: Any, trial: Trial) -> Trial:
        try:
            return evaluate(self.res.claim_id, case, exact=True)
        except SkipCase as err:
            return _with_note(trial, f"exact check skipped: {err}")

    def _confirm_run(self, case: RunCase, trial: Trial) -> Trial:
        """Find the shortest horizon still violated in float64, then confirm it exactly if feasible."""
        cid = self.res.claim_id
        best_case, best = case, trial
        for T in SHRINK_HORIZONS:
            if T >= case.T:
                break
            try:
                t2 = evaluate(cid, case.with_T(T), exact=False)
            except SkipCase:
                continue
            if t2.violated:
                best_case, best = case.with_T(T), t2
                break
        try:
            ex = evaluate(cid, best_case, exact=True)
        except SkipCase as err:
            return _with_note(best, f"float64 only ({err})")
        if not ex.violated:
            self.res.notes.append(f"a float64 violation (T = {best_case.T}) did not survive exact arithmetic")
        return ex

    def _track_worst(self, trial: Trial) -> None:
        res = self.res
        if trial.ratio is not None:
            if res.worst_ratio is None or trial.ratio > res.worst_ratio:
                res.worst_ratio = trial.ratio
                res.worst = trial
        elif CLAIMS[res.claim_id].relation == "==" and trial.margin is not None:
            if res.worst is None or (res.worst.margin or 0.0) < trial.margin:
                res.worst = trial
        elif res.worst is None:
            res.worst = trial

    @property
    def settled(self) -> bool:
        """True once a violation confirmed in exact arithmetic is known (float64-only ones keep the search going)."""
        return any(v.exact for v in self.violations)


def _with_note(trial: Trial, note: str) -> Trial:
    from dataclasses import replace

    return replace(trial, note=(trial.note + "; " if trial.note else "") + note)


def _simplicity(trial: Trial) -> tuple:
    case = trial.case
    T = case.get("T", 0) if isinstance(case, dict) else 0
    sc = case.get("scenario", {}) if isinstance(case, dict) else {}
    m = len(sc.get("problem", {}).get("c", [])) if sc else 0
    d = len(sc.get("theta0", [])) if sc else 0
    return (not trial.exact, T, m, d, -(trial.ratio or 0.0))


def search_claim(
    claim_id: str,
    *,
    budget: int = 200,
    time_limit: float | None = None,
    seed: int = 0,
    exact_confirm: bool = True,
    use_hypothesis: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ClaimResult:
    """Search one claim (module docstring); ``budget`` cases at most, within ``time_limit`` seconds.

    Raises
    ------
    ValueError
        For an unknown claim id or a negative budget.
    """
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim id {claim_id!r}; known ids: {sorted(CLAIMS)}")
    if int(budget) != budget or budget < 0:
        raise ValueError(f"the budget (cases per claim) must be an integer >= 0; got {budget!r}")
    claim = CLAIMS[claim_id]
    res = ClaimResult(claim_id, claim.source, claim.statement, claim.as_printed)
    if claim_id not in CLAIM_CASE_TYPE:
        res.status = NO_SEARCH
        res.notes.append("no case type searches this claim")
        return res
    t0 = time.perf_counter()
    deadline = math.inf if time_limit is None else t0 + float(time_limit)
    rec = _Recorder(res, exact_confirm)
    grid_budget = budget if not use_hypothesis else (2 * budget) // 5
    hyp_budget = budget - grid_budget if not use_hypothesis else (3 * budget) // 10
    tick = progress or (lambda k: None)
    for fix, case in itertools.islice(_grid(claim_id, seed), grid_budget):
        if time.perf_counter() > deadline:
            res.notes.append("time limit reached during the grid")
            break
        if case is None:
            res.tried += 1
            res.skipped += 1
            res.skip_reasons["grid point could not be built"] = res.skip_reasons.get("grid point could not be built", 0) + 1
        else:
            rec.run(case)
        res.grid_tried += 1
        tick(1)
    if use_hypothesis and hyp_budget > 0 and time.perf_counter() < deadline and not rec.settled:
        _hypothesis_phase(claim_id, rec, hyp_budget, deadline, seed, tick)
    remaining = budget - res.tried
    if remaining > 0 and time.perf_counter() < deadline and not rec.violations:
        _climb(claim_id, rec, remaining, deadline, tick)
    remaining = budget - res.tried
    if use_hypothesis and remaining > 0 and time.perf_counter() < deadline and not rec.settled:
        _hypothesis_phase(claim_id, rec, res.hypothesis_tried + remaining, deadline, seed + 1, tick)
    res.seconds = time.perf_counter() - t0
    if rec.violations:
        res.status = VIOLATED
        res.witness = min(rec.violations, key=_simplicity)
    elif res.applicable:
        res.status = HOLDS
    else:
        res.status = NOT_APPLICABLE
    return res


def _climb(claim_id: str, rec: _Recorder, n: int, deadline: float, tick: Callable[[int], None]) -> None:
    """Greedy ascent of the ratio from the worst cases found: evaluate the neighbours of the current
    case, move to the best if it raises the ratio, stop at a violation or when nothing improves."""
    res = rec.res
    starts = sorted(rec.candidates, key=lambda tc: -tc[0])[:3]
    used = 0
    for ratio0, case0 in starts:
        current, best = case0, ratio0
        while used < n and time.perf_counter() < deadline:
            moved = False
            scored = []
            for nb in neighbours(claim_id, current):
                if used >= n or time.perf_counter() > deadline:
                    break
                key = repr(nb.to_json())
                if key in rec.seen:
                    continue
                used += 1
                res.climb_tried += 1
                tick(1)
                trial = rec.run(nb)
                rec.seen[key] = bool(trial is not None and trial.violated)
                if trial is not None and trial.violated:
                    return
                if trial is not None and trial.applicable and trial.ratio is not None:
                    scored.append((trial.ratio, nb))
            if scored:
                r, nb = max(scored, key=lambda tc: tc[0])
                if r > best:
                    current, best, moved = nb, r, True
            if not moved:
                break


def _hypothesis_phase(claim_id: str, rec: _Recorder, n: int, deadline: float, seed: int, tick: Callable[[int], None]) -> None:
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    res = rec.res
    before_tried = res.tried

    def condition(case: Any) -> bool:
        if case is None:
            return False
        key = repr(case.to_json())
        if key in rec.seen:
            return rec.seen[key]
        if time.perf_counter() > deadline or res.hypothesis_tried >= n:
            return False
        res.hypothesis_tried += 1
        tick(1)
        trial = rec.run(case)
        found = bool(trial is not None and trial.violated)
        rec.seen[key] = found
        return found

    cfg = settings(
        max_examples=max(1, n - res.hypothesis_tried), database=None, deadline=None, suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink), derandomize=False,
    )
    try:
        find(_strategy(claim_id), condition, settings=cfg, random=random.Random(seed))
    except NoSuchExample:
        pass
    except Exception as err:  # hypothesis internals (e.g. unsatisfiable strategies): report, do not crash
        res.notes.append(f"hypothesis search stopped: {type(err).__name__}: {err}")
    logger.debug("%s: hypothesis evaluated %d cases", claim_id, res.tried - before_tried)


def searchable_claims() -> tuple[str, ...]:
    """Ids of the registry's claims that have a search (all of them, unless the registry grew)."""
    return tuple(cid for cid in CLAIMS if cid in CLAIM_CASE_TYPE)


def select_claims(patterns: Sequence[str] | None) -> list[str]:
    """Claim ids matching any of ``patterns`` by prefix (all claims for ``None``/empty).

    Raises
    ------
    ValueError
        If a pattern matches no claim (the message lists the ids).
    """
    ids = list(CLAIMS)
    if not patterns:
        return ids
    out: list[str] = []
    for pat in patterns:
        hit = [cid for cid in ids if cid == pat or cid.startswith(pat)]
        if not hit:
            raise ValueError(f"no claim id starts with {pat!r}; known ids: {', '.join(ids)}")
        out.extend(c for c in hit if c not in out)
    return out


def search_claims(
    claim_ids: Sequence[str],
    *,
    budget: int = 200,
    time_limit: float | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    on_result: Callable[[ClaimResult], None] | None = None,
) -> list[ClaimResult]:
    """Search several claims; ``time_limit`` (seconds, total) is shared evenly among the claims left."""
    t0 = time.perf_counter()
    out = []
    for k, cid in enumerate(claim_ids):
        left = None
        if time_limit is not None:
            left = max(0.0, (float(time_limit) - (time.perf_counter() - t0)) / (len(claim_ids) - k))
        r = search_claim(cid, budget=budget, time_limit=left, seed=seed, progress=progress)
        logger.info("%-40s %-15s tried %5d (applicable %5d) worst ratio %s", cid, r.status, r.tried, r.applicable,
                    "-" if r.worst_ratio is None else f"{r.worst_ratio:.4g}")
        out.append(r)
        if on_result:
            on_result(r)
    return out
