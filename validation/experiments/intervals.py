r"""Confidence intervals over seeds (or test images) and the verdict rules built on them.

Every headline comparison of :mod:`validation.experiments.paper_results` is a *paired* difference
``d_s = a_s - b_s`` over seeds ``s`` (both runs of a pair share the seed, hence the noise
realization, the initialization and the sampler) or over held-out test images. Its interval is the
Student-t interval of the mean difference,

.. math::

    \bar d \pm t_{1-(1-\gamma)/2,\; n-1}\, \frac{s_d}{\sqrt n},
    \qquad s_d^2 = \frac{1}{n-1}\sum_s (d_s - \bar d)^2,

at confidence :math:`\gamma` (:data:`CONFIDENCE`), which assumes the differences are roughly normal
and independent across seeds. With fewer than two values there is no interval, and no verdict can
be "supported".

Verdict rules (``m >= 0`` a practical margin in the units of the difference):

* :func:`exceeds` -- claim "``a`` is higher than ``b``": **supported** iff the interval lies above 0
  *and* the mean difference is at least ``m``; **not supported** iff the upper end is at most ``m``
  (the advantage is confidently below the margin, or reversed); otherwise **inconclusive**.
* :func:`not_worse` -- claim "``a`` is comparable to ``b`` or better" (``a - b >= -m``):
  **supported** iff the lower end is at least ``-m``; **not supported** iff the upper end is below
  ``-m``; otherwise inconclusive.
* :func:`combine` -- a claim made for several cases at once (every step size, every milestone):
  supported iff supported in every case, not supported iff not supported in some case, else
  inconclusive.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "CONFIDENCE",
    "INCONCLUSIVE",
    "NOT_SUPPORTED",
    "SUPPORTED",
    "Interval",
    "combine",
    "exceeds",
    "margin_note",
    "mean_interval",
    "not_worse",
    "paired_interval",
    "t_quantile",
]

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
INCONCLUSIVE = "inconclusive at this scale"

CONFIDENCE = 0.95
"""Level of every interval of the verdicts."""


def t_quantile(level: float, dof: int) -> float:
    """Quantile ``level`` of Student's t distribution with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom, got {dof}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    from scipy import stats

    return float(stats.t.ppf(level, dof))


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided Student-t interval.

    ``over`` says what the values range over ("seeds 1, 2, 3", "12 test images"); ``low``/``high``
    are ``nan`` with fewer than two values (no interval).
    """

    mean: float
    low: float
    high: float
    n: int
    sd: float
    confidence: float
    over: str
    method: str = "Student-t"

    @property
    def defined(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)

    def text(self, digits: int = 3, unit: str = "") -> str:
        """``"1.23 [0.45, 2.01] dB (95 % t-interval over seeds 0, 1, 2)"``."""
        u = f" {unit}" if unit else ""
        if not self.defined:
            return f"{_g(self.mean, digits)}{u} (n = {self.n} over {self.over}: no interval)"
        return (f"{_g(self.mean, digits)} [{_g(self.low, digits)}, {_g(self.high, digits)}]{u} "
                f"({100 * self.confidence:g} % {self.method} interval over {self.over})")

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _g(x: float, digits: int) -> str:
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def mean_interval(values: Iterable[float], over: str, confidence: float = CONFIDENCE) -> Interval:
    """Mean of ``values`` with its two-sided Student-t interval (no interval for fewer than two values)."""
    v = np.asarray(list(values), dtype=float)
    if v.ndim != 1:
        raise ValueError("values must be a flat sequence of numbers")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, math.nan, confidence, over)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values over {over} must be finite, got {v.tolist()}; leave out (and report) runs without "
                         "a value")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, 1, math.nan, confidence, over)
    sd = float(v.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2, v.size - 1) * sd / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, int(v.size), sd, confidence, over)


def paired_interval(a: Sequence[float], b: Sequence[float], over: str, confidence: float = CONFIDENCE) -> Interval:
    """Interval of the mean paired difference ``a_s - b_s`` (same seeds or same images, in the same order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need equal flat shapes, got {a.shape} and {b.shape}")
    iv = mean_interval(a - b, over, confidence)
    return Interval(iv.mean, iv.low, iv.high, iv.n, iv.sd, iv.confidence, over, "paired Student-t")


def exceeds(iv: Interval, margin: float = 0.0) -> str:
    """Verdict on "the difference is positive (by at least ``margin`` on average)" (module docstring)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not iv.defined:
        return INCONCLUSIVE
    if iv.low > 0 and iv.mean >= margin:
        return SUPPORTED
    if iv.high <= margin:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def margin_note(iv: Interval, margin: float, unit: str = "") -> str:
    """The sentence that keeps a "not supported" of :func:`exceeds` from reading as "not higher": empty
    unless the interval lies above 0 and yet at or below ``margin`` (a real but smaller difference)."""
    if iv.defined and iv.low > 0 and iv.high <= margin:
        return (f" The difference is positive (its interval lies above 0) but confidently below the margin of "
                f"{margin:g}{unit}: real, yet too small to count as the claimed improvement.")
    return ""


def not_worse(iv: Interval, margin: float) -> str:
    """Verdict on "the difference is at least ``-margin``" (comparable or better, module docstring)."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not iv.defined:
        return INCONCLUSIVE
    if iv.low >= -margin:
        return SUPPORTED
    if iv.high < -margin:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def combine(statuses: Iterable[str]) -> str:
    """One verdict for a claim made for several cases: supported only if supported in every case."""
    s = list(statuses)
    if not s:
        return INCONCLUSIVE
    if NOT_SUPPORTED in s:
        return NOT_SUPPORTED
    if all(x == SUPPORTED for x in s):
        return SUPPORTED
    return INCONCLUSIVE
