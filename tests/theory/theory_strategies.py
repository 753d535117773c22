"""Hypothesis strategies shared by the theory tests: exact finite laws and rational vectors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

SMALL = st.fractions(min_value=-4, max_value=4, max_denominator=7)
POSITIVE = st.fractions(min_value=Fraction(1, 7), max_value=8, max_denominator=7)
NONNEG = st.fractions(min_value=0, max_value=8, max_denominator=7)


@st.composite
def probabilities(draw: st.DrawFn, k: int) -> list[Fraction]:
    """k exact probabilities (some may be zero) summing to one."""
    weights = draw(st.lists(st.integers(min_value=0, max_value=9), min_size=k, max_size=k).filter(lambda w: sum(w) > 0))
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


@st.composite
def finite_oracles(draw: st.DrawFn, max_k: int = 4, max_d: int = 3) -> dict[str, object]:
    """An exact finite law of (grad f_v, e_v): probs (K,), grad_fv (K, d), errors (K, d)."""
    k = draw(st.integers(min_value=1, max_value=max_k))
    d = draw(st.integers(min_value=1, max_value=max_d))
    probs = draw(probabilities(k))
    grads = np.array([[draw(SMALL) for _ in range(d)] for _ in range(k)], dtype=object)
    errs = np.array([[draw(SMALL) for _ in range(d)] for _ in range(k)], dtype=object)
    return {"probs": probs, "grad_fv": grads, "errors": errs}
