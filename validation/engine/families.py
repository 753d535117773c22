r"""Case families: how the cases of a claim are built, searched and evaluated into observables.

A family is data (which constants, which axes, which regimes) plus generic code; it never looks at a
claim's id. A claim names its family in its unit (:mod:`validation.engine.claims`), and the family
reads whatever it needs from the claim's statements (largest step, prescribed step and horizon).

=================  ==========================================================================  =========================
family             a case                                                                       observables
=================  ==========================================================================  =========================
:class:`PointFamily`    one :math:`\theta` of a scenario (problem, law, error law)                   sides of Lemmas 1-3, Prop. 1
:class:`RunFamily`      an ISGD run, constant step = a fraction of the claim's largest step           Theorem 1, [18], [5, Thm 3]
:class:`HorizonFamily`  a run with the horizon and step a corollary prescribes                         Corollary 1, [18]'s corollary
:class:`LimitFamily`    a family of runs indexed by :math:`T` under a step policy, :math:`T\to\infty`  Remark 2
:class:`ErrorFamily`    one point of a quadratic bilevel problem with truncated solvers               [9]'s a-posteriori bound
=================  ==========================================================================  =========================

Every family has *regimes* (:class:`Regime`): named restrictions of its axes that make one additive
term of a bound dominate (short horizons with exact gradients: the initial gap; long horizons with a
constant step: the noise terms; a constant error held fixed: the accuracy floor; errors switched off
at the horizon: the accuracy read at index :math:`T`), so that the search attacks every term.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import sympy as sp

from theory.instances import OracleInstance

from . import describe as dsc
from . import rational as rq
from .bilevel_quadratic import ErrorBoundCase
from .statement import O, Reading, Statement, _exact, _numeric, substitute
from .exact import EXACT_VARYING_MAX, FULL_SEQUENCE_MAX, AffineBias, MomentEngine, Schedule, support_of
from .problems import BIAS_KINDS, LAW_KINDS, Picker, Scenario, _rotation, make_scenario
from .quadratic_abc import lemma1_constants, minimal_C, minimal_c, quadratic_forms
from .stationary import deviation_radius, infimum, stationary_point

logger = logging.getLogger(__name__)

__all__ = [
    "SkipCase",
    "Regime",
    "Outcome",
    "PointFamily",
    "RunFamily",
    "HorizonFamily",
    "LimitFamily",
    "ErrorFamily",
    "PointCase",
    "RunCase",
    "HorizonCase",
    "LimitCase",
    "ErrorCase",
    "T_CAP",
    "EXACT_T_BY_DIM",
]

T_CAP = 10_000_000
"""Largest horizon evaluated (float64, piecewise-constant schedules)."""

SEARCH_STEPPING_MAX = 20_000
"""Largest horizon searched with a schedule evaluated step by step (power schedules)."""

HORIZON_CAP = 2_000_000
"""Largest prescribed horizon of a corollary case (longer prescriptions are skipped)."""

EXACT_T_BY_DIM = {1: 3000, 2: 1000, 3: 400}
"""Largest horizon evaluated in exact rational arithmetic, by dimension of :math:`\\theta`."""

HALF = Fraction(1, 2)
ZETAS = (Fraction(1), Fraction(51, 100), Fraction(3, 4), Fraction(2), Fraction(10), HALF, Fraction(1, 10))
ETAS = (Fraction(1), Fraction(1, 10), Fraction(1, 2), Fraction(2), Fraction(10))
ZETAS_OVER_HALF = tuple(z for z in ZETAS if z > HALF)
STEPS = (Fraction(1), Fraction(1, 2), Fraction(9, 10), Fraction(1, 10), Fraction(3, 2), Fraction(2), Fraction(4))
HORIZONS = (14, 1, 2, 5, 50, 200, 1000, 10_000, 100_000, 1_000_000, 10_000_000)
SOURCES = ("prop2", "derived", "prop3", "fitted")
FIT_A = (Fraction(1), Fraction(0), Fraction(2), Fraction(1, 2), Fraction(4), Fraction(10))
FIT_B = (Fraction(0), Fraction(1, 2), Fraction(1), Fraction(2), Fraction(4), Fraction(10), Fraction(100), Fraction(10**4))
B9S = (HALF, Fraction(1, 4), Fraction(3, 4), Fraction(1), Fraction(9, 10))
FACTORS = (Fraction(1), Fraction(2), Fraction(10))
SHRINK_HORIZONS = (1, 2, 3, 4, 5, 7, 10, 14, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 3000)


class SkipCase(Exception):
    """A case that cannot be built or evaluated (reported as skipped by the search, with the reason)."""


@dataclass(frozen=True)
class Regime:
    """A named restriction of a family's axes (``fix`` maps an axis to its allowed options)."""

    name: str
    text: str
    fix: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass
class Outcome:
    """Observable values of a case (names of :data:`validation.engine.statement.O`), with provenance.

    ``skip`` says why this reading could not be decided on the case (the other readings still can).
    """

    values: dict[str, Any]
    exact: bool
    abs_error: float = 0.0
    note: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    skip: str | None = None


class _Chooser:
    """Axis values for one case: the family's restrictions first (a claim's own scope), then a fixed
    value, then a regime's options, then the axis's options."""

    def __init__(self, pk: Picker, fix: Mapping[str, Any], regime: Regime | None, base: Mapping[str, Any] | None = None) -> None:
        self.pk, self.fix, self.regime, self.base = pk, dict(fix), regime, dict(base or {})

    def __call__(self, name: str, options: Sequence[Any]) -> Any:
        if name in self.base:
            return self.pk.pick(tuple(self.base[name]))
        if name in self.fix:
            return self.fix[name]
        if self.regime is not None and name in self.regime.fix:
            return self.pk.pick(tuple(self.regime.fix[name]))
        return self.pk.pick(tuple(options))


def _fr_json(x: Any) -> Any:
    return None if x is None else rq.encode(rq.F(x))


def _fr(obj: Mapping[str, Any], key: str) -> Fraction | None:
    v = obj.get(key)
    return None if v is None else rq.F(v)


def _num(x: Any, exact: bool) -> Any:
    if x is None:
        return None
    if exact:
        return x if isinstance(x, sp.Basic) else rq.F(x)
    return float(x) if not isinstance(x, sp.Basic) else float(sp.N(x, 30))


def _available_source(sc: Scenario, source: str) -> str:
    if source != "prop3":
        return source
    try:
        sc.sampling_law().prop3_constants(sc.problem.smoothness(), Fraction(0))
    except ValueError:
        return "derived"
    return source


def _fit_pair(sc: Scenario, A: Fraction, inexact: bool) -> tuple[Fraction, Fraction] | None:
    """Given :math:`A`, the smallest :math:`B` of :data:`FIT_B` for which some :math:`C` makes the ABC inequality hold for all :math:`\\theta`."""
    forms = quadratic_forms(sc.problem, sc.sampling_law(), sc.bias)
    for B in FIT_B:
        if minimal_C(forms, A, B, inexact=inexact) is not None:
            return A, B
    return None


def _fit_b(sc: Scenario, b: Fraction) -> Fraction | None:
    """The largest of ``b, b/2, b/4, ...`` with a finite smallest :math:`c` ([5, Assumption 9])."""
    forms = quadratic_forms(sc.problem, sc.sampling_law(), sc.bias)
    for k in range(11):
        if minimal_c(forms, b / 2**k) is not None:
            return b / 2**k
    return None


def _pick_source(ch: _Chooser, sc: Scenario, sources: Sequence[str]) -> tuple[str, Any, Any]:
    source = _available_source(sc, ch("source", sources))
    if source == "fitted":
        fit = _fit_pair(sc, ch("fitA", FIT_A), inexact=False)
        if fit is not None:
            return source, fit[0], fit[1]
        source = "derived"
    return source, None, None


def _lemma1(sc: Scenario, source: str, A: Any, B: Any) -> tuple[Fraction, Fraction, Fraction]:
    try:
        return lemma1_constants(sc.problem, sc.sampling_law(), source, A=A, B=B)
    except ValueError as err:
        raise SkipCase(str(err)) from None


def _restart(sc: Scenario, theta0: Any) -> Scenario:
    return Scenario(sc.problem, sc.law, sc.bias, theta0, sc.origin)


def _rescale_bias(sc: Scenario, k: Fraction) -> Scenario:
    bias = sc.bias
    nb = AffineBias(bias.mode, bias.r * k, None if bias.P is None else bias.P * k, bias.schedule)
    origin = dict(sc.origin)
    origin["bias"] = f"{origin.get('bias', bias.mode)} x {k}"
    return Scenario(sc.problem, sc.law, nb, sc.theta0, origin)


def _biased_start(sc: Scenario) -> Scenario:
    r"""The scenario started where the mean error balances the gradient, :math:`\nabla f(\theta_0) = -\mathbb E_v e_v`
    (the fixed point of the mean dynamics for :math:`\theta`-independent errors at :math:`\sigma = 1`), when it exists."""
    sup = support_of(sc.sampling_law())
    _, rk = sc.bias.outcome_maps(sup, sc.problem.m, exact=True)
    p = rq.as_exact(sup.probs)
    ebar = sum((pk * r for pk, r in zip(p.tolist(), rk)), np.full(sc.problem.d, Fraction(0), dtype=object))
    pr = sc.problem
    th = rq.solve(pr.Q_mean, -pr.b_mean - ebar)
    if th is None or all(e == 0 for e in (pr.grad(th)).tolist()):
        return sc
    return _restart(sc, th)


def _with_schedule(sc: Scenario, sched: Schedule) -> Scenario:
    return Scenario(sc.problem, sc.law, sc.bias.with_schedule(sched), sc.theta0, sc.origin)


def _schedule(ch: _Chooser, kinds: Sequence[str], horizon: int | None) -> Schedule:
    kind = ch("schedule", kinds)
    if kind == "constant":
        return Schedule("constant", Fraction(1))
    if kind == "geometric":
        return Schedule("geometric", Fraction(1), rho=ch("rho", (Fraction(9, 10), HALF, Fraction(99, 100))))
    if kind == "power":
        return Schedule("power", Fraction(1), p=ch("p", (1, 2)))
    at = horizon if horizon is not None else ch("at", (5, 10, 20, 50))
    return Schedule("step", Fraction(1), after=ch("after", (Fraction(1, 10), Fraction(0), HALF)), at=int(at))


def _error_level(sc: Scenario) -> Fraction:
    r""":math:`\mathbb E_v\|r_v\|^2` for :math:`\theta`-independent errors at :math:`\sigma = 1`."""
    sup = support_of(sc.sampling_law())
    _, rk = sc.bias.outcome_maps(sup, sc.problem.m, exact=True)
    p = rq.as_exact(sup.probs)
    return sum((pk * r.dot(r) for pk, r in zip(p.tolist(), rk)), Fraction(0))


def _engine(sc: Scenario, bias: AffineBias, alpha: Any, exact: bool) -> MomentEngine:
    law = sc.sampling_law()
    if exact:
        return MomentEngine(sc.problem, law, bias, rq.F(alpha), sc.theta0, exact=True)
    fb = AffineBias(bias.mode, rq.as_float(bias.r), None if bias.P is None else rq.as_float(bias.P), bias.schedule)
    sup = support_of(law)
    from theory.sampling import Support

    fsup = Support(rq.as_float(sup.vectors), rq.as_float(sup.probs))
    return MomentEngine(sc.problem.to_float(), fsup, fb, float(alpha), rq.as_float(sc.theta0), exact=False)


def _check_horizon(T: int, bias: AffineBias, exact: bool, d: int) -> None:
    if exact and T > EXACT_T_BY_DIM[d]:
        raise SkipCase(f"exact moments up to T = {T} are too costly (limit {EXACT_T_BY_DIM[d]} for d = {d})")
    if exact and bias.schedule.segments(T + 1) is None and T > EXACT_VARYING_MAX:
        raise SkipCase(f"exact moments with a {bias.schedule.kind} schedule up to T = {T} are too costly (limit {EXACT_VARYING_MAX})")
    if T > T_CAP:
        raise SkipCase(f"horizon T = {T} exceeds {T_CAP}")
    if not exact and bias.schedule.segments(T + 1) is None and bias.schedule.kind != "geometric" and T > SEARCH_STEPPING_MAX:
        raise SkipCase(f"horizon T = {T} with a {bias.schedule.kind} schedule exceeds {SEARCH_STEPPING_MAX}")


def _run(sc: Scenario, bias: AffineBias, alpha: Any, T: int, exact: bool, checkpoints: Sequence[int] = ()) -> Any:
    _check_horizon(T, bias, exact, sc.problem.d)
    try:
        eng = _engine(sc, bias, alpha, exact)
    except ValueError as err:
        raise SkipCase(str(err)) from None
    summ = eng.run(T, checkpoints=checkpoints)
    if not summ.reliable:
        raise SkipCase("float64 overflow made a moment undefined")
    return summ


def _B_solver(expr: Any) -> Any:
    """The expression of :math:`B` that makes ``expr`` (a largest step in :math:`B`) equal :math:`\\alpha`."""
    sols = sp.solve(sp.Eq(expr, O.alpha), O.B)
    if len(sols) != 1:
        return None
    return sols[0]


_B_SOLVERS: dict[Any, Any] = {}


def _step_and_B(stmt: Statement, values: dict[str, Any], step: Fraction) -> tuple[Fraction, Fraction]:
    r"""The step :math:`\alpha = \mathtt{step}\times` the statement's largest step, and :math:`B`.

    When the largest step is :math:`+\infty` (e.g. :math:`B = 0`), :math:`\alpha = \mathtt{step}/L` and
    :math:`B` becomes the largest :math:`B' \ge B` at which :math:`\alpha` is still admissible: any
    :math:`B' \ge B` satisfies Lemma 1 / [5, Assumption 9] and the bounds do not depend on :math:`B`.
    """
    expr = stmt.prescriptions["alpha_max"]
    amax = _exact(expr, values)
    if amax.is_finite and amax.is_positive:
        if step > 1:
            raise SkipCase("steps above the largest admissible one are tried only where that bound is infinite")
        return step * rq.F(amax), values["B"]
    if amax.is_finite and not amax.is_positive:
        raise SkipCase(f"the largest admissible step is {amax}: no step satisfies the hypothesis")
    alpha = step / rq.F(values["L"])
    if expr not in _B_SOLVERS:
        _B_SOLVERS[expr] = _B_solver(expr)
    sol = _B_SOLVERS[expr]
    if sol is None:
        raise SkipCase("the largest step is infinite and cannot be made finite through B")
    vals = dict(values)
    vals["alpha"] = alpha
    B = _exact(sol, vals)
    if not (B.is_finite and B.is_positive):
        raise SkipCase("no admissible B for the step")
    return alpha, rq.F(B)


# ----------------------------------------------------------------------------------------------
# one point


@dataclass(frozen=True)
class PointCase:
    """One :math:`\\theta` of a scenario, with :math:`\\zeta, \\eta` and the source of Lemma 1's constants."""

    scenario: Scenario
    theta: Any
    zeta: Fraction
    eta: Fraction
    source: str = "prop2"
    A: Fraction | None = None
    B: Fraction | None = None
    regime: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"family": "point", "scenario": self.scenario.to_json(), "theta": rq.encode(rq.as_exact(self.theta)),
                "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta), "source": self.source, "A": _fr_json(self.A),
                "B": _fr_json(self.B), "regime": self.regime}


def _oracle_arrays(sc: Scenario, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(probs (K,), grad_fv (K, d), errors (K, d))`` at ``theta`` (errors at :math:`\\sigma_0`)."""
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


@dataclass(frozen=True)
class PointFamily:
    """One point :math:`\\theta` of a quadratic finite sum: oracle moments, Lemma 1 and [18] constants."""

    biases: tuple[str, ...] = BIAS_KINDS + ("bilevel",)
    sources: tuple[str, ...] = SOURCES
    laws: tuple[str, ...] = LAW_KINDS
    zetas: tuple[Fraction, ...] = ZETAS
    etas: tuple[Fraction, ...] = ETAS
    regimes: tuple[Regime, ...] = (
        Regime("exact oracle", "exact hypergradients (e_v = 0): the sampling noise alone", {"bias": ("zero",)}),
        Regime("constant error", "errors independent of theta", {"bias": ("constant", "component")}),
        Regime("affine error", "errors affine in theta", {"bias": ("affine", "component_affine", "outcome_affine")}),
        Regime("bilevel solver error", "errors of truncated lower-level and adjoint solvers", {"bias": ("bilevel",)}),
    )

    kind = "point"
    cost = 1.0
    """Relative time a case of this family takes (the search shares its time limit by it)."""

    def axes(self) -> dict[str, tuple[Any, ...]]:
        return {"law": self.laws, "bias": self.biases, "zeta": self.zetas, "eta": self.etas}

    def build(self, pk: Picker, stmt: Statement, fix: Mapping[str, Any], regime: Regime | None = None) -> PointCase:
        ch = _Chooser(pk, fix, regime)
        bias_kind = ch("bias", self.biases)
        problem_kind = "bilevel" if bias_kind == "bilevel" else ch("problem", ("commuting", "general", "interpolating", "bilevel"))
        sc = make_scenario(pk, problem_kind=problem_kind, law_kind=ch("law", self.laws),
                           bias_kind=None if bias_kind == "bilevel" else bias_kind)
        theta = np.array([pk.small() for _ in range(sc.problem.d)], dtype=object)
        source, A, B = _pick_source(ch, sc, self.sources)
        return PointCase(sc, theta, ch("zeta", self.zetas), ch("eta", self.etas), source, A, B,
                         regime.name if regime else "")

    def from_json(self, obj: Mapping[str, Any]) -> PointCase:
        return PointCase(Scenario.from_json(obj["scenario"]), rq.decode(obj["theta"]), _fr(obj, "zeta"), _fr(obj, "eta"),
                         obj.get("source", "prop2"), _fr(obj, "A"), _fr(obj, "B"), obj.get("regime", ""))

    def evaluate(self, case: PointCase, readings: Sequence[Reading], exact: bool) -> dict[str, Outcome]:
        names: set[str] = set()
        for r in readings:
            names |= r.statement.free_names()
        values = self.values(case, names, exact)
        out = Outcome(values, exact)
        return {r.key: out for r in readings}

    def values(self, case: PointCase, names: set[str], exact: bool) -> dict[str, Any]:
        """The observables ``names`` at the case's point (exact or float64)."""
        sc = case.scenario
        pr = sc.problem
        law = sc.sampling_law()
        theta = rq.as_exact(case.theta)
        probs, grads, errs = _oracle_arrays(sc, theta)
        if exact:
            inst = OracleInstance(probs=probs, grad_fv=grads, errors=errs)
        else:
            inst = OracleInstance(probs=rq.as_float(probs), grad_fv=rq.as_float(grads), errors=rq.as_float(errs))
        vals: dict[str, Any] = {}
        getters = {
            O.grad_sq.name: lambda: inst.grad_sq,
            O.inner_bias.name: lambda: inst.inner_bias,
            O.inner_z.name: lambda: inst.inner_z,
            O.mean_error_norm.name: lambda: inst.mean_error_norm,
            O.eps2.name: lambda: inst.eps2,
            O.second_moment.name: lambda: inst.second_moment,
            O.second_moment_z.name: lambda: inst.second_moment_z,
            O.f_gap.name: lambda: pr.value(theta) - pr.f_inf(),
            O.delta_inf.name: lambda: pr.delta_inf(),
            O.zeta.name: lambda: case.zeta,
            O.eta.name: lambda: case.eta,
            O.A_prop2.name: lambda: law.prop2_constants(pr.smoothness(), pr.delta_inf()).A,
        }
        for n in names:
            if n in getters:
                vals[n] = _num(getters[n](), exact)
        if names & {O.A.name, O.B.name, O.C.name}:
            A, B, C = _lemma1(sc, case.source, case.A, case.B)
            vals.update({O.A.name: _num(A, exact), O.B.name: _num(B, exact), O.C.name: _num(C, exact)})
        if names & {O.A_row.name, O.B_row.name}:
            try:
                row = law.prop3_constants(pr.smoothness(), pr.delta_inf())
            except ValueError as err:
                raise SkipCase(f"no [18, Proposition 3] row for this law: {err}") from None
            vals.update({O.A_row.name: _num(row.A, exact), O.B_row.name: _num(row.B, exact)})
        return vals

    def neighbours(self, case: PointCase) -> list[PointCase]:
        sc = case.scenario
        out = [replace(case, theta=case.theta * 2), replace(case, theta=case.theta / 2)]
        if not sc.bias.is_zero:
            out += [replace(case, scenario=_rescale_bias(sc, k)) for k in (Fraction(2), HALF, Fraction(0))]
        out += [replace(case, zeta=z) for z in self.zetas if z != case.zeta]
        out += [replace(case, eta=e) for e in self.etas if e != case.eta]
        return out

    def simplify(self, case: PointCase) -> Iterator[PointCase]:
        return iter(())

    def size(self, case: PointCase) -> tuple[int, ...]:
        return (0, case.scenario.problem.m, case.scenario.problem.d)

    def describe(self, case: PointCase, values: Mapping[str, Any]) -> list[str]:
        lines = dsc.scenario_lines(case.scenario)[:-1]
        lines.append(f"- point: $\\theta = {dsc.vec(case.theta)}$; $\\zeta = {dsc.num(case.zeta)}$, $\\eta = {dsc.num(case.eta)}$")
        consts = dsc.values_line(dict(values), [("A", "A"), ("B", "B"), ("C", "C")])
        if consts:
            lines.append(f"- Lemma 1 constants ({_source_text(case.source)}): {consts}")
        return lines


def _source_text(source: str) -> str:
    return {"prop2": "[18, Proposition 2]", "prop3": "the law's row of [18, Proposition 3]",
            "derived": "the law's exact second moment", "fitted": "fitted: smallest C for the given A, B"}.get(source, source)


# ----------------------------------------------------------------------------------------------
# runs


@dataclass(frozen=True)
class RunCase:
    r"""An ISGD run: scenario, horizon :math:`T`, step as a fraction of the claim's largest step, parameters."""

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
    regime: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"family": "run", "scenario": self.scenario.to_json(), "T": int(self.T), "step": _fr_json(self.step),
                "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta), "source": self.source, "A": _fr_json(self.A),
                "B": _fr_json(self.B), "b": _fr_json(self.b), "A9": _fr_json(self.A9), "B9": _fr_json(self.B9),
                "regime": self.regime}

    def with_T(self, T: int) -> "RunCase":
        """The same case with horizon ``T`` (a schedule that switches at the horizon moves with it)."""
        sc = self.scenario
        sched = sc.bias.schedule
        if sched.kind == "step" and sched.at == self.T:
            sc = _with_schedule(sc, Schedule("step", sched.sigma, after=sched.after, at=int(T)))
        return replace(self, scenario=sc, T=int(T))


RUN_REGIMES = (
    Regime("initial gap", "short horizons with exact gradients: the initial-gap term (the delta0/(alpha T) term) dominates",
           {"bias": ("zero",), "T": (20, 50, 14, 100, 200, 5), "step": (Fraction(1), Fraction(3, 2), Fraction(2), Fraction(9, 10)),
            "problem": ("interpolating", "interpolating", "commuting"), "source": ("prop3", "derived"),
            "law": ("single_uniform", "heavy_tailed", "single_importance"), "m": (2, 3), "zeta": (Fraction(1), Fraction(2)),
            "eta": (Fraction(1), Fraction(2), Fraction(10)), "d": (1, 2)}),
    Regime("accuracy at the horizon", "errors switched off exactly at t = T: E[eps_T^2] is small while every earlier iterate "
           "carried the error", {"bias": ("constant", "component"), "schedule": ("step",), "after": (Fraction(0), Fraction(1, 10)),
                                 "T": (50, 200, 20, 1000, 10_000), "source": ("fitted",), "fitA": (Fraction(0),),
                                 "m": (1, 2), "scale": (Fraction(2), Fraction(1)), "step": (Fraction(1), HALF, Fraction(9, 10))}),
    Regime("noise", "long horizons, constant step, exact gradients: the noise term (the L alpha C term) dominates",
           {"bias": ("zero",), "T": (1000, 10_000, 100_000, 1_000_000, 10_000_000), "step": (Fraction(1), HALF, Fraction(1, 10)),
            "problem": ("commuting", "general")}),
    Regime("accuracy floor", "a constant error held fixed over a long horizon: the accuracy terms dominate",
           {"bias": ("constant", "component"), "schedule": ("constant",), "T": (1000, 10_000, 100_000, 1_000_000),
            "step": (Fraction(1, 10), HALF, Fraction(1)), "scale": (Fraction(2), Fraction(1), HALF)}),
    Regime("adversarial error", "an error affine in theta, constant in time (it can steer the iterates against the gradient)",
           {"bias": ("affine", "outcome_affine", "component_affine", "bilevel"), "schedule": ("constant",),
            "T": (50, 1000, 10_000, 100_000)}),
    Regime("decreasing accuracy", "errors decreasing geometrically or like a power of t",
           {"bias": ("constant", "component", "affine"), "schedule": ("geometric", "power"), "T": (14, 50, 200, 1000, 10_000)}),
    Regime("mixed", "every axis drawn at random", {}),
)
"""Regimes of run claims: each makes one additive term of the bound dominate."""


@dataclass(frozen=True)
class RunFamily:
    r"""ISGD runs with a constant step :math:`\alpha = \mathtt{step}\times` the claim's largest step.

    ``constants``: ``"lemma1"`` (Lemma 1's :math:`A, B, C` of the exact stochastic gradient, with
    :math:`\zeta, \eta`) or ``"assumption9"`` (exact global constants :math:`b, c, A, B, C` of
    [5, Assumption 9] for the inexact oracle: :math:`b` given with the smallest :math:`c`, :math:`A, B`
    given with the smallest :math:`C`). ``exact_gradients`` forces :math:`e_v = 0`. ``scope`` restricts
    axes for every case (a claim about, say, full-batch descent: ``{"law": ("tau_nice",), "m": (1,)}``).
    The claim's printed statement must prescribe ``alpha_max`` (its largest step, an expression).
    """

    constants: str = "lemma1"
    exact_gradients: bool = False
    zetas: tuple[Fraction, ...] | None = ZETAS_OVER_HALF
    etas: tuple[Fraction, ...] | None = ETAS
    regimes: tuple[Regime, ...] = RUN_REGIMES
    scope: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    kind = "run"
    cost = 6.0
    """Relative time a case of this family takes (the search shares its time limit by it)."""

    def axes(self) -> dict[str, tuple[Any, ...]]:
        return {"step": STEPS, "T": HORIZONS, "d": (1, 2, 3)}

    def build(self, pk: Picker, stmt: Statement, fix: Mapping[str, Any], regime: Regime | None = None) -> RunCase:
        ch = _Chooser(pk, fix, regime, self.scope)
        bias_kind = "zero" if self.exact_gradients else ch("bias", BIAS_KINDS + ("bilevel",))
        problem_kind = "bilevel" if bias_kind == "bilevel" else ch("problem", ("commuting", "general", "interpolating"))
        T = int(ch("T", HORIZONS))
        sched = _schedule(ch, ("constant", "step", "geometric", "power"), T)
        sc = make_scenario(pk, m=ch("m", (2, 1, 3, 4)), d=ch("d", (1, 2, 3)), problem_kind=problem_kind,
                           law_kind=ch("law", LAW_KINDS), bias_kind=None if bias_kind == "bilevel" else bias_kind,
                           schedule=sched, bias_scale=ch("scale", (Fraction(1), Fraction(1, 10), Fraction(2))))
        step = ch("step", STEPS)
        zeta = ch("zeta", self.zetas) if self.zetas else None
        eta = ch("eta", self.etas) if self.etas else None
        if self.constants == "assumption9":
            b = _fit_b(sc, ch("b", B9S))
            fit9 = _fit_pair(sc, ch("fitA9", FIT_A), inexact=True)
            if b is None or fit9 is None:
                raise SkipCase("no global Assumption 9 constants for this scenario")
            return RunCase(sc, T, step, zeta, eta, "fitted", None, None, b, fit9[0], fit9[1], regime.name if regime else "")
        source, A, B = _pick_source(ch, sc, SOURCES)
        return RunCase(sc, T, step, zeta, eta, source, A, B, regime=regime.name if regime else "")

    def from_json(self, obj: Mapping[str, Any]) -> RunCase:
        return RunCase(Scenario.from_json(obj["scenario"]), int(obj["T"]), _fr(obj, "step"), _fr(obj, "zeta"), _fr(obj, "eta"),
                       obj.get("source", "prop2"), _fr(obj, "A"), _fr(obj, "B"), _fr(obj, "b"), _fr(obj, "A9"), _fr(obj, "B9"),
                       obj.get("regime", ""))

    def _bias(self, case: RunCase) -> AffineBias:
        return AffineBias.zero(case.scenario.problem.d) if self.exact_gradients else case.scenario.bias

    def setup(self, case: RunCase, stmt: Statement) -> dict[str, Any]:
        """Exact constants and step of the case (everything but the run's moments)."""
        sc = case.scenario
        pr = sc.problem
        vals: dict[str, Any] = {O.L.name: pr.lipschitz(), O.delta0.name: pr.value(sc.theta0) - pr.f_inf(), O.T.name: Fraction(case.T)}
        if case.zeta is not None:
            vals[O.zeta.name] = case.zeta
        if case.eta is not None:
            vals[O.eta.name] = case.eta
        if self.constants == "assumption9":
            forms = quadratic_forms(pr, sc.sampling_law(), self._bias(case))
            c = minimal_c(forms, case.b)
            C = minimal_C(forms, case.A9, case.B9, inexact=True)
            if c is None or C is None:
                raise SkipCase(f"no global Assumption 9 constants with b = {case.b}, A = {case.A9}, B = {case.B9}")
            vals.update({O.b.name: case.b, O.c.name: c, O.A.name: case.A9, O.B.name: case.B9, O.C.name: C})
        else:
            A, B, C = _lemma1(sc, case.source, case.A, case.B)
            vals.update({O.A.name: A, O.B.name: B, O.C.name: C})
        alpha, B = _step_and_B(stmt, vals, case.step)
        if B != vals[O.B.name]:
            vals["B_given"] = vals[O.B.name]
        vals[O.alpha.name] = alpha
        vals[O.B.name] = B
        return vals

    def evaluate(self, case: RunCase, readings: Sequence[Reading], exact: bool) -> dict[str, Outcome]:
        vals = self.setup(case, readings[0].statement)
        summ = _run(case.scenario, self._bias(case), vals[O.alpha.name], case.T, exact)
        T = case.T
        vals.update({
            O.min_grad_sq.name: summ.min_grad_sq,
            O.eps2_T.name: summ.eps2_T,
            O.eps2_max.name: summ.eps2_max,
            O.eps2_avg.name: summ.eps2_sum / T,
        })
        vals = {k: _num(v, exact) for k, v in vals.items()}
        out = Outcome(vals, exact, float(summ.abs_error), f"argmin t = {summ.argmin}")
        return {r.key: out for r in readings}

    def curve(self, case: RunCase, readings: Sequence[Reading], horizons: Sequence[int]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(T, observed running minimum, {reading: right side})`` in float64 for the horizons (one run)."""
        setup = self.setup(case, readings[0].statement)
        Ts = np.array(sorted({int(T) for T in horizons if T >= 1}))
        bias = self._bias(case)
        eng = _engine(case.scenario, bias, setup[O.alpha.name], exact=False)
        _check_horizon(int(Ts[-1]), bias, False, case.scenario.problem.d)
        summ = eng.run(int(Ts[-1]), checkpoints=Ts.tolist(), keep_sequences=True)
        observed = np.asarray(summ.running_min, dtype=float)
        eps = np.asarray(summ.eps2, dtype=float)
        rhs = {r.key: np.empty(Ts.size) for r in readings}
        base = {k: float(v) for k, v in setup.items()}
        for j, T in enumerate(Ts.tolist()):
            vals = dict(base)
            vals.update({O.T.name: float(T), O.min_grad_sq.name: observed[j], O.eps2_T.name: eps[T],
                         O.eps2_max.name: float(np.max(eps[:T])), O.eps2_avg.name: float(np.mean(eps[:T]))})
            for r in readings:
                rhs[r.key][j] = _numeric(r.statement.rhs, vals)
        return Ts, observed, rhs

    def neighbours(self, case: RunCase) -> list[RunCase]:
        sc = case.scenario
        out = [replace(case, scenario=_restart(sc, sc.theta0 * k)) for k in (Fraction(2), HALF, Fraction(4))]
        if not sc.bias.is_zero and not self.exact_gradients:
            out += [replace(case, scenario=_rescale_bias(sc, k)) for k in (Fraction(2), HALF, Fraction(0))]
        if case.zeta is not None and self.zetas:
            out += [replace(case, zeta=z) for z in self.zetas if z != case.zeta]
        if case.eta is not None and self.etas:
            out += [replace(case, eta=e) for e in self.etas if e != case.eta]
        for T in (case.T * 10, case.T * 100, max(1, case.T // 10)):
            if T <= T_CAP and T != case.T:
                out.append(case.with_T(T))
        out += [replace(case, step=s) for s in STEPS if s != case.step]
        return out

    def simplify(self, case: RunCase) -> Iterator[RunCase]:
        """Shorter horizons first (a violation at a shorter horizon is simpler and can be confirmed exactly)."""
        for T in SHRINK_HORIZONS:
            if T >= case.T:
                break
            yield case.with_T(T)

    def size(self, case: RunCase) -> tuple[int, ...]:
        return (case.T, case.scenario.problem.m, case.scenario.problem.d)

    def describe(self, case: RunCase, values: Mapping[str, Any]) -> list[str]:
        sc = case.scenario
        lines = dsc.scenario_lines(sc)
        if self.exact_gradients and not sc.bias.is_zero:
            lines[2] = "- error law: exact gradients ($e_v = 0$; the claim is about unbiased SGD)"
        al = values.get(O.alpha.name)
        if "B_given" in values:
            why = (f"$= {dsc.num(case.step)}/L_{{\\nabla f}}$: with $B = {dsc.num(values['B_given'])}$ the step condition is void, and "
                   f"$B$ is raised to ${dsc.num(values.get(O.B.name))}$ (still valid: a larger $B$ only adds $B\\|\\nabla f\\|^2 \\ge 0$), "
                   "which makes this step the largest admissible one")
        else:
            why = f"$= {dsc.num(case.step)}\\times$ the largest admissible step"
        lines.append(f"- step policy: constant $\\alpha = {dsc.num(al)}$ ({why}), horizon $T = {case.T}$")
        par = dsc.values_line(dict(values), [("zeta", r"\zeta"), ("eta", r"\eta")])
        if par:
            lines.append(f"- parameters: {par}")
        what = "[5, Assumption 9] constants of the inexact oracle (exact, global)" if self.constants == "assumption9" else \
            f"Lemma 1 constants ({_source_text(case.source)})"
        names = [("A", "A"), ("B", "B"), ("C", "C"), ("b", "b"), ("c", "c"), ("L", "L_{\\nabla f}"), ("delta_0", r"\delta_0")]
        lines.append(f"- {what}: " + dsc.values_line(dict(values), names))
        return lines


# ----------------------------------------------------------------------------------------------
# prescribed horizons (corollaries)


@dataclass(frozen=True)
class HorizonCase:
    r"""A run whose horizon and step a corollary prescribes: :math:`T` the smallest integer :math:`T \ge T_{\mathrm{from}}`
    with :math:`T \ge \kappa\,T_{\min}` (the corollary holds for every such :math:`T`; ``T_from`` picks one)."""

    scenario: Scenario
    zeta: Fraction | None = None
    eta: Fraction | None = None
    source: str = "prop2"
    factor: Fraction = Fraction(1)
    target: Fraction | None = None
    regime: str = ""
    T_from: int = 1
    A: Fraction | None = None
    B: Fraction | None = None

    def to_json(self) -> dict[str, Any]:
        return {"family": "horizon", "scenario": self.scenario.to_json(), "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta),
                "source": self.source, "factor": _fr_json(self.factor), "target": _fr_json(self.target), "regime": self.regime,
                "T_from": int(self.T_from), "A": _fr_json(self.A), "B": _fr_json(self.B)}


_ACCURACIES = (O.eps2_T, O.eps2_max, O.eps2_avg, O.target)


def _accuracy_symbol(stmt: Statement) -> Any:
    syms = sp.sympify(stmt.prescriptions["T_min"]).free_symbols
    hit = [s for s in _ACCURACIES if s in syms]
    if len(hit) != 1:
        raise ValueError(f"a prescribed horizon must use exactly one accuracy among {[s.name for s in _ACCURACIES]}")
    return hit[0]


@dataclass(frozen=True)
class HorizonFamily:
    r"""Runs with the horizon :math:`T` and step a corollary prescribes (float64: the steps are irrational).

    Each reading prescribes ``T_min`` (a threshold in one accuracy observable) and ``alpha`` (in
    :math:`T` and that accuracy); :math:`\theta`-independent errors make the accuracy a known function
    of :math:`T`, so :math:`T` is the smallest integer with :math:`T \ge \kappa\,T_{\min}(\epsilon^2(T))`.
    With ``exact_gradients`` the accuracy is a ``target`` fraction of :math:`\|\nabla f(\theta_0)\|^2`.
    """

    exact_gradients: bool = False
    zetas: tuple[Fraction, ...] | None = (Fraction(1), Fraction(3, 4), Fraction(2), Fraction(51, 100), Fraction(10))
    etas: tuple[Fraction, ...] | None = ETAS
    regimes: tuple[Regime, ...] = (
        Regime("accuracy at the horizon", "large errors before the horizon, a small error at t = T (the printed index)",
               {"schedule": ("step",), "after": (HALF, Fraction(1, 4)), "start": ("biased",), "scale": (Fraction(2), Fraction(1)),
                "factor": (Fraction(1),), "source": ("fitted", "derived"), "fitA": (Fraction(0),), "m": (1, 2), "d": (1,)}),
        Regime("constant accuracy", "the accuracy is the same at every iterate", {"schedule": ("constant",)}),
        Regime("decreasing accuracy", "errors decreasing geometrically or like a power of t", {"schedule": ("geometric", "power")}),
    )

    kind = "horizon"
    cost = 4.0
    """Relative time a case of this family takes (the search shares its time limit by it)."""

    def axes(self) -> dict[str, tuple[Any, ...]]:
        if self.exact_gradients:
            return {"target": (HALF, Fraction(1, 10), Fraction(1, 100)), "law": LAW_KINDS, "factor": FACTORS}
        return {"schedule": ("constant", "step", "power", "geometric"), "law": LAW_KINDS, "factor": FACTORS}

    def build(self, pk: Picker, stmt: Statement, fix: Mapping[str, Any], regime: Regime | None = None) -> HorizonCase:
        ch = _Chooser(pk, fix, regime if not self.exact_gradients else None)
        if self.exact_gradients:
            sc = make_scenario(pk, m=ch("m", (2, 1, 3)), d=ch("d", (1, 2)), problem_kind=ch("problem", ("commuting", "general", "interpolating")),
                               law_kind=ch("law", LAW_KINDS), bias_kind="zero")
            return HorizonCase(sc, None, None, _available_source(sc, ch("source", ("prop2", "derived", "prop3"))),
                               ch("factor", FACTORS), ch("target", (HALF, Fraction(1, 10), Fraction(1, 100))))
        sched = _schedule(ch, ("constant", "step", "geometric", "power"), 1)
        sc = make_scenario(pk, m=ch("m", (2, 1, 3)), d=ch("d", (1, 2)), problem_kind=ch("problem", ("commuting", "general", "interpolating")),
                           law_kind=ch("law", LAW_KINDS), bias_kind=ch("bias", ("constant", "component")), schedule=sched,
                           theta_independent=True, bias_scale=ch("scale", (Fraction(1), HALF, Fraction(2))))
        start = ch("start", ("near", "far", "biased"))
        if start == "near":
            sc = _restart(sc, sc.problem.minimizer() + np.array([pk.small() / 4 for _ in range(sc.problem.d)], dtype=object))
        elif start == "biased":
            sc = _biased_start(sc)
        source, A, B = _pick_source(ch, sc, ("prop2", "derived", "prop3"))
        case = HorizonCase(sc, ch("zeta", self.zetas), ch("eta", self.etas), source, ch("factor", FACTORS),
                           regime=regime.name if regime else "", A=A, B=B)
        if sched.kind == "step":  # switch the error level exactly at the printed horizon, and look from there on
            T = self._horizon(replace(case, scenario=_with_schedule(sc, Schedule("step", sched.sigma, after=sched.after, at=0))), stmt)[0]
            case = replace(case, scenario=_with_schedule(sc, Schedule("step", sched.sigma, after=sched.after, at=T)), T_from=T)
        return case

    def from_json(self, obj: Mapping[str, Any]) -> HorizonCase:
        return HorizonCase(Scenario.from_json(obj["scenario"]), _fr(obj, "zeta"), _fr(obj, "eta"), obj.get("source", "prop2"),
                           _fr(obj, "factor") or Fraction(1), _fr(obj, "target"), obj.get("regime", ""), int(obj.get("T_from", 1)),
                           _fr(obj, "A"), _fr(obj, "B"))

    def _exact_constants(self, case: HorizonCase) -> dict[str, Fraction]:
        sc = case.scenario
        pr = sc.problem
        A, B, C = _lemma1(sc, case.source, case.A, case.B)
        vals = {O.L.name: pr.lipschitz(), O.delta0.name: pr.value(sc.theta0) - pr.f_inf(), O.A.name: A, O.B.name: B, O.C.name: C}
        if case.zeta is not None:
            vals[O.zeta.name] = case.zeta
        if case.eta is not None:
            vals[O.eta.name] = case.eta
        if self.exact_gradients:
            g0 = pr.grad(sc.theta0)
            target = case.target * g0.dot(g0)
            if not target > 0:
                raise SkipCase("the target accuracy must be > 0 (grad f(theta0) = 0)")
            vals[O.target.name] = target
        return vals

    def _constants(self, case: HorizonCase) -> dict[str, float]:
        return {k: float(v) for k, v in self._exact_constants(case).items()}

    def _exact_accuracy(self, case: HorizonCase, sym: Any, T: int, vals: Mapping[str, Any]) -> Fraction:
        if sym == O.target:
            return vals[O.target.name]
        level = _error_level(case.scenario)
        sched = case.scenario.bias.schedule
        if sym == O.eps2_T:
            return level * sched.value(T, exact=True) ** 2
        sq = [sched.value(t, exact=True) ** 2 for t in range(T)]
        return level * (max(sq) if sym == O.eps2_max else sum(sq, Fraction(0)) / T)

    def _accuracy(self, case: HorizonCase, sym: Any, T: int, vals: Mapping[str, float]) -> float:
        if sym == O.target:
            return vals[O.target.name]
        level = float(_error_level(case.scenario))
        sched = case.scenario.bias.schedule
        if sym == O.eps2_T:
            return level * float(sched.value(T)) ** 2
        if sched.kind == "constant":
            return level * float(sched.sigma) ** 2
        if T > FULL_SEQUENCE_MAX:
            raise SkipCase(f"the accuracy over T = {T} > {FULL_SEQUENCE_MAX} steps is not evaluated")
        s2 = sched.values(T) ** 2
        return level * float(np.max(s2) if sym == O.eps2_max else np.mean(s2))

    def _horizon(self, case: HorizonCase, stmt: Statement) -> tuple[int, dict[str, float]]:
        vals = self._constants(case)
        sym = _accuracy_symbol(stmt)
        kappa = float(case.factor)

        def need(T: int) -> float:
            v = dict(vals)
            v[sym.name] = self._accuracy(case, sym, T, vals)
            if not v[sym.name] > 0:
                return math.inf
            return kappa * _numeric(stmt.prescriptions["T_min"], v)

        T0 = max(1, int(case.T_from))
        if T0 >= need(T0):
            vals[sym.name] = self._accuracy(case, sym, T0, vals)
            return T0, vals
        T = T0
        while T < need(T):
            T *= 2
            if T > HORIZON_CAP:
                raise SkipCase(f"no horizon T <= {HORIZON_CAP} meets T >= kappa T_min")
        lo, hi = max(T0, T // 2), T
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if mid >= need(mid):
                hi = mid
            else:
                lo = mid
        T = hi if hi >= need(hi) else T
        vals[sym.name] = self._accuracy(case, sym, T, vals)
        return T, vals

    def evaluate(self, case: HorizonCase, readings: Sequence[Reading], exact: bool) -> dict[str, Outcome]:
        sc = case.scenario
        if not sc.bias.theta_independent:
            raise SkipCase("prescribed horizons need theta-independent errors (E[eps_t^2] known before the run)")
        if exact:
            return self._evaluate_exact(case, readings)
        runs: dict[tuple[float, int], Any] = {}
        out: dict[str, Outcome] = {}
        for r in readings:
            T, vals = self._horizon(case, r.statement)
            vals[O.T.name] = float(T)
            alpha = _numeric(r.statement.prescriptions["alpha"], vals)
            if not (alpha > 0 and math.isfinite(alpha)):
                raise SkipCase(f"the prescribed step is {alpha}")
            vals[O.alpha.name] = alpha
            key = (alpha, T)
            if key not in runs:
                bias = AffineBias.zero(sc.problem.d, exact=False) if self.exact_gradients else \
                    AffineBias(sc.bias.mode, rq.as_float(sc.bias.r), None, sc.bias.schedule)
                runs[key] = _run(sc, bias, alpha, T, False)
            summ = runs[key]
            vals.update({O.min_grad_sq.name: float(summ.min_grad_sq), O.eps2_T.name: float(summ.eps2_T),
                         O.eps2_max.name: float(summ.eps2_max), O.eps2_avg.name: float(summ.eps2_sum) / T})
            out[r.key] = Outcome(vals, False, float(summ.abs_error), f"T = {T}, alpha = {alpha:.6g}")
        return out

    def _evaluate_exact(self, case: HorizonCase, readings: Sequence[Reading]) -> dict[str, Outcome]:
        r"""Exact rationals when every prescribed step is rational (e.g. :math:`A = 0`, so :math:`1/\sqrt{LAT}` is inactive)
        and every horizon is short enough for exact moments."""
        sc = case.scenario
        base = self._exact_constants(case)
        runs: dict[tuple[Fraction, int], Any] = {}
        out: dict[str, Outcome] = {}
        for r in readings:
            st = r.statement
            sym = _accuracy_symbol(st)
            T = self._horizon(case, st)[0]
            for _ in range(3):  # the float search may sit one step below the exact threshold
                vals = dict(base)
                vals[sym.name] = self._exact_accuracy(case, sym, T, vals) if T <= EXACT_T_BY_DIM[sc.problem.d] else None
                if vals[sym.name] is None:
                    raise SkipCase(f"the prescribed horizon T = {T} is too long for exact moments")
                vals[O.T.name] = Fraction(T)
                need = _exact(case.factor * sp.sympify(st.prescriptions["T_min"]), vals)
                if not need.is_finite:
                    raise SkipCase("the prescribed horizon is infinite")
                if T >= need:
                    break
                T += 1
            alpha = _exact(st.prescriptions["alpha"], vals)
            if not (alpha.is_Rational and alpha > 0):
                raise SkipCase(f"the prescribed step {alpha} is not a positive rational: decided in float64")
            alpha = rq.F(alpha)
            vals[O.alpha.name] = alpha
            key = (alpha, T)
            if key not in runs:
                bias = AffineBias.zero(sc.problem.d) if self.exact_gradients else sc.bias
                runs[key] = _run(sc, bias, alpha, T, True)
            summ = runs[key]
            vals.update({O.min_grad_sq.name: summ.min_grad_sq, O.eps2_T.name: summ.eps2_T, O.eps2_max.name: summ.eps2_max,
                         O.eps2_avg.name: summ.eps2_sum / T})
            out[r.key] = Outcome(vals, True, 0.0, f"T = {T}, alpha = {alpha}")
        return out

    def neighbours(self, case: HorizonCase) -> list[HorizonCase]:
        sc = case.scenario
        out = [replace(case, scenario=_restart(sc, sc.theta0 * k)) for k in (Fraction(2), HALF, Fraction(4))]
        if not sc.bias.is_zero:
            out += [replace(case, scenario=_rescale_bias(sc, k)) for k in (Fraction(2), HALF)]
        out += [replace(case, factor=f) for f in FACTORS if f != case.factor]
        if case.zeta is not None and self.zetas:
            out += [replace(case, zeta=z) for z in self.zetas if z != case.zeta]
        return out

    def simplify(self, case: HorizonCase) -> Iterator[HorizonCase]:
        return iter(())

    def size(self, case: HorizonCase) -> tuple[int, ...]:
        return (0, case.scenario.problem.m, case.scenario.problem.d)

    def describe(self, case: HorizonCase, values: Mapping[str, Any]) -> list[str]:
        lines = dsc.scenario_lines(case.scenario)
        T, al = values.get(O.T.name), values.get(O.alpha.name)
        lines.append(f"- step policy: the corollary's prescription, $T = {int(T) if T is not None else '-'}$ "
                     f"(the smallest integer $T \\ge {case.T_from}$ with $T \\ge {dsc.num(case.factor)}\\,T_{{\\min}}$), "
                     f"$\\alpha = {dsc.num(al)}$")
        par = dsc.values_line(dict(values), [("zeta", r"\zeta"), ("eta", r"\eta"), ("target_eps2", r"\epsilon^2")])
        if par:
            lines.append(f"- parameters: {par}")
        names = [("A", "A"), ("B", "B"), ("C", "C"), ("L", "L_{\\nabla f}"), ("delta_0", r"\delta_0")]
        lines.append(f"- Lemma 1 constants ({_source_text(case.source)}): " + dsc.values_line(dict(values), names))
        return lines


# ----------------------------------------------------------------------------------------------
# limits T -> oo (step policies)


@dataclass(frozen=True)
class LimitCase:
    r"""A family of runs indexed by the horizon :math:`T` (step :math:`\alpha_T` from a policy), summable errors."""

    scenario: Scenario
    zeta: Fraction
    eta: Fraction
    source: str = "prop2"
    scale: Fraction = Fraction(1)
    regime: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"family": "limit", "scenario": self.scenario.to_json(), "zeta": _fr_json(self.zeta), "eta": _fr_json(self.eta),
                "source": self.source, "scale": _fr_json(self.scale), "regime": self.regime}


LIMIT_EVIDENCE_T = (100, 1000, 10_000)
"""Horizons at which the runs of a policy are evaluated (float64) as evidence next to the exact limit."""

_TT = sp.Symbol("T", positive=True)


def _eps_of_T(case: LimitCase) -> Any:
    r""":math:`\mathbb E[\epsilon_T^2]` as a sympy expression of :math:`T` (valid for large :math:`T`)."""
    sc = case.scenario
    if sc.bias.is_zero:
        return sp.Integer(0)
    level = sp.Rational(str(_error_level(sc)))
    s = sc.bias.schedule
    sig = sp.Rational(str(rq.F(s.sigma)))
    if s.kind == "geometric":
        return level * sig**2 * sp.Rational(str(rq.F(s.rho))) ** (2 * _TT)
    if s.kind == "power":
        return level * sig**2 / (_TT + 1) ** (2 * sp.Rational(str(rq.F(s.p))))
    if s.kind == "step":
        return level * sp.Rational(str(rq.F(s.after))) ** 2
    return level * sig**2


_subst = substitute


def _limit(expr: Any) -> Any:
    r""":math:`\lim_{T\to\infty}`, distributing a positive factor into a single Min/Max (sympy's limit does not see through them)."""
    e = sp.sympify(expr)
    if isinstance(e, sp.Mul):
        mm = [f for f in e.args if isinstance(f, (sp.Min, sp.Max))]
        if len(mm) == 1:
            rest = e / mm[0]
            if rest.is_positive or (rest.is_number and rest > 0) or _TT in rest.free_symbols:
                return _limit(type(mm[0])(*(a * rest for a in mm[0].args)))
    if isinstance(e, sp.Min):
        return sp.Min(*(_limit(a) for a in e.args))
    if isinstance(e, sp.Max):
        return sp.Max(*(_limit(a) for a in e.args))
    if _TT not in e.free_symbols:
        return e
    return sp.limit(e, _TT, sp.oo)


def _limit_value(v: Any, exact: bool) -> Any:
    """A value of a limit case: exact (Fraction or sympy number, ``oo``/``nan`` kept) or float64."""
    if isinstance(v, sp.Basic):
        if exact:
            return v
        return float(v) if v.is_finite else (math.inf if v == sp.oo else math.nan)
    return rq.F(v) if exact else float(v)


def _eventually_constant(expr: Any, lim: Any) -> bool:
    """True when ``expr`` (a Min of terms) equals its limit for all large T: a T-free term attains it, the others stay above."""
    e = sp.sympify(expr)
    args = e.args if isinstance(e, sp.Min) else (e,)
    const = [a for a in args if _TT not in a.free_symbols]
    moving = [a for a in args if _TT in a.free_symbols]
    if not any(sp.simplify(a - lim) == 0 for a in const):
        return False
    return all(bool((_limit(a) - lim).is_positive) for a in moving)


@dataclass(frozen=True)
class LimitFamily:
    r"""Remark-type claims about :math:`\lim_{T\to\infty}\min_{t<T}\mathbb E\|\nabla f(\theta^{(T)}_t)\|^2` under a step policy.

    Each reading prescribes ``alpha_T`` (an expression in :math:`T`, the accuracy :math:`\mathbb E[\epsilon_T^2]`
    and the constants). With the errors :math:`\theta`-independent and summable, :math:`\mathbb E[\epsilon_T^2]`
    has a closed form in :math:`T`, and the limit is decided by regime, exactly:

    * :math:`\alpha_T \to \alpha_\infty > 0`, eventually constant: the limit is :math:`\inf_t` of one run
      with step :math:`\alpha_\infty`, certified from the exact stationary moments
      (:func:`validation.engine.stationary.infimum`; errors that are eventually zero) -- float64
      evidence otherwise;
    * :math:`\alpha_T \to 0`, :math:`T\alpha_T \to 0`: the iterates are frozen,
      :math:`\|\Phi(\alpha_T)^t - I\| \le e^{cT\alpha_T} - 1 \to 0` for :math:`t \le T`, so the limit is
      :math:`\|\nabla f(\theta_0)\|^2`;
    * :math:`\alpha_T \to 0`, :math:`T\alpha_T \to \infty`: on a convex quadratic with vanishing errors the
      iterates follow the gradient flow with vanishing noise (the stationary second moment is
      :math:`O(\alpha_T)`, the transient :math:`e^{-\mu\alpha_TT}`), so the limit is 0.

    A prescription ``T_min`` (a premise :math:`T \ge T_{\min}(\mathbb E[\epsilon_T^2])`) gives the
    observable ``premise_ratio`` :math:`= \lim_T T_{\min}/T`.
    """

    zetas: tuple[Fraction, ...] = (HALF, Fraction(1), Fraction(3, 4), Fraction(2))
    etas: tuple[Fraction, ...] = ETAS
    regimes: tuple[Regime, ...] = (
        Regime("exact gradients", "no error at all (a summable sequence): the noise of the sampling alone", {"bias": ("zero",)}),
        Regime("errors switched off", "errors for t < t0, none afterwards", {"schedule": ("step",)}),
        Regime("geometric accuracy", "errors decreasing geometrically", {"schedule": ("geometric",)}),
        Regime("power accuracy", "errors decreasing like (t + 1)^-p, p >= 1", {"schedule": ("power",)}),
    )

    kind = "limit"
    cost = 3.0
    """Relative time a case of this family takes (the search shares its time limit by it)."""

    def axes(self) -> dict[str, tuple[Any, ...]]:
        return {"zeta": self.zetas, "source": ("prop2", "derived", "prop3"), "law": LAW_KINDS, "scale": (HALF, Fraction(1, 4))}

    def build(self, pk: Picker, stmt: Statement, fix: Mapping[str, Any], regime: Regime | None = None) -> LimitCase:
        ch = _Chooser(pk, fix, regime)
        bias_kind = ch("bias", ("constant", "component", "zero"))
        kind = ch("schedule", ("step", "geometric", "power"))
        if kind == "step":
            sched = Schedule("step", Fraction(1), after=Fraction(0), at=int(ch("at", (5, 10, 20))))
        elif kind == "geometric":
            sched = Schedule("geometric", Fraction(1), rho=ch("rho", (Fraction(9, 10), HALF)))
        else:
            sched = Schedule("power", Fraction(1), p=ch("p", (1, 2)))
        sc = make_scenario(pk, m=ch("m", (2, 1, 3)), d=ch("d", (1, 2)), problem_kind=ch("problem", ("commuting", "general", "interpolating")),
                           law_kind=ch("law", LAW_KINDS), bias_kind=bias_kind, schedule=sched, theta_independent=True)
        return LimitCase(sc, ch("zeta", self.zetas), ch("eta", self.etas),
                         _available_source(sc, ch("source", ("prop2", "derived", "prop3"))), ch("scale", (HALF, Fraction(1, 4))),
                         regime.name if regime else "")

    def from_json(self, obj: Mapping[str, Any]) -> LimitCase:
        return LimitCase(Scenario.from_json(obj["scenario"]), _fr(obj, "zeta"), _fr(obj, "eta"), obj.get("source", "prop2"),
                         _fr(obj, "scale") or Fraction(1), obj.get("regime", ""))

    def _constants(self, case: LimitCase) -> dict[str, Any]:
        sc = case.scenario
        pr = sc.problem
        A, B, C = _lemma1(sc, case.source, None, None)
        total = _error_level(sc) * (sc.bias.schedule.square_sum_bound() if not sc.bias.is_zero else Fraction(0))
        return {O.L.name: pr.lipschitz(), O.delta0.name: pr.value(sc.theta0) - pr.f_inf(), O.A.name: A, O.B.name: B,
                O.C.name: C, O.zeta.name: case.zeta, O.eta.name: case.eta, O.step_scale.name: case.scale,
                O.eps2_sum.name: total}

    def evaluate(self, case: LimitCase, readings: Sequence[Reading], exact: bool) -> dict[str, Outcome]:
        sc = case.scenario
        if not sc.bias.theta_independent:
            raise SkipCase("limit cases use theta-independent errors")
        if not sc.bias.is_zero and not sc.bias.schedule.summable:
            raise SkipCase("limit cases need summable errors")
        base = self._constants(case)
        g0 = sc.problem.grad(sc.theta0)
        a0 = g0.dot(g0)
        eps_T = _eps_of_T(case)
        out: dict[str, Outcome] = {}
        for r in readings:
            vals = dict(base)
            pres = r.statement.prescriptions
            sub = {s: sp.Rational(str(rq.F(vals[s.name]))) for s in sp.sympify(pres["alpha_T"]).free_symbols if s.name in vals}
            sub.update({O.eps2_T: eps_T, O.T: _TT})
            aT = _subst(pres["alpha_T"], sub)
            if "T_min" in pres:
                tsub = {s: sp.Rational(str(rq.F(vals[s.name]))) for s in sp.sympify(pres["T_min"]).free_symbols if s.name in vals}
                tsub.update({O.eps2_T: eps_T, O.T: _TT})
                tmin = _subst(pres["T_min"], tsub)
                vals[O.premise_ratio.name] = sp.nan if tmin.has(sp.nan, sp.zoo) else _limit(tmin / _TT)
            try:
                value, regime, exact_limit, evidence = self._limit(case, aT, a0)
            except SkipCase as err:
                out[r.key] = Outcome({k: _limit_value(v, True) for k, v in vals.items()}, True, skip=str(err))
                continue
            vals[O.lim_min.name] = value
            vals = {k: _limit_value(v, exact_limit) for k, v in vals.items()}
            out[r.key] = Outcome(vals, exact_limit, 0.0, f"regime: {regime}", evidence)
        return out

    def _limit(self, case: LimitCase, aT: Any, a0: Fraction) -> tuple[Any, str, bool, dict[str, Any]]:
        """``(limit, regime, exact, evidence)`` for the policy ``aT`` (module docstring)."""
        evidence: dict[str, Any] = {}
        if aT.has(sp.zoo, sp.nan):
            raise SkipCase("the step alpha_T is undefined (0/0) on this case")
        a_inf = _limit(aT)
        Ta = _limit(_TT * aT)
        if a_inf == 0 and Ta == 0:
            return a0, "frozen: alpha_T -> 0 and T alpha_T -> 0, so theta_t -> theta_0 for t <= T", True, evidence
        if a_inf == 0 and Ta == sp.oo:
            return Fraction(0), "converging: alpha_T -> 0 and T alpha_T -> oo (gradient flow, vanishing noise)", True, evidence
        if a_inf.is_positive and a_inf.is_finite and _eventually_constant(aT, a_inf):
            return self._fixed(case, rq.F(a_inf), evidence)
        raise SkipCase(f"step policy with alpha_T -> {a_inf}, T alpha_T -> {Ta}: the limit is not decided here")

    def evidence(self, case: LimitCase, reading: Reading, horizons: Sequence[int] = LIMIT_EVIDENCE_T) -> dict[int, float]:
        r"""float64 :math:`\min_{t<T}\mathbb E\|\nabla f(\theta^{(T)}_t)\|^2` of the run with step :math:`\alpha_T`, per horizon (for reports)."""
        sc = case.scenario
        vals = self._constants(case)
        sub = {s: sp.Rational(str(rq.F(vals[s.name]))) for s in sp.sympify(reading.statement.prescriptions["alpha_T"]).free_symbols
               if s.name in vals}
        sub.update({O.eps2_T: _eps_of_T(case), O.T: _TT})
        aT = _subst(reading.statement.prescriptions["alpha_T"], sub)
        g0 = sc.problem.grad(sc.theta0)
        out: dict[int, float] = {}
        for T in horizons:
            try:
                a = float(aT.subs(_TT, T))
            except (TypeError, ValueError):
                break
            if not (a > 0 and math.isfinite(a)):
                out[int(T)] = float(g0.dot(g0))
                continue
            try:
                out[int(T)] = float(_run(sc, self._float_bias(case), a, int(T), False).min_grad_sq)
            except SkipCase:
                break
        return out

    def _float_bias(self, case: LimitCase) -> AffineBias:
        b = case.scenario.bias
        return AffineBias(b.mode, rq.as_float(b.r), None, b.schedule)

    def _fixed(self, case: LimitCase, alpha: Fraction, evidence: dict[str, Any]) -> tuple[Any, str, bool, dict[str, Any]]:
        sc = case.scenario
        sched = sc.bias.schedule
        off = 0 if sc.bias.is_zero else (int(sched.at) if sched.kind == "step" and rq.F(sched.after) == 0 else None)
        try:
            eng = MomentEngine(sc.problem, sc.sampling_law(), sc.bias, alpha, sc.theta0, exact=True)
        except ValueError as err:
            raise SkipCase(str(err)) from None
        if off is not None and sc.problem.d <= 2:
            res = infimum(eng, off)
            if res is not None:
                evidence["stationary E||grad f||^2"] = float(res.a_star)
                how = "exact" if res.attained else f"certified lower bound (inf in [{float(res.lower):.6g}, {float(res.upper):.6g}])"
                return res.lower, f"constant step alpha = {alpha}: inf_t of one run ({how}; stationary value {res.a_star})", True, evidence
        if deviation_radius(eng) >= 1:
            raise SkipCase("constant step: the second moments do not converge (spectral radius >= 1 on deviations)")
        xs = stationary_point(eng)
        if xs is None:
            raise SkipCase("constant step: no stationary second moment")
        a_star = rq.as_exact(eng.w_grad).dot(xs)
        run_min = float(_run(sc, self._float_bias(case), float(alpha), LIMIT_EVIDENCE_T[-1], False).min_grad_sq)
        evidence["stationary E||grad f||^2"] = float(a_star)
        return min(run_min, float(a_star)), (f"constant step alpha = {alpha}: float64 min over T = {LIMIT_EVIDENCE_T[-1]} "
                                             f"and the exact stationary value {a_star}"), False, evidence

    def neighbours(self, case: LimitCase) -> list[LimitCase]:
        out = [replace(case, zeta=z) for z in self.zetas if z != case.zeta]
        out += [replace(case, scale=s) for s in (HALF, Fraction(1, 4), Fraction(1, 10)) if s != case.scale]
        return out

    def simplify(self, case: LimitCase) -> Iterator[LimitCase]:
        return iter(())

    def size(self, case: LimitCase) -> tuple[int, ...]:
        return (0, case.scenario.problem.m, case.scenario.problem.d)

    def describe(self, case: LimitCase, values: Mapping[str, Any]) -> list[str]:
        lines = dsc.scenario_lines(case.scenario)
        lines.append(f"- parameters: $\\zeta = {dsc.num(case.zeta)}$, $\\eta = {dsc.num(case.eta)}$, step scale $a = {dsc.num(case.scale)}$")
        names = [("A", "A"), ("B", "B"), ("C", "C"), ("L", "L_{\\nabla f}"), ("delta_0", r"\delta_0"),
                 ("sum_t_E_eps_t_sq", r"\sum_t \mathbb E[\epsilon_t^2]")]
        lines.append(f"- Lemma 1 constants ({_source_text(case.source)}): " + dsc.values_line(dict(values), names))
        return lines


# ----------------------------------------------------------------------------------------------
# [9]'s a-posteriori bound


@dataclass(frozen=True)
class ErrorCase:
    """One point of a quadratic bilevel problem for [9]'s bound (:class:`~validation.engine.bilevel_quadratic.ErrorBoundCase`)."""

    case: ErrorBoundCase
    regime: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"family": "error_bound", **self.case.to_json(), "regime": self.regime}


@dataclass(frozen=True)
class ErrorFamily:
    r""":math:`h(x, \theta) = \frac12x^\top(H_0 + \theta K)x - x^\top(J\theta + y)` solved by truncated gradient descent."""

    regimes: tuple[Regime, ...] = (
        Regime("barely solved", "few lower-level and adjoint steps: large G and R", {"K_lower": (0, 1, 2), "K_adjoint": (0, 1)}),
        Regime("well solved", "many steps: the bound's higher-order terms vanish", {"K_lower": (5, 20), "K_adjoint": (3, 10)}),
    )

    kind = "error_bound"
    cost = 0.5
    """Relative time a case of this family takes (the search shares its time limit by it)."""

    def axes(self) -> dict[str, tuple[Any, ...]]:
        return {"n": (1, 2, 3), "K_lower": (0, 1, 2, 5, 20), "K_adjoint": (0, 1, 3, 10)}

    def build(self, pk: Picker, stmt: Statement, fix: Mapping[str, Any], regime: Regime | None = None) -> ErrorCase:
        ch = _Chooser(pk, fix, regime)
        n = ch("n", (1, 2, 3))
        R = _rotation(pk, n)
        d0 = [pk.pick((Fraction(1), Fraction(2), Fraction(4), HALF)) for _ in range(n)]
        dk = [pk.pick((Fraction(0), HALF, Fraction(-1, 2), Fraction(1))) for _ in range(n)]
        H0 = R.dot(np.diag(np.array(d0, dtype=object))).dot(R.T)
        K = R.dot(np.diag(np.array(dk, dtype=object))).dot(R.T)
        theta = ch("theta", (Fraction(0), Fraction(1, 4), Fraction(-1, 4), HALF))
        if min(a + theta * b for a, b in zip(d0, dk)) <= 0:
            theta = Fraction(0)

        def vec() -> np.ndarray:
            return np.array([pk.small() for _ in range(n)], dtype=object)

        return ErrorCase(ErrorBoundCase(H0, K, vec(), vec(), vec(), theta, ch("K_lower", (0, 1, 2, 5, 20)),
                                        ch("K_adjoint", (0, 1, 3, 10))), regime.name if regime else "")

    def from_json(self, obj: Mapping[str, Any]) -> ErrorCase:
        return ErrorCase(ErrorBoundCase.from_json(obj), obj.get("regime", ""))

    def evaluate(self, case: ErrorCase, readings: Sequence[Reading], exact: bool) -> dict[str, Outcome]:
        try:
            inst = case.case.instance(exact=exact)
        except ValueError as err:
            raise SkipCase(str(err)) from None
        names = ("error_norm", "B_norm", "residual", "mu", "grad_g_norm", "L_B", "L_g", "G", "L_H")
        syms = (O.error_norm, O.B_norm, O.residual, O.mu, O.grad_g_norm, O.L_B, O.L_g, O.G, O.L_H)
        vals = {s.name: _num(getattr(inst, n), exact) for n, s in zip(names, syms)}
        out = Outcome(vals, exact)
        return {r.key: out for r in readings}

    def neighbours(self, case: ErrorCase) -> list[ErrorCase]:
        c = case.case
        out = [ErrorCase(replace(c, K_lower=k), case.regime) for k in {max(0, c.K_lower - 1), c.K_lower + 1, 2 * c.K_lower + 1}]
        out += [ErrorCase(replace(c, K_adjoint=k), case.regime) for k in {max(0, c.K_adjoint - 1), c.K_adjoint + 1}]
        return out

    def simplify(self, case: ErrorCase) -> Iterator[ErrorCase]:
        return iter(())

    def size(self, case: ErrorCase) -> tuple[int, ...]:
        return (0, 0, int(np.asarray(case.case.H0, dtype=object).shape[0]))

    def describe(self, case: ErrorCase, values: Mapping[str, Any]) -> list[str]:
        c = case.case
        return [
            f"- lower level: $h(x, \\theta) = \\tfrac12 x^\\top(H_0 + \\theta K)x - x^\\top(J\\theta + y)$ with "
            f"$H_0 = {dsc.mat(c.H0)}$, $K = {dsc.mat(c.Kmat)}$, $J = {dsc.vec(c.J)}$, $y = {dsc.vec(c.y)}$, at $\\theta = {dsc.num(rq.F(c.theta))}$",
            f"- upper level: $g(x) = \\tfrac12\\|x - x^*\\|^2$, $x^* = {dsc.vec(c.x_star)}$",
            f"- solvers: {c.K_lower} lower-level and {c.K_adjoint} adjoint gradient steps from 0 (step $1/\\lambda_{{\\max}}(H)$)",
            "- values: " + dsc.values_line(dict(values), [("error_norm", r"\|z - \nabla F\|"), ("B_norm", r"\|B\|"), ("R", "R"),
                                                         ("mu", r"\mu"), ("grad_g_norm", r"\|\nabla g\|"), ("L_B", "L_B"), ("G", "G")]),
        ]
