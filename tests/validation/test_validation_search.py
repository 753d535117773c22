"""The counterexample search: every claim has a check, the lemmas hold on random exact instances,
Theorem 1 as printed is found violated with an exact witness, the source route is not."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.claims import CLAIMS
from validation.engine.cases import (
    CLAIM_CASE_TYPE,
    PointCase,
    RunCase,
    SkipCase,
    case_from_json,
    evaluate,
    ratio_of,
)
from validation.engine.problems import DrawPicker, RandomPicker, make_scenario, theorem1_witness_scenario
from validation.engine.search import HOLDS, NOT_APPLICABLE, VIOLATED, make_case, search_claim, searchable_claims, select_claims

POINT_LEMMAS = (
    "paper.lemma1", "paper.lemma2", "paper.lemma3", "paper.prop1.eq8", "paper.prop1.eq9", "paper.remark1.prop2",
    "paper.remark1.prop3", "kr.prop2", "kr.prop3", "demidovich.assumption9.inner", "demidovich.assumption9.second_moment",
)


def test_every_claim_of_the_registry_has_a_check_that_runs() -> None:
    """Each claim has a case type, and a case built for it evaluates to an applicable trial."""
    assert set(searchable_claims()) == set(CLAIMS)
    for cid in CLAIMS:
        ok = False
        for seed in range(40):
            try:
                case = make_case(cid, RandomPicker(seed))
                trial = evaluate(cid, case)
            except SkipCase:
                continue
            assert trial.claim_id == cid
            assert case_from_json(case.to_json()).to_json() == case.to_json()
            if trial.applicable:
                ok = True
                break
        assert ok, f"no applicable case found for {cid}"


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_lemmas_and_propositions_hold_on_random_exact_instances(data: st.DataObject) -> None:
    """Lemmas 1-3, Proposition 1 (8), (9), Remark 1, [18, Props 2, 3], [5, Assumption 9]: exact instances, exact verdicts."""
    cid = data.draw(st.sampled_from(POINT_LEMMAS))
    try:
        case = data.draw(st.composite(lambda draw: make_case(cid, DrawPicker(draw)))())
        trial = evaluate(cid, case, exact=True)
    except SkipCase:
        return
    if trial.applicable:
        assert trial.holds is True, (cid, trial.lhs, trial.rhs, trial.case)


@pytest.mark.parametrize("cid", ["paper.lemma2", "paper.lemma3", "paper.prop1.eq9", "kr.prop3", "paper.remark1.prop2"])
def test_search_finds_that_the_lemmas_hold(cid: str) -> None:
    res = search_claim(cid, budget=40, seed=3)
    assert res.status == HOLDS and res.applicable > 0 and res.witness is None
    assert res.worst_ratio is not None and res.worst_ratio <= 1.0


def test_lemma2_tight_case_has_ratio_one() -> None:
    """Young's inequality is tight at ||grad f|| = zeta E||e|| with aligned constant errors: the ratio reaches 1."""
    sc = make_scenario(RandomPicker(0), m=1, d=1, problem_kind="commuting", law_kind="single_uniform", bias_kind="zero")
    theta = np.array([Fraction(3)], dtype=object)
    g = sc.problem.grad(theta)[0]
    zeta = Fraction(2)
    from validation.engine.exact import AffineBias
    from validation.engine.problems import Scenario

    tight = Scenario(sc.problem, sc.law, AffineBias("constant", [-g / zeta]), sc.theta0)
    trial = evaluate("paper.lemma2", PointCase(tight, theta, zeta, Fraction(1)), exact=True)
    assert trial.holds is True and trial.lhs_exact == trial.rhs_exact and trial.ratio == 1.0


def test_theorem1_as_printed_is_found_violated_with_an_exact_witness() -> None:
    res = search_claim("paper.theorem1", budget=80, seed=1)
    assert res.status == VIOLATED
    w = res.witness
    assert w is not None and w.exact and w.violated and w.ratio > 1
    again = evaluate("paper.theorem1", case_from_json(w.case), exact=True)
    assert again.violated and again.lhs_exact == w.lhs_exact and again.rhs_exact == w.rhs_exact


def test_source_route_holds_where_the_printed_theorem_fails() -> None:
    """On the exact witness scenario of theory.proofs (alpha = 1/L, T = 14), the printed bound fails and the source bound holds."""
    case = RunCase(theorem1_witness_scenario(), T=14, step=Fraction(1), zeta=Fraction(1), eta=Fraction(1), source="prop3")
    printed = evaluate("paper.theorem1", case, exact=True)
    source = evaluate("paper.theorem1.from_source", case, exact=True)
    assert printed.violated and printed.lhs_exact == "1" and printed.rhs_exact == "5/7"
    assert source.applicable and source.holds is True


def test_source_route_and_sources_hold_in_a_search() -> None:
    for cid in ("paper.theorem1.from_source", "kr.theorem", "paper.corollary1.uniform_accuracy"):
        res = search_claim(cid, budget=30, seed=2)
        assert res.status == HOLDS, (cid, res.witness)


def test_remark2_found_violated_in_exact_arithmetic() -> None:
    res = search_claim("paper.remark2", budget=20, seed=0)
    assert res.status == VIOLATED and res.witness.exact
    assert "frozen" in res.witness.note


def test_statuses_come_from_the_search() -> None:
    """With no case tried, no claim can hold or be violated."""
    res = search_claim("paper.theorem1", budget=0)
    assert res.status == NOT_APPLICABLE and res.tried == 0


def test_float_violation_below_rounding_is_not_counted() -> None:
    assert ratio_of(1.0, 2.0, "<=") == 0.5 and ratio_of(2.0, 1.0, ">=") == 0.5
    assert ratio_of(0.0, 0.0, "<=") is None and ratio_of(1.0, 0.0, "==") is None
    assert ratio_of(-1.0, -2.0, "<=") > 1.0 and ratio_of(-2.0, -1.0, "<=") < 1.0


def test_claim_selection_and_bad_input() -> None:
    assert select_claims(["kr."]) == ["kr.prop2", "kr.prop3", "kr.theorem", "kr.corollary"]
    assert select_claims(None) == list(CLAIMS)
    with pytest.raises(ValueError, match="no claim id starts with"):
        select_claims(["paper.lemma9"])
    with pytest.raises(ValueError, match="unknown claim id"):
        search_claim("paper.lemma9")
    with pytest.raises(ValueError, match="budget"):
        search_claim("paper.lemma2", budget=-1)
    with pytest.raises(ValueError, match="case"):
        case_from_json({"type": "nonsense"})
    with pytest.raises(ValueError, match="searched with"):
        evaluate("paper.theorem1", make_case("paper.lemma2", RandomPicker(0)))
    assert CLAIM_CASE_TYPE["paper.theorem1"] == "run"


PROVEN = (
    "paper.lemma1", "paper.lemma2", "paper.lemma3", "paper.prop1.eq8", "paper.prop1.eq9", "paper.remark1.prop2",
    "paper.remark1.prop3", "paper.theorem1.from_source", "paper.corollary1.uniform_accuracy", "kr.prop2", "kr.prop3",
    "kr.theorem", "kr.corollary", "demidovich.assumption9.inner", "demidovich.assumption9.second_moment",
    "ehrhardt_roberts.a_posteriori",
)
"""Claims with a proof in theory.proofs or in their source: a violation found here would be a bug."""


@pytest.mark.slow
@pytest.mark.parametrize("cid", PROVEN)
def test_proven_claims_survive_a_larger_search(cid: str) -> None:
    res = search_claim(cid, budget=250, seed=12)
    assert res.status == HOLDS, (cid, res.witness.to_json() if res.witness else None)


@pytest.mark.slow
@pytest.mark.parametrize("cid", ["paper.theorem1", "paper.corollary1", "paper.remark2"])
def test_false_claims_are_found_with_other_seeds(cid: str) -> None:
    for seed in (21, 22):
        assert search_claim(cid, budget=150, seed=seed).status == VIOLATED
