r"""Khaled & Richtarik (2020) [18]: Propositions 2 and 3 (expected smoothness constants), the nonconvex SGD
theorem and its corollary, as the reference formulas record them -- cited sources are claims too.

The same file is the worked example of README's "Adding a claim": a statement from sympy expressions,
hypotheses, a case family, and a proof derived from the statement (:func:`kr_theorem_proof` is three
lines on top of :func:`validation.engine.claims.routes.descent_route`).
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from theory import proofs as P
from theory.sampling import Independent, SingleImportance, SingleUniform, TauNice, WithReplacement

from ..families import RUN_REGIMES, HorizonFamily, PointFamily, RunFamily
from ..statement import O, Claim, Hypothesis, Reading, Statement
from .routes import MAX_MIN, corollary_route, descent_route

__all__ = ["CLAIMS", "prop2_statement", "prop2_proof", "kr_theorem_statement", "kr_theorem_proof", "ROW_LAWS"]

def prop2_statement() -> Statement:
    """[18, Proposition 2]: :math:`A = \\max_iL_i\\mathbb E[v_i^2]`, :math:`B = 0`, :math:`C = 2A\\Delta^{\\inf}`."""
    A = O.A_prop2
    return Statement(
        O.second_moment, "<=", 2 * A * O.f_gap + 0 * O.grad_sq + 2 * A * O.delta_inf,
        hypotheses=(Hypothesis("Assumption 1", None, "f_i convex quadratics, L_i-smooth and bounded below (by construction)"),
                    Hypothesis("E[v_i^2] < oo", None, "finite laws"),
                    Hypothesis("f - f_inf >= 0", sp.Ge(O.f_gap, 0)), Hypothesis("Delta_inf >= 0", sp.Ge(O.delta_inf, 0))),
        text="E||grad f_v||^2 <= 2A (f - f_inf) + 2A Delta_inf with A = max_i L_i E[v_i^2] (B = 0, C = 2A Delta_inf)",
    )


def _jensen_components(m: int = 3, d: int = 2) -> P.Proof:
    r""":math:`\mathbb E\|\frac1m\sum_iv_ig_i\|^2 \le \frac1m\sum_i\mathbb E[v_i^2]\|g_i\|^2` (SOS for one outcome, then expectation)."""
    a = [sp.symbols(f"a{i + 1}_1:{d + 1}", real=True) for i in range(m)]
    mean = [sum(a[i][k] for i in range(m)) / m for k in range(d)]
    lhs = sum(sum(x * x for x in a[i]) for i in range(m)) / m - sum(x * x for x in mean)
    sos = sum(sum((a[i][k] - a[j][k]) ** 2 for k in range(d)) for i in range(m) for j in range(i + 1, m)) / m**2
    s = sp.symbols(f"s1:{m + 1}", nonnegative=True)
    gn = sp.symbols(f"gn1:{m + 1}", nonnegative=True)
    return P.proof(
        "Jensen over components", "E||(1/m) sum_i v_i g_i||^2 <= (1/m) sum_i E[v_i^2] ||g_i||^2",
        [P.identity("(1/m) sum ||a_i||^2 - ||(1/m) sum a_i||^2 = (1/m^2) sum_{i<j} ||a_i - a_j||^2 (a_i = v_i g_i)", lhs, sos),
         P.sign("a sum of squares", sos), P.premise("in expectation, with E[v_i^2 ||g_i||^2] = E[v_i^2] ||g_i||^2", P.EXPECTATION)],
        relation=sp.Le(O.second_moment, sum(si * gi for si, gi in zip(s, gn)) / m),
    )


def prop2_proof(rd: Reading, name: str = "kr.prop2", m: int = 3) -> P.Proof:
    st = rd.statement
    s = sp.symbols(f"s1:{m + 1}", nonnegative=True)
    gn = sp.symbols(f"gn1:{m + 1}", nonnegative=True)
    u = sp.symbols(f"u1:{m + 1}", nonnegative=True)
    L = sp.symbols(f"L1:{m + 1}", nonnegative=True)
    Amax = sp.Max(*(Li * si for Li, si in zip(L, s)))
    model = {O.f_gap: sum(u) / m - O.delta_inf, O.A_prop2: Amax}
    jc = _jensen_components(m)
    terms = [P.Term(jc.gap(), 1, jc, "Jensen over components", part=True)]
    terms += [P.Term(2 * L[i] * u[i] - gn[i], s[i] / m, P.SMOOTH_GRADIENT_BOUND,
                     f"||grad f_{i + 1}||^2 <= 2 L_{i + 1} (f_{i + 1} - f_{i + 1}^inf), times E[v_{i + 1}^2]/m") for i in range(m)]
    terms += [P.Term(Amax - L[i] * s[i], 2 * u[i] / m, MAX_MIN, f"A = max_i L_i E[v_i^2] >= L_{i + 1} E[v_{i + 1}^2]") for i in range(m)]
    return P.certificate(name, st.text, st.relation, terms, model=model,
                         assumed=(f"checked for m = {m} components (the certificate is a sum over components, the same for every m)",))


KR_PROP2 = Claim(
    id="kr.prop2", title="[18, Proposition 2]", source="[18, Proposition 2]",
    text="Any sampling vector with E[v_i^2] < oo: A = max_i L_i E[v_i^2], B = 0, C = 2 A Delta_inf satisfy expected smoothness.",
    statement=prop2_statement, family=PointFamily(biases=("zero",), sources=("prop2",)), prove=prop2_proof,
)


# ----------------------------------------------------------------------------------------------
# Proposition 3


ROW_LAWS = ("single_uniform", "tau_nice", "single_importance", "independent", "with_replacement")
"""Laws with a row in [18, Proposition 3]."""


def prop3_statement() -> Statement:
    return Statement(
        O.second_moment, "<=", 2 * O.A_row * O.f_gap + O.B_row * O.grad_sq + 2 * O.A_row * O.delta_inf,
        hypotheses=(Hypothesis("Assumption 1", None, "f_i convex quadratics, L_i-smooth and bounded below (by construction)"),
                    Hypothesis("a row of [18, Proposition 3]", None, "the law is one of the rows (the family draws only those)"),
                    Hypothesis("f - f_inf >= 0", sp.Ge(O.f_gap, 0)), Hypothesis("Delta_inf >= 0", sp.Ge(O.delta_inf, 0))),
        text="E||grad f_v||^2 <= 2A (f - f_inf) + B ||grad f||^2 + 2A Delta_inf with (A, B) of the law's row",
    )


def _representative_laws() -> tuple:
    L = (Fraction(1), Fraction(2), Fraction(3))
    laws = (SingleUniform(3), TauNice(3, 2), TauNice(4, 2), Independent([Fraction(1, 2), Fraction(1, 3), Fraction(3, 4)]),
            WithReplacement([Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)], 2), SingleImportance([Fraction(1, 6), Fraction(1, 3), Fraction(1, 2)]))
    return tuple((law, L + (Fraction(4),) * (law.m - 3)) for law in laws)


def prop3_proof(rd: Reading) -> P.Proof:
    r"""For each representative law: :math:`\mathbb E\|\nabla f_v\|^2 = \frac1{m^2}\sum_id_i\|\nabla f_i\|^2 + \beta\|\nabla f\|^2`
    (the law's moments, proven by enumeration), then :math:`\|\nabla f_i\|^2 \le 2L_i(f_i - f_i^{\inf})`,
    :math:`A \ge d_iL_i/m` and :math:`B \ge \beta` with the row's :math:`A, B` (from :mod:`theory.sampling`)."""
    st = rd.statement
    steps: list[P.Step] = []
    for law, L in _representative_laws():
        m = law.m
        d, beta = law.diagonal_plus_constant()
        row = law.prop3_constants(list(L), Fraction(0))
        gn = sp.symbols(f"gn1:{m + 1}", nonnegative=True)
        u = sp.symbols(f"u1:{m + 1}", nonnegative=True)
        G = sp.Symbol("G", nonnegative=True)
        R = sp.Rational
        dd = [R(str(x)) for x in d]
        model = {O.second_moment: sum(di * g for di, g in zip(dd, gn)) / m**2 + R(str(beta)) * G, O.grad_sq: G,
                 O.f_gap: sum(u) / m - O.delta_inf, O.A_row: R(str(row.A)), O.B_row: R(str(row.B))}
        terms = [P.Term(2 * R(str(L[i])) * u[i] - gn[i], dd[i] / m**2, P.SMOOTH_GRADIENT_BOUND,
                        f"||grad f_{i + 1}||^2 <= 2 L_{i + 1} (f_{i + 1} - f_{i + 1}^inf)") for i in range(m)]
        terms += [P.Term(R(str(row.A)) - dd[i] * R(str(L[i])) / m, 2 * u[i] / m, None, f"row A >= d_{i + 1} L_{i + 1}/m") for i in range(m)]
        terms.append(P.Term((R(str(row.B)) - R(str(beta))) * G, 1, None, "row B >= beta (the coefficient of ||grad f||^2)"))
        sub = P.certificate(f"row of {law!r} (L = {[str(x) for x in L]})", st.text, st.relation, terms, model=model,
                            side=[P.part("the law's second moments", P.law_moments(law))])
        steps.append(P.part(f"{law!r}", sub))
    return P.proof("kr.prop3", st.text, steps, relation=st.relation,
                   assumed=("the rows are checked on representative laws with L = (1, 2, 3, ...); each row's certificate "
                            "is the same computation for every m and L",))


KR_PROP3 = Claim(
    id="kr.prop3", title="[18, Proposition 3]", source="[18, Proposition 3] (rows as recorded in the reference formulas)",
    text="tau-nice: A = (m - tau)/(tau (m - 1)) max_i L_i, B = 1; independent p_i: A = max_i (1 - p_i) L_i/(p_i m), B = 1; "
         "with replacement q_i: A = max_i L_i/(tau m q_i), B = 1; single uniform: A = max_i L_i, B = 0; single importance "
         "q_i ~ L_i: A = mean_i L_i, B = 0; C = 2 A Delta_inf in every row.",
    statement=prop3_statement, family=PointFamily(biases=("zero",), laws=ROW_LAWS, sources=("prop3",)), prove=prop3_proof,
    notes="With replacement the recorded B = 1 is valid; the exact coefficient is 1 - 1/tau (theory.sampling).",
)


# ----------------------------------------------------------------------------------------------
# the nonconvex theorem and its corollary


def kr_theorem_statement() -> Statement:
    L, A, B, C, al, T, d0 = O.L, O.A, O.B, O.C, O.alpha, O.T, O.delta0
    terms = (("initial gap", 2 * (1 + L * A * al**2) ** T * d0 / (al * T)), ("noise", L * C * al))
    return Statement(
        O.min_grad_sq, "<=", sp.Add(*(e for _, e in terms)), terms=terms,
        hypotheses=(Hypothesis("A, B, C >= 0 satisfy expected smoothness", None, "Lemma 1 constants of the run's problem (by construction)"),
                    Hypothesis("L > 0", sp.Gt(L, 0)), Hypothesis("delta0 >= 0", sp.Ge(d0, 0)),
                    Hypothesis("gamma > 0", sp.Gt(al, 0)), Hypothesis("gamma <= 1/(L B)", sp.Le(al, 1 / (L * B))),
                    Hypothesis("K >= 1", sp.Ge(T, 1))),
        prescriptions={"alpha_max": 1 / (L * B)},
        text="0 < gamma <= 1/(L B): min_{t<K} E||grad f(x_t)||^2 <= 2 (1 + L A gamma^2)^K delta0/(gamma K) + L C gamma",
    )


def kr_theorem_proof(rd: Reading) -> P.Proof:
    return descent_route("kr.theorem", rd.statement, b=sp.Integer(1), c=sp.Integer(0), A=O.A, B=O.B, C=O.C)


_EXACT_REGIMES = tuple(r for r in RUN_REGIMES if r.name in ("initial gap", "noise", "mixed"))

KR_THEOREM = Claim(
    id="kr.theorem", title="[18], nonconvex SGD theorem", source="[18], nonconvex SGD theorem",
    text="If 0 < gamma <= 1/(L B), then min_{0<=t<K} E||grad f(x_t)||^2 <= 2 (1 + L A gamma^2)^K delta0/(gamma K) + L C gamma.",
    statement=kr_theorem_statement, family=RunFamily(exact_gradients=True, zetas=None, etas=None, regimes=_EXACT_REGIMES),
    prove=kr_theorem_proof,
)


def kr_corollary_statement() -> Statement:
    L, A, B, C, al, T, d0, e2 = O.L, O.A, O.B, O.C, O.alpha, O.T, O.delta0, O.target
    T_min = 12 * d0 * L / e2 * sp.Max(B, 12 * d0 * A / e2, 2 * C / e2)
    alpha = sp.Min(1 / sp.sqrt(L * A * T), 1 / (L * B), e2 / (2 * L * C))
    return Statement(
        O.min_grad_sq, "<=", e2,
        hypotheses=(Hypothesis("eps^2 > 0", sp.Gt(e2, 0)), Hypothesis("K >= K(eps^2)", sp.Ge(T, T_min)),
                    Hypothesis("gamma = gamma(K)", sp.Eq(al, alpha)), Hypothesis("L > 0", sp.Gt(L, 0))),
        prescriptions={"T_min": T_min, "alpha": alpha},
        text="gamma = min{1/sqrt(L A K), 1/(L B), eps^2/(2 L C)}, K >= (12 delta0 L/eps^2) max{B, 12 delta0 A/eps^2, 2C/eps^2}: "
             "min_{t<K} E||grad f(x_t)||^2 <= eps^2",
    )


def kr_corollary_proof(rd: Reading) -> P.Proof:
    from .registry import get_claim

    th = get_claim("kr.theorem")
    prem = th.proof()
    return corollary_route("kr.corollary", rd.statement, prem, th.statement().relation, b=sp.Integer(1), c=sp.Integer(0),
                           A=O.A, B=O.B, C=O.C, E=O.target)


KR_COROLLARY = Claim(
    id="kr.corollary", title="[18], corollary", source="[18], corollary of the nonconvex theorem",
    text="gamma = min{1/sqrt(L A K), 1/(L B), eps^2/(2 L C)} and K >= (12 delta0 L/eps^2) max{B, 12 delta0 A/eps^2, 2C/eps^2} "
         "give min_{t<K} E||grad f(x_t)||^2 <= eps^2.",
    statement=kr_corollary_statement, family=HorizonFamily(exact_gradients=True, zetas=None, etas=None), prove=kr_corollary_proof,
)

CLAIMS = (KR_PROP2, KR_PROP3, KR_THEOREM, KR_COROLLARY)
"""The units of this module."""

