r"""Search cases: one point of a claim's parameter space, turned into the claim's instance and checked.

A *case* is a small frozen dataclass (JSON round trip) holding a :class:`~validation.engine.problems.Scenario`
and the claim's free parameters; :func:`evaluate` builds the instance the claim takes
(:mod:`theory.instances`) from exact expectations and runs :meth:`theory.claims.Claim.check`,
returning a :class:`Trial`. Every case respects its claim's hypotheses *by construction* (step-size
condition, constants as the paper's proof defines them, :math:`\zeta, \eta`); the claim's own
hypothesis predicates are still evaluated and a case where they fail counts as not applicable.

Case types (:data:`CASE_TYPES`):

* :class:`PointCase` -- one :math:`\theta` (Lemmas 1-3, Proposition 1 (8), (9), Remark 1, [18,
  Propositions 2, 3], [5, Assumption 9]);
* :class:`RunCase` -- an ISGD run with a step relative to the claim's step bound (Theorem 1 as
  printed and by its source, [18]'s theorem, [5, Theorem 3]);
* :class:`CorollaryCase` -- a run with Corollary 1's (or [18]'s corollary's) prescribed horizon and step;
* :class:`Remark2Case` -- a family of runs indexed by the horizon, with Corollary 1's step (Remark 2);
* :class:`ErrorBoundPoint` -- one point of [9]'s a-posteriori bound.

Ratios: for a claim ``small <= big`` (``lhs <= rhs``, or ``rhs <= lhs`` for ``>=``) the trial's ratio is
``small / big`` when ``big > 0`` and ``1 + (small - big)/max(|small|, |big|)`` otherwise; a ratio above 1
is a violation, 1 is tight.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from theory import bounds
from theory.claims import CLAIMS, Claim, ClaimCheck
from theory.constants import A_tilde, B_tilde, C_tilde, b as b_of_zeta, c as c_of_zeta
from theory.instances import BiasedABC, FiniteSumInstance, OracleInstance, RunInstance
from theory.sampling import Support

from . import rational as rq
from .bilevel_quadratic import ErrorBoundCase
from .exact import EXACT_VARYING_MAX, FULL_SEQUENCE_MAX, AffineBias, MomentEngine, Schedule, support_of
from .problems import Scenario
from .quadratic_abc import lemma1_constants, minimal_C, minimal_c, quadratic_forms

logger = logging.getLogger(__name__)

__all__ = [
    "Trial",
    "PointCase",
    "RunCase",
    "CorollaryCase",
    "Remark2Case",
    "ErrorBoundPoint",
    "CASE_TYPES",
    "CLAIM_CASE_TYPE",
    "evaluate",
    "case_from_json",
    "ratio_of",
    "exact_horizon_limit",
    "run_setup",
    "run_curve",
    "RunSetup",
    "SkipCase",
    "T_CAP",
    "VIOLATION_RTOL",
]

T_CAP = 10_000_000
"""Largest horizon evaluated (float64, piecewise-constant schedules)."""

SEARCH_STEPPING_MAX = 200_000
"""Largest horizon searched with a schedule evaluated step by step (power schedules)."""

VIOLATION_RTOL = 1e-9
"""A float64 violation counts only when it exceeds this relative margin and the rounding estimate."""

EXACT_T_BY_DIM = {1: 3000, 2: 1000, 3: 400}
"""Largest horizon confirmed in exact rational arithmetic, by dimension of :math:`\\theta`."""


class SkipCase(Exception):
    """A case that cannot be evaluated (horizon too long, no constants of the requested kind, ...)."""


@dataclass(frozen=True)
class Trial:
    """The outcome of one case for one claim.

    ``applicable``: all hypotheses of the claim held; ``holds``: the relation held (``None`` when not
    applicable); ``ratio``: see the module docstring; ``exact``: the verdict comes from exact rational
    arithmetic; ``margin``: ``small - big`` in float64; ``note``: regime, arithmetic, skips.
    """

    claim_id: str
    case: dict[str, Any]
    applicable: bool
    holds: bool | None
    lhs: float | None
    rhs: float | None
    ratio: float | None
    exact: bool
    margin: float | None = None
    abs_error: float = 0.0
    note: str = ""
    lhs_exact: str | None = None
    rhs_exact: str | None = None

    @property
    def violated(self) -> bool:
        return bool(self.applicable and self.holds is False)

    def to_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id, "case": self.case, "applicable": self.applicable, "holds": self.holds,
            "lhs": _jf(self.lhs), "rhs": _jf(self.rhs), "ratio": _jf(self.ratio), "exact": self.exact,
            "margin": _jf(self.margin), "abs_error": _jf(self.abs_error), "note": self.note,
            "lhs_exact": self.lhs_exact, "rhs_exact": self.rhs_exact,
        }


def _jf(x: Any) -> Any:
    if x is None:
        return None
    return rq.encode(float(x))


def _f(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return float(sp.N(x, 30))


def ratio_of(lhs: float, rhs: float, relation: str) -> float | None:
    """The trial ratio (module docstring); ``None`` for ``==`` claims."""
    if relation == "==":
        return None
    small, big = (lhs, rhs) if relation == "<=" else (rhs, lhs)
    if math.isnan(small) or math.isnan(big):
        return None
    if big > 0:
        return small / big
    scale = max(abs(small), abs(big))
    if scale == 0:
        return None  # 0 <= 0: trivially tight, not informative
    return 1.0 + (small - big) / scale


def _margin(lhs: float, rhs: float, relation: str) -> float:
    small, big = (lhs, rhs) if relation == "<=" else (rhs, lhs)
    return small - big


def _as_exact_str(x: Any) -> str | None:
    if isinstance(x, Fraction):
        return rq.fraction_str(x)
    if isinstance(x, sp.Basic):
        return str(x)
    return None


def _verdict(claim: Claim, check: ClaimCheck, case_json: dict[str, Any], exact: bool, abs_error: float = 0.0,
             note: str = "") -> Trial:
    """Turn a :class:`ClaimCheck` into a :class:`Trial` (a float violation must beat rounding)."""
    applicable = check.applicable is True
    lhs, rhs = _f(check.lhs), _f(check.rhs)
    if not applicable or lhs is None or rhs is None:
        return Trial(claim.id, case_json, False, None, lhs, rhs, None, exact, note=note or _failed(check))
    if math.isnan(lhs) or math.isnan(rhs):
        return Trial(claim.id, case_json, False, None, lhs, rhs, None, exact, note="a side is NaN in float64: not decided")
    holds = check.holds
    ratio = ratio_of(lhs, rhs, claim.relation)
    margin = _margin(lhs, rhs, claim.relation) if claim.relation != "==" else abs(lhs - rhs)
    if holds is None:
        return Trial(claim.id, case_json, False, None, lhs, rhs, ratio, exact, margin, abs_error,
                     note="undecided: sympy could not decide the sign")
    if not exact and holds is False and claim.relation != "==":
        tol = max(VIOLATION_RTOL * max(abs(lhs), abs(rhs)), 8 * abs_error)
        if margin <= tol:
            holds = True
            note = (note + "; " if note else "") + f"float64 violation below rounding ({margin:.3g} <= {tol:.3g}): counted as tight"
    return Trial(claim.id, case_json, True, bool(holds), lhs, rhs, ratio, exact, margin, abs_error, note,
                 _as_exact_str(check.lhs), _as_exact_str(check.rhs))


def _failed(check: ClaimCheck) -> str:
    bad = [k for k, v in check.hypotheses.items() if v is not True]
    return "hypotheses not met: " + ", ".join(bad) if bad else "not applicable"


def _num(x: Any, exact: bool) -> Any:
    if x is None:
        return None
    if exact:
        return rq.F(x) if not isinstance(x, sp.Basic) else x
    return float(x)


def _fr_json(x: Any) -> Any:
    return None if x is None else rq.encode(rq.F(x))


def _fr(obj: dict[str, Any], key: str) -> Fraction | None:
    v = obj.get(key)
    return None if v is None else rq.F(v)


# ----------------------------------------------------------------------------------------------
# point claims


@dataclass(frozen=True)
class PointCase:
    r"""One :math:`\theta` of a scenario with :math:`\zeta, \eta` and the source of Lemma 1's constants.

    ``biased`` selects the constants of [5, Assumption 9] given to the oracle: ``"prop1"``
    (Proposition 1's :math:`b(\zeta), c(\zeta, \epsilon^2(\theta)), \tilde A, \tilde B, \tilde C(\eta, \epsilon^2(\theta))`)
    or ``"fitted"`` (exact global constants for :math:`z_v`: :math:`b` given, smallest :math:`c`; ``A9``, ``B9``
    given, smallest :math:`C`).
    """

    scenario: Scenario
    theta: Any
    zeta: Fraction
    eta: Fraction
    source: str = "prop2"
    biased: str = "prop1"
    b: Fraction | None = None
    A9: Fraction | None = None
    B9: Fraction | None = None
    A: Fraction | None = None
    B: Fraction | None = None

    kind = "point"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.kind, "scenario": self.scenario.to_json(), "theta": rq.encode(rq.as_exact(self.theta)),
            "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta), "source": self.source, "biased": self.biased,
            "b": _fr_json(self.b), "A9": _fr_json(self.A9), "B9": _fr_json(self.B9), "A": _fr_json(self.A), "B": _fr_json(self.B),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "PointCase":
        return cls(Scenario.from_json(obj["scenario"]), rq.decode(obj["theta"]), _fr(obj, "zeta"), _fr(obj, "eta"),
                   obj.get("source", "prop2"), obj.get("biased", "prop1"), _fr(obj, "b"), _fr(obj, "A9"), _fr(obj, "B9"),
                   _fr(obj, "A"), _fr(obj, "B"))


def _oracle_arrays(sc: Scenario, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(probs (K,), grad_fv (K, d), errors (K, d))`` at ``theta``."""
    law = sc.sampling_law()
    sup = support_of(law)
    V, p = rq.as_exact(sup.vectors), rq.as_exact(sup.probs)
    pr = sc.problem
    comp = pr.component_grads(theta)
    grads = np.array([sum((V[k, i] * comp[i] for i in range(pr.m)), np.full(pr.d, Fraction(0), dtype=object)) / pr.m
                      for k in range(V.shape[0])], dtype=object)
    Pk, rk = sc.bias.outcome_maps(sup, pr.m, exact=True)
    s0 = sc.bias.schedule.value(0, exact=True)
    errs = np.array([s0 * (Pk[k].dot(theta) + rk[k]) for k in range(V.shape[0])], dtype=object)
    return p, grads, errs


def _point_oracle(case: PointCase, exact: bool, claim_id: str) -> OracleInstance:
    sc = case.scenario
    theta = rq.as_exact(case.theta)
    probs, grads, errs = _oracle_arrays(sc, theta)
    law = sc.sampling_law()
    kw: dict[str, Any] = {"zeta": case.zeta, "eta": case.eta}
    pr = sc.problem
    f_gap = pr.value(theta) - pr.f_inf()
    kw["f_gap"] = f_gap
    if claim_id == "paper.prop1.eq9":
        try:
            A, B, C = lemma1_constants(pr, law, case.source, A=case.A, B=case.B)
        except ValueError as err:
            raise SkipCase(str(err)) from None
        kw.update(A=A, B=B, C=C)
    if claim_id.startswith("demidovich.assumption9"):
        kw["biased"] = _biased_constants(case, errs, probs, law)
    if exact:
        return OracleInstance(probs=probs, grad_fv=grads, errors=errs, **kw)
    fkw = {k: (v if isinstance(v, BiasedABC) else float(v)) for k, v in kw.items()}
    if "biased" in fkw:
        bz = fkw["biased"]
        fkw["biased"] = BiasedABC(*(float(getattr(bz, n)) for n in ("b", "c", "A", "B", "C")))
    return OracleInstance(probs=rq.as_float(probs), grad_fv=rq.as_float(grads), errors=rq.as_float(errs), **fkw)


def _biased_constants(case: PointCase, errs: np.ndarray, probs: np.ndarray, law: Any) -> BiasedABC:
    sc = case.scenario
    if case.biased == "prop1":
        eps2 = sum((p * e.dot(e) for p, e in zip(probs.tolist(), errs)), Fraction(0))
        try:
            A, B, C = lemma1_constants(sc.problem, law, case.source, A=case.A, B=case.B)
        except ValueError as err:
            raise SkipCase(str(err)) from None
        return BiasedABC(b_of_zeta(case.zeta), c_of_zeta(case.zeta, eps2), A_tilde(case.eta, A), B_tilde(case.eta, B),
                         C_tilde(case.eta, C, eps2))
    forms = quadratic_forms(sc.problem, law, sc.bias)
    c = minimal_c(forms, case.b)
    C = minimal_C(forms, case.A9, case.B9, inexact=True)
    if c is None or C is None:
        raise SkipCase(f"no global Assumption 9 constants with b = {case.b}, A = {case.A9}, B = {case.B9}")
    return BiasedABC(case.b, c, case.A9, case.B9, C)


def _point_finite_sum(case: PointCase, exact: bool) -> FiniteSumInstance:
    """Per-component errors exist for bias mode ``"component"`` (and zero errors); otherwise Remark 1 is not applicable."""
    sc = case.scenario
    pr = sc.problem
    theta = rq.as_exact(case.theta)
    s0 = sc.bias.schedule.value(0, exact=True)
    errs: Any = None
    if sc.bias.mode == "component":
        P = sc.bias.P
        errs = np.array([s0 * ((P[i].dot(theta) if P is not None else 0) + sc.bias.r[i]) for i in range(pr.m)], dtype=object)
    elif sc.bias.is_zero:
        errs = np.full((pr.m, pr.d), Fraction(0), dtype=object)
    fields = dict(
        component_grads=pr.component_grads(theta),
        component_values=pr.component_values(theta),
        component_inf=pr.component_inf(),
        smoothness=pr.smoothness(),
        f_inf=pr.f_inf(),
        component_errors=errs,
    )
    if exact:
        return FiniteSumInstance(law=sc.sampling_law(), eta=case.eta, **fields)
    return FiniteSumInstance(law=sc.sampling_law(), eta=float(case.eta),
                             **{k: (None if v is None else rq.as_float(v)) for k, v in fields.items()})


# ----------------------------------------------------------------------------------------------
# runs


@dataclass(frozen=True)
class RunCase:
    r"""An ISGD run: scenario, horizon :math:`T`, :math:`\zeta, \eta`, Lemma 1's constants, the step as a fraction of its bound.

    :math:`\alpha = \mathtt{step}\times` the claim's largest step (:math:`c_1/L` for Theorem 1,
    :math:`1/(LB)` for [18], :math:`b/(LB)` for [5]); when that bound is :math:`+\infty`
    (:math:`B = 0`), :math:`\alpha = \mathtt{step}/L`. For [5, Theorem 3] the oracle's constants are
    exact and global: ``b`` given with the smallest :math:`c`, ``A9``, ``B9`` given with the smallest :math:`C`.
    """

    scenario: Scenario
    T: int
    step: Fraction
    zeta: Fraction | None = None
    eta: Fraction | None = None
    source: str = "prop2"
    A: Fraction | None = None
    B: Fraction | None = None
    b: Fraction | None = None
    A9: Fraction | None = None
    B9: Fraction | None = None

    kind = "run"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.kind, "scenario": self.scenario.to_json(), "T": int(self.T), "step": _fr_json(self.step),
            "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta), "source": self.source, "A": _fr_json(self.A),
            "B": _fr_json(self.B), "b": _fr_json(self.b), "A9": _fr_json(self.A9), "B9": _fr_json(self.B9),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RunCase":
        return cls(Scenario.from_json(obj["scenario"]), int(obj["T"]), _fr(obj, "step"), _fr(obj, "zeta"), _fr(obj, "eta"),
                   obj.get("source", "prop2"), _fr(obj, "A"), _fr(obj, "B"), _fr(obj, "b"), _fr(obj, "A9"), _fr(obj, "B9"))

    def with_T(self, T: int) -> "RunCase":
        """The same case with horizon ``T`` (a step schedule that switches at the horizon moves with it)."""
        sc = self.scenario
        sched = sc.bias.schedule
        if sched.kind == "step" and sched.at == self.T:
            sc = Scenario(sc.problem, sc.law, sc.bias.with_schedule(Schedule("step", sched.sigma, after=sched.after, at=int(T))),
                          sc.theta0, sc.origin)
        return RunCase(sc, int(T), self.step, self.zeta, self.eta, self.source, self.A, self.B, self.b, self.A9, self.B9)


def _eps2_field(summary: Any, bias: AffineBias, exact: bool) -> Any:
    """RunInstance ``eps2``: a scalar for constant errors, else the whole sequence :math:`t = 0..T`."""
    if bias.theta_independent and bias.schedule.kind == "constant":
        return summary.eps2_T
    if summary.eps2 is None:
        raise SkipCase(f"the error sequence is needed up to T = {summary.T} (> {FULL_SEQUENCE_MAX})")
    return summary.eps2


def _engine(sc: Scenario, bias: AffineBias, alpha: Any, exact: bool) -> MomentEngine:
    law = sc.sampling_law()
    if exact:
        return MomentEngine(sc.problem, law, bias, rq.F(alpha), sc.theta0, exact=True)
    fb = AffineBias(bias.mode, rq.as_float(bias.r), None if bias.P is None else rq.as_float(bias.P), bias.schedule)
    sup = support_of(law)
    fsup = Support(rq.as_float(sup.vectors), rq.as_float(sup.probs))
    return MomentEngine(sc.problem.to_float(), fsup, fb, float(alpha), rq.as_float(sc.theta0), exact=False)


def _needs_sequence(bias: AffineBias) -> bool:
    return not (bias.theta_independent and bias.schedule.kind == "constant")


def _check_horizon(T: int, bias: AffineBias, exact: bool, d: int) -> None:
    if exact and T > EXACT_T_BY_DIM[d]:
        raise SkipCase(f"exact moments up to T = {T} are too costly (limit {EXACT_T_BY_DIM[d]} for d = {d})")
    if exact and bias.schedule.segments(T + 1) is None and T > EXACT_VARYING_MAX:
        raise SkipCase(f"exact moments with a {bias.schedule.kind} schedule up to T = {T} are too costly (limit {EXACT_VARYING_MAX})")
    if T > T_CAP:
        raise SkipCase(f"horizon T = {T} exceeds {T_CAP}")
    if not exact and bias.schedule.segments(T + 1) is None and bias.schedule.kind != "geometric" and T > SEARCH_STEPPING_MAX:
        raise SkipCase(f"horizon T = {T} with a {bias.schedule.kind} schedule exceeds {SEARCH_STEPPING_MAX}")
    if _needs_sequence(bias) and T > FULL_SEQUENCE_MAX:
        raise SkipCase(f"horizon T = {T} with a time- or theta-dependent error exceeds {FULL_SEQUENCE_MAX}")


def _largest_admissible_B(claim_id: str, case: RunCase, alpha: Fraction, L: Fraction) -> Fraction:
    r"""With :math:`B = 0` the step condition is void (bound :math:`+\infty`); exact instances then use the
    largest :math:`B' > 0` that keeps :math:`\alpha` admissible (:math:`\alpha` equals the bound at :math:`B'`).

    Any :math:`B' \ge B` is valid in Lemma 1 / [5, Assumption 9] (it adds :math:`B'\|\nabla f\|^2 \ge 0`)
    and no right side of these theorems depends on :math:`B`, so the instance and both sides are
    unchanged; only :math:`+\infty` is kept out of exact comparisons (``theory._arith.decide`` reads
    sympy's ``oo.is_nonnegative``, which is False, so :math:`\alpha \le +\infty` would be decided false).
    """
    if claim_id == "kr.theorem":
        return 1 / (L * alpha)
    if claim_id == "demidovich.theorem3":
        return case.b / (L * alpha)
    zeta, eta = case.zeta, case.eta
    return (1 - 1 / (2 * zeta)) * eta / ((1 + eta) * L * alpha)


@dataclass(frozen=True)
class RunSetup:
    """Everything of a run claim's instance except the observed moments: constants, step, error model."""

    L: Any
    delta0: Any
    A: Any
    B: Any
    C: Any
    alpha: Any
    bias: AffineBias
    extra: dict[str, Any]


def run_setup(claim_id: str, case: RunCase, exact: bool) -> RunSetup:
    """Constants (Lemma 1's, or [5, Assumption 9]'s fitted exactly), the step and the error model of a run case."""
    sc = case.scenario
    pr = sc.problem
    law = sc.sampling_law()
    L = pr.lipschitz()
    delta0 = pr.value(sc.theta0) - pr.f_inf()
    bias = sc.bias
    kw: dict[str, Any] = {}
    if claim_id == "kr.theorem":
        bias = AffineBias.zero(pr.d)
    if claim_id == "demidovich.theorem3":
        forms = quadratic_forms(pr, law, bias)
        c = minimal_c(forms, case.b)
        C = minimal_C(forms, case.A9, case.B9, inexact=True)
        if c is None or C is None:
            raise SkipCase(f"no global Assumption 9 constants with b = {case.b}, A = {case.A9}, B = {case.B9}")
        A, B = case.A9, case.B9
        kw.update(b=case.b, c=c)
        bound = bounds.demidovich_step_bound(b=case.b, B=B, L=L)
    else:
        try:
            A, B, C = lemma1_constants(pr, law, case.source, A=case.A, B=case.B)
        except ValueError as err:
            raise SkipCase(str(err)) from None
        if claim_id == "kr.theorem":
            bound = bounds.khaled_richtarik_step_bound(B=B, L=L)
        else:
            bound = bounds.theorem1_step_bound(zeta=case.zeta, eta=case.eta, B=B, L=L)
            kw.update(zeta=case.zeta, eta=case.eta)
    alpha = case.step * bound if bound != sp.oo else case.step / L
    if exact and bound == sp.oo:
        B = _largest_admissible_B(claim_id, case, alpha, L)
    return RunSetup(L, delta0, A, B, C, alpha, bias, kw)


def _make_run_instance(st: RunSetup, T: int, min_grad: Any, eps2: Any, exact: bool) -> RunInstance:
    return RunInstance(
        L=_num(st.L, exact), delta0=_num(st.delta0, exact), A=_num(st.A, exact), B=_num(st.B, exact), C=_num(st.C, exact),
        alpha=_num(st.alpha, exact), T=T, grad_sq=_num(min_grad, exact),
        eps2=eps2 if exact else np.asarray(eps2, dtype=float) if np.ndim(eps2) else float(eps2),
        **{k: _num(v, exact) for k, v in st.extra.items()},
    )


def _run_instance(claim_id: str, case: RunCase, exact: bool) -> tuple[RunInstance, float, str]:
    st = run_setup(claim_id, case, exact)
    _check_horizon(case.T, st.bias, exact, case.scenario.problem.d)
    eng = _engine(case.scenario, st.bias, st.alpha, exact)
    summ = eng.run(case.T, keep_sequences=_needs_sequence(st.bias) and not exact)
    if not summ.reliable:
        raise SkipCase("float64 overflow made a moment undefined")
    inst = _make_run_instance(st, case.T, summ.min_grad_sq, _eps2_field(summ, st.bias, exact), exact)
    return inst, summ.abs_error, f"alpha = {float(st.alpha):.6g}, argmin t = {summ.argmin}"


def run_curve(claim_ids: Any, case: RunCase, horizons: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    r"""Observed :math:`\min_{t<T}\mathbb E\|\nabla f(\theta_t)\|^2` and the right sides of ``claim_ids`` for each horizon (float64).

    The step and constants are those of the first claim (they do not depend on :math:`T`); one run
    to the largest horizon gives every running minimum. Returns ``(T, observed, {claim: rhs})``.
    """
    ids = list(claim_ids)
    st = run_setup(ids[0], case, exact=False)
    Ts = np.array(sorted({int(T) for T in horizons if T >= 1}))
    Tmax = int(Ts[-1])
    _check_horizon(Tmax, st.bias, False, case.scenario.problem.d)
    eng = _engine(case.scenario, st.bias, st.alpha, exact=False)
    summ = eng.run(Tmax, checkpoints=Ts.tolist(), keep_sequences=_needs_sequence(st.bias))
    observed = np.asarray(summ.running_min, dtype=float)
    rhs: dict[str, np.ndarray] = {cid: np.empty(Ts.size) for cid in ids}
    with np.errstate(over="ignore", under="ignore"):
        for j, T in enumerate(Ts.tolist()):
            if _needs_sequence(st.bias):
                eps2 = summ.eps2[: T + 1].copy()
            else:
                eps2 = summ.eps2_T
            inst = _make_run_instance(st, T, observed[j], eps2, exact=False)
            for cid in ids:
                try:
                    rhs[cid][j] = float(CLAIMS[cid].rhs(inst))
                except ValueError:
                    rhs[cid][j] = np.nan
    return Ts, observed, rhs


# ----------------------------------------------------------------------------------------------
# corollaries


@dataclass(frozen=True)
class CorollaryCase:
    r"""A run with Corollary 1's horizon and step (or [18]'s corollary's).

    The horizon is :math:`T = \lceil\kappa\,T(\epsilon^2)\rceil` (``factor`` :math:`\kappa \ge 1`), with
    :math:`\epsilon^2 = \mathbb E[\epsilon_T^2]` (``paper.corollary1``, as printed) or
    :math:`\max_{t<T}\mathbb E[\epsilon_t^2]` (``paper.corollary1.uniform_accuracy``); a ``"step"``
    schedule switches its level exactly at that :math:`T`. For ``kr.corollary`` the run is unbiased and
    the target is ``target`` times :math:`\|\nabla f(\theta_0)\|^2`.
    """

    scenario: Scenario
    zeta: Fraction | None = None
    eta: Fraction | None = None
    source: str = "prop2"
    factor: Fraction = Fraction(1)
    target: Fraction | None = None

    kind = "corollary"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "scenario": self.scenario.to_json(), "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta),
                "source": self.source, "factor": _fr_json(self.factor), "target": _fr_json(self.target)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CorollaryCase":
        return cls(Scenario.from_json(obj["scenario"]), _fr(obj, "zeta"), _fr(obj, "eta"), obj.get("source", "prop2"),
                   _fr(obj, "factor") or Fraction(1), _fr(obj, "target"))


def _error_level(sc: Scenario) -> Fraction:
    r""":math:`\bar\epsilon^2 = \mathbb E_v\|r_v\|^2` for :math:`\theta`-independent errors at :math:`\sigma = 1`."""
    sup = support_of(sc.sampling_law())
    _, rk = sc.bias.outcome_maps(sup, sc.problem.m, exact=True)
    p = rq.as_exact(sup.probs)
    return sum((pk * r.dot(r) for pk, r in zip(p.tolist(), rk)), Fraction(0))


def _corollary_run(claim_id: str, case: CorollaryCase) -> tuple[RunInstance, float, str]:
    sc = case.scenario
    pr = sc.problem
    law = sc.sampling_law()
    L = float(pr.lipschitz())
    delta0 = float(pr.value(sc.theta0) - pr.f_inf())
    try:
        A, B, C = (float(x) for x in lemma1_constants(pr, law, case.source))
    except ValueError as err:
        raise SkipCase(str(err)) from None
    if claim_id == "kr.corollary":
        g0 = float(pr.grad(sc.theta0).dot(pr.grad(sc.theta0)))
        target = float(case.target) * g0
        if not target > 0:
            raise SkipCase("the target accuracy must be > 0 (grad f(theta0) = 0)")
        need = float(bounds.khaled_richtarik_corollary_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=target))
        T = _horizon(need, case.factor)
        gamma = float(bounds.khaled_richtarik_corollary_step(A=A, B=B, C=C, L=L, eps2=target, K=T))
        bias = AffineBias.zero(pr.d, exact=False)
        summ = _float_run(sc, bias, gamma, T)
        inst = RunInstance(L=L, delta0=delta0, A=A, B=B, C=C, alpha=gamma, T=T, grad_sq=summ.min_grad_sq, target_eps2=target)
        return inst, summ.abs_error, f"K = {T}, gamma = {gamma:.6g}, target = {target:.6g}"
    if not sc.bias.theta_independent:
        raise SkipCase("Corollary 1 cases use theta-independent errors (E[eps_t^2] known before the run)")
    level = float(_error_level(sc))
    if level <= 0:
        raise SkipCase("Corollary 1 needs E[eps^2] > 0")
    sched = sc.bias.schedule
    zeta, eta = float(case.zeta), float(case.eta)

    def need(e2: float) -> float:
        return float(bounds.corollary1_iterations(A=A, B=B, C=C, L=L, delta0=delta0, eps2=e2, zeta=zeta, eta=eta))

    uniform = claim_id == "paper.corollary1.uniform_accuracy"
    if sched.kind == "constant":
        e2 = level * float(sched.sigma) ** 2
        T = _horizon(need(e2), case.factor)
    elif sched.kind == "step":
        e2 = level * float(sched.sigma if uniform else sched.after) ** 2
        if e2 <= 0:
            raise SkipCase("E[eps_T^2] = 0: Corollary 1 needs eps^2 > 0")
        T = _horizon(need(e2), case.factor)
        sched = Schedule("step", sched.sigma, after=sched.after, at=T)
    else:
        if uniform:
            e2 = level * float(sched.value(0)) ** 2
            T = _horizon(need(e2), case.factor)
        else:
            T = _smallest_horizon(lambda t: level * float(sched.value(t)) ** 2, need, case.factor)
            e2 = level * float(sched.value(T)) ** 2
    alpha = float(bounds.corollary1_step(A=A, B=B, C=C, L=L, eps2=e2, zeta=zeta, eta=eta, T=T))
    fb = AffineBias(sc.bias.mode, rq.as_float(sc.bias.r), None, sched)
    summ = _float_run(sc, fb, alpha, T)
    eps2 = level * float(sched.value(0)) ** 2 if sched.kind == "constant" else level * sched.values(T + 1) ** 2
    inst = RunInstance(L=L, delta0=delta0, A=A, B=B, C=C, alpha=alpha, T=T, grad_sq=summ.min_grad_sq, eps2=eps2,
                       zeta=zeta, eta=eta)
    return inst, summ.abs_error, f"T = {T}, alpha = {alpha:.6g}, eps^2 used = {e2:.6g}, schedule {sched.kind}"


def _horizon(need: float, factor: Fraction) -> int:
    T = math.ceil(max(1.0, need * float(factor)))
    if not math.isfinite(need) or T > T_CAP:
        raise SkipCase(f"the prescribed horizon {need:.3g} x {float(factor)} exceeds {T_CAP}")
    return int(T)


def _smallest_horizon(eps_at: Any, need: Any, factor: Fraction) -> int:
    """Smallest :math:`T` (up to the cap) with :math:`T \\ge \\kappa\\,T(\\epsilon_T^2)` (bisection after doubling)."""
    T = 1
    while T <= SEARCH_STEPPING_MAX:
        if T >= float(factor) * need(eps_at(T)):
            break
        T *= 2
    else:
        raise SkipCase("no horizon T <= cap satisfies T >= T(E[eps_T^2]) for this decreasing schedule")
    lo, hi = T // 2, T
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= float(factor) * need(eps_at(mid)):
            hi = mid
        else:
            lo = mid
    return hi if hi >= float(factor) * need(eps_at(hi)) else T


def _float_run(sc: Scenario, bias: AffineBias, alpha: float, T: int) -> Any:
    _check_horizon(T, bias, False, sc.problem.d)
    eng = _engine(sc, bias, alpha, exact=False)
    summ = eng.run(T)
    if not summ.reliable:
        raise SkipCase("float64 overflow made a moment undefined")
    return summ


# ----------------------------------------------------------------------------------------------
# Remark 2


@dataclass(frozen=True)
class Remark2Case:
    r"""Remark 2: summable :math:`\sigma_t^2`, :math:`\zeta \ge 1/2`, and Corollary 1's step for each horizon :math:`T`.

    ``reading`` says which accuracy enters Corollary 1's step: ``"printed"``
    (:math:`\mathbb E[\epsilon_T^2]`) or ``"uniform"`` (:math:`\max_{t<T}\mathbb E[\epsilon_t^2]`). With
    :math:`b(\zeta) = 0` (:math:`\zeta = 1/2`, allowed as printed) and :math:`B > 0` the step is 0.
    """

    scenario: Scenario
    zeta: Fraction
    eta: Fraction
    source: str = "prop2"
    reading: str = "printed"

    kind = "remark2"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "scenario": self.scenario.to_json(), "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta),
                "source": self.source, "reading": self.reading}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Remark2Case":
        return cls(Scenario.from_json(obj["scenario"]), _fr(obj, "zeta"), _fr(obj, "eta"), obj.get("source", "prop2"),
                   obj.get("reading", "printed"))


REMARK2_EVIDENCE_T = (100, 1000, 10_000)
"""Horizons at which Remark 2 runs are evaluated as evidence for the limit."""

REMARK2_RECORD_T = 50
"""Horizon recorded in Remark 2's :class:`~theory.instances.RunInstance` (its step and observed minimum);
the claim itself reads only the limit, the accuracies and the parameters."""


def remark2_step(A: Any, B: Any, C: Any, L: Any, eps2: Any, zeta: Any, eta: Any, T: int) -> Any:
    r"""Corollary 1's step :math:`\min\{1/\sqrt{L\tilde AT}, b/(L\tilde B), \eta\zeta\epsilon^2/(2L(1+\eta)(C+\eta\epsilon^2))\}`, also at :math:`\zeta = 1/2`.

    (:func:`theory.bounds.corollary1_step` refuses :math:`\zeta = 1/2`; Remark 2 admits it.) An entry
    with a zero denominator is :math:`+\infty`; :math:`b(1/2) = 0` gives :math:`0` when :math:`B > 0`.
    """
    At = (1 + eta) / eta * A
    Bt = (1 + eta) / eta * B
    b = 1 - 1 / (2 * zeta)
    first = math.inf if At * T == 0 else 1 / math.sqrt(float(L * At * T))
    second = math.inf if Bt == 0 else float(b / (L * Bt))
    den = 2 * L * (1 + eta) * (C + eta * eps2)
    third = math.inf if den == 0 else float(eta * zeta * eps2 / den)
    return min(first, second, third)


def exact_horizon_limit(case: Remark2Case) -> tuple[Fraction, str, dict[str, float]]:
    r""":math:`\lim_{T\to\infty}\min_{t<T}\mathbb E\|\nabla f(\theta^{(T)}_t)\|^2` for Remark 2's family of runs, with its regime.

    With Corollary 1's step :math:`\alpha_T` (entries :math:`e_1 = 1/\sqrt{L\tilde AT}`, :math:`e_2 = b/(L\tilde B)`,
    :math:`e_3(T)`) and a summable, decreasing :math:`\sigma_t^2` (so :math:`T\sigma_T^2 \to 0`):

    * ``frozen``: :math:`e_2 = 0`, or the printed reading with :math:`C > 0` (then :math:`e_3(T) \sim \sigma_T^2`,
      :math:`T\alpha_T \to 0`): :math:`\|\Phi(\alpha_T)^t - I\| \le e^{cT\alpha_T} - 1 \to 0` for :math:`t \le T`,
      so the limit is :math:`\|\nabla f(\theta_0)\|^2` exactly;
    * ``converging``: :math:`\alpha_T \to 0`, :math:`T\alpha_T \to \infty` (:math:`e_1` active, :math:`\tilde A > 0`):
      on a convex quadratic with :math:`\theta`-independent errors vanishing in :math:`t`, the iterates follow
      the gradient flow with vanishing noise and bias, so the limit is 0;
    * ``constant``: :math:`\tilde A = 0` and :math:`\alpha_T \to \alpha_\infty > 0`: the limit is
      :math:`\inf_t` of one run with step :math:`\alpha_\infty`; it is 0 when that run has no sampling noise
      (then full-batch gradient descent with a stable step and vanishing bias converges); other
      cases are not decided here (:class:`SkipCase`).

    Returns ``(limit, regime, evidence)`` where evidence maps :math:`T` to the float64
    :math:`\min_{t<T}` of the run with step :math:`\alpha_T` (:data:`REMARK2_EVIDENCE_T`).
    """
    sc = case.scenario
    pr = sc.problem
    law = sc.sampling_law()
    if not sc.bias.theta_independent:
        raise SkipCase("Remark 2 cases use theta-independent errors")
    sched = sc.bias.schedule
    if not sched.summable or sched.kind not in ("geometric", "power"):
        raise SkipCase("Remark 2 needs a summable, strictly decreasing accuracy sequence (geometric or power)")
    level = _error_level(sc)
    if level == 0:
        raise SkipCase("Remark 2 with eps_t = 0 leaves Corollary 1's step undefined")
    try:
        A, B, C = lemma1_constants(pr, law, case.source)
    except ValueError as err:
        raise SkipCase(str(err)) from None
    L = pr.lipschitz()
    zeta, eta = case.zeta, case.eta
    b = 1 - 1 / (2 * zeta)
    g0 = pr.grad(sc.theta0).dot(pr.grad(sc.theta0))
    e2_of = (lambda T: level * sched.value(T, exact=sched.exact) ** 2) if case.reading == "printed" else (lambda T: level * sched.value(0, exact=sched.exact) ** 2)
    evidence: dict[str, float] = {}
    for T in REMARK2_EVIDENCE_T:
        a = remark2_step(float(A), float(B), float(C), float(L), float(e2_of(T)), float(zeta), float(eta), T)
        if a == 0.0 or not math.isfinite(a):
            evidence[str(T)] = float(g0)
            continue
        try:
            summ = _float_run(sc, AffineBias(sc.bias.mode, rq.as_float(sc.bias.r), None, sched), a, T)
            evidence[str(T)] = float(summ.min_grad_sq)
        except SkipCase:
            break
    if B > 0 and b == 0:
        return g0, "frozen (b(zeta) = 0: Corollary 1's step is 0)", evidence
    if case.reading == "printed" and C > 0:
        return g0, "frozen (printed reading, C > 0: T alpha_T -> 0)", evidence
    At = (1 + eta) / eta * A
    if At > 0:
        return Fraction(0), "converging (alpha_T ~ 1/sqrt(T), T alpha_T -> oo)", evidence
    sup = support_of(law)
    V = rq.as_exact(sup.vectors)
    noise_free = all(all(v == 1 for v in row) for row in V.tolist())
    if noise_free:
        return Fraction(0), "constant step, no sampling noise (full batch, vanishing bias)", evidence
    raise SkipCase("constant-step regime with sampling noise: the limit is not decided by this search")


def _remark2_instance(case: Remark2Case) -> tuple[RunInstance, str]:
    limit, regime, evidence = exact_horizon_limit(case)
    sc = case.scenario
    pr = sc.problem
    law = sc.sampling_law()
    A, B, C = lemma1_constants(pr, law, case.source)
    sched = sc.bias.schedule
    level = _error_level(sc)
    if not sched.exact:
        raise SkipCase("Remark 2 cases need an exact schedule (integer power or rational ratio)")
    T = REMARK2_RECORD_T
    eps2 = np.array([level * sched.value(t, exact=True) ** 2 for t in range(T + 1)], dtype=object)
    total = level * sched.square_sum_bound()
    L = pr.lipschitz()
    e2 = eps2[T] if case.reading == "printed" else eps2[0]
    alpha = remark2_step(float(A), float(B), float(C), float(L), float(e2), float(case.zeta), float(case.eta), T)
    g0 = pr.grad(sc.theta0).dot(pr.grad(sc.theta0))
    observed: Any = g0
    if 0.0 < alpha < math.inf:
        observed = rq.F(_float_run(sc, AffineBias(sc.bias.mode, rq.as_float(sc.bias.r), None, sched), alpha, T).min_grad_sq)
    inst = RunInstance(
        L=L, delta0=pr.value(sc.theta0) - pr.f_inf(), A=A, B=B, C=C, alpha=rq.F(alpha) if math.isfinite(alpha) else Fraction(0),
        T=T, grad_sq=observed, eps2=eps2, zeta=case.zeta, eta=case.eta, running_min_limit=limit, step_rule="horizon",
        eps2_sum=total,
    )
    ev = ", ".join(f"T={k}: {v:.3g}" for k, v in evidence.items())
    return inst, f"regime: {regime}; min_(t<T) at alpha_T: {ev}"


# ----------------------------------------------------------------------------------------------
# Ehrhardt & Roberts


@dataclass(frozen=True)
class ErrorBoundPoint:
    """A point of [9]'s a-posteriori bound (:class:`~validation.engine.bilevel_quadratic.ErrorBoundCase`)."""

    case: ErrorBoundCase

    kind = "error_bound"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, **self.case.to_json()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ErrorBoundPoint":
        return cls(ErrorBoundCase.from_json(obj))


# ----------------------------------------------------------------------------------------------
# dispatch


CASE_TYPES = {c.kind: c for c in (PointCase, RunCase, CorollaryCase, Remark2Case, ErrorBoundPoint)}
"""Case classes by their JSON ``type``."""

CLAIM_CASE_TYPE = {
    "paper.lemma1": "point", "kr.prop2": "point", "kr.prop3": "point", "paper.remark1.prop2": "point",
    "paper.remark1.prop3": "point", "paper.lemma2": "point", "paper.lemma3": "point", "paper.prop1.eq8": "point",
    "paper.prop1.eq9": "point", "demidovich.assumption9.inner": "point", "demidovich.assumption9.second_moment": "point",
    "paper.theorem1": "run", "paper.theorem1.from_source": "run", "kr.theorem": "run", "demidovich.theorem3": "run",
    "paper.corollary1": "corollary", "paper.corollary1.uniform_accuracy": "corollary", "kr.corollary": "corollary",
    "paper.remark2": "remark2", "ehrhardt_roberts.a_posteriori": "error_bound",
}
"""Which case type each claim of :data:`theory.claims.CLAIMS` is searched with."""

FINITE_SUM_CLAIMS = ("paper.lemma1", "kr.prop2", "kr.prop3", "paper.remark1.prop2", "paper.remark1.prop3")


def case_from_json(obj: dict[str, Any]) -> Any:
    """Rebuild a case from its JSON form.

    Raises
    ------
    ValueError
        For an unknown or malformed case.
    """
    if not isinstance(obj, dict) or obj.get("type") not in CASE_TYPES:
        raise ValueError(f"a case must be an object with 'type' in {sorted(CASE_TYPES)}; got {str(obj)[:80]!r}")
    try:
        return CASE_TYPES[obj["type"]].from_json(obj)
    except (KeyError, TypeError, ZeroDivisionError) as err:
        raise ValueError(f"malformed {obj['type']} case: {err}") from None


def evaluate(claim_id: str, case: Any, *, exact: bool = False) -> Trial:
    """Build ``claim_id``'s instance from ``case`` and check it (exact rationals or float64).

    Raises
    ------
    SkipCase
        When the case cannot be evaluated (reported as skipped by the search).
    ValueError
        For a claim id without a case type, or a case of the wrong type.
    """
    claim = CLAIMS.get(claim_id)
    if claim is None or claim_id not in CLAIM_CASE_TYPE:
        raise ValueError(f"no search case type for claim {claim_id!r}")
    want = CLAIM_CASE_TYPE[claim_id]
    if getattr(case, "kind", None) != want:
        raise ValueError(f"claim {claim_id} is searched with {want} cases; got {getattr(case, 'kind', type(case).__name__)}")
    with np.errstate(over="ignore", under="ignore"):
        return _evaluate(claim, want, case, exact)


def _evaluate(claim: Claim, want: str, case: Any, exact: bool) -> Trial:
    claim_id = claim.id
    cj = case.to_json()
    if want == "point":
        if claim_id in FINITE_SUM_CLAIMS:
            inst = _point_finite_sum(case, exact)
        else:
            inst = _point_oracle(case, exact, claim_id)
        return _verdict(claim, claim.check(inst), cj, exact)
    if want == "run":
        inst, err, note = _run_instance(claim_id, case, exact)
        return _verdict(claim, claim.check(inst), cj, exact, err, note)
    if want == "corollary":
        if exact:
            raise SkipCase("corollary cases have irrational steps (1/sqrt(L A T)); they are checked in float64")
        inst, err, note = _corollary_run(claim_id, case)
        return _verdict(claim, claim.check(inst), cj, False, err, note)
    if want == "remark2":
        inst, note = _remark2_instance(case)
        return _verdict(claim, claim.check(inst), cj, True, 0.0, note)
    inst = case.case.instance(exact=exact)
    return _verdict(claim, claim.check(inst), cj, exact)
