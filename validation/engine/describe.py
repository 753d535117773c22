r"""Plain mathematics of a case for the report: :math:`f_i`, the sampling law, the error law, numbers.

Everything is rendered as Markdown with inline LaTeX (``$...$``), exact rationals where the case is
exact, so that a reader can redo the computation by hand.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import sympy as sp

from . import rational as rq
from .exact import AffineBias, Schedule, support_of
from .problems import Scenario

__all__ = ["num", "vec", "mat", "components", "law_text", "error_text", "schedule_text", "scenario_lines", "MAX_OUTCOMES"]

MAX_OUTCOMES = 8
"""Largest support listed outcome by outcome."""


def num(x: Any) -> str:
    """An exact number as LaTeX (``\\frac{p}{q}``), a float with 6 significant digits, ``\\infty``."""
    if x is None:
        return "-"
    if isinstance(x, Fraction) or (isinstance(x, (int, np.integer)) and not isinstance(x, bool)):
        f = rq.F(x)
        if len(str(f.numerator)) + len(str(f.denominator)) > 40:
            return f"{float(f):.8g}"
        return sp.latex(sp.Rational(f.numerator, f.denominator))
    if isinstance(x, sp.Basic):
        if x in (sp.oo, sp.zoo):
            return r"\infty"
        s = sp.latex(x)
        return s if len(s) < 60 else f"{float(sp.N(x, 20)):.8g}"
    f = float(x)
    if math.isinf(f):
        return r"\infty" if f > 0 else r"-\infty"
    return f"{f:.6g}"


def vec(v: Any) -> str:
    """A vector as a LaTeX row ``(a, b)`` (a scalar for length 1)."""
    arr = np.asarray(v, dtype=object).ravel().tolist()
    if len(arr) == 1:
        return num(arr[0])
    return "(" + ", ".join(num(e) for e in arr) + ")"


def mat(M: Any) -> str:
    """A matrix as a LaTeX ``pmatrix`` (a scalar for 1x1)."""
    arr = np.asarray(M, dtype=object)
    if arr.size == 1:
        return num(arr.ravel()[0])
    rows = [" & ".join(num(e) for e in row) for row in arr.tolist()]
    return r"\begin{pmatrix}" + r" \\ ".join(rows) + r"\end{pmatrix}"


def _theta(d: int) -> list[Any]:
    return [sp.Symbol(r"\theta") ] if d == 1 else [sp.Symbol(rf"\theta_{k + 1}") for k in range(d)]


def components(sc: Scenario) -> list[str]:
    r""":math:`f_i(\theta)` as polynomials, one per component."""
    pr = sc.problem
    th = _theta(pr.d)
    out = []
    for i in range(pr.m):
        Q = sp.Matrix([[sp.Rational(str(rq.F(e))) for e in row] for row in pr.Q[i].tolist()])
        b = sp.Matrix([sp.Rational(str(rq.F(e))) for e in pr.b[i].tolist()])
        x = sp.Matrix(th)
        f = sp.expand((x.T * Q * x)[0] / 2 + (b.T * x)[0] + sp.Rational(str(rq.F(pr.c[i]))))
        out.append(f"$f_{{{i + 1}}}(\\theta) = {sp.latex(f)}$")
    return out


def law_text(sc: Scenario) -> str:
    """The sampling law: its name and, when small, its outcomes with probabilities."""
    law = sc.sampling_law()
    sup = support_of(law)
    head = sc.law.describe()
    if sup.vectors.shape[0] > MAX_OUTCOMES:
        return f"{head}; {sup.vectors.shape[0]} outcomes, $\\mathbb E[v_i] = 1$"
    parts = [f"$v = {vec(v)}$ w.p. ${num(rq.F(p))}$" for v, p in zip(rq.as_exact(sup.vectors), rq.as_exact(sup.probs))]
    return f"{head}: " + "; ".join(parts)


def schedule_text(s: Schedule) -> str:
    r"""The accuracy multiplier :math:`\sigma_t`."""
    if s.kind == "constant":
        return f"$\\sigma_t = {num(rq.F(s.sigma))}$ for every $t$"
    if s.kind == "geometric":
        return f"$\\sigma_t = {num(rq.F(s.sigma))}\\cdot({num(rq.F(s.rho))})^t$"
    if s.kind == "power":
        return f"$\\sigma_t = {num(rq.F(s.sigma))}\\,(t+1)^{{-{num(rq.F(s.p))}}}$"
    return (f"$\\sigma_t = {num(rq.F(s.sigma))}$ for $t < {int(s.at)}$ and $\\sigma_t = {num(rq.F(s.after))}$ "
            f"for $t \\ge {int(s.at)}$")


def error_text(sc: Scenario) -> str:
    r"""The error law :math:`e_v(\theta, t)`."""
    bias: AffineBias = sc.bias
    if bias.is_zero:
        return "exact hypergradients: $e_v = 0$"
    sched = schedule_text(bias.schedule)
    if bias.mode == "constant":
        P = "" if bias.P is None else f"{mat(bias.P)}\\,\\theta + "
        return f"$e_v(\\theta, t) = \\sigma_t\\,({P}{vec(bias.r)})$ for every outcome; {sched}"
    if bias.mode == "component":
        per = []
        for i in range(sc.problem.m):
            P = "" if bias.P is None else f"{mat(bias.P[i])}\\,\\theta + "
            per.append(f"$\\mathrm{{err}}_{{{i + 1}}}(\\theta) = {P}{vec(bias.r[i])}$")
        origin = sc.origin.get("bias", "")
        src = f" ({origin})" if str(origin).startswith("bilevel") else ""
        return (f"per component{src}: $e_v(\\theta, t) = \\frac{{\\sigma_t}}{{m}}\\sum_i v_i\\,\\mathrm{{err}}_i(\\theta)$ with "
                + ", ".join(per) + f"; {sched}")
    per = []
    for k in range(bias.r.shape[0]):
        P = "" if bias.P is None else f"{mat(bias.P[k])}\\,\\theta + "
        per.append(f"outcome {k + 1}: ${P}{vec(bias.r[k])}$")
    return "one affine map per outcome of the law, $e_v(\\theta, t) = \\sigma_t(P_v\\theta + r_v)$: " + "; ".join(per) + f"; {sched}"


def scenario_lines(sc: Scenario) -> list[str]:
    """Markdown bullet lines: components, law, error law, start."""
    pr = sc.problem
    fam = sc.origin.get("family", "quadratic")
    lines = [f"- problem ({fam}, $m = {pr.m}$, $d = {pr.d}$): " + ", ".join(components(sc))
             + f"; $f = \\frac1m\\sum_i f_i$, $f^{{\\inf}} = {num(pr.f_inf())}$"]
    lines.append(f"- sampling law: {law_text(sc)}")
    lines.append(f"- error law: {error_text(sc)}")
    lines.append(f"- start: $\\theta_0 = {vec(sc.theta0)}$")
    return lines


def values_line(values: dict[str, Any], names: Sequence[tuple[str, str]]) -> str:
    """``name = value`` pairs of the given observables (LaTeX names), where present."""
    parts = [f"${tex} = {num(values[n])}$" for n, tex in names if n in values and values[n] is not None]
    return ", ".join(parts)
