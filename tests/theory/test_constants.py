"""Constants of Proposition 1 and of the proof of Theorem 1: sympy forms, numeric twins, hypotheses."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import theory as th
from theory.constants import CONSTANTS, SYMBOLS, ZETA_OVER_HALF

S = SYMBOLS
ZETA = st.fractions(min_value=Fraction(26, 50), max_value=20, max_denominator=50)
ETA = st.fractions(min_value=Fraction(1, 50), max_value=50, max_denominator=50)
NONNEG = st.fractions(min_value=0, max_value=20, max_denominator=50)

# the paper's formulas, typed independently of theory.constants
PAPER = {
    "b": 1 - 1 / (2 * S.zeta),
    "c": S.zeta / 2 * S.eps2,
    "A_tilde": (1 + S.eta) / S.eta * S.A,
    "B_tilde": (1 + S.eta) / S.eta * S.B,
    "C_tilde": (1 + S.eta) / S.eta * S.C + (1 + S.eta) * S.eps2,
}
B_ = 1 - 1 / (2 * S.zeta)
PAPER.update(
    {
        "c1": B_ / ((1 + S.eta) / S.eta * S.B),
        "c2": 2 / B_,
        "c3": 2 * (1 + S.eta) / S.eta * S.A / B_,
        "c4": (1 + S.eta) * S.C / (S.eta * B_),
        "c5": (1 + S.eta) / B_,
        "c6": S.zeta / (2 * B_),
    }
)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_sympy_expression_is_the_papers(name: str) -> None:
    assert sp.simplify(CONSTANTS[name].expr - PAPER[name]) == 0


def test_symbols_carry_the_hypotheses() -> None:
    assert S.zeta.is_positive and S.eta.is_positive and S.L.is_positive
    assert S.A.is_nonnegative and S.B.is_nonnegative and S.C.is_nonnegative and S.eps2.is_nonnegative
    assert S.T.is_integer and S.T.is_positive
    assert sp.simplify(th.b.expr.subs(ZETA_OVER_HALF)).is_positive is True
    # without zeta > 1/2, sympy cannot decide the sign of b: None means not proven
    assert th.b.expr.is_positive is None


@settings(max_examples=50, deadline=None)
@given(ZETA, ETA, NONNEG, NONNEG, NONNEG, NONNEG)
def test_exact_and_float_twins_agree(zeta, eta, A, B, C, eps2) -> None:
    args = {"zeta": zeta, "eta": eta, "A": A, "B": B, "C": C, "eps2": eps2}
    for name, const in CONSTANTS.items():
        vals = [args[a] for a in const.arg_names]
        exact = const(*vals)
        as_float = const(*[float(v) for v in vals])
        if exact == sp.oo:
            assert np.isinf(as_float)
            continue
        assert isinstance(exact, Fraction), name
        subs = {getattr(S, a): sp.Rational(v) for a, v in zip(const.arg_names, vals)}
        assert sp.Rational(exact) == const.expr.subs(subs), name
        assert as_float == pytest.approx(float(exact), rel=1e-12, abs=1e-300), name


def test_twins_are_vectorized() -> None:
    zeta = np.linspace(0.6, 3.0, 7)
    got = th.c6(zeta)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, zeta / (2 * (1 - 1 / (2 * zeta))), rtol=1e-14)
    consts = th.theorem1_constants(np.array([0.75, 1.0]), 1.0, 2.0, np.array([0.0, 1.0]), 3.0)
    assert np.isinf(consts.c1[0]) and consts.c1[1] == pytest.approx(0.25)


def test_c1_is_infinite_when_B_is_zero() -> None:
    assert th.c1(Fraction(1), Fraction(1), Fraction(0)) == sp.oo
    assert np.isinf(th.c1(1.0, 1.0, 0.0))


def test_known_values() -> None:
    consts = th.theorem1_constants(Fraction(1), Fraction(1), Fraction(2), Fraction(1, 6), Fraction(0))
    assert consts == (Fraction(3, 2), Fraction(4), Fraction(16), Fraction(0), Fraction(4), Fraction(1))
    assert th.b(Fraction(1, 2)) == 0  # Proposition 1 allows zeta = 1/2, where b vanishes
    assert th.b(Fraction(1, 4)) == -1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: th.c6(0.5), "zeta must be > 1/2"),
        (lambda: th.c2(np.array([1.0, 0.4])), "zeta must be > 1/2"),
        (lambda: th.b(0.0), "zeta must be > 0"),
        (lambda: th.A_tilde(0.0, 1.0), "eta must be > 0"),
        (lambda: th.C_tilde(1.0, -1.0, 0.0), "C must be >= 0"),
        (lambda: th.c(1.0, -0.1), "eps2 must be >= 0"),
        (lambda: th.c4(1.0, 1.0), "takes 3 arguments"),
    ],
)
def test_outside_hypotheses_raises(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_symbolic_call_gives_the_expression() -> None:
    assert sp.simplify(th.c3(S.zeta, S.eta, S.A) - th.c3.expr) == 0


def test_theory_imports_nothing_of_the_project_nor_torch() -> None:
    code = (
        "import sys, theory; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'bilevel', 'validation', 'benchmarks', 'paper_figures'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root)
    assert out.returncode == 0, out.stdout + out.stderr


def test_exact_comparison_with_infinite_step_bound():
    """B = 0 gives the step bound c1/L = +oo; an exact step must be admissible, as in float mode."""
    import sympy as sp
    from fractions import Fraction

    from theory import _arith

    assert _arith.decide(Fraction(3, 2), sp.oo, "<=") is True
    assert _arith.decide(sp.oo, Fraction(1), "<=") is False
    assert _arith.decide(Fraction(3, 2), float("inf"), "<=") == True  # noqa: E712 (numpy bool)
