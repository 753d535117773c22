r"""What a claim is: a statement (sympy, from :mod:`theory`'s constants), readings, a case family, a proof.

One :class:`Claim` holds everything about one statement of a paper (or of a source it cites):

* :class:`Statement` -- ``lhs op rhs`` as sympy expressions in the observable symbols :data:`O` and the
  paper's constants (:mod:`theory.constants`), the hypotheses (sympy relations over the same symbols,
  or guarantees of the case family), the named additive terms of a bound, the *boundaries* (quantities
  whose vanishing makes the statement ill-posed) and the *prescriptions* a case family needs (largest
  step, prescribed step, horizon). The same expressions are evaluated on the numbers of a case
  (exactly with rationals, or in float64) and handed to the proof: there is one source of truth.
* :class:`Correction` -- a single change of the statement (an exponent restored from the cited
  source, the accuracy read as a maximum, another step policy); :meth:`Claim.readings` forms the
  reading *as printed*, each single correction alone and all (non-alternative) corrections together.
* a case family (:mod:`validation.engine.families`) -- builder, search axes and regimes;
* ``prove(reading) -> theory.proofs.Proof`` -- the proof derived from the reading's own sides.

:func:`evaluate` decides a statement on a dictionary of observable values and returns a
:class:`Verdict`: applicable or not (and which hypothesis failed), ill-posed (which boundary quantity
vanished or diverged), both sides, holds or not, the ratio and the margin.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import sympy as sp

from theory.constants import SYMBOLS

logger = logging.getLogger(__name__)

__all__ = [
    "O",
    "Hypothesis",
    "Boundary",
    "Statement",
    "Correction",
    "Reading",
    "Claim",
    "Verdict",
    "evaluate",
    "ratio_of",
    "PRINTED",
    "ALL",
    "VIOLATION_RTOL",
    "proof_cache",
    "needed",
    "OBSERVABLE_TEXT",
    "latex",
    "substitute",
]

PRINTED = "as printed"
ALL = "all corrections"

VIOLATION_RTOL = 1e-9
"""A float64 violation counts only when it beats this relative margin and the rounding estimate."""


def _nonneg(name: str) -> sp.Symbol:
    return sp.Symbol(name, nonnegative=True)


O = SimpleNamespace(
    # the paper's symbols (theory.constants.SYMBOLS)
    zeta=SYMBOLS.zeta, eta=SYMBOLS.eta, A=SYMBOLS.A, B=SYMBOLS.B, C=SYMBOLS.C, L=SYMBOLS.L,
    delta0=SYMBOLS.delta0, alpha=SYMBOLS.alpha, T=SYMBOLS.T, b=SYMBOLS.b, c=SYMBOLS.c,
    eps2=SYMBOLS.eps2,
    # one point theta
    f_gap=SYMBOLS.f_gap, grad_sq=SYMBOLS.grad_sq, second_moment=SYMBOLS.second_moment,
    second_moment_z=SYMBOLS.second_moment_z, inner_bias=SYMBOLS.inner_bias, inner_z=SYMBOLS.inner_z,
    mean_error_norm=SYMBOLS.mean_error_norm, delta_inf=_nonneg("Delta_inf"),
    A_prop2=_nonneg("A_prop2"), A_row=_nonneg("A_row"), B_row=_nonneg("B_row"),
    # one run
    min_grad_sq=SYMBOLS.min_grad_sq, eps2_T=_nonneg("E_eps_T_sq"), eps2_max=_nonneg("max_t_E_eps_t_sq"),
    eps2_avg=_nonneg("avg_t_E_eps_t_sq"), target=_nonneg("target_eps2"),
    # T -> oo
    lim_min=_nonneg("lim_T_min_t_E_grad_f_sq"), eps2_sum=_nonneg("sum_t_E_eps_t_sq"),
    premise_ratio=_nonneg("lim_T_T_min_over_T"), step_scale=sp.Symbol("a_step", positive=True),
    # a-posteriori hypergradient error
    error_norm=_nonneg("error_norm"), B_norm=_nonneg("B_norm"), residual=_nonneg("R"), mu=sp.Symbol("mu", positive=True),
    grad_g_norm=_nonneg("grad_g_norm"), L_B=_nonneg("L_B"), L_g=_nonneg("L_g"), G=_nonneg("G"), L_H=_nonneg("L_H"),
)
"""Observable symbols, by role. A case family binds values to their names (``symbol.name``)."""

OBSERVABLE_TEXT: dict[str, str] = {
    "min_t_E_grad_f_sq": "min_{t<T} E||grad f(theta_t)||^2",
    "E_eps_T_sq": "E[eps_T^2]",
    "max_t_E_eps_t_sq": "max_{t<T} E[eps_t^2]",
    "avg_t_E_eps_t_sq": "(1/T) sum_{t<T} E[eps_t^2]",
    "lim_T_min_t_E_grad_f_sq": "lim_{T->oo} min_{t<T} E||grad f(theta_t)||^2",
    "grad_sq": "||grad f(theta)||^2",
    "E_grad_fv_sq": "E||grad f_v(theta)||^2",
    "E_z_sq": "E||z_v(theta)||^2",
    "inner_grad_f_Ee": "<grad f(theta), E e_v(theta)>",
    "inner_grad_f_Ez": "<grad f(theta), E z_v(theta)>",
    "E_e_norm": "E||e_v(theta)||",
    "epsilon2": "eps^2(theta) = E||e_v(theta)||^2",
    "f_gap": "f(theta) - f_inf",
}
"""Plain-text names of the observables, for reports."""


_TEX = {
    "min_t_E_grad_f_sq": r"\min_{t<T}\mathbb{E}\|\nabla f(\theta_t)\|^2",
    "E_eps_T_sq": r"\mathbb{E}[\epsilon_T^2]",
    "max_t_E_eps_t_sq": r"\max_{t<T}\mathbb{E}[\epsilon_t^2]",
    "avg_t_E_eps_t_sq": r"\overline{\mathbb{E}[\epsilon_t^2]}",
    "lim_T_min_t_E_grad_f_sq": r"\lim_{T\to\infty}\min_{t<T}\mathbb{E}\|\nabla f(\theta_t)\|^2",
    "grad_sq": r"\|\nabla f(\theta)\|^2",
    "E_grad_fv_sq": r"\mathbb{E}\|\nabla f_v(\theta)\|^2",
    "E_z_sq": r"\mathbb{E}\|z_v(\theta)\|^2",
    "inner_grad_f_Ee": r"\langle\nabla f(\theta), \mathbb{E}e_v(\theta)\rangle",
    "inner_grad_f_Ez": r"\langle\nabla f(\theta), \mathbb{E}z_v(\theta)\rangle",
    "E_e_norm": r"\mathbb{E}\|e_v(\theta)\|",
    "epsilon2": r"\epsilon^2(\theta)",
    "f_gap": r"(f(\theta) - f^{\inf})",
    "Delta_inf": r"\Delta^{\inf}",
    "A_prop2": r"A_{\mathrm{P2}}",
    "A_row": r"A_{\mathrm{row}}",
    "B_row": r"B_{\mathrm{row}}",
    "target_eps2": r"\epsilon^2",
    "sum_t_E_eps_t_sq": r"\sum_t\mathbb{E}[\epsilon_t^2]",
    "lim_T_T_min_over_T": r"\lim_{T}T_{\min}/T",
    "a_step": "a",
    "error_norm": r"\|z - \nabla F\|",
    "B_norm": r"\|B\|",
    "grad_g_norm": r"\|\nabla g\|",
}
"""LaTeX of the observables, by symbol name (reports)."""

CONSTANTS_NOTE = r"$b = 1 - \frac{1}{2\zeta}$, $\tilde A = \frac{1+\eta}{\eta}A$, $\tilde B = \frac{1+\eta}{\eta}B$ (Proposition 1)"
"""How the named constants in formulas of the report are defined."""


def _named_constants(e: Any) -> Any:
    """``e`` with Proposition 1's constants written by name (b, A~, B~): shorter formulas for readers."""
    from theory import constants as K

    names = ((K.b.expr, sp.Symbol("b")), (2 * K.b.expr, 2 * sp.Symbol("b")), (sp.expand(2 * K.b.expr), 2 * sp.Symbol("b")),
             (K.A_tilde.expr, sp.Symbol(r"\tilde{A}")), (K.B_tilde.expr, sp.Symbol(r"\tilde{B}")))
    for old, new in names:
        try:
            e = e.subs(old, new)
        except (TypeError, ValueError, AttributeError):  # pragma: no cover - a sympy corner
            continue
    return e


@functools.lru_cache(maxsize=512)
def _latex_cached(e: Any, named: bool) -> str:
    if named:
        e = _named_constants(e)
    names = {s: _TEX[s.name] for s in e.free_symbols if s.name in _TEX}
    try:
        return sp.latex(e, symbol_names=names)
    except Exception:  # noqa: BLE001 - a printing corner of sympy must not break a report
        return str(e)


def latex(expr: Any, *, named: bool = True) -> str:
    """LaTeX of an expression, with the observables written as the paper writes them and, when ``named``,
    :math:`b(\\zeta)`, :math:`\\tilde A(\\eta)`, :math:`\\tilde B(\\eta)` by name (see :data:`CONSTANTS_NOTE`)."""
    return _latex_cached(sp.sympify(expr), named)


@dataclass(frozen=True)
class Hypothesis:
    """A hypothesis: a sympy relation over observables, or (``relation=None``) a guarantee of the case family."""

    name: str
    relation: Any = None
    text: str = ""


@dataclass(frozen=True)
class Boundary:
    """A quantity whose vanishing (or divergence) makes the statement ill-posed; ``why`` says what breaks."""

    quantity: str
    expr: Any
    why: str


@dataclass(frozen=True)
class Statement:
    """``lhs op rhs`` with hypotheses, named additive terms of the right side, boundaries and prescriptions.

    When ``terms`` is given, ``rhs`` is their sum (:meth:`with_term` replaces one term).
    """

    lhs: Any
    op: str
    rhs: Any
    hypotheses: tuple[Hypothesis, ...] = ()
    terms: tuple[tuple[str, Any], ...] = ()
    boundaries: tuple[Boundary, ...] = ()
    prescriptions: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">=", "=="):
            raise ValueError(f"a statement's relation is '<=', '>=' or '=='; got {self.op!r}")

    @property
    def relation(self) -> Any:
        """The statement as one sympy relation."""
        rel = {"<=": sp.Le, ">=": sp.Ge, "==": sp.Eq}[self.op]
        return rel(self.lhs, self.rhs, evaluate=False)

    def term(self, name: str) -> Any:
        """The additive term ``name`` of the right side."""
        for n, e in self.terms:
            if n == name:
                return e
        raise KeyError(f"no term {name!r}; terms: {[n for n, _ in self.terms]}")

    def with_term(self, name: str, expr: Any) -> "Statement":
        """The statement with the right-side term ``name`` replaced by ``expr``."""
        self.term(name)
        terms = tuple((n, expr if n == name else e) for n, e in self.terms)
        return replace(self, terms=terms, rhs=sp.Add(*(e for _, e in terms)))

    def substitute(self, mapping: Mapping[Any, Any]) -> "Statement":
        """Every expression of the statement with ``mapping`` applied (``xreplace``)."""
        m = dict(mapping)

        def x(e: Any) -> Any:
            return sp.sympify(e).xreplace(m) if e is not None else None

        return replace(
            self,
            lhs=x(self.lhs),
            rhs=x(self.rhs),
            hypotheses=tuple(replace(h, relation=x(h.relation)) for h in self.hypotheses),
            terms=tuple((n, x(e)) for n, e in self.terms),
            boundaries=tuple(replace(bd, expr=x(bd.expr)) for bd in self.boundaries),
            prescriptions={k: x(v) for k, v in self.prescriptions.items()},
        )

    def free_names(self) -> set[str]:
        """Names of the observables the verdict needs (sides, hypotheses, boundaries)."""
        exprs = [self.lhs, self.rhs] + [h.relation for h in self.hypotheses if h.relation is not None]
        exprs += [bd.expr for bd in self.boundaries]
        return {s.name for e in exprs for s in sp.sympify(e).free_symbols}

    def latex(self) -> str:
        """LaTeX of ``lhs op rhs``."""
        op = {"<=": r"\le", ">=": r"\ge", "==": "="}[self.op]
        return f"{latex(self.lhs)} {op} {latex(self.rhs)}"


@dataclass(frozen=True)
class Correction:
    """A single change of a statement; ``alternative`` ones are left out of the all-corrections reading."""

    key: str
    label: str
    apply: Callable[[Statement], Statement]
    alternative: bool = False


@dataclass(frozen=True)
class Reading:
    """One reading of a claim: as printed, one correction, or all corrections, with its statement."""

    key: str
    label: str
    corrections: tuple[str, ...]
    statement: Statement

    @property
    def printed(self) -> bool:
        return not self.corrections


@dataclass(frozen=True)
class Claim:
    """A claim of the paper or of a cited source, as one unit (module docstring).

    Attributes
    ----------
    id, title, source, text : str
        Identifier (``paper.theorem1``), short title, citation, the printed statement in words.
    statement : callable
        Builds the printed :class:`Statement` from :mod:`theory`'s definitions (called anew each
        time, so a changed constant changes the statement).
    family : case family
        Builder, axes and regimes of the cases searched (:mod:`validation.engine.families`).
    corrections : tuple of Correction
    prove : callable or None
        ``prove(reading) -> theory.proofs.Proof``, derived from the reading's own statement.
    combine : bool
        Form the all-corrections reading (when there are two or more non-alternative corrections).
    notes : str
    """

    id: str
    title: str
    source: str
    text: str
    statement: Callable[[], Statement]
    family: Any
    corrections: tuple[Correction, ...] = ()
    prove: Callable[[Reading], Any] | None = None
    combine: bool = True
    notes: str = ""

    def readings(self) -> tuple[Reading, ...]:
        """As printed, each single correction alone, and all non-alternative corrections together."""
        base = self.statement()
        out = [Reading(PRINTED, "as printed", (), base)]
        for c in self.corrections:
            out.append(Reading(c.key, c.label, (c.key,), c.apply(base)))
        main = [c for c in self.corrections if not c.alternative]
        if self.combine and len(main) >= 2:
            stmt = base
            for c in main:
                stmt = c.apply(stmt)
            out.append(Reading(ALL, "all corrections: " + "; ".join(c.label for c in main), tuple(c.key for c in main), stmt))
        return tuple(out)

    def reading(self, key: str) -> Reading:
        """The reading with key ``key``."""
        for r in self.readings():
            if r.key == key:
                return r
        raise ValueError(f"claim {self.id} has no reading {key!r}; readings: {[r.key for r in self.readings()]}")

    def proof(self, reading: Reading | str = PRINTED) -> Any:
        """The proof of a reading (``None`` when no proof is encoded); cached inside :func:`proof_cache`."""
        rd = self.reading(reading) if isinstance(reading, str) else reading
        if self.prove is None:
            return None
        if _PROOF_CACHE is None:
            return self.prove(rd)
        key = (self.id, rd.key)
        if key not in _PROOF_CACHE:
            _PROOF_CACHE[key] = self.prove(rd)
        return _PROOF_CACHE[key]


_PROOF_CACHE: dict[tuple[str, str], Any] | None = None


@contextlib.contextmanager
def proof_cache() -> Iterator[None]:
    """Within this block each reading's proof is derived once (a verification run: claims and constants fixed)."""
    global _PROOF_CACHE
    outer = _PROOF_CACHE
    _PROOF_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _PROOF_CACHE = outer


# ----------------------------------------------------------------------------------------------
# evaluation


@dataclass(frozen=True)
class Verdict:
    """A statement decided on one case.

    ``applicable``: every hypothesis holds; ``failed``: hypotheses that do not (or are undecided);
    ``ill_posed``: the boundary quantity that vanished or diverged (then ``holds`` is ``None``);
    ``lhs``/``rhs``: the sides (exact numbers when ``exact``); ``holds``: the relation, ``None`` when
    undecided or not evaluated; ``ratio``: claimed-smaller side over claimed-larger side (> 1
    violates); ``margin``: the float64 difference ``small - big``.
    """

    applicable: bool
    failed: tuple[str, ...]
    ill_posed: str | None
    lhs: Any
    rhs: Any
    holds: bool | None
    exact: bool
    ratio: float | None = None
    margin: float | None = None
    note: str = ""

    @property
    def violated(self) -> bool:
        return bool(self.applicable and self.ill_posed is None and self.holds is False)


_LAMBDAS: dict[tuple[Any, tuple[str, ...]], Callable[..., Any]] = {}


def _numeric(expr: Any, values: Mapping[str, Any]) -> float:
    e = sp.sympify(expr)
    syms = tuple(sorted(e.free_symbols, key=lambda s: s.name))
    key = (e, tuple(s.name for s in syms))
    fn = _LAMBDAS.get(key)
    if fn is None:
        fn = sp.lambdify(syms, e, modules="numpy")
        if len(_LAMBDAS) > 4096:
            _LAMBDAS.clear()
        _LAMBDAS[key] = fn
    args = [np.float64(float(values[s.name])) for s in syms]
    with np.errstate(all="ignore"):
        try:
            out = fn(*args)
        except (ZeroDivisionError, OverflowError):
            return math.nan
    try:
        return float(out)
    except (TypeError, ValueError):
        return math.nan


def _as_sympy(v: Any) -> Any:
    if isinstance(v, Fraction):
        return sp.Rational(v.numerator, v.denominator)
    if isinstance(v, (bool, np.bool_)):
        return sp.Integer(int(v))
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isinf(f):
            return sp.oo if f > 0 else -sp.oo
        if math.isnan(f):
            return sp.nan
        return sp.Rational(Fraction(f))
    return sp.sympify(v)


def substitute(expr: Any, sub: Mapping[Any, Any]) -> Any:
    """``expr.xreplace(sub)`` where a Min entry that became infinite (a positive number over 0) is dropped,
    a Max with an infinite entry is infinite, and an undefined entry (0/0) makes the result ``nan``."""
    e = sp.sympify(expr)
    if e.is_Atom or not e.has(sp.Min, sp.Max):
        out = sp.sympify(e.xreplace({k: sp.sympify(v) for k, v in dict(sub).items()}))
        return sp.nan if out.has(sp.nan) else out
    if isinstance(e, (sp.Min, sp.Max)):
        args = [substitute(a, sub) for a in e.args]
        if any(a.has(sp.nan) for a in args):
            return sp.nan
        finite = [a for a in args if a not in (sp.zoo, sp.oo)]
        if isinstance(e, sp.Min):
            return sp.Min(*finite) if finite else sp.oo
        return sp.oo if len(finite) < len(args) else sp.Max(*args)
    args = [substitute(a, sub) for a in e.args]
    if any(a.has(sp.nan) for a in args):
        return sp.nan
    return e.func(*args)


def _exact(expr: Any, values: Mapping[str, Any]) -> Any:
    e = sp.sympify(expr)
    return substitute(e, {s: _as_sympy(values[s.name]) for s in e.free_symbols})


def _missing(stmt_names: set[str], values: Mapping[str, Any]) -> list[str]:
    return sorted(n for n in stmt_names if n not in values or values[n] is None)


def _finite(v: Any, exact: bool) -> bool:
    if exact:
        v = sp.sympify(v)
        return not (v.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or v in (sp.zoo, sp.nan, sp.oo, -sp.oo))
    return math.isfinite(float(v))


def _decide(lhs: Any, rhs: Any, op: str, exact: bool) -> bool | None:
    if not exact:
        a, b = float(lhs), float(rhs)
        if math.isnan(a) or math.isnan(b):
            return None
        return a <= b if op == "<=" else a >= b if op == ">=" else a == b
    diff = sp.sympify(rhs) - sp.sympify(lhs) if op == "<=" else sp.sympify(lhs) - sp.sympify(rhs)
    if op == "==":
        if diff.is_number and diff.is_zero is not None:
            return bool(diff.is_zero)
        z = sp.simplify(diff)
        return None if z.is_zero is None else bool(z.is_zero)
    if diff.has(sp.nan, sp.zoo):
        return None
    v = diff.is_extended_nonnegative
    if v is None:
        v = sp.simplify(diff).is_extended_nonnegative
    return None if v is None else bool(v)


def _relation_holds(rel: Any, values: Mapping[str, Any], exact: bool) -> bool | None | str:
    """True / False / None (undecided) / ``"undefined"`` (a side is not a finite number)."""
    if isinstance(rel, (bool, sp.logic.boolalg.BooleanAtom)):
        return bool(rel)
    ops = {sp.LessThan: "<=", sp.GreaterThan: ">=", sp.StrictLessThan: "<", sp.StrictGreaterThan: ">", sp.Equality: "=="}
    op = next((v for k, v in ops.items() if isinstance(rel, k)), None)
    if op is None:
        raise ValueError(f"a hypothesis must be a relation; got {rel!r}")
    if exact:
        lhs, rhs = _exact(rel.lhs, values), _exact(rel.rhs, values)
        if lhs.has(sp.zoo, sp.nan) or rhs.has(sp.zoo, sp.nan):
            return "undefined"
        diff = sp.simplify(rhs - lhs) if op in ("<=", "<") else sp.simplify(lhs - rhs)
        if op == "==":
            z = sp.simplify(lhs - rhs)
            return None if z.is_zero is None else bool(z.is_zero)
        v = diff.is_extended_positive if op in ("<", ">") else diff.is_extended_nonnegative
        return None if v is None else bool(v)
    a, b = _numeric(rel.lhs, values), _numeric(rel.rhs, values)
    if math.isnan(a) or math.isnan(b):
        return "undefined"
    return {"<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b, "==": a == b}[op]


def ratio_of(lhs: float, rhs: float, op: str) -> float | None:
    """Claimed-smaller side over claimed-larger side (``None`` for ``==``); > 1 violates, 1 is tight.

    When the larger side is not positive: ``1 + (small - big)/max(|small|, |big|)``.
    """
    if op == "==":
        return None
    small, big = (lhs, rhs) if op == "<=" else (rhs, lhs)
    if math.isnan(small) or math.isnan(big):
        return None
    if math.isinf(big) and big > 0:
        return 0.0 if math.isfinite(small) else None
    if math.isinf(small):
        return math.inf if small > 0 else 0.0
    if big > 0:
        return small / big
    scale = max(abs(small), abs(big))
    if scale == 0:
        return None
    return 1.0 + (small - big) / scale


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        try:
            return float(sp.N(v, 30))
        except (TypeError, ValueError):
            return math.nan


def evaluate(stmt: Statement, values: Mapping[str, Any], *, exact: bool, abs_error: float = 0.0) -> Verdict:
    """Decide ``stmt`` on the observable ``values`` (names of :data:`O`'s symbols), exactly or in float64.

    Order: hypotheses (a hypothesis that evaluates false makes the case not applicable), boundaries
    (a vanishing or diverging quantity makes it ill-posed), then the two sides. A float64 violation
    within :data:`VIOLATION_RTOL` or eight times ``abs_error`` counts as tight (holds).

    Raises
    ------
    ValueError
        When a needed observable is missing from ``values`` (the case family must provide it).
    """
    missing = _missing(stmt.free_names(), values)
    if missing:
        raise ValueError(f"the case provides no value for {missing}; the statement needs them")
    failed: list[str] = []
    undefined: list[str] = []
    for h in stmt.hypotheses:
        if h.relation is None:
            continue
        v = _relation_holds(h.relation, values, exact)
        if v == "undefined":
            undefined.append(h.name)
        elif v is not True:
            failed.append(h.name if v is False else f"{h.name} (undecided)")
    if failed:
        return Verdict(False, tuple(failed), None, None, None, None, exact)
    for bd in stmt.boundaries:
        val = _exact(bd.expr, values) if exact else _numeric(bd.expr, values)
        if not _finite(val, exact) or (val == 0 if exact else float(val) == 0.0):
            shown = "undefined" if not _finite(val, exact) else "0"
            return Verdict(True, (), f"{bd.quantity} = {shown}: {bd.why}", None, None, None, exact)
    if undefined:
        return Verdict(False, tuple(f"{n} (undefined)" for n in undefined), None, None, None, None, exact)
    if exact:
        lhs, rhs = _exact(stmt.lhs, values), _exact(stmt.rhs, values)
        if not _finite(lhs, True) and not (sp.sympify(lhs) == sp.oo or sp.sympify(rhs) == sp.oo):
            return Verdict(True, (), None, lhs, rhs, None, True, note="a side is not a number")
    else:
        lhs, rhs = _numeric(stmt.lhs, values), _numeric(stmt.rhs, values)
        if math.isnan(lhs) or math.isnan(rhs):
            return Verdict(True, (), None, lhs, rhs, None, False, note="a side is NaN in float64: not decided")
    holds = _decide(lhs, rhs, stmt.op, exact)
    lf, rf = _float(lhs), _float(rhs)
    ratio = ratio_of(lf, rf, stmt.op)
    small, big = (lf, rf) if stmt.op == "<=" else (rf, lf)
    margin = abs(lf - rf) if stmt.op == "==" else (small - big if math.isfinite(small - big) else None)
    note = ""
    if not exact and holds is False and stmt.op != "==" and margin is not None:
        tol = max(VIOLATION_RTOL * max(abs(lf), abs(rf)), 8 * abs_error)
        if margin <= tol:
            holds = True
            note = f"float64 violation below rounding ({margin:.3g} <= {tol:.3g}): counted as tight"
    if holds is None:
        note = note or "undecided: sympy could not decide the sign"
    return Verdict(True, (), None, lhs, rhs, holds, exact, ratio, margin, note)


def needed(stmts: Sequence[Statement]) -> set[str]:
    """Observable names needed by any of ``stmts``."""
    out: set[str] = set()
    for s in stmts:
        out |= s.free_names()
    return out
