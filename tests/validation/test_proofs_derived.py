"""Proofs are derived from each claim's own statement and theory's constants; statuses are computed.

Mutating a statement or a constant changes the proof status (and, for a false mutation, the search finds it).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
import sympy as sp

import theory.constants as K
import theory.sampling as sampling
from theory import proofs as P
from validation.engine.claims import CLAIMS, get_claim, register
from validation.engine.search import FALSE, HOLDS, search_claim
from validation.engine.statement import ALL, PRINTED, O


def _status(cid: str, reading: str = PRINTED) -> str:
    return get_claim(cid).proof(reading).status


def test_statuses_of_the_registry() -> None:
    expected = {
        "paper.lemma1": P.PROVEN, "paper.lemma2": P.PROVEN, "paper.lemma3": P.PROVEN, "paper.prop1.eq8": P.PROVEN,
        "paper.prop1.eq9": P.PROVEN, "paper.remark1.prop2": P.PROVEN, "paper.remark1.prop3": P.PROVEN,
        "kr.prop2": P.PROVEN, "kr.prop3": P.PROVEN, "kr.theorem": P.PROVEN, "kr.corollary": P.PROVEN,
        "ehrhardt_roberts.a_posteriori": P.PROVEN, "paper.theorem1": P.NOT_PROVEN, "paper.corollary1": P.NOT_PROVEN,
        "paper.remark2": P.NOT_PROVEN, "demidovich.theorem3": P.NOT_PROVEN,
    }
    assert {cid: _status(cid) for cid in CLAIMS} == expected


def test_theorem1_residuals_name_each_defect() -> None:
    printed = get_claim("paper.theorem1").proof(PRINTED)
    bad = [s for s in printed.steps if s.verdict is not True]
    assert len(bad) == 2
    accuracy, exponent = bad
    assert sp.simplify(accuracy.expression - (O.eps2_T - O.eps2_max)) == 0
    assert exponent.expression.has(sp.Pow) and O.T in exponent.expression.free_symbols  # the missing (1 + L A~ alpha^2)^T
    assert _status("paper.theorem1", "source exponent") == P.NOT_PROVEN
    assert _status("paper.theorem1", "max accuracy") == P.NOT_PROVEN
    full = get_claim("paper.theorem1").proof(ALL)
    assert full.status == P.FROM_PREMISES  # only the cited [5, Theorem 3] is not proven here
    assert {p.name for p in full.cited() if p.status != P.PROVEN} == {"demidovich.theorem3"}


def test_cited_source_theorem_residual() -> None:
    """The descent-lemma route gives the floor 2c/b; [5, Theorem 3] as cited has c/b: the residual is -c/b."""
    pr = get_claim("demidovich.theorem3").proof()
    assert pr.status == P.NOT_PROVEN and sp.simplify(pr.residual + O.c / O.b) == 0
    assert _status("kr.theorem") == P.PROVEN  # the same route proves the unbiased theorem exactly


def test_corollary_and_remark_residuals() -> None:
    assert _status("paper.corollary1", "max accuracy") == P.FROM_PREMISES
    assert sp.simplify(get_claim("paper.corollary1").proof(PRINTED).residual - (O.eps2_T - O.eps2_max)) == 0
    r2 = get_claim("paper.remark2").proof(PRINTED)
    assert r2.status == P.NOT_PROVEN and r2.failing.description.startswith("b(zeta) > 0")


@pytest.fixture
def restore_registry():
    saved = dict(CLAIMS)
    yield
    CLAIMS.clear()
    CLAIMS.update(saved)


def test_mutated_statement_changes_the_status_and_is_found_false(restore_registry) -> None:
    """Lemma 2 with zeta/4 in place of zeta/2: the proof is no longer derived (residual -zeta m^2/4), Proposition 1 (8),
    which cites it, loses its proof too, and the search finds the mutated statement false."""
    claim = get_claim("paper.lemma2")
    assert claim.proof().status == P.PROVEN and _status("paper.prop1.eq8") == P.PROVEN

    def mutated():
        st = claim.statement()
        return replace(st, rhs=O.grad_sq / (2 * O.zeta) + O.zeta / 4 * O.mean_error_norm**2)

    register(replace(claim, statement=mutated), replace=True)
    pr = get_claim("paper.lemma2").proof()
    assert pr.status == P.NOT_PROVEN
    m = sp.Symbol("m", nonnegative=True)
    assert sp.simplify(pr.residual + O.zeta * m**2 / 4) == 0
    assert _status("paper.prop1.eq8") == P.NOT_PROVEN
    res = search_claim("paper.lemma2", budget=60, seed=0)
    assert res.severity == FALSE and res.printed.witness.exact


def test_mutated_constant_changes_the_status(monkeypatch) -> None:
    """c6 = zeta/(4b) instead of zeta/(2b): Theorem 1's corrected reading is no longer derived from [5, Theorem 3]."""
    assert _status("paper.theorem1", ALL) == P.FROM_PREMISES
    wrong = K.SymbolicConstant("c6", lambda z: z / (4 * (1 - 1 / (2 * z))), ("zeta",), K.c6.conditions, "mutation")
    monkeypatch.setattr(K, "c6", wrong)
    pr = get_claim("paper.theorem1").proof(ALL)
    assert pr.status == P.NOT_PROVEN
    assert O.eps2_max in pr.residual.free_symbols  # the accuracy floor term is the one that no longer matches


def test_mutated_proposition1_constant(monkeypatch) -> None:
    assert _status("paper.prop1.eq9") == P.PROVEN
    wrong = K.SymbolicConstant("A_tilde", lambda eta, A: A / eta, ("eta", "A"), K.A_tilde.conditions, "mutation")
    monkeypatch.setattr(K, "A_tilde", wrong)
    assert _status("paper.prop1.eq9") == P.NOT_PROVEN


def test_mutated_sampling_row(monkeypatch) -> None:
    """A tau-nice row with half the recorded A: the row's certificate fails, and the search finds it false."""
    assert _status("kr.prop3") == P.PROVEN
    original = sampling.TauNice.prop3_constants

    def halved(self, L, delta_inf):
        row = original(self, L, delta_inf)
        return sampling.ABCConstants(row.A / 2, row.B, row.C / 2)

    monkeypatch.setattr(sampling.TauNice, "prop3_constants", halved)
    assert _status("kr.prop3") == P.NOT_PROVEN


def test_true_statement_search_holds_while_proven() -> None:
    res = search_claim("paper.lemma2", budget=20, seed=1)
    assert res.severity == HOLDS and res.printed.applicable == 20
    assert Fraction(res.printed.worst_ratio).limit_denominator(10**6) <= 1
