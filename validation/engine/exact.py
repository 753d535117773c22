r"""Exact first and second moments of inexact SGD (Algorithm 1) on quadratic finite sums.

Problem (paper (1a) with quadratic components), :math:`\theta \in \mathbb R^d`, :math:`d \le 3`:

.. math::

    f_i(\theta) = \tfrac12\theta^\top Q_i\theta + b_i^\top\theta + c_i,\qquad f = \frac1m\sum_i f_i,\qquad
    \nabla f_v(\theta) = \frac1m\sum_i v_i\nabla f_i(\theta) = G_v\theta + g_v .

Sampling: a finite law of sampling vectors :math:`v` (outcomes :math:`v^{(k)}` with probabilities
:math:`p_k`, :math:`\mathbb E[v_i] = 1`; any law, heavy-tailed ones included). Error model
(:class:`AffineBias`): :math:`e_v(\theta, t) = \sigma_t(P_v\theta + r_v)` -- zero, constant,
affine in :math:`\theta`, per component (:math:`e_v = \frac1m\sum_i v_i\,\mathrm{err}_i`, Remark 1),
per outcome, and scaled by a deterministic sequence :math:`\sigma_t` (:class:`Schedule`).
The ISGD step (Algorithm 1, step 5) with constant :math:`\alpha`,

.. math::

    \theta_{t+1} = \theta_t - \alpha z_{v_t}(\theta_t) = M_{v_t}(t)\,\theta_t + a_{v_t}(t),

is affine in :math:`\theta_t` for every outcome, so with :math:`y = (\theta, 1)` and
:math:`\tilde M_k = \begin{pmatrix}M_k & a_k\\ 0 & 1\end{pmatrix}` the second moment
:math:`X_t = \mathbb E[y_ty_t^\top]` (which holds :math:`\mathbb E\theta_t` and
:math:`\mathbb E\theta_t\theta_t^\top`) obeys the *linear* recursion

.. math::

    X_{t+1} = \sum_k p_k\,\tilde M_k(t)X_t\tilde M_k(t)^\top =: \Phi(\sigma_t)[X_t],\qquad
    \Phi(\sigma) = \Phi_0 + \sigma\Phi_1 + \sigma^2\Phi_2 .

Every quadratic observable is linear in :math:`X_t`: :math:`\mathbb E\|\nabla f(\theta_t)\|^2`,
:math:`\mathbb E f(\theta_t) - f^{\inf}` and :math:`\mathbb E[\epsilon_t^2] = \mathbb E\|e_{v_t}(\theta_t, t)\|^2`
(the paper's notation, Section 2.1). Hence:

* exact rationals (:class:`fractions.Fraction` inputs): the recursion runs in integer arithmetic
  (common denominators), exact for every :math:`t` (cost grows with :math:`t`; used up to a few
  thousand steps to confirm violations);
* float64: for a constant (or piecewise constant) :math:`\sigma_t`, values for all
  :math:`t < T` come from matrix powers in chunks, :math:`w^\top\Phi^{j}(\Phi^{n})^{c}x_0`, so
  :math:`\min_{t<T}` is exact up to rounding for :math:`T = 10^7` in a fraction of a second; other
  sequences step through :math:`t` (up to about :math:`10^6`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from theory.sampling import SamplingLaw, Support

from . import rational as rq

logger = logging.getLogger(__name__)

__all__ = [
    "QuadraticFiniteSum",
    "Schedule",
    "AffineBias",
    "MomentSummary",
    "MomentEngine",
    "support_of",
    "is_exact_input",
    "FULL_SEQUENCE_MAX",
    "STEPPING_MAX",
    "EXACT_VARYING_MAX",
]

FULL_SEQUENCE_MAX = 2_000_000
"""Largest horizon for which :meth:`MomentEngine.run` returns whole sequences (``keep_sequences=True``)."""

STEPPING_MAX = 2_000_000
"""Largest horizon for time-varying (not piecewise constant) schedules in float64 (one step at a time)."""

EXACT_VARYING_MAX = 150
"""Largest horizon for exact moments under a schedule that is not piecewise constant (denominators
then grow like the product of the multipliers)."""

CHUNK = 2048
"""Chunk length of the float64 scan (values within a chunk come from stored powers of :math:`\\Phi`)."""

BLOCK = 256
"""Chunks evaluated per matrix product of the scan (bounds memory)."""

LOG_GROWTH_PER_CHUNK = 300.0
"""Largest natural-log growth allowed within one chunk (keeps stored powers of :math:`\\Phi` finite)."""

FLUSH = 1e-150
"""Entries of normalised chunk-start states and of stored rows :math:`w^\\top\\Phi^j` below this are set
to 0, so that their products stay normal floats (subnormal arithmetic is slow)."""

ROUNDING = 64 * np.finfo(float).eps
"""Relative rounding unit used for the float64 error estimate of the scan."""


# ----------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class QuadraticFiniteSum:
    r"""A finite sum of quadratics :math:`f_i(\theta) = \frac12\theta^\top Q_i\theta + b_i^\top\theta + c_i`.

    Parameters
    ----------
    Q : array (m, d, d)
        Symmetric :math:`Q_i \succeq 0` (Assumption 1 needs each :math:`f_i` bounded below, i.e.
        :math:`Q_i \succeq 0` and :math:`b_i \in \mathrm{range}(Q_i)`; checked by :meth:`component_inf`).
    b : array (m, d)
    c : array (m,)

    Exact (``Fraction``) entries give exact derived quantities; floats give float64.
    """

    Q: Any
    b: Any
    c: Any
    exact: bool = field(init=False)

    def __post_init__(self) -> None:
        exact = is_exact_input(self.Q, self.b, self.c)
        conv = rq.as_exact if exact else (lambda a: np.asarray(a, dtype=float))
        Q, b, c = conv(self.Q), conv(self.b), conv(self.c)
        if Q.ndim != 3 or Q.shape[1] != Q.shape[2]:
            raise ValueError(f"Q must be (m, d, d); got shape {Q.shape}")
        m, d = Q.shape[0], Q.shape[1]
        if b.shape != (m, d) or c.shape != (m,):
            raise ValueError(f"b must be (m, d) = ({m}, {d}) and c (m,); got {b.shape} and {c.shape}")
        if not 1 <= d <= 3:
            raise ValueError(f"the exact engine is for dimension 1 <= d <= 3; got d = {d}")
        for i in range(m):
            if exact:
                sym = all(Q[i, a, bb] == Q[i, bb, a] for a in range(d) for bb in range(d))
            else:
                sym = bool(np.allclose(Q[i], Q[i].T, rtol=0, atol=1e-14 * max(1.0, float(np.abs(Q[i]).max()))))
            if not sym:
                raise ValueError(f"Q[{i}] must be symmetric")
        object.__setattr__(self, "Q", Q)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "exact", exact)

    @property
    def m(self) -> int:
        """Number of components."""
        return int(self.Q.shape[0])

    @property
    def d(self) -> int:
        """Dimension of :math:`\\theta`."""
        return int(self.Q.shape[1])

    def to_float(self) -> "QuadraticFiniteSum":
        """The same problem in float64."""
        return QuadraticFiniteSum(rq.as_float(self.Q), rq.as_float(self.b), rq.as_float(self.c))

    @property
    def Q_mean(self) -> np.ndarray:
        """:math:`\\bar Q = \\frac1m\\sum_i Q_i` (the Hessian of :math:`f`)."""
        return self.Q.sum(axis=0) / self.m

    @property
    def b_mean(self) -> np.ndarray:
        return self.b.sum(axis=0) / self.m

    @property
    def c_mean(self) -> Any:
        return self.c.sum() / self.m

    def _vec(self, theta: Any) -> np.ndarray:
        th = rq.as_exact(theta) if self.exact else np.asarray(theta, dtype=float)
        return th.reshape(self.d)

    def component_grads(self, theta: Any) -> np.ndarray:
        r""":math:`\nabla f_i(\theta) = Q_i\theta + b_i`, (m, d)."""
        th = self._vec(theta)
        return np.einsum("ijk,k->ij", self.Q, th) + self.b if not self.exact else np.array(
            [self.Q[i].dot(th) + self.b[i] for i in range(self.m)], dtype=object
        )

    def component_values(self, theta: Any) -> np.ndarray:
        """:math:`f_i(\\theta)`, (m,)."""
        th = self._vec(theta)
        vals = [th.dot(self.Q[i].dot(th)) / 2 + self.b[i].dot(th) + self.c[i] for i in range(self.m)]
        return np.array(vals, dtype=object if self.exact else float)

    def grad(self, theta: Any) -> np.ndarray:
        """:math:`\\nabla f(\\theta)`, (d,)."""
        return self.component_grads(theta).sum(axis=0) / self.m

    def value(self, theta: Any) -> Any:
        """:math:`f(\\theta)`."""
        return self.component_values(theta).sum() / self.m

    def _memo(self, name: str, compute: Any) -> Any:
        """A derived quantity computed once per problem (the problem is immutable)."""
        cache = self.__dict__.setdefault("_cache", {})
        if name not in cache:
            cache[name] = compute()
        return cache[name]

    def smoothness(self) -> np.ndarray:
        r""":math:`L_i = \lambda_{\max}(Q_i)` (exact when rational, else a certified rational upper bound), (m,)."""
        if self.exact:
            return self._memo("L_i", lambda: np.array([rq.lambda_max_upper(self.Q[i]) for i in range(self.m)], dtype=object)).copy()
        return np.array([float(np.max(np.linalg.eigvalsh(self.Q[i]))) for i in range(self.m)])

    def lipschitz(self) -> Any:
        r""":math:`L_{\nabla f} = \lambda_{\max}(\bar Q)` (exact when rational, else a certified rational upper bound)."""
        if self.exact:
            return self._memo("L", lambda: rq.lambda_max_upper(self.Q_mean))
        return float(np.max(np.linalg.eigvalsh(self.Q_mean)))

    def _inf_of(self, Q: np.ndarray, b: np.ndarray, c: Any, what: str) -> Any:
        """:math:`\\inf_\\theta \\frac12\\theta^\\top Q\\theta + b^\\top\\theta + c`; ValueError when :math:`-\\infty`."""
        if self.exact:
            value = rq.max_quadratic(-Q / 2, -b / 2, -c)
            if value is None:
                raise ValueError(f"{what} is unbounded below (need Q >= 0 and b in range(Q)); Assumption 1 fails")
            return -value
        w = np.linalg.eigvalsh(Q)
        scale = max(1.0, float(np.abs(w).max()))
        if float(w.min()) < -1e-12 * scale:
            raise ValueError(f"{what} is unbounded below (Q has a negative eigenvalue); Assumption 1 fails")
        x, *_ = np.linalg.lstsq(Q, -b, rcond=None)
        if float(np.linalg.norm(Q @ x + b)) > 1e-9 * max(1.0, float(np.linalg.norm(b))):
            raise ValueError(f"{what} is unbounded below (b not in range(Q)); Assumption 1 fails")
        return float(0.5 * x @ Q @ x + b @ x + c)

    def component_inf(self) -> np.ndarray:
        r""":math:`f_i^{\inf}`, (m,) (Assumption 1)."""
        vals = [self._inf_of(self.Q[i], self.b[i], self.c[i], f"f_{i}") for i in range(self.m)]
        return np.array(vals, dtype=object if self.exact else float)

    def f_inf(self) -> Any:
        r""":math:`f^{\inf} = \inf_\theta f(\theta)`."""
        return self._inf_of(self.Q_mean, self.b_mean, self.c_mean, "f")

    def minimizer(self) -> np.ndarray:
        r"""A minimizer :math:`\theta^*` of :math:`f` (:math:`\bar Q\theta^* = -\bar b`)."""
        if self.exact:
            x = rq.solve(self.Q_mean, -self.b_mean)
            if x is None:
                raise ValueError("f has no minimizer (b not in range(Q))")
            return x
        x, *_ = np.linalg.lstsq(self.Q_mean, -self.b_mean, rcond=None)
        return x

    def delta_inf(self) -> Any:
        r""":math:`\Delta^{\inf} = f^{\inf} - \frac1m\sum_i f_i^{\inf} \ge 0` ([18])."""
        return self.f_inf() - self.component_inf().sum() / self.m


def is_exact_input(*xs: Any) -> bool:
    """True when no entry of ``xs`` is a float: integers, Fractions and ``"p/q"`` strings are exact."""
    for x in xs:
        if x is None:
            continue
        for e in np.asarray(x, dtype=object).ravel().tolist():
            if isinstance(e, (float, np.floating)):
                return False
            if not isinstance(e, (int, np.integer, Fraction, str)):
                return False
    return True


# ----------------------------------------------------------------------------------------------
# accuracy schedules and error models


_SCHEDULE_KINDS = ("constant", "geometric", "power", "step")

NEGLIGIBLE = 1e-40
"""Relative size below which a geometric error multiplier is evaluated as 0 in float64."""


@dataclass(frozen=True)
class Schedule:
    r"""A deterministic multiplier :math:`\sigma_t \ge 0` of the hypergradient error (the accuracy sequence).

    Kinds (``params``):

    * ``"constant"`` (``sigma``): :math:`\sigma_t = \sigma`;
    * ``"geometric"`` (``sigma``, ``rho``): :math:`\sigma_t = \sigma\rho^t`, :math:`0 \le \rho < 1`;
    * ``"power"`` (``sigma``, ``p``): :math:`\sigma_t = \sigma(t+1)^{-p}` (exact for integer :math:`p`);
    * ``"step"`` (``sigma``, ``after``, ``at``): :math:`\sigma_t = \sigma` for :math:`t < t_0`, ``after`` from :math:`t_0` on.

    :math:`\mathbb E[\epsilon_t^2]` scales with :math:`\sigma_t^2`; :math:`\sum_t\sigma_t^2 < \infty` is
    Remark 2's hypothesis (geometric, power with :math:`p > 1/2`).
    """

    kind: str = "constant"
    sigma: Any = 1
    rho: Any = None
    p: Any = None
    after: Any = None
    at: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _SCHEDULE_KINDS:
            raise ValueError(f"schedule kind must be one of {_SCHEDULE_KINDS}; got {self.kind!r}")
        if _neg(self.sigma):
            raise ValueError(f"sigma must be >= 0; got {self.sigma!r}")
        if self.kind == "geometric" and (self.rho is None or _neg(self.rho) or not _lt(self.rho, 1)):
            raise ValueError(f"a geometric schedule needs 0 <= rho < 1; got {self.rho!r}")
        if self.kind == "power" and (self.p is None or not _gt0(self.p)):
            raise ValueError(f"a power schedule needs p > 0; got {self.p!r}")
        if self.kind == "step" and (self.after is None or self.at is None or _neg(self.after) or int(self.at) < 0):
            raise ValueError("a step schedule needs after >= 0 and at >= 0")

    @property
    def exact(self) -> bool:
        vals = [self.sigma, self.rho, self.after]
        if self.kind == "power":
            return isinstance(self.sigma, (Fraction, int)) and isinstance(self.p, (int, Fraction)) and _is_integer(self.p)
        return all(v is None or isinstance(v, (Fraction, int)) for v in vals)

    def value(self, t: int, exact: bool = False) -> Any:
        """:math:`\\sigma_t` (a Fraction when ``exact`` and the schedule is exact)."""
        conv = (lambda x: rq.F(x)) if exact else float
        if self.kind == "constant":
            return conv(self.sigma)
        if self.kind == "geometric":
            return conv(self.sigma) * conv(self.rho) ** t
        if self.kind == "power":
            if exact:
                return rq.F(self.sigma) / Fraction(t + 1) ** int(rq.F(self.p))
            return float(self.sigma) * (t + 1.0) ** (-float(self.p))
        return conv(self.sigma) if t < int(self.at) else conv(self.after)

    def values(self, n: int) -> np.ndarray:
        """:math:`\\sigma_0, \\dots, \\sigma_{n-1}` in float64."""
        t = np.arange(n, dtype=float)
        if self.kind == "constant":
            return np.full(n, float(self.sigma))
        if self.kind == "geometric":
            with np.errstate(under="ignore"):
                return float(self.sigma) * float(self.rho) ** t
        if self.kind == "power":
            return float(self.sigma) * (t + 1.0) ** (-float(self.p))
        out = np.full(n, float(self.sigma))
        out[int(self.at):] = float(self.after)
        return out

    def segments(self, n: int) -> list[tuple[int, int, Any]] | None:
        """Piecewise-constant cover of :math:`[0, n)` as ``(start, stop, sigma)``, or ``None`` if not piecewise constant."""
        if self.kind == "constant":
            return [(0, n, self.sigma)]
        if self.kind == "step":
            at = min(int(self.at), n)
            segs = [(0, at, self.sigma)] if at > 0 else []
            if at < n:
                segs.append((at, n, self.after))
            return segs
        if self.kind == "geometric" and float(self.rho) == 0.0:
            segs = [(0, min(1, n), self.sigma)]
            if n > 1:
                segs.append((1, n, 0))
            return segs
        return None

    def negligible_after(self, n: int) -> int:
        r"""First :math:`t \le n` from which a geometric :math:`\sigma_t` is below :data:`NEGLIGIBLE` of :math:`\sigma_0` (else ``n``).

        From there on the error is far below float64 resolution and is evaluated as 0.
        """
        if self.kind != "geometric" or float(self.rho) == 0.0 or float(self.sigma) == 0.0:
            return n
        t = math.ceil(math.log(NEGLIGIBLE) / math.log(float(self.rho)))
        return max(1, min(n, t))

    @property
    def summable(self) -> bool:
        r""":math:`\sum_t\sigma_t^2 < \infty`."""
        if self.kind == "geometric":
            return True
        if self.kind == "power":
            return float(self.p) > 0.5
        if self.kind == "step":
            return float(self.after) == 0.0
        return float(self.sigma) == 0.0

    def square_sum_bound(self) -> Any:
        r"""An upper bound on :math:`\sum_{t\ge0}\sigma_t^2` (exact when possible), or ``None`` if infinite.

        Geometric: :math:`\sigma^2/(1-\rho^2)`; power: :math:`\sigma^2(1 + \frac1{2p-1})` (integral test);
        step with ``after = 0``: :math:`t_0\sigma^2`.
        """
        if not self.summable:
            return None
        if self.kind == "geometric":
            if self.exact:
                return rq.F(self.sigma) ** 2 / (1 - rq.F(self.rho) ** 2)
            return float(self.sigma) ** 2 / (1.0 - float(self.rho) ** 2)
        if self.kind == "power":
            if self.exact:
                p = rq.F(self.p)
                return rq.F(self.sigma) ** 2 * (1 + 1 / (2 * p - 1))
            return float(self.sigma) ** 2 * (1.0 + 1.0 / (2.0 * float(self.p) - 1.0))
        if self.kind == "step":
            return (rq.F(self.sigma) ** 2 if self.exact else float(self.sigma) ** 2) * int(self.at)
        return Fraction(0) if self.exact else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "sigma": rq.encode(_num(self.sigma))}
        for name in ("rho", "p", "after"):
            v = getattr(self, name)
            if v is not None:
                out[name] = rq.encode(_num(v))
        if self.at is not None:
            out["at"] = int(self.at)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Schedule":
        if not isinstance(obj, dict) or "kind" not in obj:
            raise ValueError(f"a schedule must be an object with a 'kind'; got {obj!r}")
        kw: dict[str, Any] = {"kind": obj["kind"], "sigma": rq.decode(obj.get("sigma", "1"))}
        for name in ("rho", "p", "after"):
            if name in obj:
                kw[name] = rq.decode(obj[name])
        if "at" in obj:
            kw["at"] = int(obj["at"])
        return cls(**kw)


def _is_integer(x: Any) -> bool:
    """True when the exact number ``x`` is an integer."""
    try:
        return rq.F(x).denominator == 1
    except (TypeError, ValueError):
        return False


def _num(x: Any) -> Any:
    return rq.F(x) if isinstance(x, (int, Fraction, str)) else x


def _neg(x: Any) -> bool:
    return x is not None and float(x) < 0


def _lt(x: Any, y: float) -> bool:
    return float(x) < y


def _gt0(x: Any) -> bool:
    return float(x) > 0


_BIAS_MODES = ("constant", "component", "outcome")


@dataclass(frozen=True)
class AffineBias:
    r"""Hypergradient error :math:`e_v(\theta, t) = \sigma_t\,(P_v\theta + r_v)`.

    ``mode``:

    * ``"constant"``: :math:`P_v = P`, :math:`r_v = r` for every outcome (``P`` (d, d) or ``None``, ``r`` (d,));
    * ``"component"``: per-component errors :math:`\mathrm{err}_i(\theta) = P_i\theta + r_i`
      (``P`` (m, d, d) or ``None``, ``r`` (m, d)) and :math:`e_v = \frac1m\sum_i v_i\,\mathrm{err}_i`
      (Remark 1: each sample's hypergradient carries its own error);
    * ``"outcome"``: one affine map per outcome of the law (``P`` (K, d, d) or ``None``, ``r`` (K, d)).

    ``P = None`` means the error does not depend on :math:`\theta`.
    """

    mode: str
    r: Any
    P: Any = None
    schedule: Schedule = field(default_factory=Schedule)

    def __post_init__(self) -> None:
        if self.mode not in _BIAS_MODES:
            raise ValueError(f"bias mode must be one of {_BIAS_MODES}; got {self.mode!r}")
        exact = is_exact_input(self.r, self.P)
        conv = rq.as_exact if exact else (lambda a: np.asarray(a, dtype=float))
        r = conv(self.r)
        P = None if self.P is None else conv(self.P)
        want_r = 1 if self.mode == "constant" else 2
        if r.ndim != want_r:
            raise ValueError(f"bias r must have {want_r} dimension(s) for mode {self.mode!r}; got shape {r.shape}")
        if P is not None and P.shape != r.shape + (r.shape[-1],):
            raise ValueError(f"bias P must have shape {r.shape + (r.shape[-1],)}; got {P.shape}")
        object.__setattr__(self, "r", r)
        object.__setattr__(self, "P", P)

    @property
    def exact(self) -> bool:
        return rq.is_exact_array(self.r) and self.schedule.exact

    @property
    def d(self) -> int:
        return int(self.r.shape[-1])

    @classmethod
    def zero(cls, d: int, exact: bool = True) -> "AffineBias":
        """No error: exact hypergradients."""
        zero = Fraction(0) if exact else 0.0
        return cls("constant", np.array([zero] * d, dtype=object if exact else float))

    @property
    def theta_independent(self) -> bool:
        """True when :math:`P = 0` (then :math:`\\mathbb E[\\epsilon_t^2] = \\sigma_t^2\\,\\mathbb E_v\\|r_v\\|^2` for every :math:`\\theta`)."""
        return self.P is None or all(float(e) == 0.0 for e in np.asarray(self.P, dtype=object).ravel().tolist())

    @property
    def is_zero(self) -> bool:
        return self.theta_independent and all(float(e) == 0.0 for e in np.asarray(self.r, dtype=object).ravel().tolist())

    def outcome_maps(self, support: Support, m: int, exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per-outcome ``(P_k (K, d, d), r_k (K, d))`` for the outcomes of ``support`` (in its order)."""
        V = rq.as_exact(support.vectors) if exact else rq.as_float(support.vectors)
        K, d = V.shape[0], self.d
        conv = rq.as_exact if exact else rq.as_float
        r = conv(self.r)
        P = None if self.P is None else conv(self.P)
        zero = Fraction(0) if exact else 0.0
        dtype = object if exact else float
        if self.mode == "constant":
            rk = np.array([r] * K, dtype=dtype)
            Pk = np.array([P if P is not None else np.full((d, d), zero, dtype=dtype)] * K, dtype=dtype)
        elif self.mode == "component":
            if r.shape[0] != m:
                raise ValueError(f"component errors need one row per component (m = {m}); got {r.shape[0]}")
            rk = np.array([sum((V[k, i] * r[i] for i in range(m)), np.full(d, zero, dtype=dtype)) / m for k in range(K)], dtype=dtype)
            if P is None:
                Pk = np.full((K, d, d), zero, dtype=dtype)
            else:
                Pk = np.array(
                    [sum((V[k, i] * P[i] for i in range(m)), np.full((d, d), zero, dtype=dtype)) / m for k in range(K)],
                    dtype=dtype,
                )
        else:
            if r.shape[0] != K:
                raise ValueError(f"per-outcome errors need one row per outcome (K = {K}); got {r.shape[0]}")
            rk = r
            Pk = P if P is not None else np.full((K, d, d), zero, dtype=dtype)
        return Pk, rk

    def with_schedule(self, schedule: Schedule) -> "AffineBias":
        return AffineBias(self.mode, self.r, self.P, schedule)

    def to_json(self) -> dict[str, Any]:
        out = {"mode": self.mode, "r": rq.encode(self.r), "schedule": self.schedule.to_json()}
        if self.P is not None:
            out["P"] = rq.encode(self.P)
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "AffineBias":
        if not isinstance(obj, dict) or "mode" not in obj or "r" not in obj:
            raise ValueError(f"a bias must be an object with 'mode' and 'r'; got {obj!r}")
        P = rq.decode(obj["P"]) if "P" in obj else None
        return cls(obj["mode"], rq.decode(obj["r"]), P, Schedule.from_json(obj.get("schedule", {"kind": "constant"})))


def support_of(law: SamplingLaw | Support) -> Support:
    """The enumerated law (vectors (K, m), probabilities (K,)), outcomes with probability 0 removed."""
    sup = law if isinstance(law, Support) else law.support()
    keep = [k for k, p in enumerate(sup.probs.tolist()) if float(p) > 0.0]
    return Support(sup.vectors[keep], sup.probs[keep])


# ----------------------------------------------------------------------------------------------
# the engine


@dataclass(frozen=True)
class MomentSummary:
    r"""Exact moments of one run, reduced over :math:`t < T`.

    Attributes
    ----------
    T : int
        Horizon.
    min_grad_sq, argmin : :math:`\min_{0\le t\le T-1}\mathbb E\|\nabla f(\theta_t)\|^2` and a minimizing :math:`t`.
    grad_sq_first, grad_sq_last : values at :math:`t = 0` and :math:`t = T-1`.
    f_gap_T : :math:`\mathbb E f(\theta_T) - f^{\inf}`.
    eps2_T : :math:`\mathbb E[\epsilon_T^2]` (index :math:`T`, as Theorem 1 and Corollary 1 print it).
    eps2_max : :math:`\max_{0\le t\le T-1}\mathbb E[\epsilon_t^2]`.
    eps2_sum : :math:`\sum_{0\le t\le T-1}\mathbb E[\epsilon_t^2]`.
    exact : bool
        True for exact rational arithmetic.
    abs_error : float
        Estimated float64 error of ``min_grad_sq`` (0 when exact).
    reliable : bool
        False when float64 overflow made some value undefined (then the result is not used).
    checkpoints, running_min : tuple, array
        :math:`\min_{t < T_j}\mathbb E\|\nabla f(\theta_t)\|^2` at the requested horizons :math:`T_j \le T`.
    grad_sq, eps2 : array or None
        Whole sequences :math:`t = 0..T-1` and :math:`t = 0..T` (when requested).
    """

    T: int
    min_grad_sq: Any
    argmin: int
    grad_sq_first: Any
    grad_sq_last: Any
    f_gap_T: Any
    eps2_T: Any
    eps2_max: Any
    eps2_sum: Any
    exact: bool
    abs_error: float = 0.0
    reliable: bool = True
    checkpoints: tuple[int, ...] = ()
    running_min: Any = None
    grad_sq: Any = None
    eps2: Any = None


def _sym_index(n: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(n) for b in range(a, n)]


class MomentEngine:
    r"""Moments of ISGD :math:`\theta_{t+1} = \theta_t - \alpha(\nabla f_{v_t}(\theta_t) + e_{v_t}(\theta_t, t))`.

    Parameters
    ----------
    problem : QuadraticFiniteSum
    law : SamplingLaw or Support
        Law of the sampling vectors (Section 1: :math:`\mathbb E[v_i] = 1`).
    bias : AffineBias
    alpha : step size (constant, Algorithm 1).
    theta0 : array (d,), the deterministic start.
    exact : bool, optional
        Exact rational arithmetic (default: when problem, law, bias, step and start are all exact).
    """

    def __init__(
        self,
        problem: QuadraticFiniteSum,
        law: SamplingLaw | Support,
        bias: AffineBias,
        alpha: Any,
        theta0: Any,
        *,
        exact: bool | None = None,
    ) -> None:
        support = support_of(law)
        if support.vectors.shape[1] != problem.m:
            raise ValueError(f"the law samples m = {support.vectors.shape[1]} components; the problem has m = {problem.m}")
        if bias.d != problem.d:
            raise ValueError(f"bias dimension {bias.d} differs from the problem's d = {problem.d}")
        all_exact = (
            problem.exact
            and rq.is_exact_array(np.asarray(support.probs))
            and bias.exact
            and isinstance(alpha, (Fraction, int))
            and is_exact_input(theta0)
        )
        self.exact = all_exact if exact is None else bool(exact)
        if self.exact and not all_exact:
            raise ValueError("exact=True needs exact problem, law, bias (and schedule), step and start (Fractions)")
        self.problem = problem if self.exact else problem.to_float()
        self.support = support
        self.bias = bias
        self.alpha = rq.F(alpha) if self.exact else float(alpha)
        if (float(self.alpha) <= 0.0) or not math.isfinite(float(self.alpha)):
            raise ValueError(f"the step size must be a finite alpha > 0 (Algorithm 1); got {alpha!r}")
        self.theta0 = rq.as_exact(theta0).reshape(problem.d) if self.exact else np.asarray(theta0, dtype=float).reshape(problem.d)
        self.d = problem.d
        self.n = self.d + 1
        self._sym = _sym_index(self.n)
        self.s = len(self._sym)
        self._build()

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        pr, d, n = self.problem, self.d, self.n
        ex = self.exact
        dtype = object if ex else float
        conv = rq.as_exact if ex else rq.as_float
        V = conv(self.support.vectors)
        p = conv(self.support.probs)
        K, m = V.shape
        zero = Fraction(0) if ex else 0.0
        one = Fraction(1) if ex else 1.0
        G = np.array([sum((V[k, i] * pr.Q[i] for i in range(m)), np.full((d, d), zero, dtype=dtype)) / m for k in range(K)], dtype=dtype)
        g = V.dot(pr.b) / m
        Pk, rk = self.bias.outcome_maps(self.support, m, ex)
        a = self.alpha
        eye = np.array([[one if i == j else zero for j in range(d)] for i in range(d)], dtype=dtype)
        M0 = np.empty((K, n, n), dtype=dtype)
        M1 = np.empty((K, n, n), dtype=dtype)
        M0[...] = zero
        M1[...] = zero
        for k in range(K):
            M0[k, :d, :d] = eye - a * G[k]
            M0[k, :d, d] = -a * g[k]
            M0[k, d, d] = one
            M1[k, :d, :d] = -a * Pk[k]
            M1[k, :d, d] = -a * rk[k]
        self._K = K
        self._p = p
        self._M0, self._M1 = M0, M1
        self.Phi0 = self._superop(lambda X, k: M0[k].dot(X).dot(M0[k].T))
        self.Phi1 = self._superop(lambda X, k: M0[k].dot(X).dot(M1[k].T) + M1[k].dot(X).dot(M0[k].T))
        self.Phi2 = self._superop(lambda X, k: M1[k].dot(X).dot(M1[k].T))
        # observables (row vectors in symmetric coordinates)
        Qm, bm = pr.Q_mean, pr.b_mean
        Gh = np.empty((d, n), dtype=dtype)
        Gh[:, :d] = Qm
        Gh[:, d] = bm
        W_grad = Gh.T.dot(Gh)
        W_gap = np.empty((n, n), dtype=dtype)
        W_gap[:d, :d] = Qm / 2
        W_gap[:d, d] = bm / 2
        W_gap[d, :d] = bm / 2
        W_gap[d, d] = pr.c_mean - pr.f_inf()
        W_err = np.full((n, n), zero, dtype=dtype)
        for k in range(K):
            Ph = np.empty((d, n), dtype=dtype)
            Ph[:, :d] = Pk[k]
            Ph[:, d] = rk[k]
            W_err = W_err + p[k] * Ph.T.dot(Ph)
        self.w_grad = self._observable(W_grad)
        self.w_gap = self._observable(W_gap)
        self.w_err = self._observable(W_err)
        y0 = np.empty(n, dtype=dtype)
        y0[:d] = self.theta0
        y0[d] = one
        self.x0 = np.array([y0[i] * y0[j] for i, j in self._sym], dtype=dtype)

    def _superop(self, apply: Any) -> np.ndarray:
        """Matrix of :math:`X \\mapsto \\sum_k p_k\\,\\mathrm{apply}(X, k)` in symmetric coordinates."""
        n, s, ex = self.n, self.s, self.exact
        dtype = object if ex else float
        zero = Fraction(0) if ex else 0.0
        one = Fraction(1) if ex else 1.0
        out = np.empty((s, s), dtype=dtype)
        for col, (i, j) in enumerate(self._sym):
            X = np.full((n, n), zero, dtype=dtype)
            X[i, j] = one
            X[j, i] = one
            Y = np.full((n, n), zero, dtype=dtype)
            for k in range(self._K):
                Y = Y + self._p[k] * apply(X, k)
            for row, (a, b) in enumerate(self._sym):
                out[row, col] = Y[a, b]
        return out

    def _observable(self, W: np.ndarray) -> np.ndarray:
        """Row vector ``w`` with :math:`\\langle W, X\\rangle = w\\cdot x` (``x`` the symmetric coordinates)."""
        return np.array([W[i, j] if i == j else W[i, j] + W[j, i] for i, j in self._sym], dtype=W.dtype)

    # -- operators ----------------------------------------------------------------------------

    def phi(self, sigma: Any) -> np.ndarray:
        r""":math:`\Phi(\sigma) = \Phi_0 + \sigma\Phi_1 + \sigma^2\Phi_2` in symmetric coordinates, (s, s)."""
        sg = rq.F(sigma) if self.exact else float(sigma)
        return self.Phi0 + sg * self.Phi1 + sg * sg * self.Phi2

    def spectral_radius(self, sigma: Any = 1) -> float:
        """Spectral radius of :math:`\\Phi(\\sigma)` (float64); > 1 means some second moment grows geometrically."""
        return float(np.max(np.abs(np.linalg.eigvals(rq.as_float(self.phi(sigma))))))

    def _sigma(self, t: int) -> Any:
        return self.bias.schedule.value(t, exact=self.exact)

    # -- public evaluation --------------------------------------------------------------------

    def run(self, T: int, *, checkpoints: Sequence[int] = (), keep_sequences: bool = False) -> MomentSummary:
        r"""Moments for :math:`t = 0, \dots, T` reduced to a :class:`MomentSummary`.

        ``checkpoints`` are horizons :math:`T_j \le T` at which the running minimum
        :math:`\min_{t<T_j}\mathbb E\|\nabla f(\theta_t)\|^2` is recorded (for plots of bound vs observed).
        """
        T = int(T)
        if T < 1:
            raise ValueError(f"the horizon T must be an integer >= 1; got {T!r}")
        cps = tuple(sorted({int(c) for c in checkpoints if 1 <= int(c) <= T}))
        if keep_sequences and T > FULL_SEQUENCE_MAX:
            raise ValueError(f"keep_sequences needs T <= {FULL_SEQUENCE_MAX}; got T = {T}")
        if self.exact:
            if self.bias.schedule.segments(T + 1) is None and T > EXACT_VARYING_MAX:
                raise ValueError(
                    f"exact moments with a {self.bias.schedule.kind} schedule grow quadratically in size with T; "
                    f"T = {T} exceeds {EXACT_VARYING_MAX}. Use float64 (exact=False) or a piecewise-constant schedule."
                )
            return self._run_exact(T, cps)
        return self._run_float(T, cps, keep_sequences)

    def moments(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        r"""``(E theta_t (d,), E theta_t theta_t^T (d, d))`` at time ``t`` (exact or float64)."""
        x = self._state_at(int(t))
        n, d = self.n, self.d
        X = np.empty((n, n), dtype=x.dtype)
        for val, (i, j) in zip(x, self._sym):
            X[i, j] = val
            X[j, i] = val
        return X[:d, d].copy(), X[:d, :d].copy()

    def _state_at(self, t: int) -> np.ndarray:
        x = self.x0.copy()
        if self.exact:
            for tau in range(t):
                x = self.phi(self._sigma(tau)).dot(x)
            return x
        segs = self.bias.schedule.segments(t)
        if segs is not None:
            for start, stop, sg in segs:
                x = np.linalg.matrix_power(self.phi(sg), stop - start).dot(x)
            return x
        for tau in range(t):
            x = self.phi(self._sigma(tau)).dot(x)
        return x

    # -- exact --------------------------------------------------------------------------------

    def _run_exact(self, T: int, cps: tuple[int, ...]) -> MomentSummary:
        """Integer arithmetic: :math:`x_t = y_t / D_t` with integer :math:`y_t` and scale :math:`D_t`."""
        D0 = rq.lcm_denominator(self.x0)
        y = [int(e * D0) for e in self.x0.tolist()]
        scale = D0
        wg_den = rq.lcm_denominator(self.w_grad)
        wg = [int(e * wg_den) for e in self.w_grad.tolist()]
        we_den = rq.lcm_denominator(self.w_err)
        we = [int(e * we_den) for e in self.w_err.tolist()]
        wf_den = rq.lcm_denominator(self.w_gap)
        wf = [int(e * wf_den) for e in self.w_gap.tolist()]
        cache: dict[Fraction, tuple[list[list[int]], int]] = {}
        grad: list[Fraction] = []
        eps: list[Fraction] = []
        for t in range(T + 1):
            sg = self._sigma(t)
            e_val = Fraction(sum(a * b for a, b in zip(we, y)), we_den * scale) * sg * sg
            eps.append(e_val)
            if t == T:
                f_gap_T = Fraction(sum(a * b for a, b in zip(wf, y)), wf_den * scale)
                break
            grad.append(Fraction(sum(a * b for a, b in zip(wg, y)), wg_den * scale))
            if sg not in cache:
                Phi = self.phi(sg)
                Dp = rq.lcm_denominator(Phi)
                cache[sg] = ([[int(e * Dp) for e in row] for row in Phi.tolist()], Dp)
            Pint, Dp = cache[sg]
            y = [sum(a * b for a, b in zip(row, y)) for row in Pint]
            scale *= Dp
            if t % 32 == 31:
                gcd = scale
                for e in y:
                    gcd = math.gcd(gcd, e)
                    if gcd == 1:
                        break
                if gcd > 1:
                    y = [e // gcd for e in y]
                    scale //= gcd
        arg = min(range(T), key=lambda i: grad[i])
        running = []
        if cps:
            cur = None
            j = 0
            for t in range(T):
                cur = grad[t] if cur is None or grad[t] < cur else cur
                while j < len(cps) and cps[j] == t + 1:
                    running.append(cur)
                    j += 1
        return MomentSummary(
            T=T,
            min_grad_sq=grad[arg],
            argmin=arg,
            grad_sq_first=grad[0],
            grad_sq_last=grad[T - 1],
            f_gap_T=f_gap_T,
            eps2_T=eps[T],
            eps2_max=max(eps[:T]),
            eps2_sum=sum(eps[:T], Fraction(0)),
            exact=True,
            checkpoints=cps,
            running_min=np.array(running, dtype=object) if cps else None,
            grad_sq=np.array(grad, dtype=object),
            eps2=np.array(eps, dtype=object),
        )

    # -- float64 ------------------------------------------------------------------------------

    def _run_float(self, T: int, cps: tuple[int, ...], keep: bool) -> MomentSummary:
        sched = self.bias.schedule
        theta_dep = not self.bias.theta_independent
        err_const = float(self.w_err[-1])  # theta-independent errors: E||e_v||^2 = sigma_t^2 * this
        acc = _Accumulator(T, cps, keep, None if theta_dep else err_const)
        x = self.x0.astype(float)
        logscale = 0.0
        wg = self.w_grad.astype(float)
        we = self.w_err.astype(float)
        segs = sched.segments(T)
        if segs is not None:
            for start, stop, sg in segs:
                sgf = float(sg)
                W = np.vstack([wg, sgf * sgf * we]) if theta_dep else wg[None, :]
                acc.sigma_segment(start, stop, sgf)
                x, logscale = _scan_lti(self.phi(sgf).astype(float), x, logscale, W, start, stop, acc)
        else:
            cut = sched.negligible_after(T)
            if cut > STEPPING_MAX:
                raise ValueError(
                    f"a {sched.kind} schedule is evaluated step by step in float64; T = {T} exceeds "
                    f"{STEPPING_MAX}. Use a piecewise-constant schedule or a shorter horizon."
                )
            sig = sched.values(cut)
            acc.sigma_values(sig)
            x, logscale = _scan_stepping(self.Phi0.astype(float), self.Phi1.astype(float), self.Phi2.astype(float),
                                         x, logscale, sig, wg, we if theta_dep else None, acc)
            if cut < T:  # the rest of a geometric schedule is below float64 resolution: sigma = 0
                W = np.vstack([wg, 0.0 * we]) if theta_dep else wg[None, :]
                acc.sigma_segment(cut, T, 0.0)
                x, logscale = _scan_lti(self.phi(0).astype(float), x, logscale, W, cut, T, acc)
        sT = float(self._sigma(T))
        with np.errstate(over="ignore", invalid="ignore"):
            sc = math.exp(logscale) if logscale < 700 else math.inf
            acc.eps_T = sT * sT * float(we @ x) * sc
            acc.gap_T = float(self.w_gap.astype(float) @ x) * sc
        if keep:
            acc.eps_seq[T] = acc.eps_T
        return acc.summary()


class _Accumulator:
    """Reductions of a float64 scan over :math:`t = 0..T-1` (and the error sequence up to :math:`T`)."""

    def __init__(self, T: int, cps: tuple[int, ...], keep: bool, err_const: float | None) -> None:
        self.T = T
        self.cps = cps
        self.keep = keep
        self.err_const = err_const
        self.min_grad = math.inf
        self.argmin = 0
        self.err_at_min = 0.0
        self.first = math.nan
        self.last = math.nan
        self.gap_T = math.nan
        self.eps_T = math.nan
        self.eps_max = -math.inf
        self.eps_sum = 0.0
        self.reliable = True
        self.running: list[float] = []
        self._cp_i = 0
        self._run_min = math.inf
        self.grad_seq = np.empty(T) if keep else None
        self.eps_seq = np.empty(T + 1) if keep else None

    def sigma_segment(self, start: int, stop: int, sigma: float) -> None:
        """Error statistics of a constant-sigma segment (theta-independent errors)."""
        if self.err_const is None or stop <= start:
            return
        e = sigma * sigma * self.err_const
        self.eps_max = max(self.eps_max, e)
        self.eps_sum += e * (stop - start)
        if self.keep:
            self.eps_seq[start:stop] = e

    def sigma_values(self, sig: np.ndarray) -> None:
        """Error statistics for a whole schedule (theta-independent errors)."""
        if self.err_const is None:
            return
        e = sig * sig * self.err_const
        self.eps_max = float(np.max(e))
        self.eps_sum = float(np.sum(e))
        if self.keep:
            self.eps_seq[: sig.size] = e

    def feed(self, t0: int, grad: np.ndarray, eps: np.ndarray | None, err: Any, scale: np.ndarray | None = None) -> None:
        r"""Values for :math:`t = t_0, t_0 + 1, \dots` (all below :math:`T`), as the rows of a block.

        ``grad`` (and ``eps``) are (rows, n) arrays of *unscaled* values in time order (row-major); the
        value at time :math:`t_0 + rn + j` is ``scale[r] * grad[r, j]`` (``scale`` None: 1). Reductions
        are done per row before scaling, so tiny scales never create subnormal intermediates;
        ``err(r, j)`` estimates the rounding error of the value at ``(r, j)``.
        """
        rows, n = grad.shape
        if rows == 0 or n == 0:
            return
        sc = np.ones(rows) if scale is None else scale
        if np.isnan(grad).any():
            self.reliable = False
            grad = np.where(np.isnan(grad), np.inf, grad)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            if self.keep:
                self.grad_seq[t0:t0 + rows * n] = (grad * sc[:, None]).reshape(-1)
            if eps is not None:
                emax = np.max(eps, axis=1) * sc
                self.eps_max = max(self.eps_max, float(np.max(emax)))
                self.eps_sum += float(np.sum(np.sum(eps, axis=1) * sc))
                if self.keep:
                    self.eps_seq[t0:t0 + rows * n] = (eps * sc[:, None]).reshape(-1)
            if t0 == 0:
                self.first = float(grad[0, 0] * sc[0])
            if t0 + rows * n == self.T:
                self.last = float(grad[-1, -1] * sc[-1])
            jrow = np.argmin(grad, axis=1)
            rmin = grad[np.arange(rows), jrow] * sc
            rmin = np.where(np.isnan(rmin), np.inf, rmin)
        r = int(np.argmin(rmin))
        if rmin[r] < self.min_grad:
            self.min_grad = float(rmin[r])
            self.argmin = t0 + r * n + int(jrow[r])
            self.err_at_min = err(r, int(jrow[r]))
        while self._cp_i < len(self.cps) and self.cps[self._cp_i] <= t0 + rows * n:
            upto = self.cps[self._cp_i] - t0
            full, rest = divmod(upto, n)
            cand = [self._run_min]
            if full:
                cand.append(float(np.min(rmin[:full])))
            if rest:
                with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                    cand.append(float(np.min(grad[full, :rest]) * sc[full]))
            self.running.append(min(cand))
            self._cp_i += 1
        self._run_min = min(self._run_min, float(rmin[r]))

    def summary(self) -> MomentSummary:
        return MomentSummary(
            T=self.T,
            min_grad_sq=self.min_grad,
            argmin=self.argmin,
            grad_sq_first=self.first,
            grad_sq_last=self.last,
            f_gap_T=self.gap_T,
            eps2_T=self.eps_T,
            eps2_max=self.eps_max,
            eps2_sum=self.eps_sum,
            exact=False,
            abs_error=self.err_at_min,
            reliable=self.reliable and math.isfinite(self.min_grad),
            checkpoints=self.cps,
            running_min=np.array(self.running) if self.cps else None,
            grad_sq=self.grad_seq,
            eps2=self.eps_seq,
        )


def _scan_lti(Phi: np.ndarray, x: np.ndarray, logscale: float, W: np.ndarray, start: int, stop: int,
              acc: _Accumulator) -> tuple[np.ndarray, float]:
    r"""Feed :math:`w_o^\top\Phi^{t-\mathrm{start}}x` for :math:`t \in [\mathrm{start}, \mathrm{stop})` to ``acc``; return the state at ``stop``.

    ``W`` holds the gradient observable (row 0) and optionally the error observable (row 1).
    Values in a chunk of length :math:`n` come from the stored rows :math:`w_o^\top\Phi^j` (:math:`j < n`)
    applied to the chunk's start state; start states advance by :math:`\Phi^n`, normalised (the log
    of the scale is carried), so :math:`T = 10^7` costs a few thousand small products. Entries below
    :data:`FLUSH` (of normalised states and stored rows) are dropped: values below about
    :math:`10^{-150}` of their scale read as 0.
    """
    steps = stop - start
    if steps <= 0:
        return x, logscale
    s = Phi.shape[0]
    rho = float(np.max(np.abs(np.linalg.eigvals(Phi))))
    n = min(CHUNK, steps)
    if rho > 1.0:
        n = max(1, min(n, int(LOG_GROWTH_PER_CHUNK / math.log(rho))))
    n_obs = W.shape[0]
    Rt = np.empty((n_obs, s, n))
    cur = W.copy()
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for j in range(n):
            Rt[:, :, j] = cur
            cur = cur @ Phi
            cur[np.abs(cur) < FLUSH] = 0.0
    Rabs0 = np.abs(Rt[0])
    Phin = np.linalg.matrix_power(Phi, n)
    nchunks = -(-steps // n)
    norm = float(np.linalg.norm(x))
    if norm > 0 and math.isfinite(norm):
        xh, ls = x / norm, logscale + math.log(norm)
    else:
        xh, ls = x.copy(), logscale
    t = start
    c = 0
    X = np.empty((0, s))
    L = np.empty(0)
    while c < nchunks:
        nb = min(BLOCK, nchunks - c)
        X = np.empty((nb, s))
        L = np.empty(nb)
        for b in range(nb):
            xh[np.abs(xh) < FLUSH] = 0.0
            X[b] = xh
            L[b] = ls
            nxt = Phin @ xh
            nn = math.sqrt(float(nxt @ nxt))
            if nn > 0 and math.isfinite(nn):
                xh, ls = nxt / nn, ls + math.log(nn)
            else:
                xh = nxt
        total = min(nb * n, stop - t)
        rows = -(-total // n)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            scale = np.exp(np.minimum(L[:rows], 709.0))
            scale[L[:rows] > 709.0] = np.inf
            vals = [X[:rows] @ Rt[o] for o in range(n_obs)]
        if total < rows * n:  # a partial last chunk: pad with +inf / -inf so reductions ignore it
            for v, pad in zip(vals, (np.inf, -np.inf)):
                v[-1, total - (rows - 1) * n:] = pad
        factor = ROUNDING * (n + c + nb)

        def err_at(r: int, j: int, X: np.ndarray = X, scale: np.ndarray = scale, factor: float = factor) -> float:
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                return float(factor * scale[r] * (np.abs(X[r]) @ Rabs0[:, j]))

        if total < rows * n:
            _feed_partial(acc, t, vals, scale, err_at, total, n)
        else:
            acc.feed(t, vals[0], vals[1] if n_obs > 1 else None, err_at, scale)
        t += total
        c += nb
    over = nchunks * n - steps
    if over == 0:
        return xh, ls
    return np.linalg.matrix_power(Phi, n - over) @ X[-1], float(L[-1])


def _feed_partial(acc: _Accumulator, t: int, vals: list[np.ndarray], scale: np.ndarray, err_at: Any, total: int, n: int) -> None:
    """Feed a block whose last row is only partly inside the segment (full rows, then the partial row)."""
    full = total // n
    if full:
        acc.feed(t, vals[0][:full], vals[1][:full] if len(vals) > 1 else None, err_at, scale[:full])
    rest = total - full * n
    if rest:
        acc.feed(
            t + full * n,
            vals[0][full:full + 1, :rest],
            vals[1][full:full + 1, :rest] if len(vals) > 1 else None,
            lambda r, j: err_at(full + r, j),
            scale[full:full + 1],
        )


def _scan_stepping(Phi0: np.ndarray, Phi1: np.ndarray, Phi2: np.ndarray, x: np.ndarray, logscale: float,
                   sig: np.ndarray, wg: np.ndarray, we: np.ndarray | None, acc: _Accumulator) -> tuple[np.ndarray, float]:
    r"""One step at a time for a general schedule (:math:`T \le` :data:`STEPPING_MAX`); returns the state at ``sig.size``."""
    n = sig.size
    grad = np.empty(n)
    eps = np.empty(n) if we is not None else None
    err = np.empty(n)
    ls = logscale
    xh = x.copy()
    absw = np.abs(wg)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for t in range(n):
            sc = math.exp(min(ls, 709.0))
            s = sig[t]
            grad[t] = (wg @ xh) * sc
            if eps is not None:
                eps[t] = s * s * (we @ xh) * sc
            err[t] = ROUNDING * (t + 1) * float(absw @ np.abs(xh)) * sc
            nxt = (Phi0 + s * Phi1 + s * s * Phi2) @ xh
            nn = math.sqrt(float(nxt @ nxt))
            if nn > 1e100 or 0 < nn < 1e-100:
                xh, ls = nxt / nn, ls + math.log(nn)
            else:
                xh = nxt
    acc.feed(0, grad[None, :], None if eps is None else eps[None, :], lambda r, j: float(err[j]))
    return xh, ls
