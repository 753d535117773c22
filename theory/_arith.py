"""Arithmetic that works the same way on floats, exact rationals and sympy symbols.

Every formula of :mod:`theory` is written once, as plain Python arithmetic, and evaluated in one
of three modes chosen from its arguments:

* ``"float"``: numpy ``float64`` arrays (broadcasting, vectorised);
* ``"exact"``: :class:`fractions.Fraction` (scalars or ``dtype=object`` arrays); square roots that are
  not rational become sympy algebraic numbers, so results stay exact;
* ``"symbolic"``: sympy expressions (any argument with free symbols), used to build the sympy form
  of the same formula.

A value is *exact* when it is a :class:`~fractions.Fraction`, a sympy number, or an object array of
those; Python ``int`` and ``float`` alone select the float mode.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import sympy as sp

Mode = Literal["float", "exact", "symbolic"]

__all__ = [
    "Mode",
    "mode_of",
    "coerce",
    "to_exact",
    "to_float",
    "sqrt",
    "minimum",
    "maximum",
    "absolute",
    "power",
    "decide",
    "unwrap",
    "is_symbolic",
]


def _is_symbolic_scalar(x: Any) -> bool:
    return isinstance(x, sp.Basic) and not x.is_number


def _is_exact_scalar(x: Any) -> bool:
    return isinstance(x, Fraction) or (isinstance(x, sp.Basic) and x.is_number)


def is_symbolic(x: Any) -> bool:
    """True when ``x`` (or an element of it) is a sympy expression with free symbols."""
    if isinstance(x, np.ndarray):
        return x.dtype == object and any(_is_symbolic_scalar(e) for e in x.flat)
    if isinstance(x, (list, tuple)):
        return any(is_symbolic(e) for e in x)
    return _is_symbolic_scalar(x)


def _is_exact(x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype == object
    if isinstance(x, (list, tuple)):
        return any(_is_exact(e) for e in x)
    return _is_exact_scalar(x)


def mode_of(*values: Any) -> Mode:
    """The evaluation mode selected by ``values`` (``None`` entries are ignored)."""
    present = [v for v in values if v is not None]
    if any(is_symbolic(v) for v in present):
        return "symbolic"
    if any(_is_exact(v) for v in present):
        return "exact"
    return "float"


def _exact_scalar(x: Any) -> Any:
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (bool, np.bool_)):
        return Fraction(int(x))
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return sp.oo if float(x) > 0 else (-sp.oo if float(x) < 0 else sp.nan)
        return Fraction(float(x))
    if isinstance(x, sp.Rational):
        return Fraction(int(x.p), int(x.q))
    if isinstance(x, sp.Basic):
        return x
    raise TypeError(f"cannot convert {type(x).__name__} {x!r} to an exact number")


def _symbolic_scalar(x: Any) -> Any:
    if isinstance(x, sp.Basic):
        return x
    if isinstance(x, Fraction):
        return sp.Rational(x.numerator, x.denominator)
    if isinstance(x, (bool, np.bool_, int, np.integer)):
        return sp.Integer(int(x))
    if isinstance(x, (float, np.floating)):
        return sp.Rational(Fraction(float(x))) if math.isfinite(float(x)) else sp.oo
    raise TypeError(f"cannot convert {type(x).__name__} {x!r} to a sympy expression")


def _map(fn: Any, x: Any) -> Any:
    if isinstance(x, (np.ndarray, list, tuple)):
        arr = np.asarray(x, dtype=object)
        out = np.empty(arr.shape, dtype=object)
        for idx, e in np.ndenumerate(arr):
            out[idx] = fn(e)
        return out
    return fn(x)


def to_exact(x: Any) -> Any:
    """Convert ``x`` to exact numbers (Fractions, or sympy numbers where irrational)."""
    if x is None:
        return None
    return _map(_exact_scalar, x)


def to_float(x: Any) -> Any:
    """Convert ``x`` to ``float64`` (a numpy array, or a Python float for scalars)."""
    if x is None:
        return None
    arr = np.asarray(x, dtype=object if isinstance(x, np.ndarray) and x.dtype == object else None)
    if arr.dtype == object:
        out = np.empty(arr.shape, dtype=float)
        for idx, e in np.ndenumerate(arr):
            out[idx] = float(e)
        arr = out
    else:
        arr = arr.astype(float)
    return np.float64(arr) if arr.ndim == 0 else arr


def coerce(*values: Any, mode: Mode | None = None) -> tuple[Mode, tuple[Any, ...]]:
    """Bring ``values`` to one common mode; returns ``(mode, converted values)``."""
    chosen = mode if mode is not None else mode_of(*values)
    if chosen == "float":
        return chosen, tuple(to_float(v) for v in values)
    if chosen == "exact":
        return chosen, tuple(to_exact(v) for v in values)
    return chosen, tuple(None if v is None else _map(_symbolic_scalar, v) for v in values)


def unwrap(x: Any) -> Any:
    """Turn 0-d arrays into scalars; leave everything else alone."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return x[()]
    return x


def _sqrt_scalar(x: Any) -> Any:
    if isinstance(x, Fraction):
        if x < 0:
            raise ValueError(f"square root of a negative number {x}")
        n, d = x.numerator, x.denominator
        rn, rd = math.isqrt(n), math.isqrt(d)
        if rn * rn == n and rd * rd == d:
            return Fraction(rn, rd)
        return sp.sqrt(sp.Rational(n, d))
    if isinstance(x, sp.Basic):
        return sp.sqrt(x)
    return np.sqrt(x)


def sqrt(x: Any) -> Any:
    """Square root: exact (rational or sympy algebraic) for exact input, ``np.sqrt`` for floats."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        return _map(_sqrt_scalar, x)
    if isinstance(x, (Fraction, sp.Basic)):
        return _sqrt_scalar(x)
    return np.sqrt(x)


def _pair(fn_float: Any, fn_sym: Any, fn_exact: Any, a: Any, b: Any) -> Any:
    if is_symbolic(a) or is_symbolic(b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            aa, bb = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            return np.vectorize(fn_sym, otypes=[object])(aa, bb)
        return fn_sym(a, b)
    if _is_exact(a) or _is_exact(b):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            aa, bb = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
            return np.vectorize(fn_exact, otypes=[object])(aa, bb)
        return fn_exact(a, b)
    return fn_float(a, b)


def _exact_min(a: Any, b: Any) -> Any:
    return a if bool(a <= b) else b


def _exact_max(a: Any, b: Any) -> Any:
    return a if bool(a >= b) else b


def minimum(*values: Any) -> Any:
    """Elementwise minimum of two or more values (``sympy.Min`` in symbolic mode)."""
    out = values[0]
    for v in values[1:]:
        out = _pair(np.minimum, sp.Min, _exact_min, out, v)
    return out


def maximum(*values: Any) -> Any:
    """Elementwise maximum of two or more values (``sympy.Max`` in symbolic mode)."""
    out = values[0]
    for v in values[1:]:
        out = _pair(np.maximum, sp.Max, _exact_max, out, v)
    return out


def absolute(x: Any) -> Any:
    """Elementwise absolute value (``sympy.Abs`` in symbolic mode)."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        return _map(absolute, x)
    if isinstance(x, sp.Basic):
        return sp.Abs(x)
    return abs(x) if isinstance(x, Fraction) else np.abs(x)


def power(base: Any, exponent: Any) -> Any:
    """``base ** exponent``; float overflow gives ``inf`` (no warning)."""
    if isinstance(base, np.ndarray) and base.dtype != object or isinstance(base, (float, np.floating)):
        with np.errstate(over="ignore"):
            return np.power(base, exponent)
    if isinstance(exponent, np.ndarray) and exponent.dtype != object:
        exponent = exponent.astype(object)
    return base**exponent


def _decide_scalar(diff: Any) -> bool | None:
    if isinstance(diff, Fraction):
        return diff >= 0
    if isinstance(diff, sp.Basic):
        # "extended": +oo >= 0 is true (e.g. a step bound c1/L = oo when B = 0); plain
        # is_nonnegative is False for oo because oo is not a real number
        verdict = diff.is_extended_nonnegative
        if verdict is None:
            verdict = sp.simplify(diff).is_extended_nonnegative
        return None if verdict is None else bool(verdict)
    return bool(diff >= 0)


def decide(lhs: Any, rhs: Any, relation: str) -> Any:
    """Decide ``lhs relation rhs`` elementwise.

    Floats give booleans. Exact values give ``True``/``False``, or ``None`` where sympy cannot
    decide the sign of an algebraic difference (``None`` means *undecided*, never *true*).
    ``relation`` is one of ``"<="``, ``">="``, ``"=="``.
    """
    if relation not in ("<=", ">=", "=="):
        raise ValueError(f"relation must be '<=', '>=' or '=='; got {relation!r}")
    if mode_of(lhs, rhs) == "float":
        lhs_f, rhs_f = np.asarray(lhs, dtype=float), np.asarray(rhs, dtype=float)
        with np.errstate(invalid="ignore"):
            if relation == "<=":
                out = lhs_f <= rhs_f
            elif relation == ">=":
                out = lhs_f >= rhs_f
            else:
                out = lhs_f == rhs_f
        return bool(out) if out.ndim == 0 else out
    if relation == "==":
        first = decide(lhs, rhs, "<=")
        second = decide(lhs, rhs, ">=")
        return _and3(first, second)
    diff = (rhs - lhs) if relation == "<=" else (lhs - rhs)
    if isinstance(diff, np.ndarray):
        return _map(_decide_scalar, diff)
    return _decide_scalar(diff)


def _and3(a: Any, b: Any) -> Any:
    def one(x: Any, y: Any) -> bool | None:
        if x is False or y is False:
            return False
        if x is None or y is None:
            return None
        return True

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        aa, bb = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
        return np.vectorize(one, otypes=[object])(aa, bb)
    return one(a, b)


def and3(*values: Any) -> Any:
    """Three-valued elementwise conjunction (``None`` is *undecided*)."""
    out: Any = True
    for v in values:
        out = _and3(out, v)
    return out
