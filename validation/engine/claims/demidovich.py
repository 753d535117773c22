r"""Demidovich, Malinovsky, Sokolov, Richtarik (2023) [5]: Theorem 3 under Assumption 9, as the paper cites it.

The cited theorem is a claim like the paper's own: its statement is searched on exact quadratic runs
whose oracle meets Assumption 9 with exact global constants, and its proof is derived (descent lemma,
both inequalities of Assumption 9, weighted telescoping). That derivation gives the bias floor
:math:`2c/b`; the statement as cited has :math:`c/b`, so the proof ends *not proven* with that residual
unless the search, or a sharper argument, settles it.
"""

from __future__ import annotations

import sympy as sp

from theory import proofs as P

from ..families import RunFamily
from ..statement import O, Claim, Hypothesis, Reading, Statement
from .routes import descent_route

__all__ = ["CLAIMS", "theorem3_statement", "theorem3_proof"]


def theorem3_statement() -> Statement:
    L, A, B, C, al, T, d0, b, c = O.L, O.A, O.B, O.C, O.alpha, O.T, O.delta0, O.b, O.c
    terms = (("initial gap", 2 * (1 + L * A * al**2) ** T * d0 / (b * al * T)), ("noise", L * C * al / b), ("bias floor", c / b))
    return Statement(
        O.min_grad_sq, "<=", sp.Add(*(e for _, e in terms)), terms=terms,
        hypotheses=(Hypothesis("Assumption 9", None, "exact global constants of the run's oracle (by construction)"),
                    Hypothesis("b > 0", sp.Gt(b, 0)), Hypothesis("c >= 0", sp.Ge(c, 0)), Hypothesis("L > 0", sp.Gt(L, 0)),
                    Hypothesis("delta0 >= 0", sp.Ge(d0, 0)), Hypothesis("gamma > 0", sp.Gt(al, 0)),
                    Hypothesis("gamma <= b/(L B)", sp.Le(al, b / (L * B))), Hypothesis("T >= 1", sp.Ge(T, 1))),
        prescriptions={"alpha_max": b / (L * B)},
        text="Assumption 9, 0 < gamma <= b/(L B): min_{t<T} E||grad f(x_t)||^2 <= 2 (1 + L A gamma^2)^T delta0/(b gamma T) "
             "+ L C gamma/b + c/b",
    )


def theorem3_proof(rd: Reading) -> P.Proof:
    return descent_route("demidovich.theorem3", rd.statement, b=O.b, c=O.c, A=O.A, B=O.B, C=O.C)


THEOREM3 = Claim(
    id="demidovich.theorem3", title="[5, Theorem 3]", source="[5, Theorem 3] (as the paper cites it)",
    text="Under Assumption 9, if 0 < gamma <= b/(L B), then min_{0<=t<T} E||grad f(x_t)||^2 <= "
         "2 (1 + L A gamma^2)^T delta0/(b gamma T) + L C gamma/b + c/b.",
    statement=theorem3_statement, family=RunFamily(constants="assumption9", zetas=None, etas=None), prove=theorem3_proof,
)

CLAIMS = (THEOREM3,)
"""The units of this module."""
