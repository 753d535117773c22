r"""Problem instances: exact observables of one point or one run (the claims of :mod:`validation.engine.claims` read them).

Every instance is a frozen dataclass whose array fields may carry leading batch dimensions
(``...``); every derived quantity is computed exactly (``Fraction``; sympy where a square root is
irrational) when the instance is exact, and with numpy ``float64`` otherwise. An instance is exact
when any of its array fields is exact (``Fraction``, sympy numbers, or ``dtype=object`` arrays).

* :class:`OracleInstance` -- the inexact stochastic hypergradient at one point :math:`\theta`: a
  finite law over :math:`K` outcomes of :math:`(\nabla f_v(\theta), e_v(\theta))`, with
  :math:`\nabla f(\theta) = \mathbb E[\nabla f_v(\theta)]` (unbiasedness, Section 2) and
  :math:`z_v = \nabla f_v + e_v`. Lemmas 2 and 3, Proposition 1, [5, Assumption 9].
* :class:`FiniteSumInstance` -- :math:`f = \frac1m\sum_i f_i` at one point, with a
  :class:`~theory.sampling.SamplingLaw`. Lemma 1, Remark 1, [18, Propositions 2 and 3].
* :class:`RunInstance` -- constants and the observed :math:`\mathbb E\|\nabla f(\theta_t)\|^2` of a run.
  Theorem 1, Corollary 1, Remark 2, [18]'s theorem and corollary, [5, Theorem 3].
* :class:`HypergradientErrorInstance` -- the quantities of [9]'s a-posteriori bound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from . import _arith
from .sampling import PROBABILITY_ATOL, SamplingLaw

logger = logging.getLogger(__name__)

__all__ = [
    "BiasedABC",
    "OracleInstance",
    "FiniteSumInstance",
    "RunInstance",
    "HypergradientErrorInstance",
]


def _convert(obj: Any, names: tuple[str, ...], exact: bool) -> None:
    for n in names:
        v = getattr(obj, n)
        if v is None:
            continue
        if exact:
            conv = _arith.to_exact(np.asarray(v, dtype=object) if isinstance(v, (list, tuple, np.ndarray)) else v)
        else:
            conv = _arith.to_float(v)
        object.__setattr__(obj, n, conv)


def _sum(x: np.ndarray, axis: Any) -> Any:
    return _arith.unwrap(np.sum(x, axis=axis))


@dataclass(frozen=True)
class BiasedABC:
    r"""Constants of [5, Assumption 9] for an oracle :math:`g`: :math:`b > 0`; :math:`c, A, B, C \ge 0`."""

    b: Any
    c: Any
    A: Any
    B: Any
    C: Any


@dataclass(frozen=True)
class OracleInstance:
    r"""The inexact stochastic hypergradient :math:`z_v(\theta) = \nabla f_v(\theta) + e_v(\theta)` at one point.

    Parameters
    ----------
    probs : array (..., K)
        Probabilities of the :math:`K` outcomes of :math:`v \sim \mathcal D`.
    grad_fv : array (..., K, d)
        :math:`\nabla f_v(\theta)` for each outcome; :math:`\nabla f(\theta)` is their mean.
    errors : array (..., K, d)
        :math:`e_v(\theta)` for each outcome.
    f_gap : array (...), optional
        :math:`f(\theta) - f^{\inf} \ge 0` (needed by Proposition 1 (9)).
    A, B, C : optional
        Constants of Lemma 1 claimed for :math:`\nabla f_v` (needed by Proposition 1 (9)).
    zeta, eta : optional
        Parameters of Lemma 2 / Proposition 1 (:math:`\zeta`) and Lemma 3 / Proposition 1 (:math:`\eta`).
    biased : BiasedABC, optional
        Constants of [5, Assumption 9] claimed for :math:`z_v`.
    """

    probs: Any
    grad_fv: Any
    errors: Any
    f_gap: Any = None
    A: Any = None
    B: Any = None
    C: Any = None
    zeta: Any = None
    eta: Any = None
    biased: BiasedABC | None = None
    exact: bool = field(init=False)

    _ARRAYS = ("probs", "grad_fv", "errors", "f_gap", "A", "B", "C", "zeta", "eta")

    def __post_init__(self) -> None:
        mode = _arith.mode_of(*(getattr(self, n) for n in self._ARRAYS))
        exact = mode == "exact"
        if mode == "symbolic":
            raise ValueError("OracleInstance takes numbers (floats or Fractions), not symbols")
        object.__setattr__(self, "exact", exact)
        _convert(self, self._ARRAYS, exact)
        if self.biased is not None:
            conv = BiasedABC(*(_arith.to_exact(getattr(self.biased, f.name)) if exact else _arith.to_float(getattr(self.biased, f.name)) for f in fields(BiasedABC)))
            object.__setattr__(self, "biased", conv)
        p = np.asarray(self.probs, dtype=object if exact else float)
        g = np.asarray(self.grad_fv, dtype=object if exact else float)
        e = np.asarray(self.errors, dtype=object if exact else float)
        if g.ndim < 2 or g.shape != e.shape or p.shape != g.shape[:-1]:
            raise ValueError(
                f"expected probs (..., K), grad_fv and errors (..., K, d); got {p.shape}, {g.shape}, {e.shape}"
            )
        if any(bool(x < 0) for x in p.flat):
            raise ValueError("probabilities must be nonnegative")
        total = np.sum(p, axis=-1)
        ok = all(t == 1 for t in np.asarray(total, dtype=object).flat) if exact else bool(
            np.all(np.abs(total - 1.0) <= PROBABILITY_ATOL)
        )
        if not ok:
            raise ValueError(f"probabilities must sum to 1 over the last axis; got sums {total}")
        object.__setattr__(self, "probs", p)
        object.__setattr__(self, "grad_fv", g)
        object.__setattr__(self, "errors", e)

    # -- derived quantities (all exact for exact instances) -----------------------------------

    def _expect(self, x: np.ndarray) -> Any:
        """:math:`\\mathbb E[x]` over the outcome axis of ``x`` (shape (..., K) or (..., K, d))."""
        p = self.probs if x.ndim == self.probs.ndim else self.probs[..., None]
        return np.sum(p * x, axis=self.probs.ndim - 1)

    @property
    def grad_f(self) -> Any:
        r""":math:`\nabla f(\theta) = \mathbb E[\nabla f_v(\theta)]`, (..., d)."""
        return self._expect(self.grad_fv)

    @property
    def grad_sq(self) -> Any:
        r""":math:`\|\nabla f(\theta)\|^2`."""
        g = self.grad_f
        return _sum(g * g, -1)

    @property
    def mean_error(self) -> Any:
        r""":math:`\mathbb E[e_v(\theta)]`, (..., d)."""
        return self._expect(self.errors)

    @property
    def mean_error_norm(self) -> Any:
        r""":math:`\mathbb E\|e_v(\theta)\|` (sympy algebraic when exact and irrational)."""
        norms = _arith.sqrt(np.sum(self.errors * self.errors, axis=-1))
        return _arith.unwrap(self._expect(np.asarray(norms)))

    @property
    def eps2(self) -> Any:
        r""":math:`\epsilon^2(\theta) = \mathbb E\|e_v(\theta)\|^2`."""
        return _arith.unwrap(self._expect(np.sum(self.errors * self.errors, axis=-1)))

    @property
    def inner_bias(self) -> Any:
        r""":math:`\langle\nabla f(\theta), \mathbb E[e_v(\theta)]\rangle`."""
        return _sum(self.grad_f * self.mean_error, -1)

    @property
    def inner_z(self) -> Any:
        r""":math:`\langle\nabla f(\theta), \mathbb E[z_v(\theta)]\rangle`."""
        return _sum(self.grad_f * (self.grad_f + self.mean_error), -1)

    @property
    def second_moment(self) -> Any:
        r""":math:`\mathbb E\|\nabla f_v(\theta)\|^2`."""
        return _arith.unwrap(self._expect(np.sum(self.grad_fv * self.grad_fv, axis=-1)))

    @property
    def second_moment_z(self) -> Any:
        r""":math:`\mathbb E\|z_v(\theta)\|^2`."""
        z = self.grad_fv + self.errors
        return _arith.unwrap(self._expect(np.sum(z * z, axis=-1)))


@dataclass(frozen=True)
class FiniteSumInstance:
    r""":math:`f = \frac1m\sum_i f_i` at one point :math:`\theta` with a sampling law.

    Parameters
    ----------
    component_grads : array (..., m, d)
        :math:`\nabla f_i(\theta)`.
    component_values : array (..., m)
        :math:`f_i(\theta)`.
    component_inf : array (..., m)
        :math:`f_i^{\inf}` (lower bounds of the :math:`f_i`, Assumption 1).
    smoothness : array (m,)
        :math:`L_i` (Assumption 1).
    f_inf : array (...)
        :math:`f^{\inf} = \inf f`.
    law : SamplingLaw
        The law of :math:`v` (:math:`\mathbb E[v_i] = 1`).
    component_errors : array (..., m, d), optional
        Errors of the per-component hypergradients; the mini-batch error is
        :math:`e_v = \frac1m\sum_i v_i\,\mathrm{err}_i` (Remark 1).
    eta : optional
        :math:`\eta > 0` of Lemma 3 / Proposition 1 (Remark 1).
    """

    component_grads: Any
    component_values: Any
    component_inf: Any
    smoothness: Any
    f_inf: Any
    law: SamplingLaw
    component_errors: Any = None
    eta: Any = None
    exact: bool = field(init=False)

    _ARRAYS = ("component_grads", "component_values", "component_inf", "smoothness", "f_inf", "component_errors", "eta")

    def __post_init__(self) -> None:
        mode = _arith.mode_of(*(getattr(self, n) for n in self._ARRAYS))
        if mode == "symbolic":
            raise ValueError("FiniteSumInstance takes numbers (floats or Fractions), not symbols")
        exact = mode == "exact"
        object.__setattr__(self, "exact", exact)
        _convert(self, self._ARRAYS, exact)
        dtype = object if exact else float
        G = np.asarray(self.component_grads, dtype=dtype)
        if G.ndim < 2 or G.shape[-2] != self.law.m:
            raise ValueError(f"component_grads must be (..., m={self.law.m}, d); got {G.shape}")
        object.__setattr__(self, "component_grads", G)
        for n in ("component_values", "component_inf"):
            arr = np.asarray(getattr(self, n), dtype=dtype)
            if arr.shape[-1:] != (self.law.m,):
                raise ValueError(f"{n} must be (..., m={self.law.m}); got {arr.shape}")
            object.__setattr__(self, n, arr)
        Ls = np.asarray(self.smoothness, dtype=dtype)
        if Ls.shape != (self.law.m,):
            raise ValueError(f"smoothness must be (m={self.law.m},); got {Ls.shape}")
        object.__setattr__(self, "smoothness", Ls)
        if self.component_errors is not None:
            E = np.asarray(self.component_errors, dtype=dtype)
            if E.shape != G.shape:
                raise ValueError(f"component_errors must have the shape of component_grads {G.shape}; got {E.shape}")
            object.__setattr__(self, "component_errors", E)

    @property
    def m(self) -> int:
        """Number of components."""
        return self.law.m

    @property
    def f_value(self) -> Any:
        r""":math:`f(\theta) = \frac1m\sum_i f_i(\theta)`."""
        return _arith.unwrap(np.sum(self.component_values, axis=-1) / self.m)

    @property
    def f_gap(self) -> Any:
        r""":math:`f(\theta) - f^{\inf}`."""
        return self.f_value - self.f_inf

    @property
    def delta_inf(self) -> Any:
        r""":math:`\Delta^{\inf} = f^{\inf} - \frac1m\sum_i f_i^{\inf}` ([18])."""
        return _arith.unwrap(self.f_inf - np.sum(self.component_inf, axis=-1) / self.m)

    @property
    def grad_f(self) -> Any:
        r""":math:`\nabla f(\theta)`, (..., d)."""
        return np.sum(self.component_grads, axis=-2) / self.m

    @property
    def grad_sq(self) -> Any:
        r""":math:`\|\nabla f(\theta)\|^2`."""
        g = self.grad_f
        return _sum(g * g, -1)

    @property
    def second_moment(self) -> Any:
        r""":math:`\mathbb E\|\nabla f_v(\theta)\|^2` (exact, from :math:`\mathbb E[vv^\top]`)."""
        return self.law.expected_sq_norm(self.component_grads)

    def _errors(self) -> np.ndarray:
        if self.component_errors is None:
            raise ValueError("this instance has no component_errors; pass them to evaluate the inexact gradient")
        return self.component_errors

    @property
    def eps2(self) -> Any:
        r""":math:`\epsilon^2(\theta) = \mathbb E\|e_v(\theta)\|^2` with :math:`e_v = \frac1m\sum_i v_i\mathrm{err}_i`."""
        return self.law.expected_sq_norm(self._errors())

    @property
    def second_moment_z(self) -> Any:
        r""":math:`\mathbb E\|z_v(\theta)\|^2` with :math:`z_v = \frac1m\sum_i v_i(\nabla f_i + \mathrm{err}_i)`."""
        return self.law.expected_sq_norm(self.component_grads + self._errors())

    def to_oracle(self, **kwargs: Any) -> OracleInstance:
        """The same point as an :class:`OracleInstance` (enumerates the law's support).

        Keyword arguments (``zeta``, ``eta``, ``A``, ``B``, ``C``, ``biased``) are passed on;
        ``f_gap`` is filled in.
        """
        support = self.law.support()
        V = support.vectors
        if self.exact:
            V = _arith.to_exact(np.asarray(V, dtype=object))
            P = _arith.to_exact(np.asarray(support.probs, dtype=object))
        else:
            V = np.asarray(V, dtype=float)
            P = np.asarray(support.probs, dtype=float)
        G = self.component_grads
        grad_fv = np.matmul(V, G) / self.m
        errors = np.matmul(V, self.component_errors) / self.m if self.component_errors is not None else grad_fv * 0
        probs = np.broadcast_to(P, grad_fv.shape[:-1]).copy()
        return OracleInstance(probs=probs, grad_fv=grad_fv, errors=errors, f_gap=self.f_gap, **kwargs)


@dataclass(frozen=True)
class RunInstance:
    r"""Constants of a (biased) SGD run and its observed :math:`\mathbb E\|\nabla f(\theta_t)\|^2`.

    Parameters
    ----------
    L, delta0 : :math:`L_{\nabla f} > 0` and :math:`\delta_0 = f(\theta_0) - f^*`.
    A, B, C : ABC constants: of :math:`\nabla f_v` (Theorem 1, Corollary 1, [18]) or of the biased
        oracle ([5, Theorem 3]). The instance asserts they are valid for the run's problem (a run
        does not determine them; :mod:`theory.sampling` and :mod:`theory.abc` compute them).
    alpha : step size (constant over the run).
    T : horizon (integer :math:`\ge 1`); the claims use :math:`\min_{0\le t\le T-1}`.
    grad_sq : array (..., n), :math:`n \ge T`
        :math:`\mathbb E\|\nabla f(\theta_t)\|^2` for :math:`t = 0, \dots, n-1`.
    eps2 : scalar or array (..., n')
        :math:`\mathbb E[\epsilon_t^2]`; a scalar is a constant sequence. Theorem 1 and Corollary 1
        as printed read :math:`\mathbb E[\epsilon_T^2]` (index :math:`T`, so :math:`n' \ge T+1`).
    zeta, eta : parameters of Proposition 1 (Theorem 1, Corollary 1, Remark 2).
    b, c : constants of [5, Assumption 9] ([5, Theorem 3]).
    target_eps2 : target accuracy of [18]'s corollary.
    running_min_limit : :math:`\lim_{T\to\infty}\min_{t<T}\mathbb E\|\nabla f(\theta_t)\|^2` of the run
        family (Remark 2), when known exactly.
    step_rule : ``"constant"`` (one :math:`\alpha` for all horizons) or ``"horizon"`` (:math:`\alpha`
        chosen from the horizon :math:`T`, as in the proof of Corollary 1).
    eps2_sum : :math:`\sum_t\mathbb E[\epsilon_t^2]` when finite (Remark 2's hypothesis).
    """

    L: Any
    delta0: Any
    A: Any
    B: Any
    C: Any
    alpha: Any
    T: int
    grad_sq: Any = None
    eps2: Any = 0
    zeta: Any = None
    eta: Any = None
    b: Any = None
    c: Any = None
    target_eps2: Any = None
    running_min_limit: Any = None
    step_rule: str = "constant"
    eps2_sum: Any = None
    exact: bool = field(init=False)

    _ARRAYS = ("L", "delta0", "A", "B", "C", "alpha", "grad_sq", "eps2", "zeta", "eta", "b", "c", "target_eps2", "running_min_limit", "eps2_sum")

    def __post_init__(self) -> None:
        if int(self.T) != self.T or self.T < 1:
            raise ValueError(f"T must be an integer >= 1; got {self.T!r}")
        object.__setattr__(self, "T", int(self.T))
        if self.step_rule not in ("constant", "horizon"):
            raise ValueError(f"step_rule must be 'constant' or 'horizon'; got {self.step_rule!r}")
        mode = _arith.mode_of(*(getattr(self, n) for n in self._ARRAYS))
        if mode == "symbolic":
            raise ValueError("RunInstance takes numbers (floats or Fractions), not symbols")
        exact = mode == "exact"
        object.__setattr__(self, "exact", exact)
        _convert(self, self._ARRAYS, exact)
        if self.grad_sq is not None and np.shape(self.grad_sq)[-1:] and np.shape(self.grad_sq)[-1] < self.T:
            raise ValueError(f"grad_sq must hold at least T={self.T} values on its last axis; got shape {np.shape(self.grad_sq)}")

    @property
    def observed_min(self) -> Any:
        r""":math:`\min_{0\le t\le T-1}\mathbb E\|\nabla f(\theta_t)\|^2`."""
        if self.grad_sq is None:
            raise ValueError("this RunInstance has no grad_sq; pass E||grad f(theta_t)||^2 for t < T")
        arr = np.asarray(self.grad_sq)
        if arr.ndim == 0:
            return self.grad_sq
        return _arith.unwrap(np.min(arr[..., : self.T], axis=-1))

    def _eps_seq(self) -> np.ndarray | None:
        arr = np.asarray(self.eps2)
        return None if arr.ndim == 0 else arr

    def eps2_at(self, t: int) -> Any:
        r""":math:`\mathbb E[\epsilon_t^2]` (the constant when ``eps2`` is a scalar)."""
        seq = self._eps_seq()
        if seq is None:
            return self.eps2
        if seq.shape[-1] <= t:
            raise ValueError(f"eps2 holds {seq.shape[-1]} values; index {t} is needed (Theorem 1 as printed reads E[eps_T^2])")
        return _arith.unwrap(seq[..., t])

    @property
    def eps2_T(self) -> Any:
        r""":math:`\mathbb E[\epsilon_T^2]` as printed in Theorem 1 and Corollary 1."""
        return self.eps2_at(self.T)

    @property
    def eps2_max(self) -> Any:
        r""":math:`\max_{0\le t\le T-1}\mathbb E[\epsilon_t^2]` (the uniform constant [5, Assumption 9] needs)."""
        seq = self._eps_seq()
        if seq is None:
            return self.eps2
        if seq.shape[-1] < self.T:
            raise ValueError(f"eps2 holds {seq.shape[-1]} values; T={self.T} are needed")
        return _arith.unwrap(np.max(seq[..., : self.T], axis=-1))


@dataclass(frozen=True)
class HypergradientErrorInstance:
    r"""Quantities of [9]'s a-posteriori bound at one point (constant lower-level Hessian in :math:`x`).

    ``error_norm`` is the true :math:`\|z - \nabla F\|`; ``B_norm`` :math:`= \|B(x_\epsilon)\|`,
    ``residual`` :math:`R`, ``mu``, ``grad_g_norm`` :math:`= \|\nabla g(x_\epsilon)\|`, ``L_B``, ``L_g``,
    ``G`` :math:`= \|\nabla_x h(x_\epsilon)\|`, ``L_H`` the Lipschitz constant of :math:`x \mapsto H(x)`
    (the bound is stated for :math:`L_H = 0`).
    """

    error_norm: Any
    B_norm: Any
    residual: Any
    mu: Any
    grad_g_norm: Any
    L_B: Any
    L_g: Any
    G: Any
    L_H: Any = 0
    exact: bool = field(init=False)

    _ARRAYS = ("error_norm", "B_norm", "residual", "mu", "grad_g_norm", "L_B", "L_g", "G", "L_H")

    def __post_init__(self) -> None:
        mode = _arith.mode_of(*(getattr(self, n) for n in self._ARRAYS))
        exact = mode == "exact"
        object.__setattr__(self, "exact", exact)
        _convert(self, self._ARRAYS, exact)
