"""Confidence intervals over seeds and the verdict rules, against hand-computed cases."""
from __future__ import annotations

import math

import pytest

from validation.experiments.intervals import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Interval,
    combine,
    exceeds,
    margin_note,
    mean_interval,
    not_worse,
    paired_interval,
    t_quantile,
)

# Student-t quantiles from tables: t_{0.975, 1} = 12.7062, t_{0.975, 2} = 4.3027, t_{0.975, 4} = 2.7764
T975 = {1: 12.706204736174698, 2: 4.302652729749464, 4: 2.7764451051977987}


def _iv(mean: float, low: float, high: float, n: int = 3) -> Interval:
    return Interval(mean, low, high, n, 1.0, 0.95, "seeds 0, 1, 2")


def test_t_quantiles_match_the_tables() -> None:
    for dof, q in T975.items():
        assert t_quantile(0.975, dof) == pytest.approx(q, rel=1e-9)
    with pytest.raises(ValueError, match="degree"):
        t_quantile(0.975, 0)
    with pytest.raises(ValueError, match="level"):
        t_quantile(1.0, 3)


def test_mean_interval_by_hand() -> None:
    # values 1, 2, 3: mean 2, sd 1, half-width t_{0.975,2} / sqrt(3) = 2.48414
    iv = mean_interval([1.0, 2.0, 3.0], "seeds 0, 1, 2")
    half = T975[2] / math.sqrt(3)
    assert iv.mean == pytest.approx(2.0) and iv.sd == pytest.approx(1.0) and iv.n == 3
    assert (iv.low, iv.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert iv.low == pytest.approx(-0.484138, abs=1e-6)
    assert "95 % Student-t interval over seeds 0, 1, 2" in iv.text()
    # five values 0.1, 0.2, 0.3, 0.4, 0.5: mean 0.3, sd sqrt(0.025), half-width 2.7764 * 0.158114 / sqrt(5)
    iv5 = mean_interval([0.1, 0.2, 0.3, 0.4, 0.5], "5 test images")
    assert iv5.high - iv5.mean == pytest.approx(T975[4] * math.sqrt(0.025) / math.sqrt(5))
    # a 90 % interval is narrower
    assert mean_interval([1.0, 2.0, 3.0], "s", confidence=0.9).high < iv.high


def test_paired_interval_is_the_interval_of_the_differences() -> None:
    iv = paired_interval([3.0, 4.0, 5.5], [1.0, 1.0, 1.5], "seeds 0, 1, 2")  # differences 2, 3, 4
    assert iv.mean == pytest.approx(3.0) and iv.sd == pytest.approx(1.0)
    assert iv.low == pytest.approx(3.0 - T975[2] / math.sqrt(3)) and iv.method == "paired Student-t"
    with pytest.raises(ValueError, match="equal"):
        paired_interval([1.0, 2.0], [1.0], "s")


def test_too_few_values_give_no_interval_and_no_support() -> None:
    one = mean_interval([5.0], "seed 0")
    assert one.n == 1 and not one.defined and math.isnan(one.low)
    assert "no interval" in one.text()
    assert exceeds(one) == INCONCLUSIVE and not_worse(one, 1.0) == INCONCLUSIVE
    assert mean_interval([], "no seeds").n == 0
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, math.nan], "s")
    # identical differences: zero width, decided by the sign
    assert exceeds(paired_interval([2.0, 2.0], [1.0, 1.0], "s")) == SUPPORTED


def test_exceeds_rule() -> None:
    assert exceeds(_iv(0.5, 0.2, 0.8), 0.1) == SUPPORTED  # above 0, mean above the margin
    assert exceeds(_iv(0.05, 0.01, 0.09), 0.1) == NOT_SUPPORTED  # confidently below the margin
    assert exceeds(_iv(-0.5, -0.8, -0.2), 0.0) == NOT_SUPPORTED  # reversed
    assert exceeds(_iv(0.3, -0.2, 0.8), 0.1) == INCONCLUSIVE  # straddles 0
    assert exceeds(_iv(0.08, 0.01, 0.15), 0.1) == INCONCLUSIVE  # significant, but mean below the margin
    assert exceeds(_iv(0.2, 0.0, 0.4), 0.0) == INCONCLUSIVE  # touching 0 is not above it
    with pytest.raises(ValueError, match="margin"):
        exceeds(_iv(1, 0, 2), -1.0)


def test_margin_note_only_for_a_positive_difference_below_the_margin() -> None:
    note = margin_note(_iv(0.05, 0.01, 0.09), 0.1, " dB")
    assert "positive" in note and "0.1 dB" in note
    assert margin_note(_iv(-0.5, -0.8, -0.2), 0.0) == ""  # reversed: "not supported" says it all
    assert margin_note(_iv(0.5, 0.2, 0.8), 0.1) == ""  # supported
    assert margin_note(_iv(0.08, 0.01, 0.15), 0.1) == ""  # inconclusive
    assert margin_note(mean_interval([5.0], "seed 0"), 0.1) == ""  # no interval


def test_not_worse_rule() -> None:
    assert not_worse(_iv(-0.1, -0.2, 0.0), 0.25) == SUPPORTED
    assert not_worse(_iv(0.5, 0.3, 0.7), 0.25) == SUPPORTED  # better is also fine
    assert not_worse(_iv(-1.0, -1.5, -0.5), 0.25) == NOT_SUPPORTED
    assert not_worse(_iv(-0.3, -0.6, 0.1), 0.25) == INCONCLUSIVE


def test_combine_rule() -> None:
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert combine([SUPPORTED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE]) == NOT_SUPPORTED
    assert combine([]) == INCONCLUSIVE
