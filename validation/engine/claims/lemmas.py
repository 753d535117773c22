r"""Lemmas 1-3, Proposition 1 (8) and (9) and Remark 1 of the paper: one unit per claim.

Each statement is built from :mod:`theory.constants` (``b``, ``c``, ``A_tilde``, ``B_tilde``, ``C_tilde``)
at call time; each proof is a gap certificate (:func:`theory.proofs.certificate`) of the claim's own
sides, citing the claims it rests on through the registry.
"""

from __future__ import annotations

import sympy as sp

from theory import constants as K
from theory import proofs as P

from ..families import PointFamily
from ..statement import O, Claim, Hypothesis, Reading, Statement
from .khaled_richtarik import prop2_statement
from .routes import hypothesis_fact

__all__ = ["CLAIMS", "ABS", "UNBIASED"]

ABS = P.assumed("x + |x| >= 0", "x + |x| >= 0 for every real x")
UNBIASED = P.assumed("unbiased sampling", "E[grad f_v(theta)] = grad f(theta) because E[v_i] = 1 (Section 2)")

Z, E = O.zeta, O.eta


def _cited(claim_id: str) -> P.Proof:
    from .registry import get_claim

    return get_claim(claim_id).proof()


# ----------------------------------------------------------------------------------------------
# Lemma 2


def lemma2_statement() -> Statement:
    return Statement(
        sp.Abs(O.inner_bias), "<=", O.grad_sq / (2 * Z) + Z / 2 * O.mean_error_norm**2,
        hypotheses=(Hypothesis("zeta > 0", sp.Gt(Z, 0)),),
        text="|<grad f, E e_v>| <= ||grad f||^2/(2 zeta) + (zeta/2) (E||e_v||)^2, zeta > 0",
    )


def lemma2_proof(rd: Reading) -> P.Proof:
    st = rd.statement
    s = sp.Symbol("s", real=True)
    g, n, m = sp.symbols("g n m", nonnegative=True)
    cs, jn = P.cauchy_schwarz(), P.norm_of_mean()
    terms = [
        P.Term(cs.gap(), 1, cs, "Cauchy-Schwarz: |<grad f, E e>| <= ||grad f|| ||E e||"),
        P.Term(jn.gap(), g, jn, "Jensen: ||E e|| <= E||e||, times ||grad f||"),
        P.Term((g - Z * m) ** 2, 1 / (2 * Z), None, "Young: (||grad f|| - zeta E||e||)^2/(2 zeta) >= 0"),
    ]
    return P.certificate("paper.lemma2", st.text, st.relation, terms,
                         model={O.grad_sq: g**2, O.mean_error_norm: m, O.inner_bias: s})


LEMMA2 = Claim(
    id="paper.lemma2", title="Lemma 2", source="paper, Lemma 2, eq. (5)",
    text="For all theta, v ~ D and zeta > 0: |<grad f(theta), E e_v(theta)>| <= ||grad f(theta)||^2/(2 zeta) + (zeta/2) (E||e_v(theta)||)^2.",
    statement=lemma2_statement, family=PointFamily(), prove=lemma2_proof,
)


# ----------------------------------------------------------------------------------------------
# Lemma 3


def lemma3_statement() -> Statement:
    return Statement(
        O.second_moment_z, "<=", (1 + E) / E * O.second_moment + (1 + E) * O.eps2,
        hypotheses=(Hypothesis("eta > 0", sp.Gt(E, 0)),),
        text="E||z_v||^2 <= (1+eta)/eta E||grad f_v||^2 + (1+eta) E||e_v||^2, eta > 0",
    )


def lemma3_proof(rd: Reading, d: int = 3) -> P.Proof:
    st = rd.statement
    x = sp.symbols(f"x1:{d + 1}", real=True)
    y = sp.symbols(f"y1:{d + 1}", real=True)
    model = {O.second_moment_z: sum((u + v) ** 2 for u, v in zip(x, y)), O.second_moment: sum(u * u for u in x),
             O.eps2: sum(v * v for v in y)}
    terms = [P.Term(sum((u - E * v) ** 2 for u, v in zip(x, y)), 1 / E, None,
                    "||x - eta y||^2/eta >= 0 (x = grad f_v, y = e_v, one outcome; every dimension alike)")]
    return P.certificate("paper.lemma3", st.text, st.relation, terms, model=model,
                         side=[P.premise("pointwise for each outcome v, then in expectation", P.EXPECTATION)])


LEMMA3 = Claim(
    id="paper.lemma3", title="Lemma 3", source="paper, Lemma 3, eq. (6)",
    text="For eta > 0: E||z_v(theta)||^2 <= (1+eta)/eta E||grad f_v(theta)||^2 + (1+eta) E||e_v(theta)||^2.",
    statement=lemma3_statement, family=PointFamily(), prove=lemma3_proof,
)


# ----------------------------------------------------------------------------------------------
# Proposition 1 (8) and (9)


def eq8_statement() -> Statement:
    return Statement(
        O.inner_z, ">=", K.b.expr * O.grad_sq - K.c.expr,
        hypotheses=(Hypothesis("zeta > 0", sp.Gt(Z, 0)), Hypothesis("eta > 0", sp.Gt(E, 0)),
                    Hypothesis("unbiased sampling", None, "E[v_i] = 1: the family's laws are sampling vectors")),
        text="<grad f, E z_v> >= b(zeta) ||grad f||^2 - c(zeta, eps^2(theta)), zeta > 0",
    )


def eq8_proof(rd: Reading) -> P.Proof:
    st = rd.statement
    s = sp.Symbol("s", real=True)
    g, m, v = sp.symbols("g m v", nonnegative=True)
    model = {O.inner_z: g**2 + s, O.grad_sq: g**2, O.mean_error_norm: m, O.inner_bias: s}
    l2 = _cited("paper.lemma2")
    js = P.jensen_square()
    terms = [
        P.Term(s + sp.Abs(s), 1, ABS, "<grad f, E e> + |<grad f, E e>| >= 0"),
        P.Term(l2.gap().xreplace(model), 1, l2, "Lemma 2"),
        P.Term(js.gap({sp.Symbol("m", real=True): m, sp.Symbol("v", nonnegative=True): O.eps2}), Z / 2, js,
               "Jensen: (E||e||)^2 <= E||e||^2, times zeta/2"),
    ]
    return P.certificate("paper.prop1.eq8", st.text, st.relation, terms, model=model,
                         side=[P.premise("<grad f, E z_v> = ||grad f||^2 + <grad f, E e_v> (E grad f_v = grad f)", UNBIASED)])


EQ8 = Claim(
    id="paper.prop1.eq8", title="Proposition 1 (8)", source="paper, Proposition 1, eq. (8)",
    text="For all theta: <grad f(theta), E z_v(theta)> >= b(zeta) ||grad f(theta)||^2 - c(zeta, eps^2(theta)), "
         "b(zeta) = 1 - 1/(2 zeta), c = (zeta/2) eps^2(theta).",
    statement=eq8_statement, family=PointFamily(), prove=eq8_proof,
    notes="Printed for zeta > 0; b(zeta) > 0, which [5, Assumption 9] needs, only for zeta > 1/2.",
)


def eq11() -> sp.Basic:
    """Lemma 1's inequality (11) at the point, in the observables."""
    return sp.Le(O.second_moment, 2 * O.A * O.f_gap + O.B * O.grad_sq + O.C)


def eq9_statement() -> Statement:
    return Statement(
        O.second_moment_z, "<=", 2 * K.A_tilde.expr * O.f_gap + K.B_tilde.expr * O.grad_sq + K.C_tilde.expr,
        hypotheses=(Hypothesis("zeta > 0", sp.Gt(Z, 0)), Hypothesis("eta > 0", sp.Gt(E, 0)),
                    Hypothesis("A >= 0", sp.Ge(O.A, 0)), Hypothesis("B >= 0", sp.Ge(O.B, 0)), Hypothesis("C >= 0", sp.Ge(O.C, 0)),
                    Hypothesis("f - f_inf >= 0", sp.Ge(O.f_gap, 0)), Hypothesis("(11) at theta", eq11())),
        text="E||z_v||^2 <= 2 A~(eta) (f - f_inf) + B~(eta) ||grad f||^2 + C~(eta, eps^2(theta)), given (11)",
    )


def eq9_proof(rd: Reading) -> P.Proof:
    st = rd.statement
    l3 = _cited("paper.lemma3")
    h11 = hypothesis_fact("(11) at theta", eq11())
    terms = [P.Term(l3.gap(), 1, l3, "Lemma 3"),
             P.Term(h11.gap(), (1 + E) / E, h11, "(11) times (1 + eta)/eta")]
    return P.certificate("paper.prop1.eq9", st.text, st.relation, terms)


EQ9 = Claim(
    id="paper.prop1.eq9", title="Proposition 1 (9)", source="paper, Proposition 1, eq. (9)",
    text="Given Lemma 1's (11): E||z_v(theta)||^2 <= 2 A~(eta)(f(theta) - f_inf) + B~(eta) ||grad f(theta)||^2 + C~(eta, eps^2(theta)).",
    statement=eq9_statement, family=PointFamily(), prove=eq9_proof,
    notes="The proof is pointwise in theta, so (11) is checked at the case's point.",
)


# ----------------------------------------------------------------------------------------------
# Lemma 1 (= [18, Proposition 2] instantiated)


def lemma1_proof(rd: Reading) -> P.Proof:
    st = rd.statement
    p2 = _cited("kr.prop2")
    return P.certificate("paper.lemma1", st.text, st.relation, [P.Term(p2.gap(), 1, p2, "[18, Proposition 2]")])


LEMMA1 = Claim(
    id="paper.lemma1", title="Lemma 1", source="paper, Lemma 1 (citing [18, Proposition 2])",
    text="Assumption 1 and E[v_i^2] < oo: there are A, B, C >= 0 with E||grad f_v(theta)||^2 <= 2A (f(theta) - f_inf) + "
         "B ||grad f(theta)||^2 + C; instantiated with [18, Proposition 2]'s A = max_i L_i E[v_i^2], B = 0, C = 2 A Delta_inf.",
    statement=prop2_statement, family=PointFamily(biases=("zero",), sources=("prop2",)), prove=lemma1_proof,
    notes="Lemma 1 is existential; the constants of [18, Proposition 2], which it cites, instantiate it.",
)


# ----------------------------------------------------------------------------------------------
# Remark 1


def _remark1_statement(A: sp.Symbol, B: object, row: str) -> Statement:
    C = 2 * A * O.delta_inf
    sub = {K.SYMBOLS.A: A, K.SYMBOLS.B: B, K.SYMBOLS.C: C}
    return Statement(
        O.second_moment_z, "<=",
        2 * K.A_tilde.expr.xreplace(sub) * O.f_gap + K.B_tilde.expr.xreplace(sub) * O.grad_sq + K.C_tilde.expr.xreplace(sub),
        hypotheses=(Hypothesis("eta > 0", sp.Gt(E, 0)), Hypothesis("f - f_inf >= 0", sp.Ge(O.f_gap, 0)),
                    Hypothesis("Delta_inf >= 0", sp.Ge(O.delta_inf, 0)),
                    Hypothesis("per-sample errors", None, "e_v = (1/m) sum_i v_i err_i: each sample's hypergradient carries its own error")),
        text=f"E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ with A, B, C of {row}",
    )


def _remark1_proof(cited: str, name: str):
    def prove(rd: Reading) -> P.Proof:
        st = rd.statement
        l3, row = _cited("paper.lemma3"), _cited(cited)
        terms = [P.Term(l3.gap(), 1, l3, "Lemma 3"), P.Term(row.gap(), (1 + E) / E, row, f"{cited} times (1 + eta)/eta")]
        return P.certificate(name, st.text, st.relation, terms)

    return prove


_REMARK1_BIASES = ("component", "component_affine", "zero", "bilevel")

REMARK1_PROP2 = Claim(
    id="paper.remark1.prop2", title="Remark 1 with [18, Prop. 2]", source="paper, Remark 1 with [18, Proposition 2]",
    text="[18, Proposition 2] holds for the inexact stochastic gradient: E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ "
         "with A = max_i L_i E[v_i^2], B = 0, C = 2 A Delta_inf.",
    statement=lambda: _remark1_statement(O.A_prop2, 0, "[18, Proposition 2]"),
    family=PointFamily(biases=_REMARK1_BIASES), prove=_remark1_proof("kr.prop2", "paper.remark1.prop2"),
)

REMARK1_PROP3 = Claim(
    id="paper.remark1.prop3", title="Remark 1 with [18, Prop. 3]", source="paper, Remark 1 with [18, Proposition 3]",
    text="[18, Proposition 3] holds for the inexact stochastic gradient: E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ "
         "with A, B of the law's row and C = 2 A Delta_inf.",
    statement=lambda: _remark1_statement(O.A_row, O.B_row, "the law's row of [18, Proposition 3]"),
    family=PointFamily(biases=_REMARK1_BIASES, laws=("single_uniform", "tau_nice", "single_importance", "independent", "with_replacement")),
    prove=_remark1_proof("kr.prop3", "paper.remark1.prop3"),
)

CLAIMS = (LEMMA1, LEMMA2, LEMMA3, EQ8, EQ9, REMARK1_PROP2, REMARK1_PROP3)
"""The units of this module, in the paper's order."""

