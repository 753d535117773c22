r"""Exact expected-smoothness (ABC) and biased-ABC constants of quadratic problems.

For the quadratic finite sums of :mod:`validation.engine.exact` every quantity in Lemma 1, Proposition 1
and [5, Assumption 9] is a quadratic function of :math:`\theta`; with :math:`y = (\theta, 1)` each is
:math:`y^\top W y` for a symmetric :math:`(d+1)\times(d+1)` matrix :math:`W` (:class:`QuadraticForms`).
An inequality :math:`y^\top W_1 y \le y^\top W_2 y` for *every* :math:`\theta` is then exactly
:math:`W_2 - W_1 \succeq 0` (a nonnegative inhomogeneous quadratic is a PSD form of :math:`(\theta, 1)`),
decided in rational arithmetic. This gives

* :func:`abc_valid` -- does :math:`\mathbb E\|g_v\|^2 \le 2A(f - f^{\inf}) + B\|\nabla f\|^2 + C` hold for all :math:`\theta`?
* :func:`minimal_C` -- the smallest such :math:`C` for given :math:`A, B` (tight constants);
* :func:`minimal_c` -- the smallest :math:`c` with :math:`\langle\nabla f, \mathbb E z_v\rangle \ge b\|\nabla f\|^2 - c` for all :math:`\theta`;
* :func:`lemma1_constants` -- :math:`(A, B, C)` of Lemma 1 from [18, Proposition 2], [18, Proposition 3],
  the law's exact second moment, or fitted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from theory.sampling import SamplingLaw, Support

from . import rational as rq
from .exact import AffineBias, QuadraticFiniteSum, support_of

logger = logging.getLogger(__name__)

__all__ = [
    "QuadraticForms",
    "quadratic_forms",
    "abc_valid",
    "minimal_C",
    "minimal_c",
    "lemma1_constants",
    "CONSTANT_SOURCES",
]

CONSTANT_SOURCES = ("prop2", "prop3", "derived", "fitted")
"""Where Lemma 1's :math:`A, B, C` come from: [18, Proposition 2], the law's [18, Proposition 3] row,
the law's exact second moment (:meth:`theory.sampling.SamplingLaw.derived_constants`), or the smallest
:math:`C` for given :math:`A, B` (:func:`minimal_C`)."""


@dataclass(frozen=True)
class QuadraticForms:
    r"""Quadratic forms in :math:`y = (\theta, 1)`, exact, each (d+1, d+1) and symmetric.

    Attributes
    ----------
    grad_sq : :math:`\|\nabla f(\theta)\|^2`.
    f_gap : :math:`f(\theta) - f^{\inf}`.
    second_moment : :math:`\mathbb E\|\nabla f_v(\theta)\|^2`.
    second_moment_z : :math:`\mathbb E\|z_v(\theta)\|^2` (error at :math:`\sigma = 1`).
    inner_z : :math:`\langle\nabla f(\theta), \mathbb E z_v(\theta)\rangle`.
    eps2 : :math:`\mathbb E\|e_v(\theta)\|^2`.
    """

    grad_sq: np.ndarray
    f_gap: np.ndarray
    second_moment: np.ndarray
    second_moment_z: np.ndarray
    inner_z: np.ndarray
    eps2: np.ndarray

    @property
    def n(self) -> int:
        return int(self.grad_sq.shape[0])

    def unit(self) -> np.ndarray:
        """The form of the constant 1 (:math:`y^\\top E y = 1`)."""
        E = np.full((self.n, self.n), Fraction(0), dtype=object)
        E[-1, -1] = Fraction(1)
        return E

    def evaluate(self, W: np.ndarray, theta: Any) -> Fraction:
        """:math:`y^\\top W y` at ``theta``."""
        y = np.array(list(rq.as_exact(theta).ravel()) + [Fraction(1)], dtype=object)
        return y.dot(W.dot(y))


def _affine_rows(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The (d, d+1) matrix of :math:`\\theta \\mapsto M\\theta + v`."""
    d = M.shape[0]
    out = np.empty((d, d + 1), dtype=object)
    out[:, :d] = M
    out[:, d] = v
    return out


def _sym(W: np.ndarray) -> np.ndarray:
    return (W + W.T) / 2


def quadratic_forms(problem: QuadraticFiniteSum, law: SamplingLaw | Support, bias: AffineBias | None = None) -> QuadraticForms:
    """Exact :class:`QuadraticForms` of ``problem`` under ``law`` with error model ``bias`` at :math:`\\sigma = 1`.

    Raises
    ------
    ValueError
        If the problem or law is not exact (the forms decide inequalities exactly).
    """
    if not problem.exact:
        raise ValueError("quadratic_forms needs an exact problem (Fraction entries)")
    sup = support_of(law)
    V = rq.as_exact(sup.vectors)
    p = rq.as_exact(sup.probs)
    K, m = V.shape
    d = problem.d
    zero_dd = np.full((d, d), Fraction(0), dtype=object)
    zero_d = np.full(d, Fraction(0), dtype=object)
    Gk = [sum((V[k, i] * problem.Q[i] for i in range(m)), zero_dd) / m for k in range(K)]
    gk = [sum((V[k, i] * problem.b[i] for i in range(m)), zero_d) / m for k in range(K)]
    bias = bias if bias is not None else AffineBias.zero(d)
    Pk, rk = bias.outcome_maps(sup, m, exact=True)
    sigma = bias.schedule.value(0, exact=True)
    G = _affine_rows(problem.Q_mean, problem.b_mean)
    n = d + 1
    sm = np.full((n, n), Fraction(0), dtype=object)
    smz = np.full((n, n), Fraction(0), dtype=object)
    e2 = np.full((n, n), Fraction(0), dtype=object)
    mean_z = np.full((d, n), Fraction(0), dtype=object)
    for k in range(K):
        Gr = _affine_rows(Gk[k], gk[k])
        Er = _affine_rows(sigma * Pk[k], sigma * rk[k])
        Zr = Gr + Er
        sm = sm + p[k] * Gr.T.dot(Gr)
        smz = smz + p[k] * Zr.T.dot(Zr)
        e2 = e2 + p[k] * Er.T.dot(Er)
        mean_z = mean_z + p[k] * Zr
    f_gap = np.empty((n, n), dtype=object)
    f_gap[:d, :d] = problem.Q_mean / 2
    f_gap[:d, d] = problem.b_mean / 2
    f_gap[d, :d] = problem.b_mean / 2
    f_gap[d, d] = problem.c_mean - problem.f_inf()
    return QuadraticForms(
        grad_sq=G.T.dot(G),
        f_gap=f_gap,
        second_moment=sm,
        second_moment_z=smz,
        inner_z=_sym(G.T.dot(mean_z)),
        eps2=e2,
    )


def _moment(forms: QuadraticForms, inexact: bool) -> np.ndarray:
    return forms.second_moment_z if inexact else forms.second_moment


def abc_valid(forms: QuadraticForms, A: Any, B: Any, C: Any, *, inexact: bool = False) -> bool:
    r"""Exact test of :math:`\mathbb E\|g_v(\theta)\|^2 \le 2A(f(\theta) - f^{\inf}) + B\|\nabla f(\theta)\|^2 + C` for every :math:`\theta`.

    ``inexact`` selects :math:`g_v = z_v` (the biased oracle, [5, Assumption 9]) instead of :math:`\nabla f_v` (Lemma 1).
    """
    A, B, C = rq.F(A), rq.F(B), rq.F(C)
    slack = 2 * A * forms.f_gap + B * forms.grad_sq + C * forms.unit() - _moment(forms, inexact)
    return rq.is_psd(slack)


def minimal_C(forms: QuadraticForms, A: Any, B: Any, *, inexact: bool = False) -> Fraction | None:
    r"""Smallest :math:`C` with :math:`\mathbb E\|g_v\|^2 \le 2A(f - f^{\inf}) + B\|\nabla f\|^2 + C` for all :math:`\theta`.

    :math:`C^* = \sup_\theta[\mathbb E\|g_v\|^2 - 2A(f - f^{\inf}) - B\|\nabla f\|^2]`, ``None`` when infinite
    (no :math:`C` works with these :math:`A, B`). Clipped at 0 (the constants are nonnegative).
    """
    A, B = rq.F(A), rq.F(B)
    W = _moment(forms, inexact) - 2 * A * forms.f_gap - B * forms.grad_sq
    d = forms.n - 1
    value = rq.max_quadratic(W[:d, :d], W[:d, d], W[d, d])
    return None if value is None else max(value, Fraction(0))


def minimal_c(forms: QuadraticForms, b: Any) -> Fraction | None:
    r"""Smallest :math:`c \ge 0` with :math:`\langle\nabla f, \mathbb E z_v\rangle \ge b\|\nabla f\|^2 - c` for all :math:`\theta` ([5, Assumption 9]).

    ``None`` when no :math:`c` works with this :math:`b`.
    """
    b = rq.F(b)
    W = b * forms.grad_sq - forms.inner_z
    d = forms.n - 1
    value = rq.max_quadratic(W[:d, :d], W[:d, d], W[d, d])
    return None if value is None else max(value, Fraction(0))


def lemma1_constants(
    problem: QuadraticFiniteSum,
    law: SamplingLaw,
    source: str,
    *,
    A: Any = None,
    B: Any = None,
    forms: QuadraticForms | None = None,
) -> tuple[Fraction, Fraction, Fraction]:
    r"""Lemma 1's :math:`(A, B, C)` for the exact gradient estimator, exactly.

    ``source`` is one of :data:`CONSTANT_SOURCES`; ``"fitted"`` needs ``A`` and ``B`` and returns
    :func:`minimal_C`. The [18] rows use :math:`L_i = \lambda_{\max}(Q_i)` and
    :math:`\Delta^{\inf}` of the problem.

    Raises
    ------
    ValueError
        For an unknown source, a law without a Proposition 3 row, or fitted :math:`A, B` that admit no :math:`C`.
    """
    if source not in CONSTANT_SOURCES:
        raise ValueError(f"constant source must be one of {CONSTANT_SOURCES}; got {source!r}")
    if source == "fitted":
        if A is None or B is None:
            raise ValueError("fitted constants need A and B")
        forms = forms if forms is not None else quadratic_forms(problem, law)
        C = minimal_C(forms, A, B)
        if C is None:
            raise ValueError(f"no C makes Lemma 1 hold with A = {A}, B = {B}; raise A or B")
        return rq.F(A), rq.F(B), C
    L = problem.smoothness()
    delta = problem.delta_inf()
    if source == "prop2":
        consts = law.prop2_constants(L, delta)
    elif source == "prop3":
        consts = law.prop3_constants(L, delta)
    else:
        consts = law.derived_constants(L, delta)
    return rq.F(consts.A), rq.F(consts.B), rq.F(consts.C)
