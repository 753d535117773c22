r"""The constants of Proposition 1 and of the proof of Theorem 1, in sympy, each with numeric twins.

Notation of the paper (Section 2.1): :math:`\epsilon^2(\theta) = \mathbb{E}_{v\sim\mathcal D}\|e_v(\theta)\|^2`,
:math:`A, B, C \ge 0` the constants of Lemma 1 (expected smoothness of the exact stochastic
hypergradient :math:`\nabla f_v`), :math:`\zeta, \eta > 0` free parameters of Lemmas 2 and 3.

.. math::

    b(\zeta) = 1 - \frac{1}{2\zeta}, \qquad c(\zeta, \epsilon^2) = \frac{\zeta}{2}\epsilon^2,
    \qquad \tilde A(\eta) = \frac{1+\eta}{\eta} A, \qquad \tilde B(\eta) = \frac{1+\eta}{\eta} B,
    \qquad \tilde C(\eta, \epsilon^2) = \frac{1+\eta}{\eta} C + (1+\eta)\epsilon^2

(Proposition 1), and, from the proof of Theorem 1 (valid for :math:`\zeta > 1/2`, :math:`\eta > 0`),

.. math::

    c_1 = \frac{b(\zeta)}{\tilde B(\eta)},\; c_2 = \frac{2}{b(\zeta)},\; c_3 = \frac{2\tilde A(\eta)}{b(\zeta)},\;
    c_4 = \frac{(1+\eta)C}{\eta\, b(\zeta)},\; c_5 = \frac{1+\eta}{b(\zeta)},\; c_6 = \frac{\zeta}{2 b(\zeta)}.

Each constant is a :class:`SymbolicConstant`: ``.expr`` is the sympy expression in the symbols of
:data:`SYMBOLS` (declared with their assumptions), ``.numeric`` its ``lambdify``-ed numpy twin, and
calling the object evaluates it in float, exact (``Fraction``) or symbolic mode after checking the
hypotheses, raising :class:`ValueError` outside them.

Convention: :math:`c_1 = +\infty` when :math:`B = 0` (the step-size condition
:math:`\alpha \le c_1/L_{\nabla f}` is then void, as the source's :math:`\gamma \le b/(LB)`).

References
----------
[paper] Bilevel Learning with Inexact Stochastic Gradients, Proposition 1 and proof of Theorem 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, NamedTuple

import numpy as np
import sympy as sp

from . import _arith

logger = logging.getLogger(__name__)

__all__ = [
    "PaperSymbols",
    "SYMBOLS",
    "ZETA_OVER_HALF",
    "Condition",
    "SymbolicConstant",
    "Theorem1Constants",
    "CONSTANTS",
    "b",
    "c",
    "A_tilde",
    "B_tilde",
    "C_tilde",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "theorem1_constants",
    "check_domain",
]


class PaperSymbols(NamedTuple):
    """The paper's scalar symbols, with the sympy assumptions each hypothesis allows.

    ``zeta`` is declared positive (Proposition 1 allows :math:`\\zeta > 0`); the hypothesis
    :math:`\\zeta > 1/2` of Theorem 1 is expressed by substituting :data:`ZETA_OVER_HALF`
    (:math:`\\zeta = 1/2 + \\rho`, :math:`\\rho > 0`).
    """

    zeta: sp.Symbol
    eta: sp.Symbol
    A: sp.Symbol
    B: sp.Symbol
    C: sp.Symbol
    L: sp.Symbol
    delta0: sp.Symbol
    eps2: sp.Symbol
    alpha: sp.Symbol
    T: sp.Symbol
    rho: sp.Symbol
    b: sp.Symbol
    c: sp.Symbol
    f_gap: sp.Symbol
    grad_sq: sp.Symbol
    second_moment: sp.Symbol
    second_moment_z: sp.Symbol
    inner_bias: sp.Symbol
    inner_z: sp.Symbol
    mean_error_norm: sp.Symbol
    min_grad_sq: sp.Symbol


SYMBOLS = PaperSymbols(
    zeta=sp.Symbol("zeta", positive=True),
    eta=sp.Symbol("eta", positive=True),
    A=sp.Symbol("A", nonnegative=True),
    B=sp.Symbol("B", nonnegative=True),
    C=sp.Symbol("C", nonnegative=True),
    L=sp.Symbol("L", positive=True),
    delta0=sp.Symbol("delta_0", nonnegative=True),
    eps2=sp.Symbol("epsilon2", nonnegative=True),
    alpha=sp.Symbol("alpha", positive=True),
    T=sp.Symbol("T", integer=True, positive=True),
    rho=sp.Symbol("rho", positive=True),
    b=sp.Symbol("b", positive=True),
    c=sp.Symbol("c", nonnegative=True),
    f_gap=sp.Symbol("f_gap", nonnegative=True),
    grad_sq=sp.Symbol("grad_sq", nonnegative=True),
    second_moment=sp.Symbol("E_grad_fv_sq", nonnegative=True),
    second_moment_z=sp.Symbol("E_z_sq", nonnegative=True),
    inner_bias=sp.Symbol("inner_grad_f_Ee", real=True),
    inner_z=sp.Symbol("inner_grad_f_Ez", real=True),
    mean_error_norm=sp.Symbol("E_e_norm", nonnegative=True),
    min_grad_sq=sp.Symbol("min_t_E_grad_f_sq", nonnegative=True),
)
"""The paper's symbols; observation symbols (``grad_sq`` = :math:`\\|\\nabla f(\\theta)\\|^2`, ...)
name the sides of the claims' sympy forms."""

ZETA_OVER_HALF: dict[sp.Symbol, sp.Expr] = {SYMBOLS.zeta: sp.Rational(1, 2) + SYMBOLS.rho}
"""Substitution encoding the hypothesis :math:`\\zeta > 1/2` (:math:`\\zeta = 1/2 + \\rho`, :math:`\\rho > 0`)."""


@dataclass(frozen=True)
class Condition:
    """One hypothesis on one argument: ``name op bound`` with ``op`` in ``>``, ``>=``.

    ``integer=True`` additionally requires an integral value.
    """

    name: str
    op: str
    bound: Fraction
    integer: bool = False

    def text(self) -> str:
        kind = "an integer " if self.integer else ""
        return f"{self.name} must be {kind}{self.op} {self.bound}"


def _violations(value: Any, cond: Condition) -> bool:
    """True when some element of ``value`` violates ``cond`` (symbolic values are skipped)."""
    if value is None:
        return True
    if _arith.is_symbolic(value):
        return False
    if _arith.mode_of(value) == "float":
        arr = np.asarray(value, dtype=float)
        bound = float(cond.bound)
        ok = arr > bound if cond.op == ">" else arr >= bound
        if cond.integer:
            ok = ok & np.isfinite(arr) & (arr == np.floor(arr))
        return not bool(np.all(ok))
    for e in np.asarray(value, dtype=object).flat:
        ok = bool(e > cond.bound) if cond.op == ">" else bool(e >= cond.bound)
        if not ok:
            return True
        if cond.integer and not (e == int(e)):
            return True
    return False


def check_domain(where: str, values: dict[str, Any], conditions: tuple[Condition, ...]) -> None:
    """Raise :class:`ValueError` when a value is outside a hypothesis of ``where``.

    The message names the argument, the hypothesis and the statement it comes from.
    """
    for cond in conditions:
        if cond.name not in values:
            continue
        value = values[cond.name]
        if _violations(value, cond):
            raise ValueError(
                f"{where}: {cond.text()} (hypothesis of {where}); got {cond.name}={value!r}. "
                f"Choose {cond.name} inside the hypothesis."
            )


@dataclass(frozen=True)
class SymbolicConstant:
    """A constant of the paper: sympy expression, numeric twin and hypotheses.

    Parameters
    ----------
    name : str
        The paper's name (``"b"``, ``"A_tilde"``, ``"c4"``, ...).
    formula : callable
        Plain arithmetic on its arguments; evaluated on sympy symbols it gives :attr:`expr`, on
        ``Fraction`` it gives exact values.
    arg_names : tuple of str
        Names of the arguments, fields of :data:`SYMBOLS`.
    conditions : tuple of Condition
        Hypotheses on the arguments (checked on every call).
    source : str
        Where the paper defines it.
    """

    name: str
    formula: Callable[..., Any]
    arg_names: tuple[str, ...]
    conditions: tuple[Condition, ...]
    source: str
    expr: sp.Expr = field(init=False, repr=False)
    numeric: Callable[..., Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        symbols = [getattr(SYMBOLS, n) for n in self.arg_names]
        expr = sp.sympify(self.formula(*symbols))
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "numeric", sp.lambdify(symbols, expr, modules="numpy"))

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """The sympy symbols of the arguments, in order."""
        return tuple(getattr(SYMBOLS, n) for n in self.arg_names)

    def __call__(self, *args: Any) -> Any:
        """Evaluate after checking the hypotheses (float, exact or symbolic mode)."""
        if len(args) != len(self.arg_names):
            raise ValueError(
                f"{self.name} takes {len(self.arg_names)} arguments {self.arg_names}; got {len(args)}"
            )
        check_domain(f"{self.name} ({self.source})", dict(zip(self.arg_names, args)), self.conditions)
        mode, values = _arith.coerce(*args)
        if mode == "float":
            with np.errstate(divide="ignore"):
                return _arith.unwrap(np.asarray(self.numeric(*values), dtype=float)[()])
        return self.formula(*values)


def _b(zeta: Any) -> Any:
    return 1 - 1 / (2 * zeta)


def _c(zeta: Any, eps2: Any) -> Any:
    return zeta * eps2 / 2


def _a_tilde(eta: Any, A: Any) -> Any:
    return (1 + eta) / eta * A


def _b_tilde(eta: Any, B: Any) -> Any:
    return (1 + eta) / eta * B


def _c_tilde(eta: Any, C: Any, eps2: Any) -> Any:
    return (1 + eta) / eta * C + (1 + eta) * eps2


def _c1(zeta: Any, eta: Any, B: Any) -> Any:
    if _arith.is_symbolic(B) or _arith.is_symbolic(zeta) or _arith.is_symbolic(eta):
        return _b(zeta) / _b_tilde(eta, B)
    if isinstance(B, np.ndarray):
        out = np.empty(np.broadcast(zeta, eta, B).shape, dtype=object)
        zz, ee, bb = np.broadcast_arrays(np.asarray(zeta, dtype=object), np.asarray(eta, dtype=object), B)
        for idx in np.ndindex(out.shape):
            out[idx] = _c1(zz[idx], ee[idx], bb[idx])
        return out
    if B == 0:
        return sp.oo
    return _b(zeta) / _b_tilde(eta, B)


def _c2(zeta: Any) -> Any:
    return 2 / _b(zeta)


def _c3(zeta: Any, eta: Any, A: Any) -> Any:
    return 2 * _a_tilde(eta, A) / _b(zeta)


def _c4(zeta: Any, eta: Any, C: Any) -> Any:
    return (1 + eta) * C / (eta * _b(zeta))


def _c5(zeta: Any, eta: Any) -> Any:
    return (1 + eta) / _b(zeta)


def _c6(zeta: Any) -> Any:
    return zeta / (2 * _b(zeta))


_ZERO = Fraction(0)
_HALF = Fraction(1, 2)
_ZETA_POS = Condition("zeta", ">", _ZERO)
_ZETA_HALF = Condition("zeta", ">", _HALF)
_ETA_POS = Condition("eta", ">", _ZERO)
_NONNEG = {n: Condition(n, ">=", _ZERO) for n in ("A", "B", "C", "eps2")}

_PROP1 = "Proposition 1"
_THM1 = "proof of Theorem 1"

b = SymbolicConstant("b", _b, ("zeta",), (_ZETA_POS,), _PROP1)
r"""Proposition 1: :math:`b(\zeta) = 1 - \frac{1}{2\zeta}` (defined for :math:`\zeta > 0`; positive iff :math:`\zeta > 1/2`)."""

c = SymbolicConstant("c", _c, ("zeta", "eps2"), (_ZETA_POS, _NONNEG["eps2"]), _PROP1)
r"""Proposition 1: :math:`c(\zeta, \epsilon^2) = \frac{\zeta}{2}\epsilon^2` (:math:`(\mathbb E\|e_v\|)^2 \le \mathbb E\|e_v\|^2` by Jensen)."""

A_tilde = SymbolicConstant("A_tilde", _a_tilde, ("eta", "A"), (_ETA_POS, _NONNEG["A"]), _PROP1)
r"""Proposition 1: :math:`\tilde A(\eta) = \frac{1+\eta}{\eta}A`."""

B_tilde = SymbolicConstant("B_tilde", _b_tilde, ("eta", "B"), (_ETA_POS, _NONNEG["B"]), _PROP1)
r"""Proposition 1: :math:`\tilde B(\eta) = \frac{1+\eta}{\eta}B`."""

C_tilde = SymbolicConstant(
    "C_tilde", _c_tilde, ("eta", "C", "eps2"), (_ETA_POS, _NONNEG["C"], _NONNEG["eps2"]), _PROP1
)
r"""Proposition 1: :math:`\tilde C(\eta, \epsilon^2) = \frac{1+\eta}{\eta}C + (1+\eta)\epsilon^2`."""

c1 = SymbolicConstant("c1", _c1, ("zeta", "eta", "B"), (_ZETA_HALF, _ETA_POS, _NONNEG["B"]), _THM1)
r"""Proof of Theorem 1: :math:`c_1 = b(\zeta)/\tilde B(\eta)` (:math:`+\infty` when :math:`B = 0`)."""

c2 = SymbolicConstant("c2", _c2, ("zeta",), (_ZETA_HALF,), _THM1)
r"""Proof of Theorem 1: :math:`c_2 = 2/b(\zeta)`."""

c3 = SymbolicConstant("c3", _c3, ("zeta", "eta", "A"), (_ZETA_HALF, _ETA_POS, _NONNEG["A"]), _THM1)
r"""Proof of Theorem 1: :math:`c_3 = 2\tilde A(\eta)/b(\zeta)`."""

c4 = SymbolicConstant("c4", _c4, ("zeta", "eta", "C"), (_ZETA_HALF, _ETA_POS, _NONNEG["C"]), _THM1)
r"""Proof of Theorem 1: :math:`c_4 = (1+\eta)C/(\eta\, b(\zeta))` (zero when :math:`C = 0`, although Theorem 1 states :math:`c_i > 0`)."""

c5 = SymbolicConstant("c5", _c5, ("zeta", "eta"), (_ZETA_HALF, _ETA_POS), _THM1)
r"""Proof of Theorem 1: :math:`c_5 = (1+\eta)/b(\zeta)`."""

c6 = SymbolicConstant("c6", _c6, ("zeta",), (_ZETA_HALF,), _THM1)
r"""Proof of Theorem 1: :math:`c_6 = \zeta/(2 b(\zeta))`."""

CONSTANTS: dict[str, SymbolicConstant] = {
    k.name: k for k in (b, c, A_tilde, B_tilde, C_tilde, c1, c2, c3, c4, c5, c6)
}
"""All constants of Proposition 1 and of the proof of Theorem 1, by name."""


class Theorem1Constants(NamedTuple):
    """The six constants :math:`c_1, \\dots, c_6` of the proof of Theorem 1."""

    c1: Any
    c2: Any
    c3: Any
    c4: Any
    c5: Any
    c6: Any


def theorem1_constants(zeta: Any, eta: Any, A: Any, B: Any, C: Any) -> Theorem1Constants:
    r"""The constants :math:`c_1..c_6` of the proof of Theorem 1 for :math:`\zeta > 1/2`, :math:`\eta > 0`.

    Raises
    ------
    ValueError
        If :math:`\zeta \le 1/2`, :math:`\eta \le 0` or one of :math:`A, B, C` is negative.
    """
    return Theorem1Constants(
        c1(zeta, eta, B), c2(zeta), c3(zeta, eta, A), c4(zeta, eta, C), c5(zeta, eta), c6(zeta)
    )
