r"""Proof machinery (sympy) and the elementary facts the claims' proofs rest on.

A :class:`Proof` is a list of :class:`Step` objects, each decided by sympy. Its status is *computed*
from its steps, never typed:

* ``"proven"``: every step confirmed (an identity simplified to zero, a sign decided by sympy's
  assumptions, a limit evaluated), and every premise it cites is proven or a standard fact;
* ``"proven from premises"``: every step confirmed, but a cited premise (another claim, e.g. a
  source theorem) is not proven here -- the premises are listed;
* ``"not proven"``: some step could not be confirmed; :attr:`Proof.residual` is the expression sympy
  could not show to be zero or nonnegative. This never means *false* (sympy's assumptions are
  three-valued: ``None`` is *unknown*).

Standard textbook facts (the descent lemma of an :math:`L`-smooth function, expectations preserve
inequalities, weighted telescoping) are :func:`assumed` facts: their statements are listed with
every proof that uses them, and they do not lower its status.

The main tool is :func:`certificate`: for a claim ``lhs <= rhs`` (or ``>=``) it takes the claim's
*own* sides, substitutes a model of the observables, and checks that the gap ``rhs - lhs`` equals a
nonnegative combination :math:`\sum_j w_j q_j` of quantities :math:`q_j \ge 0`, each justified by sympy
(a sign) or by a premise (the gap of another proven relation). A changed statement or a changed
constant leaves a nonzero residual, and the proof is reported *not proven* with that residual.

Elementary facts proven here: Cauchy-Schwarz (Lagrange's identity), Jensen for the square and for the
norm, the second moments :math:`\mathbb E[vv^\top] = \mathrm{diag}(d) + \beta\mathbf 1\mathbf 1^\top` of
the sampling laws of :mod:`theory.sampling` (symbolic enumeration), and the optimal :math:`\zeta, \eta`
of :mod:`theory.optimize`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import sympy as sp

from .constants import SYMBOLS, ZETA_OVER_HALF, _a_tilde, _b, _b_tilde

logger = logging.getLogger(__name__)

__all__ = [
    "PROVEN",
    "FROM_PREMISES",
    "NOT_PROVEN",
    "ASSUMED",
    "Step",
    "Proof",
    "Term",
    "identity",
    "sign",
    "premise",
    "part",
    "evaluation",
    "limit",
    "bounded",
    "certificate",
    "proof",
    "assumed",
    "is_zero",
    "is_nonnegative",
    "cauchy_schwarz",
    "jensen_square",
    "norm_of_mean",
    "law_moments",
    "DESCENT_LEMMA",
    "SMOOTH_GRADIENT_BOUND",
    "EXPECTATION",
    "TELESCOPING",
    "prove_optimal_zeta_bias_floor",
    "prove_optimal_theorem1_zeta",
    "prove_optimal_theorem1_eta",
    "prove_optimal_corollary1_eta",
    "FACTS",
    "prove_all",
]

PROVEN = "proven"
FROM_PREMISES = "proven from premises"
NOT_PROVEN = "not proven"
ASSUMED = "assumed"

IDENTITY = "identity"
SIGN = "sign"
PREMISE = "premise"
PART = "part"
VALUE = "value"
LIMIT = "limit"


@dataclass(frozen=True)
class Step:
    """One step: what is checked, the expression sympy examined, its verdict (``None`` = undecided).

    For a premise step, ``premise`` is the :class:`Proof` it rests on (its status counts in the
    status of the proof that cites it).
    """

    description: str
    kind: str
    expression: Any
    verdict: bool | None
    premise: "Proof | None" = None


@dataclass(frozen=True)
class Proof:
    """A named proof: the relation it establishes (in its own symbols), its steps, assumed facts.

    ``status`` and ``residual`` are computed from the steps (module docstring).
    """

    name: str
    statement: str
    steps: tuple[Step, ...]
    relation: Any = None
    assumed: tuple[str, ...] = ()
    notes: str = ""
    is_assumption: bool = False

    @property
    def status(self) -> str:
        if self.is_assumption:
            return ASSUMED
        if not self.steps or any(s.verdict is not True for s in self.steps):
            return NOT_PROVEN
        if any(s.premise is not None and s.premise.status not in (PROVEN, ASSUMED) for s in self.steps):
            return FROM_PREMISES
        return PROVEN

    @property
    def proven(self) -> bool:
        """True only for the status ``"proven"``."""
        return self.status == PROVEN

    @property
    def failing(self) -> Step | None:
        """The first step sympy could not confirm (``None`` when every step is confirmed)."""
        return next((s for s in self.steps if s.verdict is not True), None)

    @property
    def residual(self) -> Any:
        """The expression of the first unconfirmed step (``None`` when every step is confirmed).

        For a proof without steps it is the statement's gap itself (nothing was derived)."""
        if self.is_assumption:
            return None
        if not self.steps:
            return self.gap() if self.relation is not None else None
        bad = self.failing
        return None if bad is None else bad.expression

    def cited(self) -> list["Proof"]:
        """Premises cited by the steps (each once), in order."""
        out: list[Proof] = []
        for s in self.steps:
            if s.premise is not None and all(p.name != s.premise.name for p in out):
                out.append(s.premise)
        return out

    def all_assumed(self) -> tuple[str, ...]:
        """Standard facts used by this proof and by the premises it cites, each once."""
        out: list[str] = list(self.assumed)
        for p in self.cited():
            if p.is_assumption:
                out.append(p.statement)
            for a in p.all_assumed():
                if a not in out:
                    out.append(a)
        seen: list[str] = []
        for a in out:
            if a not in seen:
                seen.append(a)
        return tuple(seen)

    def gap(self, subs: Mapping[Any, Any] | None = None) -> Any:
        """The nonnegative gap of :attr:`relation` (``rhs - lhs`` for ``<=``, ``lhs - rhs`` for ``>=``), substituted."""
        rel = self.relation
        if rel is None:
            raise ValueError(f"proof {self.name!r} has no relation to take a gap of")
        if isinstance(rel, sp.LessThan):
            g = rel.rhs - rel.lhs
        elif isinstance(rel, sp.GreaterThan):
            g = rel.lhs - rel.rhs
        else:
            raise ValueError(f"proof {self.name!r}: only <= and >= relations have a gap; got {type(rel).__name__}")
        return g.xreplace(dict(subs)) if subs else g


@dataclass(frozen=True)
class Term:
    r"""One summand :math:`w\,q` of a gap certificate: :math:`w \ge 0` and :math:`q \ge 0`.

    ``because`` is the premise whose gap :math:`q` is (``None``: sympy must show :math:`q \ge 0`);
    ``part`` marks ``because`` as a sub-proof of the same proof (see :func:`part`).
    """

    quantity: Any
    weight: Any = 1
    because: Proof | None = None
    description: str = ""
    part: bool = False


# ----------------------------------------------------------------------------------------------
# deciding


def _candidates(expr: Any) -> Iterator[Any]:
    """``expr`` and progressively more expensive rewritings of it (expanded, over a common denominator, factored, simplified)."""
    e = sp.sympify(expr)
    yield e
    for f in (lambda x: sp.factor(sp.together(x)), sp.expand, lambda x: sp.cancel(sp.together(sp.expand(x))), sp.simplify):
        try:
            yield f(e)
        except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):  # pragma: no cover - sympy corner
            continue


_PROBES = ((sp.Rational(7, 3), sp.Rational(5, 7), sp.Rational(13, 11), sp.Rational(3, 2), sp.Rational(17, 5)),
           (sp.Rational(9, 4), sp.Rational(2, 9), sp.Rational(19, 6), sp.Rational(4, 5), sp.Rational(11, 3)))


def _probe(expr: Any, k: int) -> Any:
    """``expr`` at a rational point consistent with its symbols' signs (integers at small integers), or ``None``."""
    vals = {}
    for j, sym in enumerate(sorted(expr.free_symbols, key=str)):
        if sym.is_integer:
            v = sp.Integer(3 + (j + k) % 4)
        else:
            v = _PROBES[k][j % 5] + sp.Rational(j, 13)
        vals[sym] = -v if sym.is_negative else v
    try:
        out = sp.N(expr.xreplace(vals), 30)
    except (TypeError, ValueError, ZeroDivisionError):  # pragma: no cover - sympy corner
        return None
    return out if out.is_real and out.is_finite else None


def is_zero(expr: Any) -> tuple[bool | None, Any]:
    """``(verdict, simplest form)``: True when ``expr`` simplifies to 0, False when it is a nonzero number.

    A nonzero value at a rational probe point settles "not an identity" without the costly rewritings
    (the verdict is then ``None``, *not proven*, with the expression as the residual).
    """
    e = sp.sympify(expr)
    if e.free_symbols:
        vals = [_probe(e, k) for k in range(2)]
        if any(v is not None and abs(v) > 1e-20 * (1 + abs(v)) for v in vals):
            return None, _compact(e)
    forms = []
    for f in _candidates(e):
        if f == 0:
            return True, sp.Integer(0)
        forms.append(f)
        if f.is_number:
            break
    simplest = min(forms, key=sp.count_ops)
    if simplest.is_number:
        try:
            zero = simplest.equals(0)
        except (TypeError, ValueError):  # pragma: no cover
            zero = None
        if zero is not None:
            return bool(zero), simplest
    return None, simplest


def _compact(e: Any) -> Any:
    """A short form of a residual (factored over a common denominator when that is shorter)."""
    try:
        f = sp.factor(sp.together(e))
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):  # pragma: no cover
        return e
    return f if sp.count_ops(f) <= sp.count_ops(e) else e


def is_nonnegative(expr: Any, strict: bool = False) -> tuple[bool | None, Any]:
    """``(verdict, form)`` of ``expr >= 0`` (``> 0`` when ``strict``) from sympy's assumptions.

    Tries the expression, then factored, expanded and simplified forms; ``None`` when undecided. A
    negative value at a probe point ends the attempt early (undecided: sympy's assumptions on the symbols
    may be wider than the claim's hypotheses, so this is never reported as *false*).
    """
    attr = "is_extended_positive" if strict else "is_extended_nonnegative"
    e = sp.sympify(expr)
    v = getattr(e, attr)
    if v is not None:
        return bool(v), e
    if e.free_symbols:
        vals = [_probe(e, k) for k in range(2)]
        if any(x is not None and x < 0 for x in vals):
            return None, _compact(e)
    forms = [e]
    for f in _candidates(e):
        v = getattr(f, attr)
        if v is not None:
            return bool(v), f
        forms.append(f)
    return None, min(forms, key=sp.count_ops)


def identity(description: str, lhs: Any, rhs: Any = 0) -> Step:
    """A step ``lhs == rhs``: the difference must simplify to 0; otherwise it is the residual."""
    verdict, form = is_zero(sp.sympify(lhs) - sp.sympify(rhs))
    return Step(description, IDENTITY, form, verdict)


def sign(description: str, expr: Any, strict: bool = False) -> Step:
    """A step ``expr >= 0`` (``> 0`` when ``strict``) decided by sympy's assumptions."""
    verdict, form = is_nonnegative(expr, strict)
    return Step(description, SIGN, form, verdict)


def premise(description: str, proof: Proof, expression: Any = None) -> Step:
    """A step that uses another proof's relation; its status enters the citing proof's status."""
    return Step(f"{description} [{proof.name}: {proof.status}]", PREMISE, expression, True, proof)


def part(description: str, sub: Proof) -> Step:
    """A step that is a whole sub-proof of this proof: it is confirmed only when the sub-proof is.

    Unlike :func:`premise` (a cited result whose status is reported separately), a sub-proof that is
    not proven makes this proof not proven, with the sub-proof's residual.
    """
    ok = sub.status != NOT_PROVEN
    return Step(f"{description} [{sub.name}: {sub.status}]", PART, None if ok else sub.residual, True if ok else None, sub)


def evaluation(description: str, expression: Any, verdict: bool | None) -> Step:
    """A step decided by exact evaluation (``verdict`` computed by the caller from exact numbers)."""
    return Step(description, VALUE, expression, verdict)


def limit(description: str, expr: Any, var: Any, expected: Any) -> Step:
    """A step ``lim_{var -> oo} expr == expected`` computed by :func:`sympy.limit`."""
    try:
        value = sp.limit(expr, var, sp.oo)
    except (NotImplementedError, ValueError, TypeError) as err:  # pragma: no cover - sympy corner
        return Step(f"{description} (sympy: {err})", LIMIT, expr, None)
    verdict, _ = is_zero(value - expected) if expected not in (sp.oo, -sp.oo) else (value == expected, value)
    return Step(description, LIMIT, value, verdict)


def bounded(description: str, expr: Any, var: Any) -> Step:
    """A step ``lim_{var -> oo} expr`` is finite (the limit is the step's expression)."""
    try:
        value = sp.limit(expr, var, sp.oo)
    except (NotImplementedError, ValueError, TypeError) as err:  # pragma: no cover - sympy corner
        return Step(f"{description} (sympy: {err})", LIMIT, expr, None)
    fin = value.is_finite
    return Step(description, LIMIT, value, None if fin is None else bool(fin))


def proof(name: str, statement: str, steps: Sequence[Step], *, relation: Any = None, assumed: Sequence[str] = (),
          notes: str = "") -> Proof:
    """A :class:`Proof` of ``steps`` (its status is computed)."""
    return Proof(name, statement, tuple(steps), relation, tuple(assumed), notes)


def assumed(name: str, statement: str, relation: Any = None) -> Proof:
    """A standard fact taken as given (listed with every proof that uses it)."""
    return Proof(name, statement, (), relation, (), "", True)


def certificate(
    name: str,
    statement: str,
    goal: Any,
    terms: Sequence[Term],
    *,
    model: Mapping[Any, Any] | None = None,
    side: Sequence[Step] = (),
    assumed: Sequence[str] = (),
    notes: str = "",
) -> Proof:
    r"""Prove ``goal`` (a sympy ``Le``/``Ge``/``Eq`` between a claim's own sides) by a gap certificate.

    The gap (``rhs - lhs`` for ``<=``, ``lhs - rhs`` for ``>=``, ``lhs - rhs`` for ``==``) after the
    ``model`` substitution (applied to the terms too) must equal :math:`\sum_j w_jq_j` exactly (an ``==`` goal takes no terms:
    the gap must vanish). ``side`` steps are checked too (conditions for applying the premises).
    """
    sub = dict(model or {})
    lhs = sp.sympify(goal.lhs).xreplace(sub)
    rhs = sp.sympify(goal.rhs).xreplace(sub)
    if isinstance(goal, sp.LessThan):
        gap = rhs - lhs
    elif isinstance(goal, (sp.GreaterThan, sp.Equality)):
        gap = lhs - rhs
    else:
        raise ValueError(f"{name}: the goal must be a <=, >= or == relation; got {goal!r}")
    steps = list(side)
    total = sp.Integer(0)
    for t in terms:
        w = sp.sympify(t.weight).xreplace(sub)
        q = sp.sympify(t.quantity).xreplace(sub)
        if not (w.is_number and w.is_extended_nonnegative):
            steps.append(sign(f"weight of '{t.description}' is nonnegative", w))
        if t.because is not None and t.part:
            steps.append(part(t.description, t.because))
        elif t.because is not None:
            steps.append(premise(t.description, t.because, q))
        else:
            steps.append(sign(t.description or "quantity is nonnegative", q))
        total = total + w * q
    what = "the gap vanishes" if not terms else "the gap equals the sum of the nonnegative terms"
    steps.append(identity(what, gap, total))
    return Proof(name, statement, tuple(steps), goal, tuple(assumed), notes)


# ----------------------------------------------------------------------------------------------
# standard facts (assumed) and elementary facts (proven)


DESCENT_LEMMA = assumed(
    "descent lemma",
    "f L-smooth: f(x - gamma g) <= f(x) - gamma <grad f(x), g> + (L gamma^2/2) ||g||^2 for every g",
)
SMOOTH_GRADIENT_BOUND = assumed(
    "smooth and bounded below",
    "f_i L_i-smooth and bounded below by f_i^inf: ||grad f_i(theta)||^2 <= 2 L_i (f_i(theta) - f_i^inf)",
)
EXPECTATION = assumed(
    "expectation is monotone",
    "an expectation (a sum with nonnegative weights over a finite law) preserves pointwise inequalities",
)
TELESCOPING = assumed(
    "weighted telescoping",
    "if D_{t+1} <= (1 + a) D_t - beta r_t + kappa with D_t >= 0, a >= 0, beta > 0 for t < T, then "
    "min_{t<T} r_t <= (1 + a)^T D_0/(beta T) + kappa/beta (weights (1 + a)^{-t-1}, [18])",
)


def cauchy_schwarz(d: int = 3) -> Proof:
    r"""Cauchy-Schwarz :math:`|\langle a, b\rangle| \le \|a\|\|b\|` through Lagrange's identity.

    .. math:: \|a\|^2\|b\|^2 - \langle a, b\rangle^2 = \sum_{i<j}(a_ib_j - a_jb_i)^2 \ge 0

    The identity is checked for symbolic vectors of dimension ``d`` (a sum over coordinate pairs:
    the same computation holds in every dimension). Its relation, in the symbols ``s`` (the inner
    product), ``g`` and ``n`` (the norms), is :math:`|s| \le gn`.
    """
    a = sp.symbols(f"a1:{d + 1}", real=True)
    bb = sp.symbols(f"b1:{d + 1}", real=True)
    gap = sum(x * x for x in a) * sum(y * y for y in bb) - sum(x * y for x, y in zip(a, bb)) ** 2
    sos = sum((a[i] * bb[j] - a[j] * bb[i]) ** 2 for i in range(d) for j in range(i + 1, d))
    s = sp.Symbol("s", real=True)
    g, n = sp.symbols("g n", nonnegative=True)
    steps = [identity("Lagrange's identity", gap, sos), sign("a sum of squares is nonnegative", sos)]
    return proof("Cauchy-Schwarz", "|<a, b>| <= ||a|| ||b||", steps, relation=sp.Le(sp.Abs(s), g * n),
                 assumed=("the square root is increasing on [0, oo)",))


def jensen_square(K: int = 3) -> Proof:
    r"""Jensen for the square on a finite law: :math:`(\mathbb E r)^2 \le \mathbb E r^2`.

    Homogeneous form, for nonnegative weights :math:`p` (with :math:`\sum p = 1` it is the claim):

    .. math:: \Big(\sum_k p_k\Big)\sum_k p_kr_k^2 - \Big(\sum_k p_kr_k\Big)^2 = \sum_{k<l}p_kp_l(r_k - r_l)^2.

    Relation in the symbols ``m`` (the mean) and ``v`` (the second moment): :math:`m^2 \le v`.
    """
    p = sp.symbols(f"p1:{K + 1}", nonnegative=True)
    r = sp.symbols(f"r1:{K + 1}", real=True)
    lhs = sum(p) * sum(pk * rk**2 for pk, rk in zip(p, r)) - sum(pk * rk for pk, rk in zip(p, r)) ** 2
    sos = sum(p[k] * p[l] * (r[k] - r[l]) ** 2 for k in range(K) for l in range(k + 1, K))
    m = sp.Symbol("m", real=True)
    v = sp.Symbol("v", nonnegative=True)
    steps = [identity("variance identity", lhs, sos), sign("a weighted sum of squares is nonnegative", sos)]
    return proof("Jensen (square)", "(E r)^2 <= E r^2 on a finite law", steps, relation=sp.Le(m**2, v))


def norm_of_mean(K: int = 2, d: int = 2) -> Proof:
    r"""Jensen for the norm: :math:`\|\mathbb E e\| \le \mathbb E\|e\|` on a finite law.

    .. math:: \Big(\sum_k p_k\|e_k\|\Big)^2 - \Big\|\sum_k p_ke_k\Big\|^2 = \sum_{k,l}p_kp_l\big(\|e_k\|\|e_l\| - \langle e_k, e_l\rangle\big)

    and each bracket is nonnegative by Cauchy-Schwarz. Relation in the symbols ``n`` (norm of the
    mean) and ``m`` (mean of the norm): :math:`n \le m`.
    """
    p = sp.symbols(f"p1:{K + 1}", nonnegative=True)
    e = [sp.symbols(f"e{k + 1}_1:{d + 1}", real=True) for k in range(K)]
    nk = sp.symbols(f"n1:{K + 1}", nonnegative=True)
    mean = [sum(p[k] * e[k][j] for k in range(K)) for j in range(d)]
    inner = {(k, l): sum(e[k][j] * e[l][j] for j in range(d)) for k in range(K) for l in range(K)}
    lhs = sum(p[k] * nk[k] for k in range(K)) ** 2 - sum(x * x for x in mean)
    rhs = sum(p[k] * p[l] * (nk[k] * nk[l] - inner[(k, l)]) for k in range(K) for l in range(K))
    t = {(k, l): sp.Symbol(f"t_{k + 1}{l + 1}", nonnegative=True) for k in range(K) for l in range(K)}
    weighted = sum(p[k] * p[l] * t[(k, l)] for k in range(K) for l in range(K))
    n, m = sp.symbols("n m", nonnegative=True)
    steps = [
        identity("expand both squares", lhs, rhs),
        premise("||e_k|| ||e_l|| - <e_k, e_l> =: t_kl >= 0", cauchy_schwarz(d)),
        sign("sum of p_k p_l t_kl with nonnegative factors", weighted),
    ]
    return proof("Jensen (norm)", "||E e|| <= E||e|| on a finite law", steps, relation=sp.Le(n, m),
                 assumed=("the square root is increasing on [0, oo)",))


def law_moments(law: Any) -> Proof:
    r"""The law's stated :math:`\mathbb E[vv^\top] = \mathrm{diag}(d) + \beta\mathbf 1\mathbf 1^\top` and :math:`\mathbb E[v] = \mathbf 1`, by enumeration.

    ``law`` is an exact :class:`theory.sampling.SamplingLaw` (small support); the identities compare
    the enumerated moments with :meth:`~theory.sampling.SamplingLaw.diagonal_plus_constant`.
    """
    sup = law.support()
    V = [[sp.Rational(str(x)) for x in row] for row in sup.vectors.tolist()]
    P = [sp.Rational(str(x)) for x in sup.probs.tolist()]
    m = law.m
    d, beta = law.diagonal_plus_constant()
    steps = []
    for i in range(m):
        steps.append(identity(f"E[v_{i + 1}] = 1", sum(p * v[i] for p, v in zip(P, V)), 1))
    for i in range(m):
        for j in range(i, m):
            stated = sp.Rational(str(beta)) + (sp.Rational(str(d[i])) if i == j else 0)
            steps.append(identity(f"E[v_{i + 1} v_{j + 1}]", sum(p * v[i] * v[j] for p, v in zip(P, V)), stated))
    return proof(f"moments of {law!r}", "E[v] = 1 and E[v v^T] = diag(d) + beta 1 1^T as the law states", steps)


# ----------------------------------------------------------------------------------------------
# optimal parameters (theory.optimize)


S = SYMBOLS


def prove_optimal_zeta_bias_floor() -> Proof:
    r""":math:`\zeta = 1` minimizes :math:`c/b = \zeta^2\epsilon^2/(2\zeta - 1)` and Corollary 1's :math:`3\zeta\epsilon^2/(2b)` on :math:`\zeta > 1/2`.

    Certificate: :math:`\frac{\zeta}{2b(\zeta)} - 1 = \frac{(\zeta - 1)^2}{2\zeta - 1} \ge 0`.
    """
    z = S.zeta
    f = z / (2 * _b(z))
    cert = (z - 1) ** 2 / (2 * z - 1)
    steps = [
        identity("zeta/(2b) - 1 = (zeta - 1)^2/(2 zeta - 1)", f - 1, cert),
        sign("certificate >= 0 for zeta > 1/2", cert.subs(ZETA_OVER_HALF)),
        identity("value at zeta = 1", f.subs(z, 1), 1),
    ]
    return proof("optimal.zeta_bias_floor", "argmin_{zeta > 1/2} c(zeta, eps^2)/b(zeta) = 1", steps)


def prove_optimal_theorem1_zeta() -> Proof:
    r""":math:`g(\zeta) = (2\zeta K + \zeta^2\epsilon^2)/(2\zeta - 1)` is minimized on :math:`\zeta > 1/2` at
    :math:`\zeta^* = \frac12(1 + \sqrt{1 + 4K/\epsilon^2})` (:math:`K, \epsilon^2 > 0`).

    Certificate: with :math:`K = \epsilon^2(\zeta^{*2} - \zeta^*)`, :math:`g(\zeta) - \zeta^{*2}\epsilon^2 = \epsilon^2(\zeta - \zeta^*)^2/(2\zeta - 1)`.
    """
    z = S.zeta
    e2 = sp.Symbol("epsilon2", positive=True)
    K = sp.Symbol("K", positive=True)
    zs = sp.Symbol("zeta_star", positive=True)
    g = (2 * z * K + z**2 * e2) / (2 * z - 1)
    star = (1 + sp.sqrt(1 + 4 * K / e2)) / 2
    steps = [
        identity("zeta*^2 - zeta* = K/eps^2", star**2 - star, K / e2),
        identity(
            "g(zeta) - zeta*^2 eps^2 = eps^2 (zeta - zeta*)^2/(2 zeta - 1) when K = eps^2 (zeta*^2 - zeta*)",
            (g - zs**2 * e2).subs(K, e2 * (zs**2 - zs)),
            e2 * (z - zs) ** 2 / (2 * z - 1),
        ),
        sign("certificate >= 0 for zeta > 1/2", (e2 * (z - zs) ** 2 / (2 * z - 1)).subs(ZETA_OVER_HALF)),
        sign("zeta* > 1/2", star - sp.Rational(1, 2), strict=True),
    ]
    return proof("optimal.theorem1_zeta", "zeta* = (1 + sqrt(1 + 4K/eps^2))/2 minimizes (2 zeta K + zeta^2 eps^2)/(2 zeta - 1)", steps)


def prove_optimal_theorem1_eta() -> Proof:
    r""":math:`\frac{1+\eta}{\eta}Q + (1+\eta)R` is minimized at :math:`\eta^* = \sqrt{Q/R}` with value :math:`(\sqrt Q + \sqrt R)^2`.

    Certificate: :math:`Q/\eta + \eta R - 2\sqrt{QR} = (\sqrt{Q/\eta} - \sqrt{\eta R})^2`.
    """
    Q, R = sp.symbols("Q R", positive=True)
    eta = S.eta
    expr = (1 + eta) / eta * Q + (1 + eta) * R
    cert = (sp.sqrt(Q / eta) - sp.sqrt(eta * R)) ** 2
    steps = [
        identity("expr - (sqrt Q + sqrt R)^2 = (sqrt(Q/eta) - sqrt(eta R))^2", expr - (sp.sqrt(Q) + sp.sqrt(R)) ** 2, cert),
        sign("certificate >= 0", cert),
        identity("value at eta* = sqrt(Q/R)", expr.subs(eta, sp.sqrt(Q / R)), (sp.sqrt(Q) + sp.sqrt(R)) ** 2),
    ]
    return proof("optimal.theorem1_eta", "eta* = sqrt(Q/R) minimizes (1+eta)/eta Q + (1+eta) R", steps)


def prove_optimal_corollary1_eta() -> Proof:
    r"""Corollary 1's :math:`T(\epsilon^2)` at fixed :math:`\zeta` is minimized at :math:`\eta^* = \max\{\zeta u/2 - w, \sqrt w\}`
    (:func:`theory.optimize.optimal_corollary1_eta`).

    Certificates: each Max entry factors as :math:`\frac{1+\eta}{\eta}\times(\cdot)`;
    :math:`(1 + 1/\eta)(w + \eta) - (1 + \sqrt w)^2 = (\sqrt\eta - \sqrt{w/\eta})^2`; :math:`u(1 + 1/\eta)` is decreasing.
    """
    z, eta, A, C = S.zeta, S.eta, S.A, S.C
    B = sp.Symbol("B", positive=True)
    d0 = sp.Symbol("delta_0", positive=True)
    e2 = sp.Symbol("epsilon2", positive=True)
    w, u = sp.symbols("w u", nonnegative=True)
    bz = _b(z)
    fac = (1 + eta) / eta
    steps = [
        identity("B~/b = (1+eta)/eta * B/b", _b_tilde(eta, B) / bz, fac * B / bz),
        identity("12 delta0 A~/(zeta eps^2) = (1+eta)/eta * 12 delta0 A/(zeta eps^2)", 12 * d0 * _a_tilde(eta, A) / (z * e2),
                 fac * 12 * d0 * A / (z * e2)),
        identity(
            "2(1+eta)(C + eta eps^2)/(eta zeta eps^2) = (1+eta)/eta * (2/zeta)(C/eps^2 + eta)",
            2 * (1 + eta) * (C + eta * e2) / (eta * z * e2),
            fac * 2 / z * (C / e2 + eta),
        ),
        identity(
            "(1 + 1/eta)(w + eta) - (1 + sqrt w)^2 = (sqrt eta - sqrt(w/eta))^2",
            (1 + 1 / eta) * (w + eta) - (1 + sp.sqrt(w)) ** 2,
            (sp.sqrt(eta) - sp.sqrt(w / eta)) ** 2,
        ),
        sign("d/d eta [u (1 + 1/eta)] = -u/eta^2 <= 0", -sp.diff(u * (1 + 1 / eta), eta)),
    ]
    return proof(
        "optimal.corollary1_eta",
        "eta* = max(zeta u/2 - C/eps^2, sqrt(C/eps^2)) minimizes Corollary 1's T(eps^2) at fixed zeta",
        steps,
        assumed=("a function decreasing on (0, eta_c] and minimized at sqrt(w) on [eta_c, oo) has its minimum at max(eta_c, sqrt w)",),
    )


def _law_facts() -> tuple[Proof, ...]:
    from fractions import Fraction as Fr

    from .sampling import Independent, SingleImportance, SingleUniform, TauNice, WithReplacement

    laws = (
        SingleUniform(3),
        SingleImportance([Fr(1, 2), Fr(1, 3), Fr(1, 6)]),
        TauNice(4, 2),
        TauNice(5, 3),
        Independent([Fr(1, 2), Fr(1, 3), Fr(3, 4)]),
        WithReplacement([Fr(1, 2), Fr(1, 4), Fr(1, 4)], 2),
        WithReplacement([Fr(2, 3), Fr(1, 3)], 3),
    )
    return tuple(law_moments(law) for law in laws)


FACTS: dict[str, Callable[[], Any]] = {
    "cauchy_schwarz": cauchy_schwarz,
    "jensen_square": jensen_square,
    "norm_of_mean": norm_of_mean,
    "law_moments": _law_facts,
    "optimal_zeta_bias_floor": prove_optimal_zeta_bias_floor,
    "optimal_theorem1_zeta": prove_optimal_theorem1_zeta,
    "optimal_theorem1_eta": prove_optimal_theorem1_eta,
    "optimal_corollary1_eta": prove_optimal_corollary1_eta,
}
"""The elementary facts of this module, by name (the claims' own proofs live with the claims)."""


def prove_all() -> tuple[Proof, ...]:
    """Every elementary fact of :data:`FACTS`, as a flat tuple."""
    out: list[Proof] = []
    for fn in FACTS.values():
        res = fn()
        out.extend(res if isinstance(res, tuple) else (res,))
    for r in out:
        logger.info("%s: %s", r.name, r.status)
    return tuple(out)

