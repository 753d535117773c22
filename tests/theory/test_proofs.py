"""Symbolic proofs: statuses, evidence, and that the machinery reports what it cannot prove."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import sympy as sp

import theory as th
from theory import proofs

EXPECTED = {
    "cauchy_schwarz": proofs.PROVEN,
    "jensen_square": proofs.PROVEN,
    "norm_of_mean": proofs.PROVEN,
    "lemma2": proofs.PROVEN,
    "lemma3": proofs.PROVEN,
    "prop1_eq8": proofs.PROVEN,
    "prop1_eq9": proofs.PROVEN,
    "b_positive": proofs.PROVEN,
    "theorem1.step_condition": proofs.PROVEN,
    "theorem1.c4_c5": proofs.PROVEN,
    "theorem1.c6": proofs.PROVEN,
    "theorem1.first_term": proofs.DISPROVEN,
    "theorem1.from_source": proofs.PROVEN,
    "theorem1.as_printed": proofs.DISPROVEN,
    "theorem1.constants_positive": proofs.DISPROVEN,
    "corollary1.parameters": proofs.PROVEN,
    "corollary1.from_printed_theorem1": proofs.PROVEN,
    "corollary1.from_source": proofs.PROVEN,
    "remark2.zeta_half": proofs.DISPROVEN,
    "remark2.corollary_steps": proofs.DISPROVEN,
    "remark2.from_printed_theorem1": proofs.PROVEN,
    "remark2.from_source": proofs.NOT_PROVEN,
    "optimal.zeta_bias_floor": proofs.PROVEN,
    "optimal.theorem1_zeta": proofs.PROVEN,
    "optimal.theorem1_eta": proofs.PROVEN,
    "optimal.corollary1_eta": proofs.PROVEN,
    "sampling.with_replacement_moments(m=3, tau=2)": proofs.PROVEN,
    "sampling.tau_nice_moments(m=4, tau=2)": proofs.PROVEN,
    "sampling.independent_moments(m=3)": proofs.PROVEN,
    "sampling.prop3_rows": proofs.PROVEN,
    "kr.prop2": proofs.PROVEN,
    "remark1": proofs.PROVEN,
}


@pytest.fixture(scope="module")
def results() -> dict[str, proofs.ProofResult]:
    return {r.name: r for r in th.prove_all()}


def test_statuses(results) -> None:
    assert {k: v.status for k, v in results.items()} == EXPECTED


def test_proven_means_every_step_confirmed(results) -> None:
    for r in results.values():
        if r.status == proofs.PROVEN:
            assert r.steps and all(s.verdict is True for s in r.steps), r.name
        if r.status == proofs.NOT_PROVEN:
            assert any(s.verdict is not True for s in r.steps), r.name


def test_disproofs_carry_witnesses(results) -> None:
    for name in ("theorem1.first_term", "theorem1.as_printed", "theorem1.constants_positive", "remark2.zeta_half", "remark2.corollary_steps"):
        assert results[name].witness is not None, name
    wit = results["theorem1.first_term"].witness
    assert wit["source - printed"] != 0


def test_machinery_does_not_prove_false_things() -> None:
    x = sp.Symbol("x", real=True)
    y = sp.Symbol("y")
    assert proofs._identity("wrong", x**2, x**2 + 1).verdict is False
    assert proofs._identity("trigonometric identity", sp.sin(y) ** 2, 1 - sp.cos(y) ** 2).verdict is True
    assert proofs._sign("x - 1 >= 0 is not known", x - 1).verdict is None
    assert proofs._sign("-x^2 - 1 >= 0 is false", -(x**2) - 1).verdict is False
    bad = proofs._result("bad", "a route with a gap", [proofs._sign("gap", x - 1)])
    assert bad.status == proofs.NOT_PROVEN


def test_counterexample_moments_by_path_enumeration() -> None:
    """E theta_t^2 = (5/2)^t by enumerating all 2^t sampling paths of the witness run (exact)."""
    alpha = Fraction(3, 2)
    for t in range(9):
        total = Fraction(0)
        for path in itertools.product((0, 1), repeat=t):
            theta = Fraction(1)
            for i in path:
                grad_fi = 2 * theta if i == 0 else Fraction(0)  # f_1 = theta^2, f_2 = 0
                theta -= alpha * grad_fi
            total += Fraction(1, 2**t) * theta**2
        assert total == Fraction(5, 2) ** t
    ce = th.theorem1_counterexample(T=20)
    assert ce.lhs == 1 and ce.rhs == Fraction(40, 60)
    assert ce.reference["source_holds"] is True
    with pytest.raises(ValueError, match="T >= 14"):
        th.theorem1_counterexample(T=13)


def test_symbolic_sampling_moments_other_sizes() -> None:
    assert proofs.prove_with_replacement_moments(m=2, tau=3).proven
    assert proofs.prove_tau_nice_moments(m=5, tau=3).proven
