r"""Registry of the paper's claims, exactly as printed, and of the source results they rest on.

Each :class:`Claim` has an id, its source (equation, lemma, theorem number), its hypotheses as
predicates on an instance (:mod:`theory.instances`), its left and right sides as functions of the
instance, the printed relation, and its sympy form where the statement is algebraic. ``check``
returns a :class:`ClaimCheck` carrying ``(lhs, rhs)`` (the PEPit-style ``(observed, bound)`` pair),
whether the hypotheses hold and whether the relation holds -- elementwise for batched instances,
exactly for exact instances (``None`` where sympy cannot decide: undecided, never true).

Claims are encoded *as printed*, including ones that do not hold (Theorem 1's first term, see
:mod:`theory.proofs`); where the printed statement departs from what its cited source gives, a
second claim encodes the source route (suffix ``.from_source``, ``.uniform_accuracy``).

Ids
---
paper.lemma1, paper.lemma2, paper.lemma3, paper.prop1.eq8, paper.prop1.eq9, paper.theorem1,
paper.theorem1.from_source, paper.corollary1, paper.corollary1.uniform_accuracy,
paper.remark1.prop2, paper.remark1.prop3, paper.remark2, kr.prop2, kr.prop3, kr.theorem,
kr.corollary, demidovich.assumption9.inner, demidovich.assumption9.second_moment,
demidovich.theorem3, ehrhardt_roberts.a_posteriori.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import sympy as sp

from . import _arith, bounds
from .constants import SYMBOLS, _a_tilde, _b, _b_tilde, _c, _c_tilde
from .instances import FiniteSumInstance, HypergradientErrorInstance, OracleInstance, RunInstance

logger = logging.getLogger(__name__)

__all__ = [
    "Hypothesis",
    "Claim",
    "ClaimCheck",
    "CLAIMS",
    "get_claim",
    "list_claims",
    "STEP_RTOL",
]

STEP_RTOL = 1e-12
"""Relative tolerance for "alpha equals the prescribed step" on float instances (exact ones: equality)."""

_HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Hypothesis:
    """A named, checkable hypothesis: ``predicate(instance)`` gives True/False (or None: undecided), elementwise."""

    name: str
    statement: str
    predicate: Callable[[Any], Any]


@dataclass(frozen=True)
class ClaimCheck:
    """Result of :meth:`Claim.check`.

    ``holds`` is only meaningful where ``applicable`` (all hypotheses hold); ``None`` entries are
    undecided. ``lhs``/``rhs`` are ``None`` when a side cannot be evaluated outside the hypotheses.
    """

    claim_id: str
    lhs: Any
    rhs: Any
    relation: str
    holds: Any
    applicable: Any
    hypotheses: dict[str, Any]

    @property
    def observed_bound(self) -> tuple[Any, Any]:
        """``(lhs, rhs)``: the observed value and the bound, as PEPit returns them."""
        return self.lhs, self.rhs

    @property
    def violated(self) -> Any:
        """True where all hypotheses hold and the relation is decided false (a counterexample)."""
        return _arith.and3(self.applicable, _not3(self.holds))


@dataclass(frozen=True)
class Claim:
    """A claim of the paper or of a cited source, as printed.

    Attributes
    ----------
    id, source, statement : str
        Identifier, citation (paper equation / lemma / theorem number or source result) and the
        printed statement.
    instance_type : type
        The instance class ``lhs``, ``rhs`` and the predicates take.
    hypotheses : tuple of Hypothesis
    lhs, rhs : callable
        Sides as functions of an instance.
    relation : str
        ``"<="``, ``">="`` or ``"=="`` (``lhs relation rhs``).
    sympy_form : callable or None
        Returns the statement as a sympy relation in :data:`theory.SYMBOLS` (algebraic claims).
    as_printed : bool
        True for the paper's or source's own statement; False for a derived reading.
    notes : str
        What differs from the printed text, and why.
    """

    id: str
    source: str
    statement: str
    instance_type: type
    hypotheses: tuple[Hypothesis, ...]
    lhs: Callable[[Any], Any]
    rhs: Callable[[Any], Any]
    relation: str
    sympy_form: Callable[[], sp.Basic] | None = None
    as_printed: bool = True
    notes: str = ""
    derived_from: tuple[str, ...] = field(default=())

    def hypotheses_hold(self, instance: Any) -> dict[str, Any]:
        """Evaluate each hypothesis predicate (elementwise; ``None`` = undecided)."""
        self._check_type(instance)
        out: dict[str, Any] = {}
        for h in self.hypotheses:
            try:
                out[h.name] = h.predicate(instance)
            except ValueError as err:
                logger.debug("hypothesis %s of %s not evaluable: %s", h.name, self.id, err)
                out[h.name] = False
        return out

    def _check_type(self, instance: Any) -> None:
        if not isinstance(instance, self.instance_type):
            raise ValueError(
                f"claim {self.id} takes a {self.instance_type.__name__}; got {type(instance).__name__}"
            )

    def check(self, instance: Any) -> ClaimCheck:
        """Evaluate hypotheses, both sides and the relation on ``instance``."""
        hyps = self.hypotheses_hold(instance)
        applicable = _arith.and3(*hyps.values()) if hyps else True
        try:
            lhs = self.lhs(instance)
            rhs = self.rhs(instance)
        except ValueError as err:
            if _all_true(applicable):
                raise
            logger.debug("claim %s: sides not evaluable outside the hypotheses: %s", self.id, err)
            return ClaimCheck(self.id, None, None, self.relation, None, applicable, hyps)
        holds = _arith.decide(lhs, rhs, self.relation)
        hyps = {k: _normalize(v) for k, v in hyps.items()}
        return ClaimCheck(self.id, lhs, rhs, self.relation, _normalize(holds), _normalize(applicable), hyps)

    def __call__(self, instance: Any) -> tuple[Any, Any]:
        """``(lhs, rhs)`` of the instance, PEPit style."""
        return self.check(instance).observed_bound


def _normalize(x: Any) -> Any:
    """Three-valued results as plain ``bool`` / ``bool`` arrays when nothing is undecided."""
    if isinstance(x, np.ndarray):
        if x.dtype == object and not any(e is None for e in x.flat):
            return x.astype(bool)
        return x
    if x is None:
        return None
    return bool(x)


def _not3(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        out = np.empty(x.shape, dtype=object)
        for idx, e in np.ndenumerate(x):
            out[idx] = None if e is None else (not bool(e))
        return out
    return None if x is None else (not bool(x))


def _all_true(x: Any) -> bool:
    return bool(np.all(np.asarray(x, dtype=object) == True))  # noqa: E712 (three-valued)


# ----------------------------------------------------------------------------------------------
# building blocks of the hypotheses


def _need(instance: Any, name: str) -> Any:
    value = getattr(instance, name)
    if value is None:
        raise ValueError(f"{type(instance).__name__}.{name} is needed by this claim")
    return value


def _gt(x: Any, bound: Any) -> Any:
    return _arith.and3(_arith.decide(x, bound, ">="), _not3(_arith.decide(x, bound, "==")))


def _ge(x: Any, bound: Any) -> Any:
    return _arith.decide(x, bound, ">=")


def _zero(instance: Any) -> Any:
    return Fraction(0) if getattr(instance, "exact", False) else 0.0


def _pos(name: str) -> Hypothesis:
    return Hypothesis(f"{name} > 0", f"{name} > 0", lambda inst: _gt(_need(inst, name), 0))


def _nonneg(*names: str) -> Hypothesis:
    return Hypothesis(
        f"{', '.join(names)} >= 0",
        f"{', '.join(names)} >= 0",
        lambda inst: _arith.and3(*(_ge(_need(inst, n), 0) for n in names)),
    )


_ZETA_HALF = Hypothesis("zeta > 1/2", "zeta > 1/2 so that b(zeta) > 0", lambda inst: _gt(_need(inst, "zeta"), _HALF))
_ZETA_POS = _pos("zeta")
_ETA_POS = _pos("eta")


def _approx_equal(x: Any, y: Any) -> Any:
    if _arith.mode_of(x, y) == "float":
        xf, yf = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        out = np.isclose(xf, yf, rtol=STEP_RTOL, atol=0.0)
        return bool(out) if out.ndim == 0 else out
    return _arith.decide(x, y, "==")


# ----------------------------------------------------------------------------------------------
# oracle claims: Lemmas 2, 3, Proposition 1, Assumption 9


def _lemma2_rhs(o: OracleInstance) -> Any:
    zeta = _need(o, "zeta")
    return o.grad_sq / (2 * zeta) + zeta / 2 * o.mean_error_norm**2


def _lemma3_rhs(o: OracleInstance) -> Any:
    eta = _need(o, "eta")
    return (1 + eta) / eta * o.second_moment + (1 + eta) * o.eps2


def _eq8_rhs(o: OracleInstance) -> Any:
    zeta = _need(o, "zeta")
    return _b(zeta) * o.grad_sq - _c(zeta, o.eps2)


def _abc_rhs(f_gap: Any, grad_sq: Any, A: Any, B: Any, C: Any) -> Any:
    return 2 * A * f_gap + B * grad_sq + C


def _eq9_rhs(o: OracleInstance) -> Any:
    eta = _need(o, "eta")
    return _abc_rhs(
        _need(o, "f_gap"),
        o.grad_sq,
        _a_tilde(eta, _need(o, "A")),
        _b_tilde(eta, _need(o, "B")),
        _c_tilde(eta, _need(o, "C"), o.eps2),
    )


def _eq11_holds(o: OracleInstance) -> Any:
    return _arith.decide(o.second_moment, _abc_rhs(_need(o, "f_gap"), o.grad_sq, _need(o, "A"), _need(o, "B"), _need(o, "C")), "<=")


def _biased(o: OracleInstance) -> Any:
    if o.biased is None:
        raise ValueError("OracleInstance.biased (constants of Assumption 9) is needed by this claim")
    return o.biased


S = SYMBOLS


def _sym_lemma2() -> sp.Basic:
    return sp.Le(sp.Abs(S.inner_bias), S.grad_sq / (2 * S.zeta) + S.zeta / 2 * S.mean_error_norm**2)


def _sym_lemma3() -> sp.Basic:
    return sp.Le(S.second_moment_z, (1 + S.eta) / S.eta * S.second_moment + (1 + S.eta) * S.eps2)


def _sym_eq8() -> sp.Basic:
    return sp.Ge(S.inner_z, _b(S.zeta) * S.grad_sq - _c(S.zeta, S.eps2))


def _sym_eq9() -> sp.Basic:
    return sp.Le(
        S.second_moment_z,
        2 * _a_tilde(S.eta, S.A) * S.f_gap + _b_tilde(S.eta, S.B) * S.grad_sq + _c_tilde(S.eta, S.C, S.eps2),
    )


def _sym_abc() -> sp.Basic:
    return sp.Le(S.second_moment, 2 * S.A * S.f_gap + S.B * S.grad_sq + S.C)


# ----------------------------------------------------------------------------------------------
# finite-sum claims: Lemma 1, Remark 1, Khaled & Richtarik Propositions 2 and 3


def _assumption1_pointwise(fs: FiniteSumInstance) -> Any:
    """Necessary pointwise consequence of Assumption 1: :math:`\\|\\nabla f_i\\|^2 \\le 2L_i(f_i - f_i^{\\inf})`."""
    sq = np.sum(fs.component_grads * fs.component_grads, axis=-1)
    gaps = 2 * fs.smoothness * (fs.component_values - fs.component_inf)
    verdict = _arith.decide(sq, gaps, "<=")
    arr = np.asarray(verdict, dtype=object)
    out = np.empty(arr.shape[:-1], dtype=object)
    for idx in np.ndindex(out.shape):
        out[idx] = _arith.and3(*arr[idx].tolist())
    return _arith.unwrap(out) if out.ndim else out[()]


def _inf_consistent(fs: FiniteSumInstance) -> Any:
    return _arith.and3(_ge(fs.f_gap, 0), _ge(fs.delta_inf, 0))


def _kr_constants(fs: FiniteSumInstance, row: str) -> tuple[Any, Any, Any]:
    zero = _zero(fs)
    consts = fs.law.prop2_constants(fs.smoothness, zero) if row == "prop2" else fs.law.prop3_constants(fs.smoothness, zero)
    A, B = consts.A, consts.B
    if fs.exact:
        A, B = _arith.to_exact(A), _arith.to_exact(B)
    else:
        A, B = float(A), float(B)
    return A, B, 2 * A * fs.delta_inf


def _kr_rhs(row: str) -> Callable[[FiniteSumInstance], Any]:
    def rhs(fs: FiniteSumInstance) -> Any:
        A, B, C = _kr_constants(fs, row)
        return _abc_rhs(fs.f_gap, fs.grad_sq, A, B, C)

    return rhs


def _remark1_rhs(row: str) -> Callable[[FiniteSumInstance], Any]:
    def rhs(fs: FiniteSumInstance) -> Any:
        eta = _need(fs, "eta")
        A, B, C = _kr_constants(fs, row)
        return _abc_rhs(fs.f_gap, fs.grad_sq, _a_tilde(eta, A), _b_tilde(eta, B), _c_tilde(eta, C, fs.eps2))

    return rhs


def _has_row(fs: FiniteSumInstance) -> bool:
    try:
        fs.law.prop3_constants(fs.smoothness, _zero(fs))
    except ValueError:
        return False
    return True


_A1 = Hypothesis(
    "assumption 1 (pointwise)",
    "f_i L_i-smooth and bounded below by f_i^inf; checked through ||grad f_i||^2 <= 2 L_i (f_i - f_i^inf)",
    _assumption1_pointwise,
)
_INF = Hypothesis(
    "f_inf consistent", "f(theta) >= f_inf >= mean_i f_i^inf (Delta_inf >= 0)", _inf_consistent
)
_SAMPLING = Hypothesis(
    "sampling vector", "E[v_i] = 1 and E[v_i^2] < inf (checked when the law is built)", lambda fs: True
)
_ROW = Hypothesis("Proposition 3 row", "the law is one of the rows of [18, Proposition 3]", _has_row)
_ERRORS = Hypothesis(
    "component errors", "per-component hypergradient errors are given", lambda fs: fs.component_errors is not None
)


# ----------------------------------------------------------------------------------------------
# run claims: Theorem 1, Corollary 1, Remark 2, sources


def _obs(r: RunInstance) -> Any:
    return r.observed_min


def _theorem1_kwargs(r: RunInstance, eps2: Any) -> dict[str, Any]:
    return dict(
        A=r.A, B=r.B, C=r.C, L=r.L, delta0=r.delta0, eps2=eps2, zeta=_need(r, "zeta"), eta=_need(r, "eta"),
        alpha=r.alpha, T=r.T,
    )


def _theorem1_step(r: RunInstance) -> Any:
    bound = bounds.theorem1_step_bound(zeta=_need(r, "zeta"), eta=_need(r, "eta"), B=r.B, L=r.L)
    return _arith.and3(_gt(r.alpha, 0), _arith.decide(r.alpha, bound, "<="))


_RUN_BASE = (
    _nonneg("A", "B", "C"),
    _pos("L"),
    _nonneg("delta0"),
)
_THM1_HYPS = (
    _ZETA_HALF,
    _ETA_POS,
    *_RUN_BASE,
    Hypothesis("E[eps_t^2] >= 0", "accuracies are nonnegative", lambda r: _all3(_ge(r.eps2, 0))),
    Hypothesis("0 < alpha <= c1/L", "step size 0 < alpha <= c1 / L_grad_f", _theorem1_step),
)


def _cor1_hyps(eps_name: str, eps_of: Callable[[RunInstance], Any]) -> tuple[Hypothesis, ...]:
    def iterations(r: RunInstance) -> Any:
        need = bounds.corollary1_iterations(
            A=r.A, B=r.B, C=r.C, L=r.L, delta0=r.delta0, eps2=eps_of(r), zeta=_need(r, "zeta"), eta=_need(r, "eta")
        )
        return _ge(r.T, need)

    def step(r: RunInstance) -> Any:
        prescribed = bounds.corollary1_step(
            A=r.A, B=r.B, C=r.C, L=r.L, eps2=eps_of(r), zeta=_need(r, "zeta"), eta=_need(r, "eta"), T=r.T
        )
        return _approx_equal(r.alpha, prescribed)

    return (
        _ZETA_HALF,
        _ETA_POS,
        *_RUN_BASE,
        Hypothesis(f"{eps_name} > 0", f"{eps_name} > 0", lambda r: _gt(eps_of(r), 0)),
        Hypothesis("T >= T(eps^2)", f"T >= T({eps_name}) of Corollary 1", iterations),
        Hypothesis("alpha = alpha(T)", "alpha is Corollary 1's min{...}", step),
    )


def _remark2_lhs(r: RunInstance) -> Any:
    if r.running_min_limit is None:
        raise ValueError(
            "Remark 2 is a statement about T -> infinity; give RunInstance.running_min_limit "
            "(the exact limit of min_{t<T} E||grad f(theta_t)||^2)"
        )
    return r.running_min_limit


def _summable(r: RunInstance) -> Any:
    if r.eps2_sum is None:
        return False
    seq = np.asarray(r.eps2)
    partial = np.sum(seq, axis=-1) if seq.ndim else 0
    return _arith.and3(_ge(r.eps2, 0) if seq.ndim == 0 else _all3(_ge(seq, 0)), _arith.decide(partial, r.eps2_sum, "<="))


def _all3(x: Any) -> Any:
    return _arith.and3(*np.asarray(x, dtype=object).flat)


def _kr_step(r: RunInstance) -> Any:
    bound = bounds.khaled_richtarik_step_bound(B=r.B, L=r.L)
    return _arith.and3(_gt(r.alpha, 0), _arith.decide(r.alpha, bound, "<="))


def _kr_cor_iterations(r: RunInstance) -> Any:
    need = bounds.khaled_richtarik_corollary_iterations(
        A=r.A, B=r.B, C=r.C, L=r.L, delta0=r.delta0, eps2=_need(r, "target_eps2")
    )
    return _ge(r.T, need)


def _kr_cor_step(r: RunInstance) -> Any:
    prescribed = bounds.khaled_richtarik_corollary_step(A=r.A, B=r.B, C=r.C, L=r.L, eps2=_need(r, "target_eps2"), K=r.T)
    return _approx_equal(r.alpha, prescribed)


def _dem_step(r: RunInstance) -> Any:
    bound = bounds.demidovich_step_bound(b=_need(r, "b"), B=r.B, L=r.L)
    return _arith.and3(_gt(r.alpha, 0), _arith.decide(r.alpha, bound, "<="))


def _sym_min_le(expr: sp.Expr) -> sp.Basic:
    return sp.Le(S.min_grad_sq, expr)


def _sym_cor1() -> sp.Basic:
    return _sym_min_le(bounds.corollary1_bound_expr())


def _sym_remark2() -> sp.Basic:
    return sp.Eq(sp.Symbol("lim_T_min_t_E_grad_f_sq", nonnegative=True), 0)


def _er_rhs(h: HypergradientErrorInstance) -> Any:
    return bounds.ehrhardt_roberts_bound(
        B_norm=h.B_norm, residual=h.residual, mu=h.mu, grad_g_norm=h.grad_g_norm, L_B=h.L_B, L_g=h.L_g, G=h.G
    )


def _sym_er() -> sp.Basic:
    Bn, R, mu, gg, LB, Lg, G, err = sp.symbols("B_norm R mu grad_g_norm L_B L_g G error_norm", nonnegative=True)
    return sp.Le(err, Bn * R / mu + gg * LB * G / mu**2 + Bn * Lg * G / mu**2 + LB * Lg * G**2 / mu**3)


# ----------------------------------------------------------------------------------------------
# the registry


def _claims() -> tuple[Claim, ...]:
    return (
        Claim(
            id="paper.lemma1",
            source="paper, Lemma 1 (citing [18, Proposition 2])",
            statement=(
                "Assumption 1 and E[v_i^2] < inf: there are A, B, C >= 0 with E||grad f_v||^2 <= "
                "2A (f - f_inf) + B ||grad f||^2 + C; instantiated with [18, Proposition 2]'s "
                "A = max_i L_i E[v_i^2], B = 0, C = 2 A Delta_inf"
            ),
            instance_type=FiniteSumInstance,
            hypotheses=(_A1, _INF, _SAMPLING),
            lhs=lambda fs: fs.second_moment,
            rhs=_kr_rhs("prop2"),
            relation="<=",
            sympy_form=_sym_abc,
            notes="Lemma 1 is existential; it cites [18, Proposition 2], whose constants instantiate it.",
            derived_from=("kr.prop2",),
        ),
        Claim(
            id="paper.lemma2",
            source="paper, Lemma 2, eq. (5)",
            statement="|<grad f, E e_v>| <= ||grad f||^2/(2 zeta) + (zeta/2) (E||e_v||)^2 for zeta > 0",
            instance_type=OracleInstance,
            hypotheses=(_ZETA_POS,),
            lhs=lambda o: _arith.absolute(o.inner_bias),
            rhs=_lemma2_rhs,
            relation="<=",
            sympy_form=_sym_lemma2,
        ),
        Claim(
            id="paper.lemma3",
            source="paper, Lemma 3, eq. (6)",
            statement="E||z_v||^2 <= (1+eta)/eta E||grad f_v||^2 + (1+eta) E||e_v||^2 for eta > 0",
            instance_type=OracleInstance,
            hypotheses=(_ETA_POS,),
            lhs=lambda o: o.second_moment_z,
            rhs=_lemma3_rhs,
            relation="<=",
            sympy_form=_sym_lemma3,
        ),
        Claim(
            id="paper.prop1.eq8",
            source="paper, Proposition 1, eq. (8)",
            statement="<grad f, E z_v> >= b(zeta) ||grad f||^2 - c(zeta, eps^2) for zeta > 0 (E grad f_v = grad f)",
            instance_type=OracleInstance,
            hypotheses=(_ZETA_POS, _ETA_POS),
            lhs=lambda o: o.inner_z,
            rhs=_eq8_rhs,
            relation=">=",
            sympy_form=_sym_eq8,
            notes="Printed for zeta > 0; b(zeta) > 0 (needed by [5, Assumption 9]) only for zeta > 1/2.",
        ),
        Claim(
            id="paper.prop1.eq9",
            source="paper, Proposition 1, eq. (9)",
            statement="E||z_v||^2 <= 2 A~(eta) (f - f_inf) + B~(eta) ||grad f||^2 + C~(eta, eps^2), given (11)",
            instance_type=OracleInstance,
            hypotheses=(
                _ZETA_POS,
                _ETA_POS,
                Hypothesis("A, B, C >= 0", "A, B, C >= 0", lambda o: _arith.and3(*(_ge(_need(o, n), 0) for n in "ABC"))),
                Hypothesis("f - f_inf >= 0", "f(theta) - f_inf >= 0", lambda o: _ge(_need(o, "f_gap"), 0)),
                Hypothesis("(11) at theta", "Lemma 1's inequality (11) holds at theta with A, B, C", _eq11_holds),
            ),
            lhs=lambda o: o.second_moment_z,
            rhs=_eq9_rhs,
            relation="<=",
            sympy_form=_sym_eq9,
            notes="The proof is pointwise in theta, so (11) is checked at the instance's point.",
        ),
        Claim(
            id="paper.theorem1",
            source="paper, Theorem 1 with c1..c6 of its proof",
            statement=(
                "min_{t<T} E||grad f(theta_t)||^2 <= (c2 + c3 L alpha^2)/(alpha T) delta0 + "
                "(c4 + c5 E[eps_T^2]) L alpha + c6 E[eps_T^2], 0 < alpha <= c1/L"
            ),
            instance_type=RunInstance,
            hypotheses=_THM1_HYPS,
            lhs=_obs,
            rhs=lambda r: bounds.theorem1_rhs(**_theorem1_kwargs(r, r.eps2_T), enforce_step=False),
            relation="<=",
            sympy_form=lambda: _sym_min_le(bounds.theorem1_rhs_expr()),
            notes=(
                "As printed (E[eps_T^2] at index T). Its first term has 1 + L A~ alpha^2 where the cited "
                "[5, Theorem 3] has (1 + L A~ alpha^2)^T; false in general (theory.proofs.theorem1_counterexample)."
            ),
        ),
        Claim(
            id="paper.theorem1.from_source",
            source="[5, Theorem 3] with Proposition 1's constants (the proof of Theorem 1)",
            statement=(
                "min_{t<T} E||grad f(theta_t)||^2 <= 2 (1 + L A~ alpha^2)^T delta0/(b alpha T) + "
                "L C~ alpha/b + c/b, eps^2 = max_{t<T} E[eps_t^2], 0 < alpha <= b/(L B~)"
            ),
            instance_type=RunInstance,
            hypotheses=_THM1_HYPS,
            lhs=_obs,
            rhs=lambda r: bounds.theorem1_rhs_source(**_theorem1_kwargs(r, r.eps2_max), enforce_step=False),
            relation="<=",
            sympy_form=lambda: _sym_min_le(bounds.theorem1_rhs_source_expr()),
            as_printed=False,
            notes="What the cited source gives; [5, Assumption 9] needs one eps^2 bounding every iterate's.",
            derived_from=("demidovich.theorem3", "paper.prop1.eq8", "paper.prop1.eq9"),
        ),
        Claim(
            id="paper.corollary1",
            source="paper, Corollary 1 (proof: T(E[eps_T^2]), alpha and the bound 3 zeta E[eps_T^2]/(2 b))",
            statement="T >= T(E[eps_T^2]) and alpha as printed give min_{t<T} E||grad f(theta_t)||^2 <= 3 zeta E[eps_T^2]/(2 b(zeta))",
            instance_type=RunInstance,
            hypotheses=_cor1_hyps("E[eps_T^2]", lambda r: r.eps2_T),
            lhs=_obs,
            rhs=lambda r: bounds.corollary1_bound(eps2=r.eps2_T, zeta=_need(r, "zeta")),
            relation="<=",
            sympy_form=_sym_cor1,
        ),
        Claim(
            id="paper.corollary1.uniform_accuracy",
            source="paper, Corollary 1 with eps^2 = max_{t<T} E[eps_t^2] (the reading [5, Assumption 9] supports)",
            statement="as paper.corollary1 with E[eps_T^2] replaced by max_{t<T} E[eps_t^2]",
            instance_type=RunInstance,
            hypotheses=_cor1_hyps("max_t E[eps_t^2]", lambda r: r.eps2_max),
            lhs=_obs,
            rhs=lambda r: bounds.corollary1_bound(eps2=r.eps2_max, zeta=_need(r, "zeta")),
            relation="<=",
            sympy_form=_sym_cor1,
            as_printed=False,
            derived_from=("paper.corollary1", "paper.theorem1.from_source"),
        ),
        Claim(
            id="paper.remark1.prop2",
            source="paper, Remark 1 with [18, Proposition 2]",
            statement="E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ with A, B, C of [18, Proposition 2]",
            instance_type=FiniteSumInstance,
            hypotheses=(_A1, _INF, _SAMPLING, _ERRORS, _ETA_POS),
            lhs=lambda fs: fs.second_moment_z,
            rhs=_remark1_rhs("prop2"),
            relation="<=",
            sympy_form=_sym_eq9,
            notes="e_v = (1/m) sum_i v_i err_i: each sample's hypergradient carries its own error.",
        ),
        Claim(
            id="paper.remark1.prop3",
            source="paper, Remark 1 with [18, Proposition 3]",
            statement="E||z_v||^2 <= 2 A~ (f - f_inf) + B~ ||grad f||^2 + C~ with A, B, C of the law's [18, Proposition 3] row",
            instance_type=FiniteSumInstance,
            hypotheses=(_A1, _INF, _SAMPLING, _ROW, _ERRORS, _ETA_POS),
            lhs=lambda fs: fs.second_moment_z,
            rhs=_remark1_rhs("prop3"),
            relation="<=",
            sympy_form=_sym_eq9,
        ),
        Claim(
            id="paper.remark2",
            source="paper, Remark 2",
            statement=(
                "eps_t deterministic, nonnegative, sum_t eps_t^2 < inf and zeta >= 1/2, following the proof of "
                "Corollary 1: lim_{T->inf} min_{t<T} E||grad f(theta_t)||^2 = 0"
            ),
            instance_type=RunInstance,
            hypotheses=(
                Hypothesis("eps summable", "E[eps_t^2] >= 0 and sum_t E[eps_t^2] = eps2_sum < inf", _summable),
                Hypothesis("zeta >= 1/2", "zeta >= 1/2 (as printed; b(1/2) = 0)", lambda r: _ge(_need(r, "zeta"), _HALF)),
                _ETA_POS,
                Hypothesis(
                    "horizon step", "alpha chosen from the horizon T as in the proof of Corollary 1",
                    lambda r: r.step_rule == "horizon",
                ),
            ),
            lhs=_remark2_lhs,
            rhs=_zero,
            relation="==",
            sympy_form=_sym_remark2,
            notes="The printed hypothesis zeta >= 1/2 admits b = 0, where c6 and T(eps^2) are undefined.",
        ),
        Claim(
            id="kr.prop2",
            source="[18, Proposition 2]",
            statement="A = max_i L_i E[v_i^2], B = 0, C = 2 A Delta_inf satisfy expected smoothness",
            instance_type=FiniteSumInstance,
            hypotheses=(_A1, _INF, _SAMPLING),
            lhs=lambda fs: fs.second_moment,
            rhs=_kr_rhs("prop2"),
            relation="<=",
            sympy_form=_sym_abc,
        ),
        Claim(
            id="kr.prop3",
            source="[18, Proposition 3] (rows as recorded in the reference formulas)",
            statement="the law's row (A, B, C = 2 A Delta_inf) satisfies expected smoothness",
            instance_type=FiniteSumInstance,
            hypotheses=(_A1, _INF, _SAMPLING, _ROW),
            lhs=lambda fs: fs.second_moment,
            rhs=_kr_rhs("prop3"),
            relation="<=",
            sympy_form=_sym_abc,
            notes="With-replacement row: B = 1 as recorded; the exact coefficient is 1 - 1/tau (theory.sampling).",
        ),
        Claim(
            id="kr.theorem",
            source="[18], nonconvex SGD theorem",
            statement="0 < gamma <= 1/(L B): min_{t<K} E||grad f(x_t)||^2 <= 2 (1 + L A gamma^2)^K delta0/(gamma K) + L C gamma",
            instance_type=RunInstance,
            hypotheses=(*_RUN_BASE, Hypothesis("0 < gamma <= 1/(L B)", "step bound", _kr_step)),
            lhs=_obs,
            rhs=lambda r: bounds.khaled_richtarik_rhs(
                A=r.A, B=r.B, C=r.C, L=r.L, delta0=r.delta0, gamma=r.alpha, K=r.T, enforce_step=False
            ),
            relation="<=",
            sympy_form=lambda: _sym_min_le(bounds.khaled_richtarik_rhs_expr()),
        ),
        Claim(
            id="kr.corollary",
            source="[18], corollary of the nonconvex theorem",
            statement="gamma = min{1/sqrt(L A K), 1/(L B), eps^2/(2 L C)}, K >= (12 delta0 L/eps^2) max{B, 12 delta0 A/eps^2, 2C/eps^2}: min E||grad f||^2 <= eps^2",
            instance_type=RunInstance,
            hypotheses=(
                *_RUN_BASE,
                Hypothesis("eps^2 > 0", "target accuracy > 0", lambda r: _gt(_need(r, "target_eps2"), 0)),
                Hypothesis("K >= K(eps^2)", "horizon of the corollary", _kr_cor_iterations),
                Hypothesis("gamma = gamma(K)", "step of the corollary", _kr_cor_step),
            ),
            lhs=_obs,
            rhs=lambda r: _need(r, "target_eps2"),
            relation="<=",
            sympy_form=lambda: sp.Le(S.min_grad_sq, S.eps2),
        ),
        Claim(
            id="demidovich.assumption9.inner",
            source="[5, Assumption 9], first inequality",
            statement="<grad f, E g> >= b ||grad f||^2 - c",
            instance_type=OracleInstance,
            hypotheses=(Hypothesis("b > 0, c >= 0", "b > 0 and c >= 0", lambda o: _arith.and3(_gt(_biased(o).b, 0), _ge(_biased(o).c, 0))),),
            lhs=lambda o: o.inner_z,
            rhs=lambda o: _biased(o).b * o.grad_sq - _biased(o).c,
            relation=">=",
            sympy_form=lambda: sp.Ge(S.inner_z, S.b * S.grad_sq - S.c),
            notes="A condition on given constants: holds iff the instance's oracle meets it at its point.",
        ),
        Claim(
            id="demidovich.assumption9.second_moment",
            source="[5, Assumption 9], second inequality",
            statement="E||g||^2 <= 2A (f - f*) + B ||grad f||^2 + C",
            instance_type=OracleInstance,
            hypotheses=(
                Hypothesis(
                    "A, B, C >= 0", "constants of Assumption 9 nonnegative",
                    lambda o: _arith.and3(*(_ge(getattr(_biased(o), n), 0) for n in "ABC")),
                ),
                Hypothesis("f - f* >= 0", "f(theta) - f* >= 0", lambda o: _ge(_need(o, "f_gap"), 0)),
            ),
            lhs=lambda o: o.second_moment_z,
            rhs=lambda o: _abc_rhs(_need(o, "f_gap"), o.grad_sq, _biased(o).A, _biased(o).B, _biased(o).C),
            relation="<=",
            sympy_form=lambda: sp.Le(S.second_moment_z, 2 * S.A * S.f_gap + S.B * S.grad_sq + S.C),
        ),
        Claim(
            id="demidovich.theorem3",
            source="[5, Theorem 3] (as the paper cites it)",
            statement="Assumption 9, 0 < gamma <= b/(L B): min_{t<T} E||grad f(x_t)||^2 <= 2 (1 + L A gamma^2)^T delta0/(b gamma T) + L C gamma/b + c/b",
            instance_type=RunInstance,
            hypotheses=(
                _pos("b"),
                _nonneg("c"),
                *_RUN_BASE,
                Hypothesis("0 < gamma <= b/(L B)", "step bound", _dem_step),
            ),
            lhs=_obs,
            rhs=lambda r: bounds.demidovich_theorem3_rhs(
                b=r.b, c=r.c, A=r.A, B=r.B, C=r.C, L=r.L, delta0=r.delta0, gamma=r.alpha, T=r.T, enforce_step=False
            ),
            relation="<=",
            sympy_form=lambda: _sym_min_le(bounds.demidovich_theorem3_rhs_expr()),
        ),
        Claim(
            id="ehrhardt_roberts.a_posteriori",
            source="[9], a-posteriori hypergradient error bound (constant Hessian, L_H = 0)",
            statement="||z - grad F|| <= ||B|| R/mu + ||grad g|| L_B G/mu^2 + ||B|| L_g G/mu^2 + L_B L_g G^2/mu^3",
            instance_type=HypergradientErrorInstance,
            hypotheses=(
                _pos("mu"),
                Hypothesis("L_H = 0", "the lower-level Hessian does not depend on x", lambda h: _arith.decide(h.L_H, 0, "==")),
                _nonneg("B_norm", "residual", "grad_g_norm", "L_B", "L_g", "G"),
            ),
            lhs=lambda h: h.error_norm,
            rhs=_er_rhs,
            relation="<=",
            sympy_form=_sym_er,
        ),
    )


CLAIMS: dict[str, Claim] = {cl.id: cl for cl in _claims()}
"""All claims, by id."""


def get_claim(claim_id: str) -> Claim:
    """The claim with id ``claim_id``.

    Raises
    ------
    ValueError
        For an unknown id (the message lists the known ones).
    """
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise ValueError(f"unknown claim id {claim_id!r}; known ids: {sorted(CLAIMS)}") from None


def list_claims(prefix: str | None = None) -> tuple[Claim, ...]:
    """All claims, or those whose id starts with ``prefix`` (e.g. ``"paper."``, ``"kr."``)."""
    return tuple(cl for cl in CLAIMS.values() if prefix is None or cl.id.startswith(prefix))
