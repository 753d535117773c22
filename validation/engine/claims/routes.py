r"""Proof routes shared by several claims: facts used as premises, the descent route, the corollary route.

* :func:`hypothesis_fact` -- a claim's own hypothesis, used as a premise of its proof (assumed).
* :func:`descent_route` -- for a bound of the form
  :math:`\min_{t<T}\mathbb E\|\nabla f(x_t)\|^2 \le \dots` under [5, Assumption 9] with constants
  :math:`(b, c, A, B, C)` and a step :math:`\alpha \le b/(LB)`: the one-step inequality (descent lemma +
  both inequalities of Assumption 9, a sympy certificate), weighted telescoping, and the gap between the
  claim's right side and the telescoped bound
  :math:`2(1 + LA\alpha^2)^T\delta_0/(b\alpha T) + LC\alpha/b + 2c/b`.
* :func:`corollary_route` -- for a corollary that prescribes
  :math:`T \ge \frac{12\delta_0L}{E}\max\{B/b, 12\delta_0A/E, 2C/E\}` and
  :math:`\alpha = \min\{1/\sqrt{LAT}, b/(LB), E/(2LC)\}` on top of a theorem of the form
  :math:`2(1 + LA\alpha^2)^T\delta_0/(b\alpha T) + LC\alpha/b + c/b`: each term bounded by sympy, then the
  claim's own bound.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import sympy as sp

from theory import proofs as P

from ..statement import O, Statement

__all__ = ["hypothesis_fact", "descent_route", "corollary_route", "match_entries", "LOG_BOUND", "MAX_MIN"]

LOG_BOUND = P.assumed("log(1 + x) <= x", "log(1 + x) <= x for x >= 0, hence (1 + x/T)^T <= e^x; and e < 3")
MAX_MIN = P.assumed("max and min", "max_i x_i >= x_j and min_i x_i <= x_j for every j")


def hypothesis_fact(name: str, relation: Any) -> P.Proof:
    """A hypothesis of the claim itself, used as a premise of its own proof."""
    return P.assumed(f"hypothesis: {name}", f"hypothesis of the claim: {name}", relation)


def _one_step() -> P.Proof:
    r"""One step of biased SGD: :math:`D_{t+1} \le (1 + LA\alpha^2)D_t - \frac{\alpha b}2r_t + \alpha c + \frac{L\alpha^2C}2`.

    :math:`D_t = \mathbb Ef(x_t) - f^*`, :math:`r_t = \mathbb E\|\nabla f(x_t)\|^2`, :math:`p = \mathbb E\langle\nabla f, g\rangle`,
    :math:`q = \mathbb E\|g\|^2`.
    """
    Dt, Dn, r, q = sp.symbols("D_t D_t+1 r_t q_t", nonnegative=True)
    p = sp.Symbol("p_t", real=True)
    b, L, al = sp.Symbol("b", positive=True), O.L, O.alpha
    c, A, B, C = O.c, O.A, O.B, O.C
    goal = sp.Le(Dn, (1 + L * A * al**2) * Dt - al * b / 2 * r + al * c + L * al**2 * C / 2)
    descent = P.assumed("descent lemma (in expectation)", P.DESCENT_LEMMA.statement, sp.Le(Dn, Dt - al * p + L * al**2 / 2 * q))
    first = P.assumed("[5, Assumption 9], first inequality", "<grad f, E g> >= b ||grad f||^2 - c", sp.Ge(p, b * r - c))
    second = P.assumed("[5, Assumption 9], second inequality", "E||g||^2 <= 2A (f - f*) + B ||grad f||^2 + C",
                       sp.Le(q, 2 * A * Dt + B * r + C))
    step = hypothesis_fact("0 < alpha <= b/(L B)", sp.Ge(b - L * al * B, 0))
    terms = [
        P.Term(descent.gap(), 1, descent, "descent lemma"),
        P.Term(first.gap(), al, first, "Assumption 9 (first) times alpha"),
        P.Term(second.gap(), L * al**2 / 2, second, "Assumption 9 (second) times L alpha^2/2"),
        P.Term(step.gap(), al * r / 2, step, "the step condition times alpha r_t/2"),
    ]
    return P.certificate("one step of SGD under [5, Assumption 9]", "D_{t+1} <= (1 + L A alpha^2) D_t - (alpha b/2) r_t + alpha c + L alpha^2 C/2",
                         goal, terms)


def descent_route(name: str, stmt: Statement, *, b: Any, c: Any, A: Any, B: Any, C: Any,
                  side: Sequence[P.Step] = (), notes: str = "") -> P.Proof:
    r"""Prove ``stmt`` (``min_grad_sq <= rhs``) through one step of SGD and weighted telescoping (module docstring).

    ``b, c, A, B, C`` are the constants of [5, Assumption 9] as expressions in the statement's symbols.
    """
    one = _one_step()
    a = O.L * A * O.alpha**2
    beta = O.alpha * b / 2
    kappa = O.alpha * c + O.L * O.alpha**2 * C / 2
    telescoped = (1 + a) ** O.T * O.delta0 / (beta * O.T) + kappa / beta
    tele = P.proof(
        "telescoped recursion",
        "min_{t<T} E||grad f(x_t)||^2 <= (1 + a)^T delta0/(beta T) + kappa/beta",
        [P.part("the one-step inequality with the claim's constants", one),
         P.premise("weighted telescoping of D_{t+1} <= (1 + a) D_t - beta r_t + kappa", P.TELESCOPING)],
        relation=sp.Le(O.min_grad_sq, telescoped),
    )
    terms = [
        P.Term(tele.gap(), 1, tele, "the telescoped bound", part=True),
        P.Term(stmt.rhs - telescoped, 1, None, "the claim's right side minus the telescoped bound is nonnegative"),
    ]
    return P.certificate(name, stmt.text, stmt.relation, terms, side=side, notes=notes)


def match_entries(what: str, stated: Any, derived: Sequence[Any], op: type) -> list[P.Step]:
    """Steps: every entry of ``derived`` is an argument of the single ``op`` (``sp.Max``/``sp.Min``) in ``stated``, and no other."""
    found = list(sp.sympify(stated).atoms(op))
    if len(found) != 1:
        return [P.evaluation(f"{what}: the prescription is a single {op.__name__} of entries", stated, False)]
    args = list(found[0].args)
    steps = []
    for k, d in enumerate(derived):
        hit = next((a for a in args if P.is_zero(a - d)[0]), None)
        if hit is None:
            steps.append(P.Step(f"{what}: entry {k + 1} of the derivation appears in the prescription", "identity", d, None))
        else:
            steps.append(P.Step(f"{what}: entry {k + 1} of the derivation appears in the prescription", "identity", sp.Integer(0), True))
            args.remove(hit)
    if args:
        steps.append(P.evaluation(f"{what}: the prescription has no other entries", sp.Tuple(*args), False))
    return steps


@functools.lru_cache(maxsize=64)
def _term_bounds(b: Any, A: Any, B: Any, C: Any, E: Any, domain: tuple) -> tuple[P.Proof, P.Proof]:
    """The initial-gap and noise terms of a corollary route, bounded by sympy (a pure function: cached)."""
    L, d0, T, al = O.L, O.delta0, O.T, O.alpha
    dom = dict(domain)
    pre = 12 * d0 * L / E
    entries_T = [B / b, 12 * d0 * A / E, 2 * C / E]
    u = sp.Symbol("u", nonnegative=True)
    r1, r2, r3 = sp.sqrt(L * A * T), L * B / b, 2 * L * C / E
    T1, T2, T3 = pre * entries_T[1], pre * entries_T[0], pre * entries_T[2]

    def pos(expr: Any) -> Any:
        """The nonzero case of each entry: nonnegative constants positive (a zero constant makes its entry vanish)."""
        e = sp.sympify(expr).xreplace(dom)
        return e.xreplace({s: sp.Symbol(s.name, positive=True) for s in e.free_symbols
                           if s.is_nonnegative and not s.is_positive and s != u})

    bounds = P.proof(
        "term bounds", "2 delta0/(alpha T) <= E/6 for T >= T_min and alpha = min{...}",
        [
            P.sign("T >= T1 = 144 delta0^2 L A/E^2 gives (E/6)^2 >= (2 delta0 sqrt(L A/T))^2",
                   pos(((E / 6) ** 2 - (2 * d0) ** 2 * L * A / T).subs(T, T1 + u))),
            P.sign("T >= T2 gives E/6 >= 2 delta0 (L B/b)/T", pos((E / 6 - 2 * d0 * r2 / T).subs(T, T2 + u))),
            P.sign("T >= T3 gives E/6 >= 2 delta0 (2 L C/E)/T", pos((E / 6 - 2 * d0 * r3 / T).subs(T, T3 + u))),
            P.identity("L A alpha^2 <= L A (1/sqrt(L A T))^2 = 1/T", L * A / r1**2, 1 / T),
            P.premise("(1 + L A alpha^2)^T <= (1 + 1/T)^T <= e", LOG_BOUND),
            P.premise("1/alpha = max{r1, r2, r3} and T >= T_i", MAX_MIN),
        ],
        relation=sp.Le(2 * (1 + L * A * al**2) ** T * d0 / (b * al * T), sp.E * E / (6 * b)),
        assumed=("a zero constant (A, B, C or delta0) makes its entry of T_min and alpha vanish or infinite, and its term 0",),
    )
    noise = P.proof(
        "noise term", "L C alpha/b <= E/(2b) since alpha <= E/(2 L C)",
        [P.identity("L C (E/(2 L C))/b = E/(2b)", L * C * (E / (2 * L * C)) / b, E / (2 * b)), P.premise("alpha <= each entry", MAX_MIN)],
        relation=sp.Le(L * C * al / b, E / (2 * b)),
    )
    return bounds, noise


def corollary_route(name: str, stmt: Statement, premise: P.Proof, premise_relation: Any, *, b: Any, c: Any, A: Any, B: Any,
                    C: Any, E: Any, side: Sequence[P.Step] = (), domain: Any = None, notes: str = "") -> P.Proof:
    r"""Prove a corollary ``min <= rhs`` from a theorem ``min <= 2(1 + LA\alpha^2)^T\delta_0/(b\alpha T) + LC\alpha/b + c/b``.

    ``premise_relation`` is the theorem's relation in the corollary's symbols; ``E`` the target of the
    prescriptions (:math:`\zeta\epsilon^2` for Corollary 1, :math:`\epsilon^2` for [18]'s corollary);
    ``domain`` a substitution encoding a hypothesis (e.g. :math:`\zeta = 1/2 + \rho`) for the signs.
    """
    dom = dict(domain or {})
    L, d0, T, al = O.L, O.delta0, O.T, O.alpha
    pre = 12 * d0 * L / E
    Tmin = stmt.prescriptions["T_min"]
    alpha = stmt.prescriptions["alpha"]
    entries_T = [B / b, 12 * d0 * A / E, 2 * C / E]
    entries_a = [1 / sp.sqrt(L * A * T), b / (L * B), E / (2 * L * C)]
    Mx = [m for m in sp.sympify(Tmin).atoms(sp.Max)]
    steps: list[P.Step] = list(side)
    steps += match_entries("horizon", Tmin, entries_T, sp.Max)
    steps.append(P.identity("horizon: the prefactor is 12 delta0 L/E", sp.sympify(Tmin) / Mx[0] if len(Mx) == 1 else Tmin, pre))
    steps += match_entries("step", alpha, entries_a, sp.Min)
    Eg = sp.Symbol("E", positive=True)  # the bounds are the same computation for every target E > 0: derive once
    bounds, noise = _term_bounds(b, A, B, C, Eg, tuple(sorted(dom.items(), key=str)))
    bounds = dataclasses.replace(bounds, relation=bounds.relation.xreplace({Eg: E}))
    noise = dataclasses.replace(noise, relation=noise.relation.xreplace({Eg: E}))
    terms = [
        P.Term(sp.sympify(premise_relation.rhs) - sp.sympify(premise_relation.lhs), 1, premise, "the theorem the corollary applies"),
        P.Term(bounds.gap(), 1, bounds, "the initial-gap term is at most e E/(6b)", part=True),
        P.Term(noise.gap(), 1, noise, "the noise term is at most E/(2b)", part=True),
        P.Term(stmt.rhs - (sp.E * E / (6 * b) + E / (2 * b) + c / b), 1, None, "the claim's bound covers e E/(6b) + E/(2b) + c/b"),
    ]
    premise_terms = sp.sympify(premise_relation.rhs) - (2 * (1 + L * A * al**2) ** T * d0 / (b * al * T) + L * C * al / b + c / b)
    steps.append(P.identity("the theorem's right side is 2(1 + L A alpha^2)^T delta0/(b alpha T) + L C alpha/b + c/b", premise_terms, 0))
    return P.certificate(name, stmt.text, stmt.relation, terms, side=steps, model=dom, notes=notes)
