r"""Quadratic bilevel problems whose inexact hypergradients stay affine in :math:`\theta` (exact expectations).

Per sample :math:`i` (paper (1b), with a linear dependence on :math:`\theta`):

.. math::

    h_i(x, \theta) = \tfrac12 x^\top H_ix - x^\top(J_i\theta + y_i),\qquad
    \hat x_i(\theta) = H_i^{-1}(J_i\theta + y_i),\qquad
    g_i(x) = \tfrac12\|x - x_i^*\|^2,

so :math:`f_i(\theta) = g_i(\hat x_i(\theta)) = \frac12\|S_i\theta + s_i - x_i^*\|^2` with
:math:`S_i = H_i^{-1}J_i`, :math:`s_i = H_i^{-1}y_i`, and (implicit function theorem, (2))
:math:`\nabla f_i(\theta) = J_i^\top H_i^{-1}(\hat x_i(\theta) - x_i^*)`.

The lower level is solved by :math:`K` gradient steps with step :math:`\beta` from a fixed start
:math:`x^0` (:class:`LowerSolver`):

.. math::

    x^K(\theta) = (I - \beta H)^K x^0 + \big(I - (I - \beta H)^K\big)H^{-1}(J\theta + y),

affine in :math:`\theta`, and the hypergradient is formed from :math:`x^K` by an exact adjoint solve
(``"exact"``), :math:`K'` gradient steps on :math:`Hq = x^K - x^*` from 0 (``"gd"``), or by
differentiating through the :math:`K` steps (``"unrolled"``). All three are affine in
:math:`\theta`, so the error :math:`\mathrm{err}_i(\theta) = z_i(\theta) - \nabla f_i(\theta) = P_i\theta + r_i`
is an affine per-component error (:class:`~validation.engine.exact.AffineBias`, mode ``"component"``) and the
exact-expectation engine applies.

:class:`ErrorBoundCase` builds instances of Ehrhardt & Roberts' a-posteriori bound [9] from the same
solvers, including a Hessian that depends on :math:`\theta` (so :math:`L_B > 0`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from theory.instances import HypergradientErrorInstance

from . import rational as rq
from .exact import AffineBias, QuadraticFiniteSum, Schedule

logger = logging.getLogger(__name__)

__all__ = ["LowerSolver", "QuadraticBilevel", "ErrorBoundCase", "ADJOINTS"]

ADJOINTS = ("exact", "gd", "unrolled")


def _eye(n: int) -> np.ndarray:
    return np.array([[Fraction(int(i == j)) for j in range(n)] for i in range(n)], dtype=object)


def _mpow(M: np.ndarray, k: int) -> np.ndarray:
    out = _eye(M.shape[0])
    base = M
    while k:
        if k & 1:
            out = out.dot(base)
        base = base.dot(base)
        k >>= 1
    return out


@dataclass(frozen=True)
class LowerSolver:
    r"""How each lower-level problem and its adjoint are solved.

    Attributes
    ----------
    K : int
        Gradient steps on :math:`h_i(\cdot, \theta)` from ``x0`` with step :math:`\beta_i = 1/\lambda_{\max}(H_i)`
        (or ``step``).
    adjoint : str
        ``"exact"`` (:math:`q = H^{-1}(x^K - x^*)`), ``"gd"`` (``K_adjoint`` gradient steps from 0), or
        ``"unrolled"`` (differentiate :math:`x^K(\theta)`).
    K_adjoint : int
    x0 : "zero" or a vector (n,), the fixed start of every lower-level solve.
    step : optional exact step :math:`\beta` (default :math:`1/\lambda_{\max}(H_i)`, rational upper bound).
    """

    K: int
    adjoint: str = "exact"
    K_adjoint: int = 0
    x0: Any = "zero"
    step: Any = None

    def __post_init__(self) -> None:
        if int(self.K) != self.K or self.K < 0:
            raise ValueError(f"K (lower-level steps) must be an integer >= 0; got {self.K!r}")
        if self.adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {ADJOINTS}; got {self.adjoint!r}")
        if int(self.K_adjoint) != self.K_adjoint or self.K_adjoint < 0:
            raise ValueError(f"K_adjoint must be an integer >= 0; got {self.K_adjoint!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"K": int(self.K), "adjoint": self.adjoint, "K_adjoint": int(self.K_adjoint)}
        out["x0"] = self.x0 if isinstance(self.x0, str) else rq.encode(rq.as_exact(self.x0))
        if self.step is not None:
            out["step"] = rq.encode(rq.F(self.step))
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "LowerSolver":
        x0 = obj.get("x0", "zero")
        return cls(
            K=int(obj["K"]),
            adjoint=obj.get("adjoint", "exact"),
            K_adjoint=int(obj.get("K_adjoint", 0)),
            x0=x0 if isinstance(x0, str) else rq.decode(x0),
            step=rq.decode(obj["step"]) if "step" in obj else None,
        )


@dataclass(frozen=True)
class QuadraticBilevel:
    r"""Quadratic bilevel problem with :math:`m` samples (module docstring), exact rationals.

    Parameters
    ----------
    H : array (m, n, n), symmetric positive definite.
    J : array (m, n, d).
    y : array (m, n).
    x_star : array (m, n).
    """

    H: Any
    J: Any
    y: Any
    x_star: Any

    def __post_init__(self) -> None:
        H, J = rq.as_exact(self.H), rq.as_exact(self.J)
        y, xs = rq.as_exact(self.y), rq.as_exact(self.x_star)
        if H.ndim != 3 or H.shape[1] != H.shape[2] or J.ndim != 3 or J.shape[:2] != H.shape[:2]:
            raise ValueError(f"H must be (m, n, n) and J (m, n, d); got {H.shape} and {J.shape}")
        if y.shape != H.shape[:2] or xs.shape != H.shape[:2]:
            raise ValueError(f"y and x_star must be (m, n) = {H.shape[:2]}; got {y.shape} and {xs.shape}")
        for i in range(H.shape[0]):
            if not rq.is_psd(H[i]) or rq.det(H[i]) == 0:
                raise ValueError(f"H[{i}] must be symmetric positive definite (strongly convex lower level)")
        object.__setattr__(self, "H", H)
        object.__setattr__(self, "J", J)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "x_star", xs)

    @property
    def m(self) -> int:
        return int(self.H.shape[0])

    @property
    def n(self) -> int:
        return int(self.H.shape[1])

    @property
    def d(self) -> int:
        return int(self.J.shape[2])

    def solution_map(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(S_i, s_i)` with :math:`\hat x_i(\theta) = S_i\theta + s_i`."""
        Hinv = rq.inverse(self.H[i])
        return Hinv.dot(self.J[i]), Hinv.dot(self.y[i])

    def problem(self) -> QuadraticFiniteSum:
        r"""The upper level :math:`f_i(\theta) = \frac12\|S_i\theta + s_i - x_i^*\|^2` as a :class:`QuadraticFiniteSum`."""
        Q, b, c = [], [], []
        for i in range(self.m):
            S, s = self.solution_map(i)
            u = s - self.x_star[i]
            Q.append(S.T.dot(S))
            b.append(S.T.dot(u))
            c.append(u.dot(u) / 2)
        return QuadraticFiniteSum(np.array(Q, dtype=object), np.array(b, dtype=object), np.array(c, dtype=object))

    def _step(self, i: int, solver: LowerSolver) -> Fraction:
        return rq.F(solver.step) if solver.step is not None else 1 / rq.lambda_max_upper(self.H[i])

    def _x0(self, solver: LowerSolver) -> np.ndarray:
        if isinstance(solver.x0, str):
            if solver.x0 != "zero":
                raise ValueError(f"x0 must be 'zero' or a vector; got {solver.x0!r}")
            return np.array([Fraction(0)] * self.n, dtype=object)
        x0 = rq.as_exact(solver.x0).ravel()
        if x0.size != self.n:
            raise ValueError(f"x0 must have n = {self.n} entries; got {x0.size}")
        return x0

    def lower_iterate_map(self, i: int, solver: LowerSolver) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(A_K, a_K)` with :math:`x^K_i(\theta) = A_K\theta + a_K` (K gradient steps from :math:`x^0`)."""
        beta = self._step(i, solver)
        n = self.n
        Sk = _mpow(_eye(n) - beta * self.H[i], int(solver.K))
        S, s = self.solution_map(i)
        return (_eye(n) - Sk).dot(S), Sk.dot(self._x0(solver)) + (_eye(n) - Sk).dot(s)

    def hypergradient_map(self, i: int, solver: LowerSolver) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(Z_i, \zeta_i)` with the inexact hypergradient :math:`z_i(\theta) = Z_i\theta + \zeta_i`."""
        A, a = self.lower_iterate_map(i, solver)
        Hinv = rq.inverse(self.H[i])
        J = self.J[i]
        resid = a - self.x_star[i]
        if solver.adjoint == "exact":
            M = J.T.dot(Hinv)
            return M.dot(A), M.dot(resid)
        if solver.adjoint == "gd":
            beta = self._step(i, solver)
            Sq = _mpow(_eye(self.n) - beta * self.H[i], int(solver.K_adjoint))
            M = J.T.dot((_eye(self.n) - Sq).dot(Hinv))
            return M.dot(A), M.dot(resid)
        return A.T.dot(A), A.T.dot(resid)

    def error_bias(self, solver: LowerSolver, schedule: Schedule | None = None) -> AffineBias:
        r"""The per-component affine error :math:`\mathrm{err}_i(\theta) = z_i(\theta) - \nabla f_i(\theta) = P_i\theta + r_i`."""
        pr = self.problem()
        P, r = [], []
        for i in range(self.m):
            Z, zeta = self.hypergradient_map(i, solver)
            P.append(Z - pr.Q[i])
            r.append(zeta - pr.b[i])
        return AffineBias("component", np.array(r, dtype=object), np.array(P, dtype=object), schedule or Schedule())

    def to_json(self) -> dict[str, Any]:
        return {"H": rq.encode(self.H), "J": rq.encode(self.J), "y": rq.encode(self.y), "x_star": rq.encode(self.x_star)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "QuadraticBilevel":
        try:
            return cls(rq.decode(obj["H"]), rq.decode(obj["J"]), rq.decode(obj["y"]), rq.decode(obj["x_star"]))
        except KeyError as err:
            raise ValueError(f"a bilevel problem needs H, J, y and x_star; missing {err}") from None


@dataclass(frozen=True)
class ErrorBoundCase:
    r"""One point of [9]'s a-posteriori bound, :math:`h(x, \theta) = \frac12x^\top(H_0 + \theta K)x - x^\top(J\theta + y)`, :math:`\theta \in \mathbb R`.

    :math:`B(x) = \partial_\theta\nabla_xh = Kx - J` (so :math:`L_B = \|K\|_2`), the Hessian :math:`H_0 + \theta K`
    does not depend on :math:`x` (:math:`L_H = 0`), :math:`g(x) = \frac12\|x - x^*\|^2` (:math:`L_g = 1`).
    The lower level is solved by ``K_lower`` gradient steps from 0, the adjoint by ``K_adjoint``
    gradient steps from 0 (both with step :math:`1/\lambda_{\max}(H)`). ``K`` must share the eigenbasis
    of ``H0`` (then every eigenvalue, hence :math:`\mu` and :math:`L_B`, is rational).
    """

    H0: Any
    Kmat: Any
    J: Any
    y: Any
    x_star: Any
    theta: Any
    K_lower: int
    K_adjoint: int

    def instance(self, exact: bool = True) -> HypergradientErrorInstance:
        """The :class:`theory.instances.HypergradientErrorInstance` at this point (exact or float64)."""
        H0, Km = rq.as_exact(self.H0), rq.as_exact(self.Kmat)
        J, y, xs = rq.as_exact(self.J).ravel(), rq.as_exact(self.y).ravel(), rq.as_exact(self.x_star).ravel()
        th = rq.F(self.theta)
        n = H0.shape[0]
        H = H0 + th * Km
        mu = rq.lambda_min_lower(H)
        if mu <= 0:
            raise ValueError(f"the lower level is not strongly convex at theta = {th} (lambda_min <= 0)")
        Lh = rq.lambda_max_upper(H)
        beta = 1 / Lh
        rhs = J * th + y
        x = np.array([Fraction(0)] * n, dtype=object)
        for _ in range(int(self.K_lower)):
            x = x - beta * (H.dot(x) - rhs)
        x_hat = rq.solve(H, rhs)
        grad_g = x - xs
        q = np.array([Fraction(0)] * n, dtype=object)
        for _ in range(int(self.K_adjoint)):
            q = q - beta * (H.dot(q) - grad_g)
        B_eps = Km.dot(x) - J
        B_hat = Km.dot(x_hat) - J
        z = -B_eps.dot(q)
        grad_F = -B_hat.dot(rq.solve(H, x_hat - xs))
        resid = H.dot(q) - grad_g
        G = H.dot(x) - rhs
        L_B = max(abs(e) for e in _sym_eigen_or_bound(Km))
        vals = dict(
            error_norm=abs(z - grad_F),
            B_norm=_norm(B_eps, exact),
            residual=_norm(resid, exact),
            mu=mu,
            grad_g_norm=_norm(grad_g, exact),
            L_B=L_B,
            L_g=Fraction(1),
            G=_norm(G, exact),
            L_H=Fraction(0),
        )
        if not exact:
            vals = {k: float(v) for k, v in vals.items()}
        return HypergradientErrorInstance(**vals)

    def to_json(self) -> dict[str, Any]:
        return {
            "H0": rq.encode(rq.as_exact(self.H0)), "K": rq.encode(rq.as_exact(self.Kmat)), "J": rq.encode(rq.as_exact(self.J)),
            "y": rq.encode(rq.as_exact(self.y)), "x_star": rq.encode(rq.as_exact(self.x_star)),
            "theta": rq.encode(rq.F(self.theta)), "K_lower": int(self.K_lower), "K_adjoint": int(self.K_adjoint),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ErrorBoundCase":
        try:
            return cls(rq.decode(obj["H0"]), rq.decode(obj["K"]), rq.decode(obj["J"]), rq.decode(obj["y"]),
                       rq.decode(obj["x_star"]), rq.decode(obj["theta"]), int(obj["K_lower"]), int(obj["K_adjoint"]))
        except KeyError as err:
            raise ValueError(f"an error-bound case needs H0, K, J, y, x_star, theta, K_lower, K_adjoint; missing {err}") from None


def _sym_eigen_or_bound(M: np.ndarray) -> list[Fraction]:
    """Extreme eigenvalue bounds of a symmetric rational matrix: [lower bound of min, upper bound of max]."""
    return [rq.lambda_min_lower(M), rq.lambda_max_upper(M)]


def _norm(v: np.ndarray, exact: bool) -> Any:
    """Euclidean norm: exact (rational, or a sympy square root) or float."""
    sq = sum((e * e for e in v.tolist()), Fraction(0))
    if not exact:
        return math.sqrt(float(sq))
    r_num, r_den = math.isqrt(sq.numerator), math.isqrt(sq.denominator)
    if r_num * r_num == sq.numerator and r_den * r_den == sq.denominator:
        return Fraction(r_num, r_den)
    import sympy as sp

    return sp.sqrt(sp.Rational(sq.numerator, sq.denominator))
