r"""Problem families, sampling laws and error models on which the claims are searched, with their JSON form.

Everything is generated exactly (rationals) through a :class:`Picker`, so the same generator serves
seeded random draws (:class:`RandomPicker`, deterministic grids) and hypothesis strategies
(:class:`DrawPicker`, which shrinks towards the first option of every choice: options are listed
simplest first).

Families of :math:`f_i(\theta) = \frac12(\theta - x_i)^\top Q_i(\theta - x_i) + r_i` with
:math:`Q_i = R_i\,\mathrm{diag}(\lambda_i)R_i^\top \succeq 0` (:math:`R_i` rational orthogonal, so the
:math:`L_i = \max\lambda_i` of Assumption 1 are exact):

* ``"commuting"``: one rotation for all :math:`i`;
* ``"general"``: one rotation per component (non-commuting Hessians);
* ``"interpolating"``: common minimizer, :math:`r_i = 0` (:math:`\Delta^{\inf} = 0`);
* ``"bilevel"``: the upper level of a :class:`~validation.engine.bilevel_quadratic.QuadraticBilevel` problem,
  whose lower level is solved by :math:`K` gradient steps (affine error, exact).

Sampling laws (:class:`LawSpec`): the rows of [18, Proposition 3] (single uniform, single importance,
tau-nice, independent, with replacement) and explicit finite laws, heavy-tailed ones included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

from theory.sampling import FiniteLaw, Independent, SamplingLaw, SingleImportance, SingleUniform, TauNice, WithReplacement

from . import rational as rq
from .bilevel_quadratic import LowerSolver, QuadraticBilevel
from .exact import AffineBias, QuadraticFiniteSum, Schedule, support_of

logger = logging.getLogger(__name__)

__all__ = [
    "Picker",
    "RandomPicker",
    "DrawPicker",
    "LawSpec",
    "Scenario",
    "LAW_KINDS",
    "BIAS_KINDS",
    "PROBLEM_KINDS",
    "SCHEDULE_KINDS",
    "make_problem",
    "make_law",
    "make_bias",
    "make_schedule",
    "make_scenario",
    "make_bilevel",
    "theorem1_witness_scenario",
    "SMALL",
    "POSITIVE",
]

SMALL = tuple(Fraction(k, 2) for k in range(-4, 5))
"""Small rationals used for coordinates (simplest first after sorting by size)."""

POSITIVE = (Fraction(1), Fraction(2), Fraction(1, 2), Fraction(3), Fraction(1, 4), Fraction(4))
"""Positive curvatures (eigenvalues of the :math:`Q_i`)."""

LAW_KINDS = ("single_uniform", "tau_nice", "single_importance", "independent", "with_replacement", "heavy_tailed")
BIAS_KINDS = ("zero", "constant", "component", "component_affine", "outcome_affine", "affine")
PROBLEM_KINDS = ("commuting", "general", "interpolating", "bilevel")
SCHEDULE_KINDS = ("constant", "geometric", "power", "step")


class Picker:
    """Source of choices for the generators (random, or hypothesis draws)."""

    def pick(self, options: Sequence[Any]) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def integer(self, lo: int, hi: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def small(self) -> Fraction:
        """A small rational, sorted by magnitude so shrinking goes towards 0."""
        return self.pick(sorted(SMALL, key=abs))


class RandomPicker(Picker):
    """Choices from a seeded numpy generator."""

    def __init__(self, rng: np.random.Generator | int) -> None:
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))


class DrawPicker(Picker):
    """Choices drawn by a hypothesis ``draw`` (inside ``st.composite``); shrinks to the first option."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self._draw = draw
        self._st = st

    def pick(self, options: Sequence[Any]) -> Any:
        return self._draw(self._st.sampled_from(list(options)))

    def integer(self, lo: int, hi: int) -> int:
        return int(self._draw(self._st.integers(min_value=lo, max_value=hi)))


# ----------------------------------------------------------------------------------------------
# sampling laws


@dataclass(frozen=True)
class LawSpec:
    """A sampling law by kind and exact parameters; :meth:`build` gives the :class:`theory.sampling.SamplingLaw`.

    Kinds: ``single_uniform`` (m), ``single_importance`` (q), ``tau_nice`` (m, tau), ``independent`` (p),
    ``with_replacement`` (q, tau), ``heavy_tailed`` (m, levels, spread: :math:`v = s\\,m\\,e_i` with
    :math:`i` uniform and a truncated heavy-tailed weight :math:`s`, :math:`\\mathbb E s = 1`),
    ``finite`` (vectors, probs).
    """

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self) -> SamplingLaw:
        p = self.params
        try:
            if self.kind == "single_uniform":
                return SingleUniform(int(p["m"]))
            if self.kind == "single_importance":
                return SingleImportance(rq.as_exact(p["q"]))
            if self.kind == "tau_nice":
                return TauNice(int(p["m"]), int(p["tau"]))
            if self.kind == "independent":
                return Independent(rq.as_exact(p["p"]))
            if self.kind == "with_replacement":
                return WithReplacement(rq.as_exact(p["q"]), int(p["tau"]))
            if self.kind == "heavy_tailed":
                vecs, probs = _heavy_tailed(int(p["m"]), int(p["levels"]), rq.F(p.get("spread", 2)))
                return FiniteLaw(vecs, probs)
            if self.kind == "finite":
                return FiniteLaw(rq.as_exact(p["vectors"]), rq.as_exact(p["probs"]))
        except KeyError as err:
            raise ValueError(f"sampling law {self.kind!r} is missing the parameter {err}") from None
        raise ValueError(f"unknown sampling law kind {self.kind!r}; known: {LAW_KINDS + ('finite',)}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": {k: rq.encode(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "LawSpec":
        if not isinstance(obj, dict) or "kind" not in obj:
            raise ValueError(f"a sampling law must be an object with a 'kind'; got {obj!r}")
        params = {}
        for k, v in obj.get("params", {}).items():
            params[k] = v if isinstance(v, int) and k in ("m", "tau", "levels") else rq.decode(v)
        for k in ("m", "tau", "levels"):
            if k in params:
                params[k] = int(params[k])
        return cls(obj["kind"], params)

    def describe(self) -> str:
        p = self.params
        if self.kind in ("single_uniform",):
            return f"single uniform (m={p['m']})"
        if self.kind == "tau_nice":
            return f"{p['tau']}-nice (m={p['m']})"
        if self.kind == "heavy_tailed":
            return f"heavy-tailed single element (m={p['m']}, {p['levels']} levels)"
        if self.kind in ("single_importance", "independent", "with_replacement"):
            key = "q" if "q" in p else "p"
            vals = ", ".join(str(rq.F(v)) for v in np.asarray(p[key], dtype=object).ravel())
            extra = f", tau={p['tau']}" if "tau" in p else ""
            return f"{self.kind.replace('_', ' ')} ({key}=[{vals}]{extra})"
        return self.kind


def _heavy_tailed(m: int, levels: int, spread: Fraction) -> tuple[np.ndarray, np.ndarray]:
    """``v = s m e_i``: :math:`s_j \\propto \\text{spread}^j` w.p. :math:`\\propto 3^{-j}`, normalised to :math:`\\mathbb E s = 1`."""
    w = [Fraction(1, 3**j) for j in range(levels)]
    tot = sum(w)
    probs_s = [x / tot for x in w]
    vals = [spread**j for j in range(levels)]
    mean = sum(p * v for p, v in zip(probs_s, vals))
    vals = [v / mean for v in vals]
    vecs, probs = [], []
    for i in range(m):
        for ps, s in zip(probs_s, vals):
            v = [Fraction(0)] * m
            v[i] = s * m
            vecs.append(v)
            probs.append(ps / m)
    return np.array(vecs, dtype=object), np.array(probs, dtype=object)


def _probabilities(pk: Picker, m: int) -> list[Fraction]:
    weights = [pk.pick((1, 2, 3, 5)) for _ in range(m)]
    tot = sum(weights)
    return [Fraction(w, tot) for w in weights]


def make_law(pk: Picker, m: int, kind: str | None = None, L: Sequence[Any] | None = None) -> LawSpec:
    """A sampling law on :math:`m` components; ``kind`` from :data:`LAW_KINDS` (picked when ``None``).

    With ``L`` given, ``single_importance`` may use :math:`q_i \\propto L_i` (the Proposition 3 row).
    """
    kind = kind or pk.pick(LAW_KINDS)
    if kind == "single_uniform":
        return LawSpec(kind, {"m": m})
    if kind == "tau_nice":
        return LawSpec(kind, {"m": m, "tau": pk.integer(1, m)})
    if kind == "single_importance":
        if L is not None and sum(rq.F(x) for x in L) > 0 and all(rq.F(x) > 0 for x in L) and pk.pick((True, False)):
            tot = sum(rq.F(x) for x in L)
            return LawSpec(kind, {"q": [rq.F(x) / tot for x in L]})
        return LawSpec(kind, {"q": _probabilities(pk, m)})
    if kind == "independent":
        return LawSpec(kind, {"p": [pk.pick((Fraction(1, 2), Fraction(1), Fraction(1, 3), Fraction(3, 4), Fraction(1, 5))) for _ in range(m)]})
    if kind == "with_replacement":
        return LawSpec(kind, {"q": _probabilities(pk, m), "tau": pk.integer(1, 3)})
    if kind == "heavy_tailed":
        return LawSpec(kind, {"m": m, "levels": pk.integer(2, 6), "spread": pk.pick((Fraction(2), Fraction(5, 2), Fraction(3)))})
    raise ValueError(f"unknown law kind {kind!r}; known: {LAW_KINDS}")


# ----------------------------------------------------------------------------------------------
# problems


def _rotation(pk: Picker, d: int) -> np.ndarray:
    if d == 1:
        return np.array([[Fraction(1)]], dtype=object)
    entries = [pk.pick((Fraction(0), Fraction(1, 2), Fraction(1), Fraction(-1, 3), Fraction(2))) for _ in range(d * (d - 1) // 2)]
    return rq.cayley_orthogonal(entries, d)


def make_problem(pk: Picker, m: int, d: int, kind: str | None = None) -> QuadraticFiniteSum:
    r"""A random exact quadratic finite sum (module docstring); ``kind`` from ``commuting``, ``general``, ``interpolating``."""
    kind = kind or pk.pick(("commuting", "general", "interpolating"))
    if kind not in ("commuting", "general", "interpolating"):
        raise ValueError(f"problem kind must be commuting, general or interpolating here; got {kind!r}")
    common = _rotation(pk, d)
    center = np.array([pk.small() for _ in range(d)], dtype=object)
    Q, b, c = [], [], []
    for i in range(m):
        R = common if kind != "general" else _rotation(pk, d)
        lam = [pk.pick((Fraction(0),) + POSITIVE) if i > 0 or j > 0 else pk.pick(POSITIVE) for j in range(d)]
        Qi = R.dot(np.diag(np.array(lam, dtype=object))).dot(R.T)
        xi = center if kind == "interpolating" else np.array([pk.small() for _ in range(d)], dtype=object)
        ri = Fraction(0) if kind == "interpolating" else pk.pick((Fraction(0), Fraction(1, 2), Fraction(1)))
        Q.append(Qi)
        b.append(-Qi.dot(xi))
        c.append(xi.dot(Qi.dot(xi)) / 2 + ri)
    return QuadraticFiniteSum(np.array(Q, dtype=object), np.array(b, dtype=object), np.array(c, dtype=object))


def make_bilevel(pk: Picker, m: int, n: int, d: int) -> QuadraticBilevel:
    """A random exact :class:`QuadraticBilevel` (lower-level Hessians with rational spectra)."""
    H, J, y, xs = [], [], [], []
    for _ in range(m):
        R = _rotation(pk, n)
        lam = [pk.pick((Fraction(1), Fraction(2), Fraction(4), Fraction(1, 2), Fraction(8))) for _ in range(n)]
        H.append(R.dot(np.diag(np.array(lam, dtype=object))).dot(R.T))
        J.append(np.array([[pk.small() for _ in range(d)] for _ in range(n)], dtype=object))
        y.append(np.array([pk.small() for _ in range(n)], dtype=object))
        xs.append(np.array([pk.small() for _ in range(n)], dtype=object))
    return QuadraticBilevel(np.array(H, dtype=object), np.array(J, dtype=object), np.array(y, dtype=object), np.array(xs, dtype=object))


def make_schedule(pk: Picker, kind: str | None = None, *, summable: bool = False, horizon: int | None = None) -> Schedule:
    """An accuracy schedule; ``summable`` restricts to :math:`\\sum_t\\sigma_t^2 < \\infty` (Remark 2)."""
    kinds = ("geometric", "power") if summable else SCHEDULE_KINDS
    kind = kind or pk.pick(kinds)
    if kind == "constant":
        return Schedule("constant", Fraction(1))
    if kind == "geometric":
        return Schedule("geometric", Fraction(1), rho=pk.pick((Fraction(9, 10), Fraction(1, 2), Fraction(99, 100))))
    if kind == "power":
        return Schedule("power", Fraction(1), p=pk.pick((1, 2)))
    at = horizon if horizon is not None else pk.integer(1, 50)
    return Schedule("step", Fraction(1), after=pk.pick((Fraction(1, 10), Fraction(0), Fraction(1, 2))), at=int(at))


def make_bias(pk: Picker, problem: QuadraticFiniteSum, law: SamplingLaw, kind: str | None = None,
              schedule: Schedule | None = None, scale: Fraction = Fraction(1)) -> AffineBias:
    r"""An error model for ``problem`` under ``law`` (kinds :data:`BIAS_KINDS`, ``scale`` multiplies it).

    ``zero``; ``constant`` (:math:`e_v = r`); ``component`` (:math:`e_v = \frac1m\sum_iv_ir_i`);
    ``component_affine`` (:math:`\frac1m\sum_iv_i(P_i\theta + r_i)`); ``outcome_affine`` (one affine map per
    outcome); ``affine`` (:math:`e_v = P\theta + r` for every outcome).
    """
    kind = kind or pk.pick(BIAS_KINDS)
    d, m = problem.d, problem.m
    sched = schedule or Schedule()

    def vec() -> np.ndarray:
        return np.array([pk.small() * scale for _ in range(d)], dtype=object)

    def mat() -> np.ndarray:
        return np.array([[pk.pick((Fraction(0), Fraction(1, 4), Fraction(-1, 4), Fraction(1, 2), Fraction(-1, 2))) * scale
                          for _ in range(d)] for _ in range(d)], dtype=object)

    if kind == "zero":
        return AffineBias.zero(d).with_schedule(sched)
    if kind == "constant":
        return AffineBias("constant", vec(), None, sched)
    if kind == "affine":
        return AffineBias("constant", vec(), mat(), sched)
    if kind == "component":
        return AffineBias("component", np.array([vec() for _ in range(m)], dtype=object), None, sched)
    if kind == "component_affine":
        return AffineBias("component", np.array([vec() for _ in range(m)], dtype=object),
                          np.array([mat() for _ in range(m)], dtype=object), sched)
    if kind == "outcome_affine":
        K = support_of(law).vectors.shape[0]
        return AffineBias("outcome", np.array([vec() for _ in range(K)], dtype=object),
                          np.array([mat() for _ in range(K)], dtype=object), sched)
    raise ValueError(f"unknown bias kind {kind!r}; known: {BIAS_KINDS}")


# ----------------------------------------------------------------------------------------------
# scenarios


@dataclass(frozen=True)
class Scenario:
    r"""A quadratic finite sum, a sampling law, an error model and a start :math:`\theta_0`: everything but the step.

    ``origin`` records how it was made (family, bilevel problem and solver), for the report.
    """

    problem: QuadraticFiniteSum
    law: LawSpec
    bias: AffineBias
    theta0: Any
    origin: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.problem.exact:
            raise ValueError("a scenario holds an exact problem (Fractions); convert floats with fractions first")
        object.__setattr__(self, "theta0", rq.as_exact(self.theta0).reshape(self.problem.d))

    def sampling_law(self) -> SamplingLaw:
        law = self.law.build()
        if law.m != self.problem.m:
            raise ValueError(f"the law samples m = {law.m} components; the problem has m = {self.problem.m}")
        return law

    def to_json(self) -> dict[str, Any]:
        pr = self.problem
        return {
            "problem": {"Q": rq.encode(pr.Q), "b": rq.encode(pr.b), "c": rq.encode(pr.c)},
            "law": self.law.to_json(),
            "bias": self.bias.to_json(),
            "theta0": rq.encode(self.theta0),
            "origin": self.origin,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Scenario":
        try:
            pr = obj["problem"]
            problem = QuadraticFiniteSum(rq.decode(pr["Q"]), rq.decode(pr["b"]), rq.decode(pr["c"]))
            return cls(problem, LawSpec.from_json(obj["law"]), AffineBias.from_json(obj["bias"]),
                       rq.decode(obj["theta0"]), obj.get("origin", {}))
        except KeyError as err:
            raise ValueError(f"a scenario needs problem (Q, b, c), law, bias and theta0; missing {err}") from None

    def describe(self) -> str:
        pr = self.problem
        fam = self.origin.get("family", "quadratic")
        bias = self.origin.get("bias", self.bias.mode)
        return f"{fam} (m={pr.m}, d={pr.d}), {self.law.describe()}, error: {bias}, schedule: {self.bias.schedule.kind}"


def make_scenario(
    pk: Picker,
    *,
    m: int | None = None,
    d: int | None = None,
    problem_kind: str | None = None,
    law_kind: str | None = None,
    bias_kind: str | None = None,
    schedule: Schedule | None = None,
    theta_independent: bool = False,
    bias_scale: Fraction | None = None,
) -> Scenario:
    """A random exact scenario; unspecified parts are picked. ``theta_independent`` restricts errors to :math:`P = 0`."""
    m = m if m is not None else pk.integer(1, 4)
    d = d if d is not None else pk.pick((1, 2, 3))
    problem_kind = problem_kind or pk.pick(PROBLEM_KINDS)
    origin: dict[str, Any] = {"family": problem_kind}
    scale = bias_scale if bias_scale is not None else pk.pick((Fraction(1), Fraction(1, 10), Fraction(2)))
    if problem_kind == "bilevel":
        n = pk.integer(1, 2)
        bl = make_bilevel(pk, m, n, d)
        problem = bl.problem()
        law_spec = make_law(pk, m, law_kind, problem.smoothness())
        law = law_spec.build()
        if theta_independent or bias_kind is not None and bias_kind != "bilevel":
            bias = make_bias(pk, problem, law, bias_kind if bias_kind not in (None, "bilevel") else pk.pick(("zero", "constant", "component")), schedule, scale)
            origin["bias"] = bias_kind or "picked"
        else:
            solver = LowerSolver(K=pk.integer(0, 4), adjoint=pk.pick(("exact", "gd", "unrolled")), K_adjoint=pk.integer(0, 3))
            bias = bl.error_bias(solver, schedule)
            origin.update({"bias": f"bilevel K={solver.K}, adjoint={solver.adjoint}", "bilevel": bl.to_json(), "solver": solver.to_json()})
    else:
        problem = make_problem(pk, m, d, problem_kind)
        law_spec = make_law(pk, m, law_kind, problem.smoothness())
        law = law_spec.build()
        kinds = ("zero", "constant", "component") if theta_independent else BIAS_KINDS
        bk = bias_kind or pk.pick(kinds)
        bias = make_bias(pk, problem, law, bk, schedule, scale)
        origin["bias"] = bk
    theta0 = np.array([pk.small() for _ in range(problem.d)], dtype=object)
    if all(e == 0 for e in problem.grad(theta0).tolist()):
        theta0 = theta0 + 1
    return Scenario(problem, law_spec, bias, theta0, origin)


def theorem1_witness_scenario() -> Scenario:
    r"""Theorem 1's exponent witness: :math:`f_1 = \theta^2`, :math:`f_2 = 0`, single uniform, exact gradients, :math:`\theta_0 = 1`."""
    problem = QuadraticFiniteSum(
        np.array([[[Fraction(2)]], [[Fraction(0)]]], dtype=object),
        np.array([[Fraction(0)], [Fraction(0)]], dtype=object),
        np.array([Fraction(0), Fraction(0)], dtype=object),
    )
    return Scenario(problem, LawSpec("single_uniform", {"m": 2}), AffineBias.zero(1), [Fraction(1)],
                    {"family": "theorem 1 exponent witness", "bias": "zero"})
