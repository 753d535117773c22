r"""Sampling laws for the paper's sampling vectors and the expected-smoothness constants of Khaled & Richtarik.

A sampling vector :math:`v \sim \mathcal D` on :math:`\mathbb R^m` has :math:`\mathbb E[v_i] = 1` (paper,
Section 1), :math:`f_v = \frac1m\sum_i v_i f_i` and :math:`\nabla f_v = \frac1m\sum_i v_i \nabla f_i`.
Every law here states its law: the support with probabilities (when it is small enough to
enumerate), :math:`\mathbb E[v]` and the second-moment matrix :math:`M = \mathbb E[v v^\top]`, so that

.. math::

    \mathbb E\|\nabla f_v(\theta)\|^2 = \frac{1}{m^2}\sum_{i,j} M_{ij}\langle\nabla f_i(\theta), \nabla f_j(\theta)\rangle

is exact. For the standard laws :math:`M = \mathrm{diag}(d) + \beta\,\mathbf 1\mathbf 1^\top`, hence

.. math::

    \mathbb E\|\nabla f_v\|^2 = \frac{1}{m^2}\sum_i d_i\|\nabla f_i\|^2 + \beta\|\nabla f\|^2
    \le 2\max_i\frac{d_i L_i}{m}\big(f - f^{\inf} + \Delta^{\inf}\big) + \beta\|\nabla f\|^2

(using :math:`\|\nabla f_i\|^2 \le 2L_i(f_i - f_i^{\inf})`), which gives :meth:`SamplingLaw.derived_constants`.

Khaled & Richtarik [18, Proposition 2] (any law with :math:`\mathbb E[v_i^2] < \infty`):
:math:`A = \max_i L_i\mathbb E[v_i^2]`, :math:`B = 0`, :math:`C = 2A\Delta^{\inf}`.
[18, Proposition 3], as recorded in the reference formulas (:math:`C = 2A\Delta^{\inf}` in every row):

====================  ===============================================  =====
law                   A                                                B
====================  ===============================================  =====
tau-nice              :math:`\frac{m-\tau}{\tau(m-1)}\max_i L_i`        1
independent p_i       :math:`\max_i\frac{(1-p_i)L_i}{p_i m}`            1
with replacement q_i  :math:`\max_i\frac{L_i}{\tau m q_i}`              1
single uniform        :math:`\max_i L_i`                                0
single importance     :math:`\frac1m\sum_i L_i` (:math:`q_i \propto L_i`) 0
====================  ===============================================  =====

The exact second moments (:meth:`SamplingLaw.second_moment_matrix`, checked against enumeration in
the tests) give the same :math:`A` in every row and a smaller :math:`B` in two rows:
:math:`\beta = \frac{m(\tau-1)}{\tau(m-1)}` for tau-nice and :math:`\beta = 1 - 1/\tau` for sampling
with replacement. So the recorded :math:`B = 1` is valid but not tight there; for sampling with
replacement :math:`B = 1 - 1/\tau` is exact and attained (all :math:`f_i` equal, uniform :math:`q`).

References
----------
[18] Khaled, Richtarik, Better Theory for SGD in the Nonconvex World, 2020 (Propositions 2 and 3).
Gower et al., SGD: General Analysis and Improved Rates, 2019 (the sampling vectors).
"""

from __future__ import annotations

import itertools
import logging
import math
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any, Iterator, NamedTuple

import numpy as np

from . import _arith

logger = logging.getLogger(__name__)

__all__ = [
    "ABCConstants",
    "Support",
    "SamplingLaw",
    "SingleUniform",
    "SingleImportance",
    "TauNice",
    "Independent",
    "WithReplacement",
    "FiniteLaw",
    "DEFAULT_MAX_SUPPORT",
    "PROBABILITY_ATOL",
]

DEFAULT_MAX_SUPPORT = 200_000
"""Largest support :meth:`SamplingLaw.support` enumerates unless told otherwise."""

PROBABILITY_ATOL = 1e-12
"""Absolute tolerance on ``sum(probabilities) == 1`` for float probabilities (exact ones must sum to 1)."""


class ABCConstants(NamedTuple):
    r"""Expected-smoothness constants: :math:`\mathbb E\|\nabla f_v\|^2 \le 2A(f - f^{\inf}) + B\|\nabla f\|^2 + C`."""

    A: Any
    B: Any
    C: Any


class Support(NamedTuple):
    """An enumerated law: ``vectors`` (K, m) and ``probs`` (K,), summing to one."""

    vectors: np.ndarray
    probs: np.ndarray


def _as_prob_vector(name: str, q: Any, *, allow_one: bool = True) -> np.ndarray:
    mode = _arith.mode_of(q)
    arr = _arith.to_exact(np.asarray(q, dtype=object)) if mode == "exact" else np.asarray(q, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d vector of probabilities; got shape {np.shape(q)}")
    return arr


def _max(values: np.ndarray) -> Any:
    return max(values.tolist()) if values.dtype == object else float(np.max(values))


def _list_repr(values: np.ndarray) -> str:
    """A probability vector for a repr: ``[x]*m`` when every entry is ``x``, else the list itself."""
    vals = values.tolist()
    if len(vals) > 1 and all(v == vals[0] for v in vals):
        return f"[{vals[0]}]*{len(vals)}"
    return str(vals)


def _num(x: Any, exact: bool) -> Any:
    return _arith.to_exact(x) if exact else float(x)


class SamplingLaw(ABC):
    """A law of sampling vectors on :math:`\\mathbb R^m` with :math:`\\mathbb E[v_i] = 1`.

    Subclasses give the second-moment matrix in closed form and enumerate their support.
    Parameters given as ``Fraction`` (or integer-valued laws) give exact moments.
    """

    name: str = "law"

    def __init__(self, m: int) -> None:
        if int(m) != m or m < 1:
            raise ValueError(f"m must be a positive integer (number of components f_i); got {m!r}")
        self.m = int(m)

    # -- the law ------------------------------------------------------------------------------

    @property
    @abstractmethod
    def exact(self) -> bool:
        """True when the law's parameters are exact rationals."""

    @abstractmethod
    def support_size(self) -> int:
        """Number of outcomes with positive probability."""

    @abstractmethod
    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        """Yield ``(v, probability)`` pairs."""

    def support(self, max_size: int = DEFAULT_MAX_SUPPORT) -> Support:
        """Enumerate the law: vectors (K, m) and probabilities (K,), exact where the law is exact.

        Raises
        ------
        ValueError
            If the support has more than ``max_size`` outcomes (use :meth:`second_moment_matrix`
            for exact moments of large laws).
        """
        size = self.support_size()
        if size > max_size:
            raise ValueError(
                f"{self!r} has {size} outcomes, more than max_size={max_size}; use second_moment_matrix() "
                "for exact moments or raise max_size"
            )
        dtype = object if self.exact else float
        vecs = np.empty((size, self.m), dtype=dtype)
        probs = np.empty(size, dtype=dtype)
        k = 0
        for v, p in self._outcomes():
            vecs[k] = v
            probs[k] = p
            k += 1
        return Support(vecs[:k], probs[:k])

    def mean(self) -> np.ndarray:
        """:math:`\\mathbb E[v]` (all ones for every law here)."""
        return np.ones(self.m, dtype=object) * Fraction(1) if self.exact else np.ones(self.m)

    @abstractmethod
    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        """``(d, beta)`` with :math:`\\mathbb E[vv^\\top] = \\mathrm{diag}(d) + \\beta\\mathbf 1\\mathbf 1^\\top`."""

    def second_moment_matrix(self) -> np.ndarray:
        """:math:`M = \\mathbb E[v v^\\top]`, (m, m)."""
        d, beta = self.diagonal_plus_constant()
        M = np.empty((self.m, self.m), dtype=d.dtype)
        M[...] = beta
        for i in range(self.m):
            M[i, i] = M[i, i] + d[i]
        return M

    def second_moments(self) -> np.ndarray:
        """:math:`\\mathbb E[v_i^2]`, (m,)."""
        return np.diagonal(self.second_moment_matrix()).copy()

    # -- expectations -------------------------------------------------------------------------

    def expected_sq_norm(self, grads: Any) -> Any:
        r"""Exact :math:`\mathbb E\|\frac1m\sum_i v_i g_i\|^2 = \frac1{m^2}\sum_{ij}M_{ij}\langle g_i, g_j\rangle`.

        Parameters
        ----------
        grads : array (..., m, d)
            Per-component vectors :math:`g_i` (e.g. :math:`\nabla f_i(\theta)`). Exact (object)
            arrays give exact results.

        Returns
        -------
        array (...)
        """
        mode, (g,) = _arith.coerce(grads)
        g = np.asarray(g, dtype=object if mode != "float" else float)
        if g.ndim < 2 or g.shape[-2] != self.m:
            raise ValueError(f"grads must have shape (..., m={self.m}, d); got {g.shape}")
        d, beta = self.diagonal_plus_constant()
        if mode == "float":
            d = np.asarray(d, dtype=float)
            beta = float(beta)
        else:
            d = _arith.to_exact(d)
            beta = _arith.to_exact(beta)
        sq = np.sum(g * g, axis=-1)
        total = np.sum(g, axis=-2)
        value = (np.sum(d * sq, axis=-1) + beta * np.sum(total * total, axis=-1)) / self.m**2
        return _arith.unwrap(value)

    # -- expected smoothness constants --------------------------------------------------------

    def _check_L(self, L: Any) -> np.ndarray:
        mode = _arith.mode_of(L)
        arr = _arith.to_exact(np.asarray(L, dtype=object)) if mode == "exact" else np.asarray(L, dtype=float)
        if arr.shape != (self.m,):
            raise ValueError(f"L must hold one smoothness constant per component, shape ({self.m},); got {arr.shape}")
        if any(bool(x < 0) for x in arr.tolist()):
            raise ValueError("smoothness constants L_i must be nonnegative")
        return arr

    def prop2_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""[18, Proposition 2]: :math:`A = \max_i L_i\mathbb E[v_i^2]`, :math:`B = 0`, :math:`C = 2A\Delta^{\inf}`.

        ``delta_inf`` is :math:`\Delta^{\inf} = f^{\inf} - \frac1m\sum_i f_i^{\inf} \ge 0`.
        """
        Ls = self._check_L(L)
        exact = self.exact and _arith.mode_of(Ls, delta_inf) == "exact"
        second = self.second_moments()
        A = _max(np.asarray([_num(l, exact) * _num(s, exact) for l, s in zip(Ls.tolist(), second.tolist())], dtype=object if exact else float))
        return ABCConstants(A, _num(0, exact), 2 * A * _num(_check_delta(delta_inf), exact))

    @abstractmethod
    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        """[18, Proposition 3], the row of this law as recorded (see the module docstring)."""

    def derived_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""Constants read off the exact second moment: :math:`A = \max_i d_i L_i/m`, :math:`B = \beta`, :math:`C = 2A\Delta^{\inf}`.

        Valid for any :math:`f_i` that are :math:`L_i`-smooth and bounded below; :math:`B = \beta` is
        the exact coefficient of :math:`\|\nabla f\|^2` in :math:`\mathbb E\|\nabla f_v\|^2`.
        """
        Ls = self._check_L(L)
        d, beta = self.diagonal_plus_constant()
        exact = self.exact and _arith.mode_of(Ls, delta_inf) == "exact"
        A = _max(np.asarray([_num(di, exact) * _num(l, exact) / self.m for di, l in zip(d.tolist(), Ls.tolist())], dtype=object if exact else float))
        return ABCConstants(A, _num(beta, exact), 2 * A * _num(_check_delta(delta_inf), exact))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(m={self.m})"


def _check_delta(delta_inf: Any) -> Any:
    if _arith.mode_of(delta_inf) == "float" and float(delta_inf) < 0 or _arith.mode_of(delta_inf) == "exact" and delta_inf < 0:
        raise ValueError(
            f"Delta_inf = f_inf - mean_i f_i_inf is never negative; got {delta_inf!r}. Check f_inf and the f_i_inf."
        )
    return delta_inf


def _check_probabilities(name: str, q: np.ndarray, *, strictly_positive: bool, must_sum_to_one: bool) -> None:
    vals = q.tolist()
    if strictly_positive and any(bool(x <= 0) for x in vals):
        raise ValueError(f"{name} must be > 0 (E[v_i] = 1 needs every index to be reachable); got {vals}")
    if any(bool(x < 0) or bool(x > 1) for x in vals):
        raise ValueError(f"{name} must lie in [0, 1]; got {vals}")
    if must_sum_to_one:
        total = sum(vals)
        ok = (total == 1) if q.dtype == object else abs(float(total) - 1.0) <= PROBABILITY_ATOL
        if not ok:
            raise ValueError(f"{name} must sum to 1; got sum {total}")


class SingleUniform(SamplingLaw):
    """Single element, uniform: :math:`v = m e_i` with probability :math:`1/m`; :math:`M = m I`."""

    name = "single uniform"

    @property
    def exact(self) -> bool:
        return True

    def support_size(self) -> int:
        return self.m

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        for i in range(self.m):
            v = np.array([Fraction(0)] * self.m, dtype=object)
            v[i] = Fraction(self.m)
            yield v, Fraction(1, self.m)

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        return np.array([Fraction(self.m)] * self.m, dtype=object), Fraction(0)

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        """[18, Proposition 3], single uniform row: :math:`A = \\max_i L_i`, :math:`B = 0`."""
        Ls = self._check_L(L)
        exact = _arith.mode_of(Ls, delta_inf) == "exact"
        A = _max(Ls)
        return ABCConstants(A, _num(0, exact), 2 * A * _num(_check_delta(delta_inf), exact))


class SingleImportance(SamplingLaw):
    """Single element with probabilities :math:`q`: :math:`v = e_i/q_i` w.p. :math:`q_i`; :math:`M = \\mathrm{diag}(1/q)`."""

    name = "single importance"

    def __init__(self, q: Any) -> None:
        arr = _as_prob_vector("q", q)
        super().__init__(arr.size)
        _check_probabilities("q", arr, strictly_positive=True, must_sum_to_one=True)
        self.q = arr

    @property
    def exact(self) -> bool:
        return self.q.dtype == object

    def support_size(self) -> int:
        return self.m

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        zero = Fraction(0) if self.exact else 0.0
        for i in range(self.m):
            v = np.array([zero] * self.m, dtype=object if self.exact else float)
            v[i] = 1 / self.q[i]
            yield v, self.q[i]

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        return 1 / self.q, (Fraction(0) if self.exact else 0.0)

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""[18, Proposition 3], importance row (:math:`q_i = L_i/\sum_j L_j`): :math:`A = \frac1m\sum_i L_i`, :math:`B = 0`.

        Raises
        ------
        ValueError
            If :math:`q` is not proportional to :math:`L` (the row's hypothesis); use
            :meth:`derived_constants` (:math:`A = \max_i L_i/(m q_i)`) for other :math:`q`.
        """
        Ls = self._check_L(L)
        total = sum(Ls.tolist())
        target = [l / total for l in Ls.tolist()] if total != 0 else None
        exact = self.exact and _arith.mode_of(Ls) == "exact"
        if target is None:
            raise ValueError("the importance row needs sum_i L_i > 0")
        if exact:
            proportional = all(a == b for a, b in zip(self.q.tolist(), target))
        else:
            proportional = bool(np.allclose(np.asarray(self.q, dtype=float), np.asarray(target, dtype=float), rtol=0, atol=PROBABILITY_ATOL))
        if not proportional:
            raise ValueError(
                "Proposition 3's importance row assumes q_i = L_i / sum_j L_j; this law's q differs. "
                "Use derived_constants() for general q."
            )
        A = total / self.m
        A = _num(A, exact)
        return ABCConstants(A, _num(0, exact), 2 * A * _num(_check_delta(delta_inf), exact))


class TauNice(SamplingLaw):
    r"""tau-nice sampling: a subset :math:`S` of size :math:`\tau` uniformly, :math:`v_i = m/\tau` on :math:`S`.

    :math:`\mathbb E[v_i^2] = m/\tau`, :math:`\mathbb E[v_iv_j] = \frac{m(\tau-1)}{\tau(m-1)}` (:math:`i \ne j`).
    """

    name = "tau-nice"

    def __init__(self, m: int, tau: int) -> None:
        super().__init__(m)
        if int(tau) != tau or not 1 <= tau <= m:
            raise ValueError(f"tau must be an integer in [1, m={m}]; got {tau!r}")
        self.tau = int(tau)

    @property
    def exact(self) -> bool:
        return True

    def support_size(self) -> int:
        return math.comb(self.m, self.tau)

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        p = Fraction(1, math.comb(self.m, self.tau))
        for subset in itertools.combinations(range(self.m), self.tau):
            v = np.array([Fraction(0)] * self.m, dtype=object)
            for i in subset:
                v[i] = Fraction(self.m, self.tau)
            yield v, p

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        m, tau = self.m, self.tau
        beta = Fraction(m * (tau - 1), tau * (m - 1)) if m > 1 else Fraction(0)
        return np.array([Fraction(m, tau) - beta] * m, dtype=object), beta

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""[18, Proposition 3], tau-nice row: :math:`A = \frac{m-\tau}{\tau(m-1)}\max_i L_i`, :math:`B = 1` (:math:`A = 0` when :math:`m = 1`)."""
        Ls = self._check_L(L)
        exact = _arith.mode_of(Ls, delta_inf) == "exact"
        factor = Fraction(self.m - self.tau, self.tau * (self.m - 1)) if self.m > 1 else Fraction(0)
        A = _num(factor, exact) * _max(Ls)
        return ABCConstants(A, _num(1, exact), 2 * A * _num(_check_delta(delta_inf), exact))

    def __repr__(self) -> str:
        return f"TauNice(m={self.m}, tau={self.tau})"


class Independent(SamplingLaw):
    r"""Independent sampling: :math:`i \in S` independently w.p. :math:`p_i`, :math:`v_i = 1/p_i` on :math:`S`.

    :math:`\mathbb E[vv^\top] = \mathbf 1\mathbf 1^\top + \mathrm{diag}(1/p - 1)`. The empty set has
    probability :math:`\prod_i(1-p_i)` and gives :math:`v = 0`.
    """

    name = "independent"

    def __init__(self, p: Any) -> None:
        arr = _as_prob_vector("p", p)
        super().__init__(arr.size)
        _check_probabilities("p", arr, strictly_positive=True, must_sum_to_one=False)
        self.p = arr

    @property
    def exact(self) -> bool:
        return self.p.dtype == object

    def support_size(self) -> int:
        sure = sum(1 for x in self.p.tolist() if x == 1)
        return 2 ** (self.m - sure)

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        one = Fraction(1) if self.exact else 1.0
        zero = Fraction(0) if self.exact else 0.0
        for mask in itertools.product((False, True), repeat=self.m):
            prob = one
            v = np.array([zero] * self.m, dtype=object if self.exact else float)
            for i, inside in enumerate(mask):
                pi = self.p[i]
                prob = prob * (pi if inside else 1 - pi)
                if inside:
                    v[i] = 1 / pi
            if prob != 0:
                yield v, prob

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        return 1 / self.p - 1, (Fraction(1) if self.exact else 1.0)

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""[18, Proposition 3], independent row: :math:`A = \max_i\frac{(1-p_i)L_i}{p_i m}`, :math:`B = 1`."""
        Ls = self._check_L(L)
        exact = self.exact and _arith.mode_of(Ls, delta_inf) == "exact"
        vals = [_num((1 - pi) * li / (pi * self.m), exact) for pi, li in zip(self.p.tolist(), Ls.tolist())]
        A = max(vals)
        return ABCConstants(A, _num(1, exact), 2 * A * _num(_check_delta(delta_inf), exact))

    def __repr__(self) -> str:
        return f"Independent(p={_list_repr(self.p)})"


class WithReplacement(SamplingLaw):
    r"""tau draws with replacement, probabilities :math:`q`: :math:`v_i = c_i/(\tau q_i)` with :math:`c \sim \mathrm{Multinomial}(\tau, q)`.

    Exact second moment: :math:`\mathbb E[v_iv_j] = 1 - 1/\tau` (:math:`i \ne j`),
    :math:`\mathbb E[v_i^2] = \frac{1}{\tau q_i} + 1 - \frac1\tau`, i.e.
    :math:`M = \mathrm{diag}(\frac{1}{\tau q}) + (1 - \frac1\tau)\mathbf 1\mathbf 1^\top`.
    Hence :math:`\mathbb E\|\nabla f_v\|^2 = \frac{1}{\tau m^2}\sum_i\frac{\|\nabla f_i\|^2}{q_i} + (1-\frac1\tau)\|\nabla f\|^2`,
    so :math:`A = \max_i\frac{L_i}{\tau m q_i}` (as recorded for [18, Proposition 3]) and
    :math:`B = 1 - 1/\tau` (the record says :math:`B = 1`, valid but not tight).
    """

    name = "with replacement"

    def __init__(self, q: Any, tau: int) -> None:
        arr = _as_prob_vector("q", q)
        super().__init__(arr.size)
        _check_probabilities("q", arr, strictly_positive=True, must_sum_to_one=True)
        if int(tau) != tau or tau < 1:
            raise ValueError(f"tau (number of draws) must be a positive integer; got {tau!r}")
        self.q = arr
        self.tau = int(tau)

    @property
    def exact(self) -> bool:
        return self.q.dtype == object

    def support_size(self) -> int:
        return math.comb(self.m + self.tau - 1, self.tau)

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        tau = self.tau
        for draw in itertools.combinations_with_replacement(range(self.m), tau):
            counts = [0] * self.m
            for i in draw:
                counts[i] += 1
            coef = math.factorial(tau)
            for cnt in counts:
                coef //= math.factorial(cnt)
            prob: Any = Fraction(coef) if self.exact else float(coef)
            for i, cnt in enumerate(counts):
                prob = prob * self.q[i] ** cnt
            v = np.array([cnt / (tau * self.q[i]) for i, cnt in enumerate(counts)], dtype=object if self.exact else float)
            yield v, prob

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        beta = Fraction(self.tau - 1, self.tau)
        return 1 / (self.tau * self.q), (beta if self.exact else float(beta))

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        r"""[18, Proposition 3] as recorded, with-replacement row: :math:`A = \max_i\frac{L_i}{\tau m q_i}`, :math:`B = 1`.

        The exact coefficient of :math:`\|\nabla f\|^2` is :math:`1 - 1/\tau` (:meth:`derived_constants`).
        """
        Ls = self._check_L(L)
        exact = self.exact and _arith.mode_of(Ls, delta_inf) == "exact"
        vals = [_num(li / (self.tau * self.m * qi), exact) for qi, li in zip(self.q.tolist(), Ls.tolist())]
        A = max(vals)
        return ABCConstants(A, _num(1, exact), 2 * A * _num(_check_delta(delta_inf), exact))

    def __repr__(self) -> str:
        return f"WithReplacement(q={_list_repr(self.q)}, tau={self.tau})"


class FiniteLaw(SamplingLaw):
    """An explicit finite law: outcomes ``vectors`` (K, m) with probabilities ``probs`` (K,).

    Requires :math:`\\mathbb E[v] = \\mathbf 1` (exactly for exact input, to
    :data:`PROBABILITY_ATOL` for floats). Only [18, Proposition 2] applies; Proposition 3 has no row.
    """

    name = "finite"

    def __init__(self, vectors: Any, probs: Any) -> None:
        mode = _arith.mode_of(vectors, probs)
        if mode == "exact":
            V = _arith.to_exact(np.asarray(vectors, dtype=object))
            P = _arith.to_exact(np.asarray(probs, dtype=object))
        else:
            V = np.asarray(vectors, dtype=float)
            P = np.asarray(probs, dtype=float)
        if V.ndim != 2 or P.shape != (V.shape[0],):
            raise ValueError(f"vectors must be (K, m) and probs (K,); got {V.shape} and {P.shape}")
        super().__init__(V.shape[1])
        _check_probabilities("probs", P, strictly_positive=False, must_sum_to_one=True)
        mean = (P[:, None] * V).sum(axis=0)
        ok = all(x == 1 for x in mean.tolist()) if mode == "exact" else bool(np.allclose(mean, 1.0, rtol=0, atol=PROBABILITY_ATOL))
        if not ok:
            raise ValueError(f"a sampling vector needs E[v_i] = 1 for every i; got E[v] = {mean.tolist()}")
        self.vectors, self.probs, self._exact = V, P, mode == "exact"

    @property
    def exact(self) -> bool:
        return self._exact

    def support_size(self) -> int:
        return int(self.vectors.shape[0])

    def _outcomes(self) -> Iterator[tuple[np.ndarray, Any]]:
        for v, p in zip(self.vectors, self.probs):
            yield v, p

    def second_moment_matrix(self) -> np.ndarray:
        V, P = self.vectors, self.probs
        return (P[:, None, None] * V[:, :, None] * V[:, None, :]).sum(axis=0)

    def diagonal_plus_constant(self) -> tuple[np.ndarray, Any]:
        """Raise unless :math:`M` has the form :math:`\\mathrm{diag}(d) + \\beta\\mathbf 1\\mathbf 1^\\top`."""
        M = self.second_moment_matrix()
        m = self.m
        if m == 1:
            return np.array([M[0, 0]], dtype=M.dtype), (Fraction(0) if self._exact else 0.0)
        off = [M[i, j] for i in range(m) for j in range(m) if i != j]
        beta = off[0]
        same = all(x == beta for x in off) if self._exact else bool(np.allclose(off, beta, rtol=0, atol=PROBABILITY_ATOL))
        if not same:
            raise ValueError("this law's E[v v^T] is not diag(d) + beta 11^T; use second_moment_matrix()")
        return np.array([M[i, i] - beta for i in range(m)], dtype=M.dtype), beta

    def expected_sq_norm(self, grads: Any) -> Any:
        mode, (g,) = _arith.coerce(grads)
        g = np.asarray(g, dtype=object if mode != "float" else float)
        if g.ndim < 2 or g.shape[-2] != self.m:
            raise ValueError(f"grads must have shape (..., m={self.m}, d); got {g.shape}")
        M = self.second_moment_matrix()
        M = _arith.to_exact(M) if mode != "float" else np.asarray(M, dtype=float)
        gram = np.sum(g[..., :, None, :] * g[..., None, :, :], axis=-1)
        return _arith.unwrap(np.sum(M * gram, axis=(-1, -2)) / self.m**2)

    def prop3_constants(self, L: Any, delta_inf: Any) -> ABCConstants:
        raise ValueError("[18, Proposition 3] has no row for an arbitrary finite law; use prop2_constants()")
