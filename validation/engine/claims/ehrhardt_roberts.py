r"""Ehrhardt & Roberts (2023) [9]: the a-posteriori hypergradient error bound (constant lower-level Hessian)."""

from __future__ import annotations

import sympy as sp

from theory import proofs as P

from ..families import ErrorFamily
from ..statement import O, Claim, Hypothesis, Reading, Statement
from .routes import hypothesis_fact

__all__ = ["CLAIMS"]


def bound_statement() -> Statement:
    Bn, R, mu, gg, LB, Lg, G = O.B_norm, O.residual, O.mu, O.grad_g_norm, O.L_B, O.L_g, O.G
    terms = (("adjoint residual", Bn * R / mu), ("B varies", gg * LB * G / mu**2), ("grad g varies", Bn * Lg * G / mu**2),
             ("second order", LB * Lg * G**2 / mu**3))
    return Statement(
        O.error_norm, "<=", sp.Add(*(e for _, e in terms)), terms=terms,
        hypotheses=(Hypothesis("mu > 0", sp.Gt(mu, 0)), Hypothesis("L_H = 0", sp.Eq(O.L_H, 0)),
                    Hypothesis("h(., theta) mu-strongly convex with constant Hessian; B, grad g Lipschitz", None,
                               "quadratic lower level (by construction)")),
        text="||z - grad F|| <= ||B|| R/mu + ||grad g|| L_B G/mu^2 + ||B|| L_g G/mu^2 + L_B L_g G^2/mu^3",
    )


def bound_proof(rd: Reading) -> P.Proof:
    r"""Triangle inequality on :math:`B(x^*)^\top H^{-1}\nabla g(x^*) - B(x_\epsilon)^\top q` split in three, each bounded by
    submultiplicativity, :math:`\|H^{-1}\| \le 1/\mu`, the Lipschitz constants, and :math:`\|x_\epsilon - x^*\| \le G/\mu`."""
    st = rd.statement
    Bn, R, mu, gg, LB, Lg, G = O.B_norm, O.residual, O.mu, O.grad_g_norm, O.L_B, O.L_g, O.G
    e, t1, t2, t3, dx, gs = sp.symbols("e t1 t2 t3 dx gs", nonnegative=True)
    tri = P.assumed("triangle inequality", "||a + b + c|| <= ||a|| + ||b|| + ||c||", sp.Le(e, t1 + t2 + t3))
    f1 = P.assumed("B Lipschitz, ||H^-1|| <= 1/mu", "||(B(x*) - B(x_eps))^T H^-1 grad g(x*)|| <= L_B ||x* - x_eps|| ||grad g(x*)||/mu",
                   sp.Le(t1, LB * dx * gs / mu))
    f2 = P.assumed("grad g Lipschitz, ||H^-1|| <= 1/mu", "||B(x_eps)^T H^-1 (grad g(x*) - grad g(x_eps))|| <= ||B|| L_g ||x* - x_eps||/mu",
                   sp.Le(t2, Bn * Lg * dx / mu))
    f3 = P.assumed("adjoint residual", "||B(x_eps)^T (H^-1 grad g(x_eps) - q)|| <= ||B|| R/mu", sp.Le(t3, Bn * R / mu))
    f4 = P.assumed("grad g Lipschitz", "||grad g(x*)|| <= ||grad g(x_eps)|| + L_g ||x* - x_eps||", sp.Le(gs, gg + Lg * dx))
    f5 = P.assumed("strong convexity", "||x_eps - x*|| <= ||grad_x h(x_eps)||/mu = G/mu", sp.Le(dx, G / mu))
    terms = [
        P.Term(tri.gap(), 1, tri, "triangle inequality"),
        P.Term(f1.gap(), 1, f1, "first part"), P.Term(f2.gap(), 1, f2, "second part"), P.Term(f3.gap(), 1, f3, "third part"),
        P.Term(f4.gap(), LB * dx / mu, f4, "||grad g(x*)|| bound, times L_B ||x* - x_eps||/mu"),
        P.Term(f5.gap(), LB * gg / mu + Bn * Lg / mu, f5, "||x* - x_eps|| <= G/mu, times (L_B ||grad g|| + ||B|| L_g)/mu"),
        P.Term(f5.gap(), LB * Lg / mu * (G / mu + dx), f5, "||x* - x_eps||^2 <= (G/mu)^2"),
    ]
    return P.certificate("ehrhardt_roberts.a_posteriori", st.text, st.relation, terms, model={O.error_norm: e},
                         side=[P.premise("the Hessian is the same at x_eps and x*",
                                         hypothesis_fact("L_H = 0", sp.Eq(O.L_H, 0)))])


BOUND = Claim(
    id="ehrhardt_roberts.a_posteriori", title="[9], a-posteriori bound",
    source="[9], a-posteriori hypergradient error bound (constant Hessian, L_H = 0)",
    text="||z - grad F|| <= ||B(x_eps)|| R/mu + ||grad g(x_eps)|| L_B G/mu^2 + ||B(x_eps)|| L_g G/mu^2 + L_B L_g G^2/mu^3 "
         "with G = ||grad_x h(x_eps)||, R = ||H q - grad g(x_eps)||.",
    statement=bound_statement, family=ErrorFamily(), prove=bound_proof,
)

CLAIMS = (BOUND,)
"""The units of this module."""
