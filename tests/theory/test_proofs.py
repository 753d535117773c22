"""Proof machinery: statuses computed from steps, residuals, and elementary facts proven by sympy."""

from __future__ import annotations

import itertools
from fractions import Fraction

import sympy as sp

import theory as th
from theory import proofs as P


def test_elementary_facts_are_proven() -> None:
    results = th.prove_all()
    assert results and all(r.status == P.PROVEN for r in results), [(r.name, r.status, r.residual) for r in results]
    names = {r.name for r in results}
    assert {"Cauchy-Schwarz", "Jensen (square)", "Jensen (norm)", "optimal.zeta_bias_floor"} <= names
    assert sum(1 for n in names if n.startswith("moments of")) >= 5


def test_status_is_computed_never_typed() -> None:
    x = sp.Symbol("x", real=True)
    y = sp.Symbol("y")
    assert P.identity("wrong", x**2, x**2 + 1).verdict is False
    assert P.identity("trigonometric identity", sp.sin(y) ** 2, 1 - sp.cos(y) ** 2).verdict is True
    assert P.sign("x - 1 >= 0 is not known", x - 1).verdict is None
    assert P.sign("-x^2 - 1 >= 0 is false", -(x**2) - 1).verdict is False
    bad = P.proof("bad", "a route with a gap", [P.sign("gap", x - 1)])
    assert bad.status == P.NOT_PROVEN and bad.residual == x - 1
    assert P.proof("empty", "nothing derived", []).status == P.NOT_PROVEN


def test_premises_and_parts_propagate() -> None:
    x = sp.Symbol("x", nonnegative=True)
    good = P.proof("good", "x^2 >= 0", [P.sign("square", x**2)], relation=sp.Ge(x**2, 0))
    gap = P.proof("gap", "x - 1 >= 0", [P.sign("unknown", x - 1)], relation=sp.Ge(x, 1))
    assert P.proof("cites a proven result", "", [P.premise("uses", good)]).status == P.PROVEN
    assert P.proof("cites an unproven result", "", [P.premise("uses", gap)]).status == P.FROM_PREMISES
    assert P.proof("contains an unproven part", "", [P.part("part", gap)]).status == P.NOT_PROVEN
    assert P.proof("uses a standard fact", "", [P.premise("uses", P.DESCENT_LEMMA)]).status == P.PROVEN


def test_certificate_uses_the_goal_and_reports_the_residual() -> None:
    """(a + b)^2 <= 2a^2 + 2b^2 with the certificate (a - b)^2; a wrong constant leaves a residual."""
    a, b = sp.symbols("a b", real=True)
    term = [P.Term((a - b) ** 2, 1, None, "square")]
    ok = P.certificate("ok", "", sp.Le((a + b) ** 2, 2 * a**2 + 2 * b**2), term)
    assert ok.status == P.PROVEN
    wrong = P.certificate("wrong", "", sp.Le((a + b) ** 2, 2 * a**2 + b**2), term)
    assert wrong.status == P.NOT_PROVEN
    assert sp.simplify(wrong.residual + b**2) == 0


def test_law_moments_detect_a_wrong_statement() -> None:
    class Wrong(th.TauNice):
        def diagonal_plus_constant(self):  # a deliberately wrong beta
            d, beta = super().diagonal_plus_constant()
            return d, beta + Fraction(1, 10)

    assert P.law_moments(th.TauNice(4, 2)).status == P.PROVEN
    assert P.law_moments(Wrong(4, 2)).status == P.NOT_PROVEN


def test_counterexample_moments_by_path_enumeration() -> None:
    """E theta_t^2 = (5/2)^t by enumerating all 2^t sampling paths of f_1 = theta^2, f_2 = 0, alpha = 3/2."""
    alpha = Fraction(3, 2)
    for t in range(9):
        total = Fraction(0)
        for path in itertools.product((0, 1), repeat=t):
            theta = Fraction(1)
            for i in path:
                theta -= alpha * (2 * theta if i == 0 else Fraction(0))
            total += Fraction(1, 2**t) * theta**2
        assert total == Fraction(5, 2) ** t
