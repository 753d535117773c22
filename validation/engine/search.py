r"""The search: every reading of a claim on cases of its family, with mechanisms and severities.

For one claim (:func:`search_claim`):

1. **regimes** -- cases are drawn regime by regime, round robin (:attr:`family.regimes`: each regime
   makes one additive term of a bound dominate), each regime walking the family's axes simplest first;
2. **climbing** -- from the worst case of each reading that still holds, one axis at a time towards a
   larger ratio (claimed-smaller side over claimed-larger side);
3. **random** -- seeded random cases over every axis, until the budget or the time limit ends.

Every case is evaluated under *every* reading (as printed, each single correction, all corrections).
A float64 violation is simplified (shorter horizons) and confirmed in exact rational arithmetic where
feasible. A violation of the printed reading is *explained* by the single corrections under which the
same case holds (its *mechanism*); the search keeps one witness per mechanism and goes on after the
first violation until each single correction has a witness that only it repairs, or the budget ends.

Severity of a reading (:data:`FALSE`, :data:`ILL_POSED`, :data:`NOT_APPLICABLE`, :data:`HOLDS`): false as
stated (a witness), ill-posed at a boundary (a quantity of the statement vanished or diverged on a case
its hypotheses allow, and no proper violation), not applicable (no case met the hypotheses), holds on
everything tried. Nothing about a status is written in advance.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import sympy as sp

from . import rational as rq
from .claims import get_claim, select_claims
from .families import SkipCase
from .problems import RandomPicker
from .statement import PRINTED, Claim, Reading, Verdict, evaluate

logger = logging.getLogger(__name__)

__all__ = [
    "Trial",
    "ReadingResult",
    "ClaimResult",
    "search_claim",
    "search_claims",
    "select_claims",
    "evaluate_case",
    "FALSE",
    "ILL_POSED",
    "NOT_APPLICABLE",
    "HOLDS",
    "SEVERITIES",
]

FALSE = "false as stated"
ILL_POSED = "ill-posed at a boundary"
NOT_APPLICABLE = "not applicable"
HOLDS = "holds on everything tried"
SEVERITIES = (FALSE, ILL_POSED, NOT_APPLICABLE, HOLDS)

NEAR_TIGHT = 1.0 - 1e-9
"""Cases whose float64 ratio reaches this are re-evaluated exactly (where the family allows)."""

MIN_CASES = 3
"""Evaluated cases every claim gets even past its time share (a claim is never reported untried for lack of time)."""

GRID_SHARE, CLIMB_SHARE = 0.6, 0.2
"""Shares of the budget for the regime grid and for climbing; the rest is random."""


def _jsonable(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    try:
        return rq.encode(rq.F(x))
    except (TypeError, ValueError):
        pass
    try:
        import sympy as sp

        if isinstance(x, sp.Basic):
            return str(x)
    except ImportError:  # pragma: no cover
        pass
    return rq.encode(float(x))


def _exact_text(x: Any) -> str | None:
    try:
        return rq.fraction_str(rq.F(x))
    except (TypeError, ValueError):
        import sympy as sp

        return str(x) if isinstance(x, sp.Basic) else None


def _f(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        import sympy as sp

        try:
            return float(sp.N(x, 30))
        except (TypeError, ValueError):
            return math.nan


@dataclass(frozen=True)
class Trial:
    """One case under one reading: the verdict, both sides, the observable values, the case (JSON)."""

    claim_id: str
    reading: str
    case: dict[str, Any]
    applicable: bool
    ill_posed: str | None
    holds: bool | None
    lhs: float | None
    rhs: float | None
    exact: bool
    ratio: float | None = None
    margin: float | None = None
    lhs_exact: str | None = None
    rhs_exact: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    failed: tuple[str, ...] = ()
    note: str = ""
    regime: str = ""
    repaired_by: tuple[str, ...] = ()
    still_violated_by: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def violated(self) -> bool:
        return bool(self.applicable and self.ill_posed is None and self.holds is False)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id, "reading": self.reading, "applicable": self.applicable, "ill_posed": self.ill_posed,
            "holds": self.holds, "lhs": _jsonable(self.lhs), "rhs": _jsonable(self.rhs), "exact": self.exact,
            "ratio": _jsonable(self.ratio), "margin": _jsonable(self.margin), "lhs_exact": self.lhs_exact, "rhs_exact": self.rhs_exact,
            "values": {k: _jsonable(v) for k, v in self.values.items()}, "failed": list(self.failed), "note": self.note,
            "regime": self.regime, "repaired_by": list(self.repaired_by), "still_violated_by": list(self.still_violated_by),
            "evidence": {k: _jsonable(v) for k, v in self.evidence.items()}, "case": self.case,
        }


def _trial(claim: Claim, rd: Reading, case: Any, v: Verdict, values: dict[str, Any], note: str, evidence: dict[str, Any]) -> Trial:
    return Trial(
        claim.id, rd.key, case.to_json(), v.applicable, v.ill_posed, v.holds, _f(v.lhs), _f(v.rhs), v.exact, v.ratio, v.margin,
        _exact_text(v.lhs) if v.exact and v.lhs is not None else None, _exact_text(v.rhs) if v.exact and v.rhs is not None else None,
        dict(values), v.failed, "; ".join(x for x in (note, v.note) if x), getattr(case, "regime", ""), (), (), dict(evidence),
    )


def evaluate_case(claim: Claim, readings: Sequence[Reading], case: Any, exact: bool) -> dict[str, Trial]:
    """Evaluate ``case`` under every reading (raises :class:`~validation.engine.families.SkipCase`)."""
    with np.errstate(all="ignore"):
        outs = claim.family.evaluate(case, readings, exact)
        out = {}
        for rd in readings:
            o = outs[rd.key]
            values = dict(o.values)
            if o.skip is not None:  # the sides are not decided; a boundary of the statement may still be hit
                values.update({s.name: math.nan for s in sp.sympify(rd.statement.lhs).free_symbols})
            try:
                v = evaluate(rd.statement, values, exact=o.exact, abs_error=o.abs_error)
            except ValueError as err:
                raise SkipCase(f"not evaluable: {err}") from None
            if o.skip is not None and v.ill_posed is None:
                v = replace(v, applicable=False, failed=v.failed or (f"not decided: {o.skip}",), holds=None)
            out[rd.key] = _trial(claim, rd, case, v, values, o.note or (o.skip or ""), o.evidence)
    singles = [rd.key for rd in readings if len(rd.corrections) == 1]
    explained = {}
    for key, t in out.items():
        if t.violated:
            rep = tuple(k for k in singles if k != key and out[k].applicable and out[k].holds is True and out[k].ill_posed is None)
            still = tuple(k for k in singles if k != key and out[k].violated)
            explained[key] = replace(t, repaired_by=rep, still_violated_by=still)
    out.update(explained)
    return out


@dataclass
class ReadingResult:
    """What the search found for one reading of a claim (``regimes``: applicable cases, violations and worst
    ratio per regime of the family, i.e. per term of the bound made to dominate)."""

    key: str
    label: str
    corrections: tuple[str, ...]
    statement: str
    latex: str
    tried: int = 0
    applicable: int = 0
    ill_posed_count: int = 0
    violations: int = 0
    exact_checked: int = 0
    worst_ratio: float | None = None
    worst: Trial | None = None
    witnesses: dict[str, Trial] = field(default_factory=dict)
    ill_posed: Trial | None = None
    failed_hypotheses: dict[str, int] = field(default_factory=dict)
    regimes: dict[str, list] = field(default_factory=dict)
    severity: str = NOT_APPLICABLE
    proof: Any = None

    @property
    def witness(self) -> Trial | None:
        """The simplest witness of the reading (exact first)."""
        if not self.witnesses:
            return None
        return min(self.witnesses.values(), key=_simplicity)

    def to_json(self) -> dict[str, Any]:
        pr = self.proof
        proof = None
        if pr is not None:
            bad = [{"step": s.description, "expression": str(s.expression)} for s in pr.steps if s.verdict is not True]
            proof = {"status": pr.status, "residual": None if pr.residual is None else str(pr.residual), "unconfirmed": bad,
                     "cited": [{"name": p.name, "status": p.status} for p in pr.cited()], "assumed": list(pr.all_assumed())}
        return {
            "reading": self.key, "label": self.label, "corrections": list(self.corrections), "statement": self.statement,
            "latex": self.latex, "severity": self.severity, "tried": self.tried, "applicable": self.applicable,
            "ill_posed_count": self.ill_posed_count, "violations": self.violations, "exact_checked": self.exact_checked,
            "worst_ratio": _jsonable(self.worst_ratio), "worst": None if self.worst is None else self.worst.to_json(),
            "witnesses": {k or "-": t.to_json() for k, t in self.witnesses.items()},
            "ill_posed": None if self.ill_posed is None else self.ill_posed.to_json(),
            "failed_hypotheses": dict(self.failed_hypotheses), "proof": proof,
            "regimes": {k: {"applicable": v[0], "violations": v[1], "worst_ratio": _jsonable(v[2])} for k, v in self.regimes.items()},
        }


@dataclass
class ClaimResult:
    """What the search found for one claim: one :class:`ReadingResult` per reading, and the counts."""

    claim_id: str
    title: str
    source: str
    text: str
    readings: list[ReadingResult]
    tried: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    phases: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def printed(self) -> ReadingResult:
        return self.readings[0]

    @property
    def severity(self) -> str:
        """The severity of the statement as printed."""
        return self.printed.severity

    def reading(self, key: str) -> ReadingResult:
        for r in self.readings:
            if r.key == key:
                return r
        raise KeyError(key)

    def mechanisms(self) -> dict[str, Trial]:
        """Witnesses of the printed reading keyed by the one (non-alternative) correction that alone repairs them."""
        return {k: t for k, t in self.printed.witnesses.items() if k and "+" not in k}

    def to_json(self) -> dict[str, Any]:
        return {"claim_id": self.claim_id, "title": self.title, "source": self.source, "text": self.text,
                "severity": self.severity, "tried": self.tried, "skipped": self.skipped, "skip_reasons": dict(self.skip_reasons),
                "seconds": round(self.seconds, 3), "phases": dict(self.phases), "notes": list(self.notes),
                "readings": [r.to_json() for r in self.readings]}


def _simplicity(t: Trial) -> tuple:
    case = t.case
    T = case.get("T", 0) if isinstance(case, dict) else 0
    sc = case.get("scenario", {}) if isinstance(case, dict) else {}
    m = len(sc.get("problem", {}).get("c", [])) if sc else 0
    d = len(sc.get("theta0", [])) if sc else 0
    return (not t.exact, T, m, d, -(t.ratio or 0.0) if t.ratio is not None and math.isfinite(t.ratio) else 0.0)


def _mechanism(t: Trial, main: set[str]) -> str:
    """The key of a printed-reading violation: the non-alternative single corrections that repair it ("" if none)."""
    return "+".join(k for k in t.repaired_by if k in main)


class _Recorder:
    def __init__(self, claim: Claim, readings: Sequence[Reading], exact_confirm: bool) -> None:
        import sympy as sp

        self.claim = claim
        self.readings = list(readings)
        self.exact_confirm = exact_confirm
        self.res = ClaimResult(claim.id, claim.title, claim.source, claim.text, [
            ReadingResult(r.key, r.label, r.corrections, r.statement.text, r.statement.latex()) for r in readings])
        self.by_key = {r.key: rr for r, rr in zip(readings, self.res.readings)}
        self.seen: set[str] = set()
        self.candidates: dict[str, list[tuple[float, Any]]] = {r.key: [] for r in readings}
        self.main = {c.key for c in claim.corrections if not c.alternative}
        self.singles = [r.key for r in readings if len(r.corrections) == 1 and r.key in self.main]
        self._sp = sp

    # -- running cases -------------------------------------------------------------------------

    def key_of(self, case: Any) -> str:
        return repr(case.to_json())

    def run(self, case: Any) -> dict[str, Trial] | None:
        res = self.res
        k = self.key_of(case)
        if k in self.seen:
            return None
        self.seen.add(k)
        res.tried += 1
        try:
            trials = self._evaluate(case)
        except SkipCase as err:
            return self._skip(str(err).split(";")[0][:100])
        except (ValueError, ZeroDivisionError, OverflowError, np.linalg.LinAlgError, TypeError) as err:
            logger.debug("case of %s failed: %s", res.claim_id, err)
            return self._skip(f"{type(err).__name__}: {str(err)[:80]}")
        for key, t in trials.items():
            self._record(key, t, case)
        return trials

    def _skip(self, reason: str) -> None:
        self.res.skipped += 1
        self.res.skip_reasons[reason] = self.res.skip_reasons.get(reason, 0) + 1
        return None

    def _evaluate(self, case: Any) -> dict[str, Trial]:
        trials = evaluate_case(self.claim, self.readings, case, exact=False)
        if not self.exact_confirm or all(t.exact for t in trials.values()):
            return trials
        interesting = any(t.violated or t.ill_posed for t in trials.values()) or any(
            t.applicable and t.ratio is not None and t.ratio >= NEAR_TIGHT for t in trials.values())
        if not interesting:
            return trials
        pattern = {k: t.violated for k, t in trials.items()}
        best_case, best = case, trials
        for simpler in self.claim.family.simplify(case):
            try:
                t2 = evaluate_case(self.claim, self.readings, simpler, exact=False)
            except SkipCase:
                continue
            if {k: t.violated for k, t in t2.items()} == pattern and any(pattern.values()):
                best_case, best = simpler, t2
                break
        try:
            ex = evaluate_case(self.claim, self.readings, best_case, exact=True)
        except SkipCase as err:
            return {k: replace(t, note=(t.note + "; " if t.note else "") + f"float64 only ({str(err)[:80]})") for k, t in best.items()}
        for k, t in ex.items():
            if best[k].violated and not t.violated:
                self.res.notes.append(f"{k}: a float64 violation did not survive exact arithmetic")
        if best_case is not case:
            self.seen.add(self.key_of(best_case))
        return ex

    def _record(self, key: str, t: Trial, case: Any) -> None:
        rr = self.by_key[key]
        rr.tried += 1
        if t.exact:
            rr.exact_checked += 1
        if t.applicable and t.ill_posed is None and t.holds is None:  # undecided sides count as not applicable
            t = replace(t, applicable=False, failed=(f"undecided: {t.note or 'a side is not a number'}",))
        if not t.applicable:
            for h in t.failed:
                rr.failed_hypotheses[h] = rr.failed_hypotheses.get(h, 0) + 1
            return
        if t.ill_posed is not None:
            rr.ill_posed_count += 1
            if rr.ill_posed is None or _simplicity(t) < _simplicity(rr.ill_posed):
                rr.ill_posed = t
            return
        rr.applicable += 1
        reg = rr.regimes.setdefault(t.regime or "-", [0, 0, None])
        reg[0] += 1
        reg[1] += int(t.violated)
        if t.ratio is not None and math.isfinite(t.ratio) and (reg[2] is None or t.ratio > reg[2]):
            reg[2] = t.ratio
        if t.ratio is not None and math.isfinite(t.ratio):
            if rr.worst_ratio is None or t.ratio > rr.worst_ratio:
                rr.worst_ratio, rr.worst = t.ratio, t
            if not t.violated:
                cands = self.candidates[key]
                cands.append((t.ratio, case))
                if len(cands) > 32:
                    self.candidates[key] = sorted(cands, key=lambda rc: -rc[0])[:8]
        elif t.ratio is None and t.margin is not None and (rr.worst is None or (rr.worst.margin or 0.0) < t.margin):
            rr.worst = t
        elif rr.worst is None:
            rr.worst = t
        if t.violated:
            rr.violations += 1
            mech = _mechanism(t, self.main) if key == PRINTED else ""
            old = rr.witnesses.get(mech)
            if old is None or _simplicity(t) < _simplicity(old):
                rr.witnesses[mech] = t

    # -- state ---------------------------------------------------------------------------------

    def settled(self) -> bool:
        """Every reading violated with an exact witness, and every single correction has its own mechanism witness."""
        printed = self.by_key[PRINTED]
        mech_done = all(k in printed.witnesses and printed.witnesses[k].exact for k in self.singles)
        return mech_done and all(rr.witnesses and rr.witness.exact for rr in self.res.readings)

    def finish(self) -> ClaimResult:
        for rr in self.res.readings:
            if rr.violations:
                rr.severity = FALSE
            elif rr.ill_posed_count:
                rr.severity = ILL_POSED
            elif rr.applicable:
                rr.severity = HOLDS
            else:
                rr.severity = NOT_APPLICABLE
        return self.res


# ----------------------------------------------------------------------------------------------
# phases


def _grid(claim: Claim, seed: int) -> Iterator[tuple[Any, dict[str, Any], int]]:
    """Regime by regime, round robin; within a regime the family's axes in a seeded, simplest-first order."""
    fam = claim.family
    regimes = list(fam.regimes) or [None]
    walkers = []
    for j, reg in enumerate(regimes):
        axes = {n: opts for n, opts in fam.axes().items() if reg is None or n not in reg.fix}
        names = list(axes)
        sizes = [len(axes[n]) for n in names]
        if names:
            positions = np.indices(sizes).reshape(len(sizes), -1)
            tie = np.random.default_rng([seed, j]).permutation(positions.shape[1])
            order = np.lexsort((tie, positions.sum(axis=0))).tolist()
        else:
            positions, order = np.zeros((0, 1), dtype=int), [0]

        def walk(reg: Any = reg, names: list = names, axes: dict = axes, positions: Any = positions, order: list = order,
                 j: int = j) -> Iterator[tuple[Any, dict[str, Any], int]]:
            for k in itertools.count():
                idx = order[k % len(order)]
                fix = {n: axes[n][int(positions[a, idx])] for a, n in enumerate(names)}
                yield reg, fix, k * 1000 + j

        walkers.append(walk())
    while True:
        for w in walkers:
            yield next(w)


def _build(claim: Claim, readings: Sequence[Reading], regime: Any, fix: dict[str, Any], seed: int, k: int) -> Any:
    pk = RandomPicker(np.random.default_rng([seed, k]))
    return claim.family.build(pk, readings[0].statement, fix, regime)


def search_claim(
    claim_id: str,
    *,
    budget: int = 200,
    time_limit: float | None = None,
    seed: int = 0,
    exact_confirm: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ClaimResult:
    """Search every reading of one claim (module docstring); ``budget`` cases at most, within ``time_limit`` seconds.

    Raises
    ------
    ValueError
        For an unknown claim id or a negative budget.
    """
    claim = get_claim(claim_id)
    if int(budget) != budget or budget < 0:
        raise ValueError(f"the budget (cases per claim) must be an integer >= 0; got {budget!r}")
    t0 = time.perf_counter()
    deadline = math.inf if time_limit is None else t0 + float(time_limit)
    readings = claim.readings()
    rec = _Recorder(claim, readings, exact_confirm)
    tick = progress or (lambda k: None)
    phases = {"regimes": 0, "climbing": 0, "random": 0}

    def room() -> bool:
        if rec.res.tried >= budget or rec.settled():
            return False
        evaluated = rec.res.tried - rec.res.skipped
        return time.perf_counter() < deadline or (evaluated < min(MIN_CASES, budget) and rec.res.tried < 4 * MIN_CASES)

    grid = _grid(claim, seed)
    grid_budget = int(budget * GRID_SHARE)
    misses = 0
    while room() and phases["regimes"] < grid_budget and misses < 4 * budget:
        regime, fix, k = next(grid)
        try:
            case = _build(claim, readings, regime, fix, seed, k)
        except (SkipCase, ValueError) as err:
            misses += 1
            rec.res.tried += 1
            rec._skip(f"case not built: {str(err)[:80]}")
            phases["regimes"] += 1
            tick(1)
            continue
        rec.run(case)
        phases["regimes"] += 1
        tick(1)
    climb_budget = rec.res.tried + int(budget * CLIMB_SHARE)
    for rr in rec.res.readings:
        if not room() or rec.res.tried >= climb_budget:
            break
        if rr.violations:
            continue
        starts = sorted(rec.candidates[rr.key], key=lambda rc: -rc[0])[:2]
        for ratio0, case0 in starts:
            current, best = case0, ratio0
            while room() and rec.res.tried < climb_budget:
                scored = []
                for nb in claim.family.neighbours(current):
                    if not room() or rec.res.tried >= climb_budget:
                        break
                    trials = rec.run(nb)
                    phases["climbing"] += 1
                    tick(1)
                    if trials is None:
                        continue
                    t = trials[rr.key]
                    if t.violated:
                        break
                    if t.applicable and t.ratio is not None and math.isfinite(t.ratio):
                        scored.append((t.ratio, nb))
                if rr.violations or not scored:
                    break
                r, nb = max(scored, key=lambda rc: rc[0])
                if r <= best:
                    break
                current, best = nb, r
    k = 0
    while room() and misses < 4 * budget:
        k += 1
        regs = list(claim.family.regimes) or [None]
        reg = regs[k % len(regs)]
        try:
            case = _build(claim, readings, reg, {}, seed + 7919, k)
        except (SkipCase, ValueError) as err:
            misses += 1
            rec.res.tried += 1
            rec._skip(f"case not built: {str(err)[:80]}")
            continue
        rec.run(case)
        phases["random"] += 1
        tick(1)
    res = rec.finish()
    res.phases = phases
    res.seconds = time.perf_counter() - t0
    return res


def search_claims(
    claim_ids: Sequence[str],
    *,
    budget: int = 200,
    time_limit: float | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    on_result: Callable[[ClaimResult], None] | None = None,
) -> list[ClaimResult]:
    """Search several claims; ``time_limit`` (seconds, total) is shared among the claims left by their family's cost."""
    t0 = time.perf_counter()
    out = []
    weights = [getattr(get_claim(cid).family, "cost", 1.0) for cid in claim_ids]
    for k, cid in enumerate(claim_ids):
        left = None
        if time_limit is not None:
            left = max(0.0, (float(time_limit) - (time.perf_counter() - t0)) * weights[k] / sum(weights[k:]))
        r = search_claim(cid, budget=budget, time_limit=left, seed=seed, progress=progress)
        logger.info("%-32s %-26s tried %5d in %.1f s", cid, r.severity, r.tried, r.seconds)
        out.append(r)
        if on_result:
            on_result(r)
    return out

