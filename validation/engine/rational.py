r"""Exact rational linear algebra for small matrices, and the JSON form of exact numbers.

Everything here works on :class:`fractions.Fraction` entries held in ``dtype=object`` numpy arrays
(or nested lists) of size at most a few dozen, as the exact-expectation engine needs:

* :func:`solve` / :func:`inverse` -- Gaussian elimination with exact pivots (a particular solution
  for consistent singular systems);
* :func:`is_psd` -- positive semidefiniteness by all principal minors (exact; :math:`n \le 5`);
* :func:`max_quadratic` -- :math:`\sup_x x^\top N x + 2n^\top x + \nu` (finite iff :math:`N \preceq 0`
  and :math:`n \in \mathrm{range}(N)`), the tool that turns "an inequality between quadratics holds
  for every :math:`\theta`" into an exact computation;
* :func:`lambda_max_upper` -- the exact largest eigenvalue when it is rational, otherwise the
  smallest rational upper bound found on a fine grid, certified by :func:`is_psd`;
* :func:`cayley_orthogonal` -- rational orthogonal matrices :math:`(I - S)(I + S)^{-1}` (:math:`S` skew),
  so that :math:`R\,\mathrm{diag}(\lambda)R^\top` has known rational eigenvalues;
* :func:`encode` / :func:`decode` -- exact numbers as JSON strings ``"p/q"`` (floats stay floats).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

__all__ = [
    "F",
    "as_exact",
    "as_float",
    "is_exact_array",
    "solve",
    "inverse",
    "det",
    "is_psd",
    "max_quadratic",
    "lambda_max_upper",
    "lambda_min_lower",
    "cayley_orthogonal",
    "encode",
    "decode",
    "lcm_denominator",
    "unlimited_digits",
    "fraction_str",
]

UPPER_BOUND_DIGITS = 12
"""Relative precision (in decimal digits) of rational eigenvalue bounds when the eigenvalue is irrational."""


def F(x: Any) -> Fraction:
    """An exact :class:`Fraction` from an int, a Fraction, a ``"p/q"`` string or a float (its exact binary value)."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, (bool, np.bool_)):
        return Fraction(int(x))
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, str):
        return Fraction(x)
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise ValueError(f"cannot make an exact number of {x!r}")
        return Fraction(float(x))
    if hasattr(x, "p") and hasattr(x, "q"):  # sympy Rational
        return Fraction(int(x.p), int(x.q))
    raise TypeError(f"cannot make an exact number of {type(x).__name__} {x!r}")


def as_exact(x: Any) -> np.ndarray:
    """``x`` as an object array of Fractions (any shape)."""
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, e in np.ndenumerate(arr):
        out[idx] = F(e)
    return out


def as_float(x: Any) -> np.ndarray:
    """``x`` as a float64 array (Fractions converted)."""
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=float)
    for idx, e in np.ndenumerate(arr):
        out[idx] = float(e)
    return out


def is_exact_array(x: Any) -> bool:
    """True when ``x`` is an object array (exact entries)."""
    return isinstance(x, np.ndarray) and x.dtype == object


def _rows(A: Any) -> list[list[Fraction]]:
    return [[F(e) for e in row] for row in np.asarray(A, dtype=object).tolist()]


def solve(A: Any, b: Any) -> np.ndarray | None:
    """A particular exact solution of :math:`Ax = b` (free variables set to 0), or ``None`` if inconsistent.

    ``A`` is (n, k), ``b`` is (n,).
    """
    M = _rows(A)
    rhs = [F(e) for e in np.asarray(b, dtype=object).ravel().tolist()]
    n = len(M)
    k = len(M[0]) if n else 0
    aug = [row[:] + [rhs[i]] for i, row in enumerate(M)]
    pivots: list[int] = []
    r = 0
    for col in range(k):
        piv = next((i for i in range(r, n) if aug[i][col] != 0), None)
        if piv is None:
            continue
        aug[r], aug[piv] = aug[piv], aug[r]
        p = aug[r][col]
        aug[r] = [e / p for e in aug[r]]
        for i in range(n):
            if i != r and aug[i][col] != 0:
                fac = aug[i][col]
                aug[i] = [a - fac * c for a, c in zip(aug[i], aug[r])]
        pivots.append(col)
        r += 1
        if r == n:
            break
    for i in range(r, n):
        if aug[i][k] != 0:
            return None
    x = [Fraction(0)] * k
    for i, col in enumerate(pivots):
        x[col] = aug[i][k]
    return np.array(x, dtype=object)


def inverse(A: Any) -> np.ndarray:
    """Exact inverse of a square matrix.

    Raises
    ------
    ValueError
        If ``A`` is singular.
    """
    M = _rows(A)
    n = len(M)
    cols = []
    for j in range(n):
        e = [Fraction(int(i == j)) for i in range(n)]
        x = solve(M, e)
        if x is None:
            raise ValueError("the matrix is singular; it has no inverse")
        cols.append(x)
    inv = np.empty((n, n), dtype=object)
    for j in range(n):
        inv[:, j] = cols[j]
    return inv


def det(A: Any) -> Fraction:
    """Exact determinant (fraction-preserving elimination)."""
    rows = _rows(A)
    n = len(rows)
    if n == 0:
        return Fraction(1)
    sign = 1
    out = Fraction(1)
    for col in range(n):
        piv = next((i for i in range(col, n) if rows[i][col] != 0), None)
        if piv is None:
            return Fraction(0)
        if piv != col:
            rows[col], rows[piv] = rows[piv], rows[col]
            sign = -sign
        p = rows[col][col]
        out *= p
        for i in range(col + 1, n):
            if rows[i][col] != 0:
                fac = rows[i][col] / p
                rows[i] = [a - fac * c for a, c in zip(rows[i], rows[col])]
    return sign * out


def is_psd(A: Any) -> bool:
    """Exact test of :math:`A \\succeq 0` for a symmetric matrix: every principal minor is :math:`\\ge 0`.

    Raises
    ------
    ValueError
        If ``A`` is not symmetric or larger than 6x6 (the test enumerates :math:`2^n` minors).
    """
    M = _rows(A)
    n = len(M)
    if any(M[i][j] != M[j][i] for i in range(n) for j in range(n)):
        raise ValueError("is_psd needs a symmetric matrix")
    if n > 6:
        raise ValueError(f"is_psd enumerates principal minors; n = {n} > 6 is too large")
    for size in range(1, n + 1):
        for idx in itertools.combinations(range(n), size):
            sub = [[M[i][j] for j in idx] for i in idx]
            if det(sub) < 0:
                return False
    return True


def max_quadratic(N: Any, n: Any, nu: Any) -> Fraction | None:
    r""":math:`\sup_x\, x^\top N x + 2n^\top x + \nu` over :math:`x \in \mathbb R^k`, exactly; ``None`` when it is :math:`+\infty`.

    The supremum is finite iff :math:`-N \succeq 0` and :math:`Nx = -n` has a solution :math:`x^*`; then it
    equals :math:`\nu + n^\top x^*` (attained at :math:`x^*`).
    """
    Nm = as_exact(N)
    nv = as_exact(n).ravel()
    if Nm.size and not is_psd(-Nm):
        return None
    if Nm.size == 0:
        return F(nu)
    x = solve(Nm, -nv)
    if x is None:
        return None
    return F(nu) + sum((a * b for a, b in zip(nv.tolist(), x.tolist())), Fraction(0))


def _exact_rational_eigenvalues(A: np.ndarray) -> list[Fraction] | None:
    """All eigenvalues when every one is rational (via sympy's exact roots), else ``None``."""
    import sympy as sp

    M = sp.Matrix([[sp.Rational(e.numerator, e.denominator) for e in row] for row in _rows(A)])
    poly = M.charpoly()
    roots = sp.roots(poly, multiple=True)
    if len(roots) != M.shape[0] or not all(r.is_rational for r in roots):
        return None
    return [Fraction(int(r.p), int(r.q)) for r in roots]


def lambda_max_upper(A: Any) -> Fraction:
    """The largest eigenvalue of a symmetric rational matrix when rational, else a certified rational upper bound.

    The bound is within a relative :data:`UPPER_BOUND_DIGITS` digits of the float eigenvalue and is
    certified exactly by :math:`\\lambda I - A \\succeq 0`.
    """
    M = as_exact(A)
    n = M.shape[0]
    if n == 1:
        return M[0, 0]
    eig = _exact_rational_eigenvalues(M)
    if eig is not None:
        return max(eig)
    top = float(np.max(np.linalg.eigvalsh(as_float(M))))
    step = max(abs(top), 1.0) * 10.0 ** (-UPPER_BOUND_DIGITS)
    cand = F(top).limit_denominator(10**UPPER_BOUND_DIGITS)
    eye = np.array([[Fraction(int(i == j)) for j in range(n)] for i in range(n)], dtype=object)
    for k in range(200):
        if is_psd(cand * eye - M):
            return cand
        cand += F(step) * (2**k)
    raise ValueError("could not certify a rational upper bound of the largest eigenvalue")


def lambda_min_lower(A: Any) -> Fraction:
    """The smallest eigenvalue when rational, else a certified rational lower bound (see :func:`lambda_max_upper`)."""
    return -lambda_max_upper(-as_exact(A))


def cayley_orthogonal(skew_entries: Sequence[Any], d: int) -> np.ndarray:
    r"""The rational orthogonal matrix :math:`(I - S)(I + S)^{-1}` for the skew :math:`S` with upper entries ``skew_entries``.

    ``skew_entries`` lists :math:`S_{ij}`, :math:`i < j`, row by row (``d (d-1)/2`` numbers).
    """
    need = d * (d - 1) // 2
    if len(skew_entries) != need:
        raise ValueError(f"a {d}x{d} skew matrix has {need} free entries; got {len(skew_entries)}")
    S = np.array([[Fraction(0)] * d for _ in range(d)], dtype=object)
    it = iter(skew_entries)
    for i in range(d):
        for j in range(i + 1, d):
            s = F(next(it))
            S[i, j] = s
            S[j, i] = -s
    eye = np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)
    return (eye - S).dot(inverse(eye + S))


def lcm_denominator(values: Any) -> int:
    """Least common multiple of the denominators of exact ``values`` (1 for an empty input)."""
    out = 1
    for e in np.asarray(values, dtype=object).ravel().tolist():
        out = math.lcm(out, F(e).denominator)
    return out


@contextlib.contextmanager
def unlimited_digits() -> Any:
    """Lift Python's limit on int/str conversion of very long integers (exact moments of long runs)."""
    get = getattr(sys, "get_int_max_str_digits", None)
    if get is None:  # pragma: no cover - Python without the limit
        yield
        return
    old = get()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def fraction_str(x: Fraction) -> str:
    """``"p/q"`` (or ``"p"``) for any size of numerator and denominator."""
    with unlimited_digits():
        return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def encode(x: Any) -> Any:
    """JSON form: Fractions become ``"p/q"`` strings, arrays nested lists, floats stay floats."""
    if isinstance(x, np.ndarray):
        return [encode(e) for e in x.tolist()] if x.ndim else encode(x[()])
    if isinstance(x, (list, tuple)):
        return [encode(e) for e in x]
    if isinstance(x, Fraction):
        return fraction_str(x)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if math.isnan(v):
            return "nan"
        return v
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "p") and hasattr(x, "q"):
        return encode(F(x))
    raise TypeError(f"cannot encode {type(x).__name__} {x!r} as JSON")


def decode(x: Any, exact: bool = True) -> Any:
    """Inverse of :func:`encode`: strings ``"p/q"`` become Fractions (``exact``) or floats; lists become arrays."""
    if isinstance(x, list):
        vals = [decode(e, exact) for e in x]
        if exact and any(isinstance(v, Fraction) for v in _flat(vals)):
            return np.array(vals, dtype=object)
        return np.array(vals, dtype=object if exact else float)
    if isinstance(x, str):
        if x in ("inf", "-inf", "nan"):
            return float(x)
        try:
            with unlimited_digits():
                fr = Fraction(x)
        except ValueError:
            raise ValueError(f"not a number: {x!r}") from None
        return fr if exact else float(fr)
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, int):
        return Fraction(x) if exact else float(x)
    if isinstance(x, float):
        return Fraction(x) if exact else x
    raise ValueError(f"not a number or a list of numbers: {x!r}")


def _flat(vals: list) -> list:
    out: list = []
    for v in vals:
        if isinstance(v, np.ndarray):
            out.extend(v.ravel().tolist())
        else:
            out.append(v)
    return out
