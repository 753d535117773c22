r"""Symbolic proofs (and disproofs) of the algebraic steps of the paper, with sympy.

Every function returns a :class:`ProofResult` whose ``status`` is

* ``"proven"``: every step was confirmed by sympy (an identity simplified to zero, or a sign decided
  by sympy's assumptions); the elementary facts used but not re-derived are listed in ``premises``;
* ``"not proven"``: some step could not be confirmed (sympy answered ``None``, or the route leaves a
  gap); this never means *true*;
* ``"disproven"``: an exact counterexample (``witness``) refutes the statement.

The steps keep the sympy evidence (:class:`ProofStep`). :func:`prove_all` runs everything.

Findings (details in each function):

* Lemma 2, Lemma 3, Proposition 1 (8) and (9): proven.
* Proof of Theorem 1: :math:`c_1` (step), :math:`c_4, c_5` and :math:`c_6` map exactly onto [5, Theorem 3]
  with Proposition 1's constants; :math:`(c_2 + c_3L\alpha^2)\delta_0/(\alpha T)` does not: the source has
  :math:`2(1 + L\tilde A\alpha^2)^T\delta_0/(b\alpha T)`; equal only for :math:`T = 1`.
* Theorem 1 as printed is false (:func:`theorem1_counterexample`, an exact witness).
* :math:`c_4 = 0` when :math:`C = 0` and :math:`c_1 = \infty` when :math:`B = 0`, although the theorem
  states :math:`c_i > 0` finite.
* Corollary 1: its :math:`T` and :math:`\alpha` are [18]'s corollary applied to the biased bound; the
  final bound follows both from Theorem 1 as printed and from the source theorem (with
  :math:`(1 + 1/T)^T \le e < 3`).
* Remark 2: :math:`\zeta = 1/2` (allowed as printed) gives :math:`b = 0`; with summable
  :math:`\epsilon_t^2` Corollary 1's horizon condition :math:`T \ge T(\epsilon_T^2)` fails for large
  :math:`T`; the source theorem with one uniform :math:`\epsilon^2` leaves the floor
  :math:`\zeta\epsilon^2/(2b)`: not proven.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import sympy as sp

from . import bounds
from .claims import CLAIMS
from .constants import SYMBOLS, ZETA_OVER_HALF, _a_tilde, _b, _b_tilde, _c, _c_tilde, _c1, _c2, _c3, _c4, _c5, _c6
from .instances import FiniteSumInstance, RunInstance
from .sampling import SingleUniform

logger = logging.getLogger(__name__)

__all__ = [
    "ProofStep",
    "ProofResult",
    "Counterexample",
    "PROVEN",
    "NOT_PROVEN",
    "DISPROVEN",
    "cauchy_schwarz",
    "jensen_square",
    "norm_of_mean",
    "prove_lemma2",
    "prove_lemma3",
    "prove_prop1_eq8",
    "prove_prop1_eq9",
    "prove_b_positive",
    "prove_theorem1_mapping",
    "theorem1_counterexample",
    "disprove_theorem1",
    "check_theorem1_constants_positive",
    "prove_corollary1_parameters",
    "prove_corollary1_from_printed",
    "prove_corollary1_from_source",
    "check_remark2",
    "prove_optimal_zeta_bias_floor",
    "prove_optimal_theorem1_zeta",
    "prove_optimal_theorem1_eta",
    "prove_optimal_corollary1_eta",
    "prove_with_replacement_moments",
    "prove_tau_nice_moments",
    "prove_independent_moments",
    "prove_prop3_rows_valid",
    "prove_prop2",
    "prove_remark1",
    "prove_all",
    "PROOFS",
]

PROVEN = "proven"
NOT_PROVEN = "not proven"
DISPROVEN = "disproven"


@dataclass(frozen=True)
class ProofStep:
    """One step: what is checked, the sympy expression, sympy's verdict (``None`` = undecided)."""

    description: str
    expression: Any
    verdict: bool | None
    method: str


@dataclass(frozen=True)
class ProofResult:
    """A named proof result: status, steps with sympy evidence, premises, witness."""

    name: str
    statement: str
    status: str
    steps: tuple[ProofStep, ...]
    premises: tuple[str, ...] = ()
    claim_ids: tuple[str, ...] = ()
    witness: Any = None
    notes: str = ""

    @property
    def proven(self) -> bool:
        """True only when the status is ``"proven"``."""
        return self.status == PROVEN


@dataclass(frozen=True)
class Counterexample:
    """An exact instance on which a claim's hypotheses hold and its relation fails."""

    claim_id: str
    instance: Any
    lhs: Any
    rhs: Any
    description: str
    reference: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# building blocks of the proofs


def _identity(description: str, lhs: Any, rhs: Any) -> ProofStep:
    diff = sp.simplify(sp.sympify(lhs) - sp.sympify(rhs))
    if diff == 0:
        verdict: bool | None = True
    else:
        expanded = sp.simplify(sp.expand(sp.together(diff)))
        verdict = True if expanded == 0 else (False if expanded.is_number and expanded != 0 else None)
        diff = expanded
    return ProofStep(description, diff, verdict, "identity: difference simplifies to 0")


def _sign(description: str, expr: Any, kind: str = "nonnegative") -> ProofStep:
    e = sp.sympify(expr)
    attr = "is_nonnegative" if kind == "nonnegative" else "is_positive"
    verdict = getattr(e, attr)
    if verdict is None:
        e2 = sp.factor(sp.together(sp.expand(e)))
        verdict = getattr(e2, attr)
        if verdict is not None:
            e = e2
    return ProofStep(description, e, None if verdict is None else bool(verdict), f"sign: sympy {attr}")


def _status(steps: list[ProofStep]) -> str:
    if all(s.verdict is True for s in steps):
        return PROVEN
    return NOT_PROVEN


def _result(name: str, statement: str, steps: list[ProofStep], **kw: Any) -> ProofResult:
    status = kw.pop("status", None) or _status(steps)
    return ProofResult(name, statement, status, tuple(steps), **kw)


def _from(result: ProofResult, description: str) -> ProofStep:
    """A step that uses another proof result (verdict True only if that result is proven)."""
    return ProofStep(f"{description} [{result.name}: {result.status}]", None, True if result.proven else None, "reference")


S = SYMBOLS
_SQRT_MONOTONE = "the square root is increasing on [0, inf) (from x^2 <= y^2, y >= 0 to |x| <= y)"
_EXPECTATION = "expectation over a finite law is a sum with nonnegative weights (it preserves pointwise inequalities)"


# ----------------------------------------------------------------------------------------------
# elementary inequalities


def cauchy_schwarz(d: int = 3) -> ProofResult:
    r"""Cauchy-Schwarz in :math:`\mathbb R^d` through Lagrange's identity.

    .. math:: \|a\|^2\|b\|^2 - \langle a, b\rangle^2 = \sum_{i<j}(a_ib_j - a_jb_i)^2 \ge 0

    The identity is checked for symbolic vectors of dimension ``d`` (it is a sum over coordinate
    pairs, so the same computation holds in every dimension).
    """
    a = sp.symbols(f"a1:{d + 1}", real=True)
    bb = sp.symbols(f"b1:{d + 1}", real=True)
    gap = sum(x * x for x in a) * sum(y * y for y in bb) - sum(x * y for x, y in zip(a, bb)) ** 2
    sos = sum((a[i] * bb[j] - a[j] * bb[i]) ** 2 for i in range(d) for j in range(i + 1, d))
    steps = [_identity("Lagrange's identity", gap, sos), _sign("sum of squares is nonnegative", sos)]
    return _result(
        "cauchy_schwarz", "|<a, b>| <= ||a|| ||b||", steps, premises=(_SQRT_MONOTONE,)
    )


def jensen_square(K: int = 3) -> ProofResult:
    r"""Jensen for the square on a finite law: :math:`(\mathbb E r)^2 \le \mathbb E r^2` (Proposition 1's last step).

    Homogeneous form, valid for any nonnegative weights :math:`p` (with :math:`\sum p = 1` it is the claim):

    .. math:: \Big(\sum_k p_k\Big)\sum_k p_kr_k^2 - \Big(\sum_k p_kr_k\Big)^2 = \sum_{k<l}p_kp_l(r_k - r_l)^2.
    """
    p = sp.symbols(f"p1:{K + 1}", nonnegative=True)
    r = sp.symbols(f"r1:{K + 1}", real=True)
    lhs = sum(p) * sum(pk * rk**2 for pk, rk in zip(p, r)) - sum(pk * rk for pk, rk in zip(p, r)) ** 2
    sos = sum(p[k] * p[l] * (r[k] - r[l]) ** 2 for k in range(K) for l in range(k + 1, K))
    steps = [_identity("variance identity", lhs, sos), _sign("weighted sum of squares", sos)]
    return _result("jensen_square", "(E r)^2 <= E r^2 for a finite law", steps)


def norm_of_mean(K: int = 2, d: int = 2) -> ProofResult:
    r"""Jensen for the norm (Lemma 2's second step): :math:`\|\mathbb E e\| \le \mathbb E\|e\|` on a finite law.

    .. math:: \Big(\sum_k p_k\|e_k\|\Big)^2 - \Big\|\sum_k p_ke_k\Big\|^2 = \sum_{k,l}p_kp_l\big(\|e_k\|\|e_l\| - \langle e_k, e_l\rangle\big) \ge 0

    (each bracket is nonnegative by Cauchy-Schwarz).
    """
    p = sp.symbols(f"p1:{K + 1}", nonnegative=True)
    e = [sp.symbols(f"e{k + 1}_1:{d + 1}", real=True) for k in range(K)]
    n = sp.symbols(f"n1:{K + 1}", nonnegative=True)
    mean = [sum(p[k] * e[k][j] for k in range(K)) for j in range(d)]
    inner = {(k, l): sum(e[k][j] * e[l][j] for j in range(d)) for k in range(K) for l in range(K)}
    lhs = sum(p[k] * n[k] for k in range(K)) ** 2 - sum(x * x for x in mean)
    rhs = sum(p[k] * p[l] * (n[k] * n[l] - inner[(k, l)]) for k in range(K) for l in range(K))
    t = {(k, l): sp.Symbol(f"t_{k + 1}{l + 1}", nonnegative=True) for k in range(K) for l in range(K)}
    weighted = sum(p[k] * p[l] * t[(k, l)] for k in range(K) for l in range(K))
    steps = [
        _identity("expand both squares", lhs, rhs),
        _from(cauchy_schwarz(d), "||e_k|| ||e_l|| - <e_k, e_l> = t_kl >= 0"),
        _sign("sum of p_k p_l t_kl with nonnegative factors", weighted),
    ]
    return _result("norm_of_mean", "||E e|| <= E||e||", steps, premises=(_SQRT_MONOTONE,))


# ----------------------------------------------------------------------------------------------
# Lemmas 2, 3 and Proposition 1


def prove_lemma2() -> ProofResult:
    r"""Lemma 2, eq. (5): :math:`|\langle\nabla f, \mathbb E e_v\rangle| \le \frac{\|\nabla f\|^2}{2\zeta} + \frac\zeta2(\mathbb E\|e_v\|)^2`.

    Cauchy-Schwarz, :math:`\|\mathbb E e\| \le \mathbb E\|e\|`, and Young's inequality with the
    certificate :math:`\frac{g^2}{2\zeta} + \frac{\zeta m^2}{2} - gm = \frac{(g - \zeta m)^2}{2\zeta}`.
    """
    g, m, t = sp.symbols("g m t", nonnegative=True)
    zeta = S.zeta
    young_gap = g**2 / (2 * zeta) + zeta * m**2 / 2 - g * m
    sos = (g - zeta * m) ** 2 / (2 * zeta)
    steps = [
        _from(cauchy_schwarz(), "|<grad f, E e>| <= ||grad f|| ||E e||"),
        _from(norm_of_mean(), "||E e|| <= E||e|| =: m, write ||E e|| = m - t, t >= 0"),
        _sign("||grad f|| (m - ||E e||) = g t >= 0", g * t),
        _identity("Young's inequality certificate", young_gap, sos),
        _sign("(g - zeta m)^2/(2 zeta) >= 0 for zeta > 0", sos),
    ]
    return _result(
        "lemma2",
        "paper (5): |<grad f, E e_v>| <= ||grad f||^2/(2 zeta) + zeta/2 (E||e_v||)^2, zeta > 0",
        steps,
        claim_ids=("paper.lemma2",),
    )


def prove_lemma3(d: int = 3, K: int = 3) -> ProofResult:
    r"""Lemma 3, eq. (6): pointwise :math:`\frac{1+\eta}{\eta}\|x\|^2 + (1+\eta)\|y\|^2 - \|x+y\|^2 = \frac1\eta\|x - \eta y\|^2 \ge 0`, then expectation.

    (The paper goes through Cauchy-Schwarz and Young; the sum-of-squares certificate gives the same
    inequality in one step, coordinate by coordinate, hence in every dimension.)
    """
    eta = S.eta
    x = sp.symbols(f"x1:{d + 1}", real=True)
    y = sp.symbols(f"y1:{d + 1}", real=True)
    nx = sum(v * v for v in x)
    ny = sum(v * v for v in y)
    nxy = sum((u + v) ** 2 for u, v in zip(x, y))
    gap = (1 + eta) / eta * nx + (1 + eta) * ny - nxy
    sos = sum((u - eta * v) ** 2 for u, v in zip(x, y)) / eta
    p = sp.symbols(f"p1:{K + 1}", nonnegative=True)
    q = sp.symbols(f"gap1:{K + 1}", nonnegative=True)
    steps = [
        _identity("pointwise gap is ||x - eta y||^2/eta (x = grad f_v, y = e_v)", gap, sos),
        _sign("||x - eta y||^2/eta >= 0 for eta > 0", sos),
        _sign("E[gap] = sum_k p_k gap_k >= 0", sum(a * b for a, b in zip(p, q))),
    ]
    return _result(
        "lemma3",
        "paper (6): E||z_v||^2 <= (1+eta)/eta E||grad f_v||^2 + (1+eta) E||e_v||^2, eta > 0",
        steps,
        claim_ids=("paper.lemma3",),
    )


def prove_prop1_eq8() -> ProofResult:
    r"""Proposition 1, eq. (8): with :math:`\mathbb E\nabla f_v = \nabla f`, :math:`\langle\nabla f, \mathbb Ez_v\rangle - (b\|\nabla f\|^2 - c)`
    equals the Lemma 2 gap plus :math:`\frac\zeta2(\epsilon^2 - (\mathbb E\|e_v\|)^2)`, both nonnegative.

    Holds for every :math:`\zeta > 0` (as printed); :math:`b > 0` needs :math:`\zeta > 1/2`.
    """
    g2, e2, m, u, v = sp.symbols("g2 eps2 m u v", nonnegative=True)
    s = sp.Symbol("s", real=True)
    zeta = S.zeta
    lhs = (g2 + s) - (_b(zeta) * g2 - _c(zeta, e2))
    rhs = (s + g2 / (2 * zeta) + zeta * m**2 / 2) + zeta / 2 * (e2 - m**2)
    steps = [
        _identity("<grad f, E z> = ||grad f||^2 + s; regroup the gap", lhs, rhs),
        _from(prove_lemma2(), "u := s + g2/(2 zeta) + zeta m^2/2 >= 0"),
        _from(jensen_square(), "v := eps^2 - (E||e||)^2 >= 0"),
        _sign("u + zeta v/2 >= 0", u + zeta * v / 2),
    ]
    return _result(
        "prop1_eq8",
        "paper (8): <grad f, E z_v> >= b(zeta) ||grad f||^2 - c(zeta, eps^2), zeta > 0",
        steps,
        claim_ids=("paper.prop1.eq8",),
    )


def prove_prop1_eq9() -> ProofResult:
    r"""Proposition 1, eq. (9): multiplying (11) by :math:`(1+\eta)/\eta > 0` and adding :math:`(1+\eta)\epsilon^2` gives (12) = (9)."""
    eta, A, B, C, e2 = S.eta, S.A, S.B, S.C, S.eps2
    F, G, Y, w = sp.symbols("F G Y w", nonnegative=True)
    lhs = (1 + eta) / eta * (2 * A * F + B * G + C) + (1 + eta) * e2
    rhs = 2 * _a_tilde(eta, A) * F + _b_tilde(eta, B) * G + _c_tilde(eta, C, e2)
    steps = [
        _sign("(1 + eta)/eta > 0", (1 + eta) / eta, "positive"),
        _sign("(1+eta)/eta * (slack of (11)) >= 0", (1 + eta) / eta * w),
        _from(prove_lemma3(), "(6)"),
        _identity("(12) is (9) with A~, B~, C~", lhs, rhs),
    ]
    return _result(
        "prop1_eq9",
        "paper (9): E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ given (11), eta > 0",
        steps,
        claim_ids=("paper.prop1.eq9",),
    )


def prove_b_positive() -> ProofResult:
    r""":math:`b(\zeta) > 0 \iff \zeta > 1/2`; :math:`b(1/2) = 0` and :math:`b < 1` ([5, Assumption 9] needs :math:`b > 0`)."""
    bz = _b(S.zeta)
    steps = [
        _sign("b(1/2 + rho) > 0", bz.subs(ZETA_OVER_HALF), "positive"),
        _identity("b(1/2) = 0", bz.subs(S.zeta, sp.Rational(1, 2)), 0),
        _sign("1 - b(zeta) = 1/(2 zeta) > 0", 1 - bz, "positive"),
        _sign(
            "for zeta in (0, 1/2), written zeta = (1/2)/(1 + rho): -b(zeta) = rho > 0",
            -bz.subs(S.zeta, sp.Rational(1, 2) / (1 + S.rho)),
            "positive",
        ),
    ]
    return _result("b_positive", "b(zeta) > 0 exactly when zeta > 1/2; b(1/2) = 0; b < 1", steps)


# ----------------------------------------------------------------------------------------------
# Theorem 1


def prove_theorem1_mapping() -> tuple[ProofResult, ...]:
    r"""Compare Theorem 1 (with :math:`c_1..c_6`) with [5, Theorem 3] under Proposition 1's constants, term by term.

    Returns results for the step condition (:math:`c_1/L = b/(L\tilde B)`: proven), the
    :math:`L\alpha` terms (:math:`(c_4 + c_5\epsilon^2)L\alpha = L\tilde C\alpha/b`: proven), the bias
    floor (:math:`c_6\epsilon^2 = c/b`: proven), and the first term, where the printed
    :math:`(c_2 + c_3L\alpha^2)\delta_0/(\alpha T)` differs from the source's
    :math:`2(1 + L\tilde A\alpha^2)^T\delta_0/(b\alpha T)` for every :math:`T \ge 2` (disproven as an
    identity; the printed term is the smaller, so the printed theorem does not follow).
    """
    z, eta, A, B, C, L, d0, e2, al, T = S.zeta, S.eta, S.A, S.B, S.C, S.L, S.delta0, S.eps2, S.alpha, S.T
    bz, At, Bt, Ct = _b(z), _a_tilde(eta, A), _b_tilde(eta, B), _c_tilde(eta, C, e2)
    step = _result(
        "theorem1.step_condition",
        "c1/L = b(zeta)/(L B~(eta)) (the step condition of [5, Theorem 3])",
        [_identity("c1/L - b/(L B~)", _c1(z, eta, B) / L, bz / (L * Bt))],
        claim_ids=("paper.theorem1",),
    )
    lin = _result(
        "theorem1.c4_c5",
        "(c4 + c5 eps^2) L alpha = L C~ alpha / b",
        [_identity("(c4 + c5 eps^2) L alpha - L C~ alpha/b", (_c4(z, eta, C) + _c5(z, eta) * e2) * L * al, L * Ct * al / bz)],
        claim_ids=("paper.theorem1",),
    )
    floor = _result(
        "theorem1.c6",
        "c6 eps^2 = c(zeta, eps^2)/b(zeta)",
        [_identity("c6 eps^2 - c/b", _c6(z) * e2, _c(z, e2) / bz)],
        claim_ids=("paper.theorem1",),
    )
    printed = (_c2(z) + _c3(z, eta, A) * L * al**2) / (al * T) * d0
    source = 2 * (1 + L * At * al**2) ** T / (bz * al * T) * d0
    x = sp.Symbol("x", positive=True)  # x = L A~ alpha^2
    at_two = sp.factor(sp.simplify((source - printed).subs(T, 2)))
    witness_values = {z: 1, eta: 1, A: 1, L: 1, d0: 1, al: 1}
    numeric = (source - printed).subs(T, 2).subs(witness_values)
    first = _result(
        "theorem1.first_term",
        "(c2 + c3 L alpha^2)/(alpha T) delta0 = 2 (1 + L A~ alpha^2)^T delta0/(b alpha T)",
        [
            _identity("T = 1: the two first terms agree", printed.subs(T, 1), source.subs(T, 1)),
            ProofStep(
                "T = 2: source - printed is zero (false: nonzero at zeta = eta = A = L = delta0 = alpha = 1)",
                at_two,
                bool(numeric == 0),
                "exact evaluation",
            ),
            _sign(
                "source/printed = (1 + x)^T/(1 + x) = (1 + x)^(T-1) >= 1: the printed term is the smaller (T = 2 shown)",
                ((1 + x) ** 2 - (1 + x)),
            ),
        ],
        status=DISPROVEN,
        claim_ids=("paper.theorem1", "paper.theorem1.from_source"),
        witness={"T": 2, "values": {str(k): v for k, v in witness_values.items()}, "source - printed": numeric},
        notes=(
            "The printed first term replaces (1 + L A~ alpha^2)^T by 1 + L A~ alpha^2; the other terms map exactly. "
            "The printed bound is stronger than what [5, Theorem 3] gives and is false (theorem1_counterexample)."
        ),
    )
    route = _result(
        "theorem1.from_source",
        "[5, Theorem 3] applies to ISGD with b = b(zeta) > 0, c, A~, B~, C~ of Proposition 1 (zeta > 1/2, eta > 0)",
        [
            _from(prove_prop1_eq8(), "(8) is the first inequality of [5, Assumption 9]"),
            _from(prove_prop1_eq9(), "(9) is the second inequality of [5, Assumption 9]"),
            _from(prove_b_positive(), "b > 0 for zeta > 1/2"),
            *step.steps,
            *lin.steps,
            *floor.steps,
        ],
        premises=(
            "[5, Theorem 3] as the paper cites it",
            "[5, Assumption 9] needs constants: eps^2 must bound E||e_v(theta_t)||^2 at every iterate t < T",
        ),
        claim_ids=("paper.theorem1.from_source",),
    )
    return step, lin, floor, first, route


def _witness_moments(T: int) -> list[Fraction]:
    """E||grad f(theta_t)||^2 of the witness run: f_1 = theta^2, f_2 = 0, single uniform, alpha = 3/2, theta_0 = 1."""
    alpha = Fraction(3, 2)
    # theta <- theta - alpha grad f_i(theta): factor (1 - 2 alpha) for i = 1, 1 for i = 2, each w.p. 1/2
    rho = ((1 - 2 * alpha) ** 2 + 1) / 2
    return [rho**t for t in range(T)]


def theorem1_counterexample(T: int = 14) -> Counterexample:
    r"""An exact counterexample to Theorem 1 as printed (with :math:`c_1..c_6` of its proof).

    :math:`m = 2`, :math:`f_1(\theta) = \theta^2`, :math:`f_2 = 0`, :math:`f = \theta^2/2`
    (:math:`L_{\nabla f} = 1`, :math:`f^* = 0`), single uniform sampling, exact hypergradients
    (:math:`e_v = 0`, :math:`\epsilon^2 = 0`), :math:`\theta_0 = 1` (:math:`\delta_0 = 1/2`).
    :math:`\mathbb E\|\nabla f_v(\theta)\|^2 = 2\theta^2 = 2A(f - f^*)` with :math:`A = 2` (the
    single-uniform row of [18, Proposition 3]); :math:`B = 1/6`, :math:`C = 0` also satisfy Lemma 1.
    With :math:`\zeta = \eta = 1`: :math:`c_1/L = 3/2`, and :math:`\alpha = 3/2` gives
    :math:`\theta_{t+1} \in \{-2\theta_t, \theta_t\}` with equal probability, so
    :math:`\mathbb E\|\nabla f(\theta_t)\|^2 = (5/2)^t` and the minimum over :math:`t < T` is 1, while the
    printed right side is :math:`40/(3T)`, below 1 for :math:`T \ge 14`. The source bound
    (:math:`2\cdot 10^T\delta_0/(b\alpha T)`) holds. With :math:`B = 0` (also valid) :math:`c_1 = \infty`
    and the printed bound tends to 0 for every :math:`\zeta > 1/2, \eta > 0`.
    """
    if int(T) != T or T < 14:
        raise ValueError(f"the printed bound 40/(3T) is below 1 only for T >= 14; got T={T!r}")
    inst = RunInstance(
        L=Fraction(1),
        delta0=Fraction(1, 2),
        A=Fraction(2),
        B=Fraction(1, 6),
        C=Fraction(0),
        alpha=Fraction(3, 2),
        T=int(T),
        grad_sq=_witness_moments(int(T)),
        eps2=Fraction(0),
        zeta=Fraction(1),
        eta=Fraction(1),
    )
    printed = CLAIMS["paper.theorem1"].check(inst)
    source = CLAIMS["paper.theorem1.from_source"].check(inst)
    return Counterexample(
        claim_id="paper.theorem1",
        instance=inst,
        lhs=printed.lhs,
        rhs=printed.rhs,
        description=(
            "f_1 = theta^2, f_2 = 0, single uniform sampling, exact gradients, theta0 = 1, "
            "A = 2, B = 1/6, C = 0, zeta = eta = 1, alpha = 3/2 = c1/L"
        ),
        reference={"source_rhs": source.rhs, "source_holds": source.holds, "printed_check": printed},
    )


def disprove_theorem1(T: int = 14) -> ProofResult:
    """Theorem 1 as printed is false: the witness of :func:`theorem1_counterexample`, verified step by step."""
    theta = sp.Symbol("theta", real=True)
    al = sp.Rational(3, 2)
    # E||grad f_v||^2 = (1/2)(2 theta)^2 + (1/2) 0, f - f* = theta^2/2, ||grad f||^2 = theta^2
    second = sp.Rational(1, 2) * (2 * theta) ** 2
    abc_slack = 2 * 2 * theta**2 / 2 + sp.Rational(1, 6) * theta**2 + 0 - second
    recursion = sp.Rational(1, 2) * ((1 - 2 * al) ** 2 + 1)
    ce = theorem1_counterexample(T)
    fs = FiniteSumInstance(
        component_grads=[[Fraction(2)], [Fraction(0)]],
        component_values=[Fraction(1), Fraction(0)],
        component_inf=[Fraction(0), Fraction(0)],
        smoothness=[Fraction(2), Fraction(0)],
        f_inf=Fraction(0),
        law=SingleUniform(2),
    )
    row = fs.law.prop3_constants(fs.smoothness, fs.delta_inf)
    check = ce.reference["printed_check"]
    step_bound = bounds.theorem1_step_bound(zeta=Fraction(1), eta=Fraction(1), B=Fraction(1, 6), L=Fraction(1))
    steps = [
        _sign("Lemma 1 with A = 2, B = 1/6, C = 0 holds for every theta (slack >= 0)", abc_slack),
        ProofStep(f"[18, Proposition 3] single uniform row gives A = {row.A}, B = {row.B}, C = {row.C}", row, row.A == 2, "exact evaluation"),
        _identity("E theta_{t+1}^2 = (5/2) E theta_t^2 at alpha = 3/2", recursion, sp.Rational(5, 2)),
        ProofStep("alpha = 3/2 <= c1/L", step_bound, Fraction(3, 2) <= step_bound, "exact evaluation"),
        ProofStep(
            f"min_t E||grad f||^2 = {ce.lhs} > printed bound {ce.rhs} at T = {T}",
            (ce.lhs, ce.rhs),
            bool(check.violated),
            "exact evaluation",
        ),
        ProofStep(
            "the source bound holds on the same run", ce.reference["source_rhs"], bool(ce.reference["source_holds"]), "exact evaluation"
        ),
    ]
    status = DISPROVEN if all(s.verdict is True for s in steps) else NOT_PROVEN
    return _result(
        "theorem1.as_printed",
        "Theorem 1 as printed (c1..c6 of its proof) holds for every admissible run",
        steps,
        status=status,
        claim_ids=("paper.theorem1",),
        witness=ce,
    )


def check_theorem1_constants_positive() -> ProofResult:
    r"""Theorem 1 states :math:`c_1, \dots, c_6 > 0`; with the proof's constants :math:`c_4 = 0` when
    :math:`C = 0` and :math:`c_1 = b/\tilde B` is undefined (:math:`+\infty`) when :math:`B = 0`
    (e.g. single-element sampling, [18, Proposition 3]). :math:`c_2, c_3` (for :math:`A > 0`),
    :math:`c_5, c_6` are positive for :math:`\zeta > 1/2`."""
    z, eta, A, B, C = S.zeta, S.eta, S.A, S.B, S.C
    sub = ZETA_OVER_HALF
    steps = [
        _sign("c2 > 0", _c2(z).subs(sub), "positive"),
        _sign("c5 > 0", _c5(z, eta).subs(sub), "positive"),
        _sign("c6 > 0", _c6(z).subs(sub), "positive"),
        _sign("c3 >= 0 (> 0 iff A > 0)", _c3(z, eta, A).subs(sub)),
        ProofStep("c4 > 0 at C = 0 (false: c4 = 0)", _c4(z, eta, C).subs(C, 0), bool(_c4(z, eta, C).subs(C, 0).is_positive), "exact evaluation"),
        ProofStep("c1 finite at B = 0 (false: c1 = zoo)", _c1(z, eta, 0), bool(_c1(z, eta, 0).is_finite), "exact evaluation"),
    ]
    return _result(
        "theorem1.constants_positive",
        "c1, ..., c6 > 0 (finite) for every admissible A, B, C",
        steps,
        status=DISPROVEN,
        claim_ids=("paper.theorem1",),
        witness={"C = 0": "c4 = 0", "B = 0": "c1 = oo"},
        notes="Harmless for the bound (c4 = 0 drops a zero term; B = 0 voids the step condition) but not as printed.",
    )


# ----------------------------------------------------------------------------------------------
# Corollary 1


def _cor_symbols() -> dict[str, Any]:
    """Symbols for Corollary 1: eps^2 > 0 (its hypothesis), delta0 > 0 and B > 0 (the cases delta0 = 0 or
    B = 0 make the corresponding terms vanish)."""
    return dict(
        z=S.zeta,
        eta=S.eta,
        A=S.A,
        B=sp.Symbol("B", positive=True),
        C=S.C,
        L=S.L,
        d0=sp.Symbol("delta_0", positive=True),
        e2=sp.Symbol("epsilon2", positive=True),
    )


def prove_corollary1_parameters() -> ProofResult:
    r"""Corollary 1's :math:`T(\epsilon^2)` and :math:`\alpha` are [18]'s corollary applied to the biased bound.

    Writing [5, Theorem 3] as :math:`b\min\mathbb E\|\nabla f\|^2 - c \le 2(1+L\tilde A\alpha^2)^T\delta_0/(\alpha T) + L\tilde C\alpha`
    with :math:`\alpha \le 1/(L\tilde B/b)`, [18]'s corollary with :math:`(A, B, C, \epsilon^2) \to (\tilde A, \tilde B/b, \tilde C, \zeta\epsilon^2)`
    gives exactly the printed :math:`T` and :math:`\alpha`, and the bound :math:`(\zeta\epsilon^2 + c)/b = 3\zeta\epsilon^2/(2b)`.
    """
    s = _cor_symbols()
    z, eta, A, B, C, L, d0, e2 = (s[k] for k in ("z", "eta", "A", "B", "C", "L", "d0", "e2"))
    bz, At, Bt, Ct = _b(z), _a_tilde(eta, A), _b_tilde(eta, B), _c_tilde(eta, C, e2)
    E = z * e2
    printed_entries = (Bt / bz, 12 * d0 * At / (z * e2), 2 * (1 + eta) * (C + eta * e2) / (eta * z * e2))
    kr_entries = (Bt / bz, 12 * d0 * At / E, 2 * Ct / E)
    steps = [
        _identity("prefactor 12 delta0 L/(zeta eps^2) = 12 delta0 L/E'", 12 * d0 * L / (z * e2), 12 * d0 * L / E),
        *[_identity(f"T entry {i + 1}", p, k) for i, (p, k) in enumerate(zip(printed_entries, kr_entries))],
        _identity("alpha entry 2: b/(L B~) = 1/(L (B~/b))", bz / (L * Bt), 1 / (L * (Bt / bz))),
        _identity(
            "alpha entry 3: eta zeta eps^2/(2L(1+eta)(C + eta eps^2)) = E'/(2 L C~)",
            eta * z * e2 / (2 * L * (1 + eta) * (C + eta * e2)),
            E / (2 * L * Ct),
        ),
        _identity("(E' + c)/b = 3 zeta eps^2/(2 b)", (E + _c(z, e2)) / bz, 3 * z * e2 / (2 * bz)),
    ]
    return _result(
        "corollary1.parameters",
        "Corollary 1's T and alpha are [18]'s corollary with (A~, B~/b, C~, zeta eps^2)",
        steps,
        claim_ids=("paper.corollary1",),
    )


def _term_bounds(T1: Any, T2: Any, T3: Any, r1: Any, r2: Any, r3: Any, d0: Any, E: Any, L: Any, At: Any) -> list[ProofStep]:
    """T >= T_i makes the i-th contribution to c2 delta0/(alpha T) at most E'/(6b) (zeta > 1/2 substituted)."""
    u = sp.Symbol("u", nonnegative=True)
    Tsym = S.T
    steps = [
        _sign(
            "T >= T1 = 144 delta0^2 L A~/E'^2  =>  (E'/6)^2 - (2 delta0 sqrt(L A~ T)/T)^2 >= 0",
            ((E / 6) ** 2 - (2 * d0) ** 2 * L * At / Tsym).subs(Tsym, T1 + u).subs(ZETA_OVER_HALF),
        ),
        _sign(
            "T >= T2  =>  E'/6 - 2 delta0 (L B~/b)/T >= 0",
            (E / 6 - 2 * d0 * r2 / Tsym).subs(Tsym, T2 + u).subs(ZETA_OVER_HALF),
        ),
        _sign(
            "T >= T3  =>  E'/6 - 2 delta0 (2 L C~/E')/T >= 0",
            (E / 6 - 2 * d0 * r3 / Tsym).subs(Tsym, T3 + u).subs(ZETA_OVER_HALF),
        ),
        _sign("T >= 1  =>  1/T - 1/T^3 >= 0", (1 / Tsym - 1 / Tsym**3).subs(Tsym, 1 + u)),
    ]
    return steps


def prove_corollary1_from_printed() -> ProofResult:
    r"""With Corollary 1's :math:`T \ge T(\epsilon^2)` and :math:`\alpha`, Theorem 1's *printed* right side is at most :math:`3\zeta\epsilon^2/(2b)`.

    With :math:`E' = \zeta\epsilon^2` and :math:`1/\alpha = \max(r_1, r_2, r_3)`,
    :math:`r_1 = \sqrt{L\tilde AT}`, :math:`r_2 = L\tilde B/b`, :math:`r_3 = 2L\tilde C/E'`:
    :math:`c_2\delta_0/(\alpha T) \le E'/(6b)`, :math:`c_3L\alpha\delta_0/T \le E'/(6b)`,
    :math:`(c_4 + c_5\epsilon^2)L\alpha \le E'/(2b)`, :math:`c_6\epsilon^2 = E'/(2b)`; the sum
    :math:`4E'/(3b) \le 3E'/(2b)`.
    """
    s = _cor_symbols()
    z, eta, A, B, C, L, d0, e2 = (s[k] for k in ("z", "eta", "A", "B", "C", "L", "d0", "e2"))
    Ap = sp.Symbol("A", positive=True)
    bz, At, Bt, Ct = _b(z), _a_tilde(eta, Ap), _b_tilde(eta, B), _c_tilde(eta, C, e2)
    E = z * e2
    pre = 12 * d0 * L / E
    T1, T2, T3 = pre * 12 * d0 * At / E, pre * Bt / bz, pre * 2 * Ct / E
    r1, r2, r3 = sp.sqrt(L * At * S.T), L * Bt / bz, 2 * L * Ct / E
    steps = [
        *_term_bounds(T1, T2, T3, r1, r2, r3, d0, E, L, At),
        _identity("c2 delta0/(alpha T) = (2 delta0/(alpha T))/b", _c2(z) * d0 / (S.alpha * S.T), 2 * d0 / (S.alpha * S.T) / bz),
        _identity(
            "c3 L alpha^2 delta0/(alpha T) = (2 L A~ alpha delta0/T)/b",
            _c3(z, eta, Ap) * L * S.alpha**2 * d0 / (S.alpha * S.T),
            2 * L * At * S.alpha * d0 / S.T / bz,
        ),
        _identity("L A~ alpha <= L A~/r1 = sqrt(L A~/T) (alpha <= 1/r1)", L * At / r1, sp.sqrt(L * At / S.T)),
        _identity("(c4 + c5 eps^2) L/r3 = E'/(2b) (alpha <= 1/r3)", (_c4(z, eta, C) + _c5(z, eta) * e2) * L / r3, E / (2 * bz)),
        _identity("c6 eps^2 = E'/(2b)", _c6(z) * e2, E / (2 * bz)),
        _sign("3E'/(2b) - (E'/6 + E'/6 + E'/2 + E'/2)/b >= 0 (b > 0)", (3 * E / 2 - 4 * E / 3) / bz.subs(ZETA_OVER_HALF)),
    ]
    return _result(
        "corollary1.from_printed_theorem1",
        "Theorem 1 as printed with Corollary 1's T, alpha gives min E||grad f||^2 <= 3 zeta eps^2/(2b)",
        steps,
        premises=("1/alpha = max(r1, r2, r3) and alpha <= 1/r_i for each i (definition of the min)", _SQRT_MONOTONE),
        claim_ids=("paper.corollary1",),
        notes="Uses Theorem 1 as printed, which is false; see corollary1.from_source for a valid route.",
    )


def prove_corollary1_from_source() -> ProofResult:
    r"""Corollary 1's final bound follows from [5, Theorem 3] with Proposition 1's constants.

    Additional step: :math:`L\tilde A\alpha^2 \le 1/T` so :math:`(1 + L\tilde A\alpha^2)^T \le (1 + 1/T)^T \le e`
    (from :math:`\log(1+x) \le x`: :math:`h(x) = x - \log(1+x)`, :math:`h(0) = 0`, :math:`h' = x/(1+x) \ge 0`),
    the first term is at most :math:`eE'/(6b)`, and :math:`(e/6 + 1)E'/b \le 3E'/(2b)` since :math:`e < 3`.
    The statement (4) for all :math:`T \ge T_\delta` follows because :math:`\min_{t<T}` is nonincreasing in :math:`T`.
    """
    xs = sp.Symbol("x", nonnegative=True)
    h = xs - sp.log(1 + xs)
    s = _cor_symbols()
    z, eta, L, e2 = s["z"], s["eta"], s["L"], s["e2"]
    Ap = sp.Symbol("A", positive=True)
    At = _a_tilde(eta, Ap)
    steps = [
        _from(prove_corollary1_from_printed(), "the three T thresholds and the alpha entries bound each term"),
        _identity("L A~ alpha^2 <= L A~ (1/sqrt(L A~ T))^2 = 1/T", L * At / (L * At * S.T), 1 / S.T),
        _identity("h(0) = 0", h.subs(xs, 0), 0),
        _sign("h'(x) = x/(1 + x) >= 0", sp.simplify(sp.diff(h, xs))),
        _sign("e < 3", 3 - sp.E, "positive"),
        _sign("3/2 - (e/6 + 1) > 0", sp.Rational(3, 2) - (sp.E / 6 + 1), "positive"),
    ]
    return _result(
        "corollary1.from_source",
        "[5, Theorem 3] with Corollary 1's T, alpha gives min E||grad f||^2 <= 3 zeta eps^2/(2b)",
        steps,
        premises=(
            "[5, Theorem 3] as the paper cites it, with eps^2 bounding every iterate's E||e_v||^2",
            "h(0) = 0 and h' >= 0 on [0, inf) imply h >= 0 there (mean value theorem); exp is increasing",
            "min over t < T is nonincreasing in T",
        ),
        claim_ids=("paper.corollary1", "paper.corollary1.uniform_accuracy"),
    )


# ----------------------------------------------------------------------------------------------
# Remark 2


def check_remark2() -> tuple[ProofResult, ...]:
    r"""Remark 2 (summable :math:`\epsilon_t^2`, :math:`\zeta \ge 1/2` :math:`\Rightarrow \lim_T\min_{t<T}\mathbb E\|\nabla f\|^2 = 0`).

    * ``remark2.zeta_half``: at :math:`\zeta = 1/2` (allowed as printed) :math:`b = 0`: :math:`c_6`,
      :math:`c_2` and :math:`T(\epsilon^2)` are undefined and Corollary 1's :math:`\alpha` is 0 (disproven:
      the hypothesis must be :math:`\zeta > 1/2`).
    * ``remark2.corollary_steps``: with summable :math:`\epsilon_T^2 = e/T^2`, :math:`T(\epsilon_T^2)/T \to \infty`,
      so the condition :math:`T \ge T(\mathbb E[\epsilon_T^2])` of Corollary 1 fails for large :math:`T`
      (disproven: the steps of Corollary 1 do not carry over literally).
    * ``remark2.from_printed_theorem1``: with :math:`\alpha_T = a/\sqrt T` and :math:`\epsilon_T^2 \to 0`,
      Theorem 1's *printed* right side tends to 0 (proven, but rests on the false Theorem 1).
    * ``remark2.from_source``: the source bound with one :math:`\epsilon^2 = \max_t\epsilon_t^2` tends to
      :math:`\zeta\epsilon^2/(2b) > 0` (not proven by this route; a restart argument from a late
      iterate, not in the paper, would be needed).
    """
    z, eta, A, B, C, L, d0, al, T = S.zeta, S.eta, S.A, S.B, S.C, S.L, S.delta0, S.alpha, S.T
    half = sp.Rational(1, 2)
    e2 = sp.Symbol("epsilon2", positive=True)
    zeta_half = _result(
        "remark2.zeta_half",
        "zeta >= 1/2 suffices for the steps of Corollary 1",
        [
            ProofStep("b(1/2) > 0 (false: b(1/2) = 0)", _b(half), bool(_b(half).is_positive), "exact evaluation"),
            ProofStep("c6 finite at zeta = 1/2 (false: zoo)", _c6(half), bool(_c6(half).is_finite), "exact evaluation"),
            ProofStep(
                "Corollary 1's alpha entry b/(L B~) > 0 at zeta = 1/2 (false: it is 0)",
                _b(half) / (L * _b_tilde(eta, B)),
                bool((_b(half) / (L * _b_tilde(eta, B))).is_positive),
                "exact evaluation",
            ),
        ],
        status=DISPROVEN,
        claim_ids=("paper.remark2",),
        witness={"zeta": half, "b": _b(half), "c6": _c6(half)},
    )
    e0 = sp.Symbol("e_0", positive=True)
    Ap, d0p = sp.Symbol("A", positive=True), sp.Symbol("delta_0", positive=True)
    eps_T = e0 / T**2
    lower = 12 * d0p * L / (z * eps_T) * 12 * d0p * _a_tilde(eta, Ap) / (z * eps_T)
    ratio_limit = sp.limit(lower / T, T, sp.oo)
    steps_cor = [
        _identity(
            "one entry of T(eps_T^2): (12 delta0 L/(zeta eps^2)) (12 delta0 A~/(zeta eps^2)) = 144 delta0^2 L A~/(zeta^2 eps^4)",
            lower,
            144 * d0p**2 * L * _a_tilde(eta, Ap) / (z**2 * eps_T**2),
        ),
        ProofStep("lim_{T->oo} [that entry]/T with eps_T^2 = e_0/T^2", ratio_limit, ratio_limit == sp.oo, "limit"),
    ]
    cor = _result(
        "remark2.corollary_steps",
        "Corollary 1's condition T >= T(E[eps_T^2]) can hold for all large T when eps_t^2 is summable",
        steps_cor,
        status=DISPROVEN if all(s.verdict for s in steps_cor) else NOT_PROVEN,
        claim_ids=("paper.remark2",),
        premises=("T(eps^2) = prefactor * Max(...) is at least the prefactor times each entry",),
        witness={"eps_T^2": eps_T, "T(eps_T^2)/T": ratio_limit},
    )
    a = sp.Symbol("a", positive=True)
    zp = sp.Symbol("zeta", positive=True)
    sub = {z: zp + half}
    printed = bounds.theorem1_rhs_expr().subs(sub).subs({al: a / sp.sqrt(T), S.eps2: eps_T})
    lim_printed = sp.limit(printed, T, sp.oo)
    from_printed = _result(
        "remark2.from_printed_theorem1",
        "Theorem 1 as printed with alpha_T = a/sqrt(T), eps_T^2 = e_0/T^2 gives a right side -> 0",
        [ProofStep("limit of the printed right side", lim_printed, lim_printed == 0, "limit")],
        claim_ids=("paper.remark2",),
        premises=("Theorem 1 as printed (false: theory.proofs.disprove_theorem1)",),
    )
    source = bounds.theorem1_rhs_source_expr().subs(sub).subs({al: a / sp.sqrt(T), S.eps2: e0})
    lim_source = sp.simplify(sp.limit(source, T, sp.oo))
    floor = sp.simplify((_c(z, e0) / _b(z)).subs(sub))
    from_source = _result(
        "remark2.from_source",
        "[5, Theorem 3] with one eps^2 = max_t eps_t^2 and alpha_T = a/sqrt(T) gives lim min E||grad f||^2 = 0",
        [
            _identity("limit of the source bound is the bias floor c/b", lim_source, floor),
            ProofStep("the floor zeta eps_0^2/(2b) is not 0", floor, False, "limit"),
        ],
        status=NOT_PROVEN,
        claim_ids=("paper.remark2",),
        notes=(
            "The direct route leaves c/b = zeta max_t eps_t^2/(2b). Restarting the source theorem from a late "
            "iterate t0 (sup_{t>=t0} eps_t^2 -> 0) would need E f(theta_t0) bounded uniformly in T; not shown here."
        ),
    )
    return zeta_half, cor, from_printed, from_source


# ----------------------------------------------------------------------------------------------
# optimal parameters


def prove_optimal_zeta_bias_floor() -> ProofResult:
    r""":math:`\zeta = 1` minimizes :math:`c/b = \zeta^2\epsilon^2/(2\zeta - 1)` and Corollary 1's :math:`3\zeta\epsilon^2/(2b)` on :math:`\zeta > 1/2`.

    Certificate: :math:`\frac{\zeta}{2b(\zeta)} - 1 = \frac{(\zeta - 1)^2}{2\zeta - 1} \ge 0`, so
    :math:`c/b = \epsilon^2\zeta/(2b) \ge \epsilon^2` with equality at :math:`\zeta = 1`.
    """
    z = S.zeta
    f = z / (2 * _b(z))
    cert = (z - 1) ** 2 / (2 * z - 1)
    steps = [
        _identity("zeta/(2b) - 1 = (zeta - 1)^2/(2 zeta - 1)", f - 1, cert),
        _sign("certificate >= 0 for zeta > 1/2", cert.subs(ZETA_OVER_HALF)),
        _identity("value at zeta = 1", f.subs(z, 1), 1),
    ]
    return _result("optimal.zeta_bias_floor", "argmin_{zeta > 1/2} c(zeta, eps^2)/b(zeta) = 1", steps)


def prove_optimal_theorem1_zeta() -> ProofResult:
    r"""For :math:`K > 0`, :math:`\epsilon^2 > 0`: :math:`g(\zeta) = (2\zeta K + \zeta^2\epsilon^2)/(2\zeta - 1)` is minimized on :math:`\zeta > 1/2` at
    :math:`\zeta^* = \frac12(1 + \sqrt{1 + 4K/\epsilon^2})`, with :math:`g(\zeta^*) = \zeta^{*2}\epsilon^2`.

    Certificate: with :math:`K = \epsilon^2(\zeta^{*2} - \zeta^*)`, :math:`g(\zeta) - \zeta^{*2}\epsilon^2 = \epsilon^2(\zeta - \zeta^*)^2/(2\zeta - 1)`.
    """
    z = S.zeta
    e2 = sp.Symbol("epsilon2", positive=True)
    K = sp.Symbol("K", positive=True)
    zs = sp.Symbol("zeta_star", positive=True)
    g = (2 * z * K + z**2 * e2) / (2 * z - 1)
    star = (1 + sp.sqrt(1 + 4 * K / e2)) / 2
    steps = [
        _identity("zeta*^2 - zeta* = K/eps^2", star**2 - star, K / e2),
        _identity(
            "g(zeta) - zeta*^2 eps^2 = eps^2 (zeta - zeta*)^2/(2 zeta - 1) when K = eps^2 (zeta*^2 - zeta*)",
            (g - zs**2 * e2).subs(K, e2 * (zs**2 - zs)),
            e2 * (z - zs) ** 2 / (2 * z - 1),
        ),
        _sign("certificate >= 0 for zeta > 1/2", (e2 * (z - zs) ** 2 / (2 * z - 1)).subs(ZETA_OVER_HALF)),
        _sign("zeta* > 1/2", star - sp.Rational(1, 2), "positive"),
    ]
    return _result("optimal.theorem1_zeta", "zeta* = (1 + sqrt(1 + 4K/eps^2))/2 minimizes (2 zeta K + zeta^2 eps^2)/(2 zeta - 1)", steps)


def prove_optimal_theorem1_eta() -> ProofResult:
    r""":math:`\frac{1+\eta}{\eta}Q + (1+\eta)R` is minimized at :math:`\eta^* = \sqrt{Q/R}` with value :math:`(\sqrt Q + \sqrt R)^2` (:math:`Q, R > 0`).

    Certificate: :math:`Q/\eta + \eta R - 2\sqrt{QR} = (\sqrt{Q/\eta} - \sqrt{\eta R})^2`.
    """
    Q, R = sp.symbols("Q R", positive=True)
    eta = S.eta
    expr = (1 + eta) / eta * Q + (1 + eta) * R
    cert = (sp.sqrt(Q / eta) - sp.sqrt(eta * R)) ** 2
    steps = [
        _identity("expr - (sqrt Q + sqrt R)^2 = (sqrt(Q/eta) - sqrt(eta R))^2", expr - (sp.sqrt(Q) + sp.sqrt(R)) ** 2, cert),
        _sign("certificate >= 0", cert),
        _identity("value at eta* = sqrt(Q/R)", expr.subs(eta, sp.sqrt(Q / R)), (sp.sqrt(Q) + sp.sqrt(R)) ** 2),
    ]
    return _result("optimal.theorem1_eta", "eta* = sqrt(Q/R) minimizes (1+eta)/eta Q + (1+eta) R", steps)


def prove_optimal_corollary1_eta() -> ProofResult:
    r"""Corollary 1's :math:`T(\epsilon^2) = \frac{12\delta_0L}{\zeta\epsilon^2}\frac{1+\eta}{\eta}\max\{B/b, 12\delta_0A/(\zeta\epsilon^2), \frac2\zeta(C/\epsilon^2 + \eta)\}`,
    minimized at :math:`\eta^* = \max\{\zeta u/2 - w, \sqrt w\}` (:func:`theory.optimize.optimal_corollary1_eta`).

    Certificates: each Max entry factors as :math:`\frac{1+\eta}{\eta}\times(\cdot)`;
    :math:`(1 + 1/\eta)(w + \eta) - (1 + \sqrt w)^2 = (\sqrt\eta - \sqrt{w/\eta})^2`; :math:`u(1 + 1/\eta)` is decreasing.
    """
    s = _cor_symbols()
    z, eta, A, B, C, d0, e2 = (s[k] for k in ("z", "eta", "A", "B", "C", "d0", "e2"))
    w, u = sp.symbols("w u", nonnegative=True)
    bz = _b(z)
    fac = (1 + eta) / eta
    steps = [
        _identity("B~/b = (1+eta)/eta * B/b", _b_tilde(eta, B) / bz, fac * B / bz),
        _identity("12 delta0 A~/(zeta eps^2) = (1+eta)/eta * 12 delta0 A/(zeta eps^2)", 12 * d0 * _a_tilde(eta, A) / (z * e2), fac * 12 * d0 * A / (z * e2)),
        _identity(
            "2(1+eta)(C + eta eps^2)/(eta zeta eps^2) = (1+eta)/eta * (2/zeta)(C/eps^2 + eta)",
            2 * (1 + eta) * (C + eta * e2) / (eta * z * e2),
            fac * 2 / z * (C / e2 + eta),
        ),
        _identity(
            "(1 + 1/eta)(w + eta) - (1 + sqrt w)^2 = (sqrt eta - sqrt(w/eta))^2",
            (1 + 1 / eta) * (w + eta) - (1 + sp.sqrt(w)) ** 2,
            (sp.sqrt(eta) - sp.sqrt(w / eta)) ** 2,
        ),
        _sign("d/d eta [u (1 + 1/eta)] = -u/eta^2 <= 0", -sp.diff(u * (1 + 1 / eta), eta)),
    ]
    return _result(
        "optimal.corollary1_eta",
        "eta* = max(zeta u/2 - C/eps^2, sqrt(C/eps^2)) minimizes Corollary 1's T(eps^2) at fixed zeta",
        steps,
        premises=("a function decreasing on (0, eta_c] and minimized at sqrt(w) on [eta_c, inf) has its minimum at max(eta_c, sqrt w)",),
    )


# ----------------------------------------------------------------------------------------------
# sampling laws


def _multisets(m: int, tau: int) -> list[list[int]]:
    out = []
    for draw in itertools.combinations_with_replacement(range(m), tau):
        counts = [0] * m
        for i in draw:
            counts[i] += 1
        out.append(counts)
    return out


def prove_with_replacement_moments(m: int = 3, tau: int = 2) -> ProofResult:
    r"""Sampling with replacement ([18, Proposition 3] row): by symbolic enumeration, :math:`\mathbb E[v_i] = 1`,
    :math:`\mathbb E[v_i^2] = \frac{1}{\tau q_i} + 1 - \frac1\tau`, :math:`\mathbb E[v_iv_j] = 1 - \frac1\tau`.

    Consequently the recorded :math:`B = 1` is valid but the exact coefficient of :math:`\|\nabla f\|^2`
    is :math:`1 - 1/\tau`, attained when all :math:`f_i` are equal and :math:`q` is uniform.
    Proven for the given ``m``, ``tau`` (symbolic :math:`q`).
    """
    q = list(sp.symbols(f"q1:{m}", positive=True))
    q.append(1 - sum(q))
    first = [sp.Integer(0)] * m
    second = [[sp.Integer(0)] * m for _ in range(m)]
    for counts in _multisets(m, tau):
        coef = sp.Integer(math.factorial(tau))
        for cnt in counts:
            coef /= math.factorial(cnt)
        prob = coef * sp.Mul(*[q[i] ** counts[i] for i in range(m)])
        v = [sp.Integer(counts[i]) / (tau * q[i]) for i in range(m)]
        for i in range(m):
            first[i] += prob * v[i]
            for j in range(m):
                second[i][j] += prob * v[i] * v[j]
    steps = [_identity(f"E[v_{i + 1}] = 1", first[i], 1) for i in range(m)]
    steps += [
        _identity(
            f"E[v_{i + 1} v_{j + 1}]",
            second[i][j],
            (1 / (tau * q[i]) if i == j else 0) + 1 - sp.Rational(1, tau),
        )
        for i in range(m)
        for j in range(i, m)
    ]
    steps.append(_sign("recorded B - exact B = 1 - (1 - 1/tau) = 1/tau > 0", 1 - (1 - sp.Rational(1, tau)), "positive"))
    return _result(
        f"sampling.with_replacement_moments(m={m}, tau={tau})",
        "E[v v^T] = diag(1/(tau q)) + (1 - 1/tau) 11^T for tau draws with replacement",
        steps,
        claim_ids=("kr.prop3",),
        notes="A = max_i L_i/(tau m q_i) matches the recorded row; B = 1 - 1/tau is exact (recorded: 1).",
    )


def prove_tau_nice_moments(m: int = 4, tau: int = 2) -> ProofResult:
    r"""tau-nice: by enumeration, :math:`\mathbb E[v_i^2] = m/\tau`, :math:`\mathbb E[v_iv_j] = \frac{m(\tau-1)}{\tau(m-1)}`, and
    (symbolically in :math:`m \ge \tau`) :math:`1 - \frac{m(\tau-1)}{\tau(m-1)} = \frac{m-\tau}{\tau(m-1)} \ge 0`:
    the recorded :math:`B = 1` is valid, the exact coefficient is :math:`\frac{m(\tau-1)}{\tau(m-1)}`."""
    subsets = list(itertools.combinations(range(m), tau))
    p = sp.Rational(1, len(subsets))
    second = [[sp.Integer(0)] * m for _ in range(m)]
    for sset in subsets:
        v = [sp.Rational(m, tau) if i in sset else sp.Integer(0) for i in range(m)]
        for i in range(m):
            for j in range(m):
                second[i][j] += p * v[i] * v[j]
    k = sp.Symbol("k", nonnegative=True, integer=True)
    tt = sp.Symbol("tau", positive=True, integer=True)
    mm = tt + k + 1  # m > tau >= 1 (m = tau: full batch, B exact 1)
    steps = [
        _identity("E[v_1^2] = m/tau", second[0][0], sp.Rational(m, tau)),
        _identity("E[v_1 v_2] = m(tau-1)/(tau(m-1))", second[0][1], sp.Rational(m * (tau - 1), tau * (m - 1))),
        _identity("1 - beta = (m - tau)/(tau (m - 1))", 1 - mm * (tt - 1) / (tt * (mm - 1)), (mm - tt) / (tt * (mm - 1))),
        _sign("(m - tau)/(tau (m - 1)) >= 0", (mm - tt) / (tt * (mm - 1))),
    ]
    return _result(f"sampling.tau_nice_moments(m={m}, tau={tau})", "tau-nice second moments and B", steps, claim_ids=("kr.prop3",))


def prove_independent_moments(m: int = 3) -> ProofResult:
    r"""Independent sampling: :math:`\mathbb E[v_i^2] = 1/p_i`, :math:`\mathbb E[v_iv_j] = 1` (symbolic :math:`p`, enumeration)."""
    p = sp.symbols(f"p1:{m + 1}", positive=True)
    second = [[sp.Integer(0)] * m for _ in range(m)]
    for mask in itertools.product((0, 1), repeat=m):
        prob = sp.Mul(*[p[i] if mask[i] else 1 - p[i] for i in range(m)])
        v = [1 / p[i] if mask[i] else 0 for i in range(m)]
        for i in range(m):
            for j in range(m):
                second[i][j] += prob * v[i] * v[j]
    steps = [
        _identity(f"E[v_{i + 1} v_{j + 1}]", second[i][j], (1 / p[i] if i == j else 1)) for i in range(m) for j in range(i, m)
    ]
    return _result(f"sampling.independent_moments(m={m})", "E[v v^T] = 11^T + diag(1/p - 1)", steps, claim_ids=("kr.prop3",))


def prove_prop3_rows_valid() -> ProofResult:
    r"""Each recorded row of [18, Proposition 3] follows from :math:`\mathbb E[vv^\top] = \mathrm{diag}(d) + \beta\mathbf 1\mathbf 1^\top`:
    :math:`\mathbb E\|\nabla f_v\|^2 = \frac{1}{m^2}\sum_i d_i\|\nabla f_i\|^2 + \beta\|\nabla f\|^2` (identity, checked for
    :math:`m = 3`, :math:`d = 2` symbolically) and :math:`\|\nabla f_i\|^2 \le 2L_i(f_i - f_i^{\inf})` give
    :math:`A = \max_i d_iL_i/m`, :math:`B = \beta`; the recorded :math:`A` equal these and the recorded :math:`B \ge \beta`."""
    m, d = 3, 2
    g = [sp.symbols(f"g{i + 1}_1:{d + 1}", real=True) for i in range(m)]
    dd = sp.symbols(f"d1:{m + 1}", real=True)
    beta = sp.Symbol("beta", real=True)
    M = [[(dd[i] if i == j else 0) + beta for j in range(m)] for i in range(m)]
    quad = sum(M[i][j] * sum(g[i][k] * g[j][k] for k in range(d)) for i in range(m) for j in range(m)) / m**2
    mean = [sum(g[i][k] for i in range(m)) / m for k in range(d)]
    split = sum(dd[i] * sum(x * x for x in g[i]) for i in range(m)) / m**2 + beta * sum(x * x for x in mean)
    mm, tau = sp.symbols("m tau", positive=True)
    q, Li, p = sp.symbols("q L_i p", positive=True)
    steps = [
        _identity("(1/m^2) sum_ij M_ij <g_i, g_j> = (1/m^2) sum_i d_i ||g_i||^2 + beta ||grad f||^2", quad, split),
        _identity("tau-nice: d L/m = (m - tau)/(tau(m-1)) L", (mm / tau - mm * (tau - 1) / (tau * (mm - 1))) * Li / mm, (mm - tau) / (tau * (mm - 1)) * Li),
        _identity("independent: d_i L_i/m = (1 - p_i) L_i/(p_i m)", (1 / p - 1) * Li / mm, (1 - p) * Li / (p * mm)),
        _identity("with replacement: d_i L_i/m = L_i/(tau m q_i)", 1 / (tau * q) * Li / mm, Li / (tau * mm * q)),
        _identity("single uniform: d = m gives A = max L_i", mm * Li / mm, Li),
        _identity("importance q_i = L_i/sum L: d_i L_i/m = sum L/m", (1 / q) * Li / mm, (Li / q) / mm),
    ]
    return _result(
        "sampling.prop3_rows",
        "the recorded rows of [18, Proposition 3] are valid expected-smoothness constants",
        steps,
        premises=("||grad f_i||^2 <= 2 L_i (f_i - f_i^inf) for L_i-smooth f_i bounded below", "max over i bounds the weighted average"),
        claim_ids=("kr.prop3", "kr.prop2", "paper.lemma1"),
        notes="With-replacement and tau-nice rows: recorded B = 1 >= exact beta (1 - 1/tau and m(tau-1)/(tau(m-1))).",
    )


def prove_prop2(m: int = 3, d: int = 2) -> ProofResult:
    r"""[18, Proposition 2] (Lemma 1's citation): :math:`\|rac1m\sum_i a_i\|^2 \le rac1m\sum_i\|a_i\|^2` with
    :math:`a_i = v_i
abla f_i`, then :math:`\|
abla f_i\|^2 \le 2L_i(f_i - f_i^{\inf})` and
    :math:`rac1m\sum_i(f_i - f_i^{\inf}) = f - f^{\inf} + \Delta^{\inf}` give :math:`A = \max_iL_i\mathbb E[v_i^2]`, :math:`B = 0`, :math:`C = 2A\Delta^{\inf}`.

    Certificate: :math:`rac1m\sum_i\|a_i\|^2 - \|rac1m\sum_ia_i\|^2 = rac1{m^2}\sum_{i<j}\|a_i - a_j\|^2`
    (checked for the given ``m``, ``d``).
    """
    a = [sp.symbols(f"a{i + 1}_1:{d + 1}", real=True) for i in range(m)]
    mean = [sum(a[i][k] for i in range(m)) / m for k in range(d)]
    lhs = sum(sum(x * x for x in a[i]) for i in range(m)) / m - sum(x * x for x in mean)
    sos = sum(sum((a[i][k] - a[j][k]) ** 2 for k in range(d)) for i in range(m) for j in range(i + 1, m)) / m**2
    fi, finf, fbar, f_inf = sp.symbols("f_i f_i_inf fbar f_inf", real=True)
    steps = [
        _identity("Jensen for the squared norm over components", lhs, sos),
        _sign("sum of squares", sos),
        _identity(
            "mean of f_i - f_i^inf = (f - f_inf) + Delta_inf",
            fbar - finf,
            (fbar - f_inf) + (f_inf - finf),
        ),
    ]
    return _result(
        "kr.prop2",
        "E||grad f_v||^2 <= 2 max_i(L_i E[v_i^2]) (f - f_inf) + 2 max_i(L_i E[v_i^2]) Delta_inf",
        steps,
        premises=(
            "||grad f_i||^2 <= 2 L_i (f_i - f_i^inf) for L_i-smooth f_i bounded below",
            "a weighted average is at most the largest weight times the average (nonnegative terms)",
            _EXPECTATION,
        ),
        claim_ids=("kr.prop2", "paper.lemma1"),
    )


def prove_remark1() -> ProofResult:
    r"""Remark 1: [18, Propositions 2 and 3] give :math:`A, B, C` under Proposition 1's hypotheses, so (9)
    holds for the inexact gradient with :math:`	ilde A, 	ilde B, 	ilde C` built from them."""
    steps = [
        _from(prove_prop2(), "Proposition 2's constants satisfy (11)"),
        _from(prove_prop3_rows_valid(), "Proposition 3's rows satisfy (11)"),
        _from(prove_prop1_eq9(), "(11) implies (9)"),
    ]
    return _result(
        "remark1",
        "the constants of [18, Propositions 2 and 3] give (9) for z_v with A~, B~, C~",
        steps,
        premises=("the hypotheses of [18, Propositions 2 and 3] (Assumption 1, E[v_i^2] < inf) are Proposition 1's",),
        claim_ids=("paper.remark1.prop2", "paper.remark1.prop3"),
    )


# ----------------------------------------------------------------------------------------------


PROOFS: dict[str, Callable[[], Any]] = {
    "cauchy_schwarz": cauchy_schwarz,
    "jensen_square": jensen_square,
    "norm_of_mean": norm_of_mean,
    "lemma2": prove_lemma2,
    "lemma3": prove_lemma3,
    "prop1_eq8": prove_prop1_eq8,
    "prop1_eq9": prove_prop1_eq9,
    "b_positive": prove_b_positive,
    "theorem1_mapping": prove_theorem1_mapping,
    "theorem1_as_printed": disprove_theorem1,
    "theorem1_constants_positive": check_theorem1_constants_positive,
    "corollary1_parameters": prove_corollary1_parameters,
    "corollary1_from_printed": prove_corollary1_from_printed,
    "corollary1_from_source": prove_corollary1_from_source,
    "remark2": check_remark2,
    "optimal_zeta_bias_floor": prove_optimal_zeta_bias_floor,
    "optimal_theorem1_zeta": prove_optimal_theorem1_zeta,
    "optimal_theorem1_eta": prove_optimal_theorem1_eta,
    "optimal_corollary1_eta": prove_optimal_corollary1_eta,
    "with_replacement_moments": prove_with_replacement_moments,
    "tau_nice_moments": prove_tau_nice_moments,
    "independent_moments": prove_independent_moments,
    "prop3_rows": prove_prop3_rows_valid,
    "prop2": prove_prop2,
    "remark1": prove_remark1,
}
"""Every proof function, by name (some return several results)."""


def prove_all() -> tuple[ProofResult, ...]:
    """Run every proof; returns the flat tuple of results."""
    out: list[ProofResult] = []
    for name, fn in PROOFS.items():
        res = fn()
        got = res if isinstance(res, tuple) else (res,)
        for r in got:
            logger.info("%s: %s", r.name, r.status)
        out.extend(got)
    return tuple(out)
