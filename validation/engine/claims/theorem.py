r"""Theorem 1, Corollary 1 and Remark 2 of the paper, with their readings.

* Theorem 1 as printed (constants :math:`c_1, \dots, c_6` of its proof, accuracy :math:`\mathbb E[\epsilon_T^2]`);
  corrections: the factor :math:`(1 + L\tilde A\alpha^2)^T` of the cited [5, Theorem 3] restored in the
  initial-gap term; the accuracy read as :math:`\max_{t<T}\mathbb E[\epsilon_t^2]` (the uniform bound
  [5, Assumption 9] needs); as an alternative, the average over :math:`t < T`.
* Corollary 1 (its proof's :math:`T(\epsilon^2)`, step and bound :math:`3\zeta\epsilon^2/(2b)`); corrections:
  the accuracy read as the maximum, or (alternative) the average.
* Remark 2 ("following similar steps as the proof of Corollary 1"): as printed, Corollary 1's step
  with its premise :math:`T \ge T(\mathbb E[\epsilon_T^2])`; the other admissible step policies are
  alternatives: the premise dropped, a step fixed independently of :math:`T`, a step shrinking like
  :math:`T^{-1/2}`. Each is decided in the limit :math:`T \to \infty` (:class:`~validation.engine.families.LimitFamily`);
  :math:`\zeta = 1/2` (allowed as printed) is a boundary where :math:`b(\zeta) = 0`.

Every statement is built from :mod:`theory.constants` when called.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from theory import constants as K
from theory import proofs as P

from ..families import HorizonFamily, LimitFamily, RunFamily
from ..statement import O, Boundary, Claim, Correction, Hypothesis, Reading, Statement
from .routes import corollary_route

__all__ = ["CLAIMS", "theorem1_statement", "corollary1_statement", "remark2_statement", "accuracy_of"]

S = K.SYMBOLS
HALF = sp.Rational(1, 2)
ACCURACIES = (O.eps2_T, O.eps2_max, O.eps2_avg)


def accuracy_of(stmt: Statement) -> sp.Symbol:
    """The accuracy observable a reading uses (E[eps_T^2], its max over t < T, or its average)."""
    names = stmt.free_names() | {s.name for e in stmt.prescriptions.values() for s in sp.sympify(e).free_symbols}
    hit = [a for a in ACCURACIES if a.name in names]
    if len(hit) != 1:
        raise ValueError(f"a reading must use exactly one accuracy observable; found {[a.name for a in hit]}")
    return hit[0]


def _read_max(st: Statement) -> Statement:
    return st.substitute({O.eps2_T: O.eps2_max})


def _read_avg(st: Statement) -> Statement:
    return st.substitute({O.eps2_T: O.eps2_avg})


MAX = Correction("max accuracy", "the accuracy read as max_{t<T} E[eps_t^2] (the uniform bound [5, Assumption 9] needs)", _read_max)
AVERAGE = Correction("average accuracy", "the accuracy read as the average (1/T) sum_{t<T} E[eps_t^2]", _read_avg, alternative=True)


def _cited(claim_id: str, reading: str = "as printed") -> P.Proof:
    from .registry import get_claim

    return get_claim(claim_id).proof(reading)


# ----------------------------------------------------------------------------------------------
# Theorem 1


def theorem1_statement() -> Statement:
    acc = O.eps2_T
    c1, c2, c3, c4, c5, c6 = (getattr(K, f"c{k}").expr for k in range(1, 7))
    L, al, T, d0 = O.L, O.alpha, O.T, O.delta0
    terms = (
        ("initial gap", (c2 + c3 * L * al**2) / (al * T) * d0),
        ("noise", c4 * L * al),
        ("accuracy", c5 * acc * L * al + c6 * acc),
    )
    return Statement(
        O.min_grad_sq, "<=", sp.Add(*(e for _, e in terms)), terms=terms,
        hypotheses=(
            Hypothesis("(A, B, C) of Lemma 1", None, "the run's Lemma 1 constants (by construction)"),
            Hypothesis("zeta > 1/2", sp.Gt(O.zeta, HALF)), Hypothesis("eta > 0", sp.Gt(O.eta, 0)),
            Hypothesis("L > 0", sp.Gt(L, 0)), Hypothesis("delta0 >= 0", sp.Ge(d0, 0)),
            Hypothesis("alpha > 0", sp.Gt(al, 0)), Hypothesis("alpha <= c1/L", sp.Le(al, c1 / L)), Hypothesis("T >= 1", sp.Ge(T, 1)),
        ),
        prescriptions={"alpha_max": c1 / L},
        text="min_{t<T} E||grad f(theta_t)||^2 <= (c2 + c3 L alpha^2)/(alpha T) delta0 + (c4 + c5 E[eps_T^2]) L alpha + c6 E[eps_T^2], "
             "0 < alpha <= c1/L",
    )


def _restore_exponent(st: Statement) -> Statement:
    L, al, T, d0 = O.L, O.alpha, O.T, O.delta0
    return st.with_term("initial gap", 2 * (1 + L * K.A_tilde.expr * al**2) ** T * d0 / (K.b.expr * al * T))


EXPONENT = Correction("source exponent", "the factor (1 + L A~ alpha^2)^T of [5, Theorem 3] restored in the initial-gap term",
                      _restore_exponent)


def _source_substitution(acc: sp.Symbol) -> dict:
    """[5, Theorem 3]'s constants from Proposition 1 with one accuracy ``acc`` for every iterate."""
    e = {S.eps2: acc}
    return {O.b: K.b.expr, O.c: K.c.expr.xreplace(e), O.A: K.A_tilde.expr, O.B: K.B_tilde.expr, O.C: K.C_tilde.expr.xreplace(e)}


def _source_side(acc: sp.Symbol) -> list[P.Step]:
    return [
        P.premise("(8) is the first inequality of [5, Assumption 9] with b(zeta), c(zeta, E[eps_t^2]) at every iterate",
                  _cited("paper.prop1.eq8")),
        P.premise("(9) is the second inequality with A~, B~, C~(eta, E[eps_t^2])", _cited("paper.prop1.eq9")),
        P.sign("b(zeta) > 0 for zeta = 1/2 + rho > 1/2", K.b.expr.subs(K.ZETA_OVER_HALF), strict=True),
        P.identity("the step condition of [5, Theorem 3]: c1/L = b(zeta)/(L B~(eta))", K.c1.expr / O.L, K.b.expr / (O.L * K.B_tilde.expr)),
        P.sign("one accuracy bounds every iterate's E||e_v||^2 (constant c, C~ in [5, Assumption 9]): it must be >= max_t E[eps_t^2]",
               acc - O.eps2_max),
    ]


def theorem1_proof(rd: Reading) -> P.Proof:
    r"""Apply [5, Theorem 3] with Proposition 1's constants (the paper's proof), then compare with the reading's right side."""
    st = rd.statement
    acc = accuracy_of(st)
    dem = _cited("demidovich.theorem3")
    sub = _source_substitution(acc)
    source_rhs = dem.relation.rhs.xreplace(sub)
    terms = [
        P.Term(dem.gap(sub), 1, dem, "[5, Theorem 3] with Proposition 1's constants"),
        P.Term(st.rhs - source_rhs, 1, None, "the reading's right side is at least [5, Theorem 3]'s"),
    ]
    return P.certificate("paper.theorem1", st.text, st.relation, terms, side=_source_side(acc))


THEOREM1 = Claim(
    id="paper.theorem1", title="Theorem 1", source="paper, Theorem 1 with c1..c6 of its proof",
    text="Let Assumption 1 hold, delta0 = f(theta0) - f*. There exist c1, ..., c6 > 0 such that for 0 < alpha <= c1/L, "
         "min_{0<=t<=T-1} E||grad f(theta_t)||^2 <= (c2 + c3 L alpha^2)/(alpha T) delta0 + (c4 + c5 E[eps_T^2]) L alpha + c6 E[eps_T^2], "
         "with c1 = b/B~, c2 = 2/b, c3 = 2A~/b, c4 = (1+eta)C/(eta b), c5 = (1+eta)/b, c6 = zeta/(2b) (zeta > 1/2, eta > 0).",
    statement=theorem1_statement, family=RunFamily(), corrections=(EXPONENT, MAX, AVERAGE), prove=theorem1_proof,
    notes="The proof cites [5, Theorem 3] with Proposition 1's constants; with the proof's constants c4 = 0 when C = 0 and "
          "c1 = +oo when B = 0 (then the step condition is void), although the theorem states c_i > 0.",
)


# ----------------------------------------------------------------------------------------------
# Corollary 1


def _corollary_parts(acc: sp.Symbol) -> tuple:
    b, At, Bt, C, z, eta, L, d0, T = K.b.expr, K.A_tilde.expr, K.B_tilde.expr, O.C, O.zeta, O.eta, O.L, O.delta0, O.T
    T_min = 12 * d0 * L / (z * acc) * sp.Max(Bt / b, 12 * d0 * At / (z * acc), 2 * (1 + eta) * (C + eta * acc) / (eta * z * acc))
    alpha = sp.Min(1 / sp.sqrt(L * At * T), b / (L * Bt), eta * z * acc / (2 * L * (1 + eta) * (C + eta * acc)))
    return T_min, alpha


def corollary1_statement() -> Statement:
    acc = O.eps2_T
    T_min, alpha = _corollary_parts(acc)
    return Statement(
        O.min_grad_sq, "<=", 3 * O.zeta * acc / (2 * K.b.expr),
        hypotheses=(
            Hypothesis("(A, B, C) of Lemma 1", None, "the run's Lemma 1 constants (by construction)"),
            Hypothesis("zeta > 1/2", sp.Gt(O.zeta, HALF)), Hypothesis("eta > 0", sp.Gt(O.eta, 0)), Hypothesis("L > 0", sp.Gt(O.L, 0)),
            Hypothesis("E[eps_T^2] > 0", sp.Gt(acc, 0)), Hypothesis("T >= T(E[eps_T^2])", sp.Ge(O.T, T_min)),
            Hypothesis("alpha = alpha(T)", sp.Eq(O.alpha, alpha)),
        ),
        prescriptions={"T_min": T_min, "alpha": alpha},
        text="T >= T(E[eps_T^2]) and alpha = min{1/sqrt(L A~ T), b/(L B~), eta zeta E[eps_T^2]/(2L(1+eta)(C + eta E[eps_T^2]))} give "
             "min_{t<T} E||grad f(theta_t)||^2 <= 3 zeta E[eps_T^2]/(2 b(zeta))",
    )


def corollary1_proof(rd: Reading) -> P.Proof:
    st = rd.statement
    acc = accuracy_of(st)
    th = _cited("paper.theorem1", "all corrections")
    from .registry import get_claim

    src = get_claim("paper.theorem1").reading("all corrections").statement.relation.xreplace({O.eps2_max: acc})
    e = {S.eps2: acc}
    side = [P.sign("the accuracy must bound every iterate's E[eps_t^2] (Theorem 1 via [5, Theorem 3])", acc - O.eps2_max)]
    return corollary_route("paper.corollary1", st, th, src, b=K.b.expr, c=K.c.expr.xreplace(e), A=K.A_tilde.expr,
                           B=K.B_tilde.expr, C=K.C_tilde.expr.xreplace(e), E=O.zeta * acc, side=side, domain=K.ZETA_OVER_HALF)


COROLLARY1 = Claim(
    id="paper.corollary1", title="Corollary 1", source="paper, Corollary 1 and its proof (T(E[eps_T^2]), alpha, 3 zeta E[eps_T^2]/(2b))",
    text="For all fixed accuracy delta > 0 there exist alpha > 0 and T_delta with min_{t<T} E||grad f(theta_t)||^2 <= O(delta) for "
         "T >= T_delta; the proof sets delta = E[eps_T^2], T(E[eps_T^2]) and alpha as printed and obtains 3 zeta E[eps_T^2]/(2 b(zeta)).",
    statement=corollary1_statement, family=HorizonFamily(), corrections=(MAX, AVERAGE), prove=corollary1_proof,
)


# ----------------------------------------------------------------------------------------------
# Remark 2


def _b_over_bt() -> sp.Expr:
    """min{1, c1}/L written without a division by B (so B = 0 gives 1/L): b/(L max{b, B~})."""
    return K.b.expr / (O.L * sp.Max(K.b.expr, K.B_tilde.expr))


def remark2_statement() -> Statement:
    acc = O.eps2_T
    T_min, alpha = _corollary_parts(acc)
    return Statement(
        O.lim_min, "==", sp.Integer(0),
        hypotheses=(
            Hypothesis("eps_t deterministic, nonnegative", None, "a schedule times a theta-independent error (by construction)"),
            Hypothesis("sum_t E[eps_t^2] < oo", sp.StrictLessThan(O.eps2_sum, sp.oo)),
            Hypothesis("zeta >= 1/2", sp.Ge(O.zeta, HALF)), Hypothesis("eta > 0", sp.Gt(O.eta, 0)),
            Hypothesis("T >= T(E[eps_T^2]) for all large T", sp.Le(O.premise_ratio, 1)),
        ),
        boundaries=(Boundary("b(zeta)", K.b.expr, "Corollary 1's step has the entry b/(L B~) and T(E[eps_T^2]) divides by b; "
                             "at zeta = 1/2 the recipe is undefined (alpha = 0, or an infinite horizon)"),),
        prescriptions={"alpha_T": alpha, "T_min": T_min},
        text="sum_t eps_t^2 < oo and zeta >= 1/2, following the proof of Corollary 1 (its step and T >= T(E[eps_T^2])): "
             "lim_{T->oo} min_{t<T} E||grad f(theta_t)||^2 = 0",
    )


def _without_premise(st: Statement) -> Statement:
    hyps = tuple(h for h in st.hypotheses if not h.name.startswith("T >= T("))
    pres = {k: v for k, v in st.prescriptions.items() if k != "T_min"}
    return replace(st, hypotheses=hyps, prescriptions=pres)


def _fixed_step(st: Statement) -> Statement:
    out = _without_premise(st)
    return replace(out, prescriptions={"alpha_T": O.step_scale * _b_over_bt()},
                   text="a step alpha = a min{1, c1}/L fixed independently of T: lim_{T->oo} min_{t<T} E||grad f(theta_t)||^2 = 0")


def _power_step(st: Statement) -> Statement:
    out = _without_premise(st)
    return replace(out, prescriptions={"alpha_T": O.step_scale * _b_over_bt() / sp.sqrt(O.T)},
                   text="a step alpha_T = a min{1, c1}/(L sqrt(T)) shrinking with T: lim_{T->oo} min_{t<T} E||grad f(theta_t)||^2 = 0")


def _dropped(st: Statement) -> Statement:
    return replace(_without_premise(st), text="Corollary 1's step without its premise T >= T(E[eps_T^2]): "
                   "lim_{T->oo} min_{t<T} E||grad f(theta_t)||^2 = 0")


DROPPED = Correction("premise dropped", "Corollary 1's step without its premise T >= T(E[eps_T^2])", _dropped, alternative=True)
FIXED = Correction("fixed step", "a step fixed independently of T (alpha = a min{1, c1}/L)", _fixed_step, alternative=True)
POWER = Correction("shrinking step", "a step shrinking like T^(-1/2) (alpha_T = a min{1, c1}/(L sqrt T))", _power_step, alternative=True)


def remark2_proof(rd: Reading) -> P.Proof:
    r"""What the cited route gives in the limit, for the reading's step policy.

    Every reading needs :math:`b(\zeta) > 0` on the printed range :math:`\zeta \ge 1/2`; the printed reading
    needs its premise for all large :math:`T` (with a summable example :math:`\mathbb E[\epsilon_T^2] = e_0/T^2`,
    an entry of :math:`T(\cdot)/T` must stay bounded); [5, Theorem 3] with one uniform accuracy :math:`u`
    is at least its floor :math:`c(\zeta, u)/b(\zeta)` for every :math:`T` and :math:`\alpha`, which must vanish.
    """
    st = rd.statement
    rho = sp.Symbol("rho", nonnegative=True)
    rho_p = sp.Symbol("rho", positive=True)
    T = sp.Symbol("T", positive=True)
    e0, u = sp.symbols("e_0 u", positive=True)
    steps = [P.sign("b(zeta) > 0 on the printed range zeta = 1/2 + rho, rho >= 0", K.b.expr.subs(O.zeta, HALF + rho), strict=True)]
    if "T_min" in st.prescriptions:
        Tm = sp.sympify(st.prescriptions["T_min"])
        mx = list(Tm.atoms(sp.Max))
        entries = [Tm.xreplace({mx[0]: a}) for a in mx[0].args] if len(mx) == 1 else [Tm]
        pos = {O.zeta: HALF + rho_p, O.delta0: sp.Symbol("delta_0", positive=True), O.A: sp.Symbol("A", positive=True),
               O.eps2_T: e0 / T**2, O.T: T}
        ratios = [(e, sp.limit(sp.simplify(e.xreplace(pos) / T), T, sp.oo)) for e in entries]
        worst = next((e for e, r in ratios if r == sp.oo), entries[0])
        steps.append(P.bounded("the premise T >= T(E[eps_T^2]) for all large T, with E[eps_T^2] = e_0/T^2: "
                               "each entry of T(.)/T stays bounded", sp.simplify(worst.xreplace(pos) / T), T))
    floor = (K.c.expr / K.b.expr).xreplace({S.eps2: u}).xreplace({O.zeta: HALF + rho_p})
    steps.append(P.identity("[5, Theorem 3] with one accuracy u >= max_t E[eps_t^2] is at least c(zeta, u)/b(zeta) for every "
                            "T and alpha: that floor must vanish", floor, 0))
    return P.proof("paper.remark2", st.text, steps, relation=st.relation,
                   notes="A route through [5, Theorem 3] keeps the floor c/b = zeta u/(2b) of the first accuracy; a proof of the "
                         "limit would need a restart from a late iterate (sup_{t>=t0} eps_t^2 -> 0), which the paper does not give.")


REMARK2 = Claim(
    id="paper.remark2", title="Remark 2", source="paper, Remark 2",
    text="If {eps_t} is a deterministic nonnegative sequence with sum_t eps_t^2 < oo and zeta >= 1/2, then following similar "
         "steps as the proof of Corollary 1, lim_{T->oo} min_{0<=t<=T-1} E||grad f(theta_t)||^2 = 0.",
    statement=remark2_statement, family=LimitFamily(), corrections=(DROPPED, FIXED, POWER), prove=remark2_proof, combine=False,
    notes="Read literally (Corollary 1's step and premise), the premise T >= T(E[eps_T^2]) fails for all large T when the errors "
          "are summable; the other step policies are decided separately.",
)

CLAIMS = (THEOREM1, COROLLARY1, REMARK2)
"""The units of this module, in the paper's order."""
