r"""Witness files: one violated (or ill-posed) reading on one case, saved as JSON and re-checked from scratch.

Schema ``isgd-witness/2`` (documented in the README, section "Witness files"):

``format``
    ``"isgd-witness/2"``.
``claim``
    ``{"id", "title", "source", "text"}`` of the claim.
``reading``
    ``{"key", "label", "corrections", "statement", "relation": {"lhs", "op", "rhs"}}``; ``lhs``/``rhs`` are
    sympy expressions as text in the observables' names (``min_t_E_grad_f_sq``, ``E_eps_T_sq``, ``zeta``, ...).
``verdict``
    ``"violated"`` (the relation fails although every hypothesis holds) or ``"ill-posed"`` (a quantity of the
    statement vanishes or diverges; ``boundary`` says which).
``arithmetic``
    ``"exact"`` (rationals; sympy numbers where a square root is irrational) or ``"float64"``.
``values``
    every observable the statement needs, exact numbers as ``"p/q"`` strings (floats where float64).
``sides``
    ``{"lhs", "rhs"}`` exactly as strings, ``{"lhs_float", "rhs_float", "ratio"}``.
``mechanism``
    ``{"repaired_by": [reading keys], "still_violated_by": [...]}``: the single corrections under which the
    same case holds, and those under which it stays violated.
``case``
    the case, rebuilt by the claim's family (``"family"`` says which): problem :math:`(Q_i, b_i, c_i)`,
    sampling law, error law and schedule, start, step, horizon, :math:`\zeta`, :math:`\eta`, constants.
``created``
    seed, time and git commit.

:func:`recheck` rebuilds the case with the claim's family, recomputes every expectation (exactly when
the witness is exact) and decides the reading again; it never trusts the stored values. A short
standalone check is to substitute ``values`` into ``relation`` with sympy (see the README).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import sympy as sp

from . import rational as rq
from .claims import get_claim
from .families import SkipCase
from .io import git_commit, write_json_atomic
from .search import Trial, evaluate_case

logger = logging.getLogger(__name__)

__all__ = ["WITNESS_FORMAT", "Recheck", "witness_json", "save_witness", "load_witness", "recheck", "recheck_file",
           "EXIT_STILL", "EXIT_GONE", "EXIT_MALFORMED"]

WITNESS_FORMAT = "isgd-witness/2"
"""The ``format`` field of every witness file."""

EXIT_STILL = 0
"""``isgd verify --witness``: the witness still shows what it claims (violated, or ill-posed)."""

EXIT_GONE = 1
"""``isgd verify --witness``: the case no longer violates the reading."""

EXIT_MALFORMED = 3
"""``isgd verify --witness``: the file is missing, not JSON, or not a valid witness."""


@dataclass(frozen=True)
class Recheck:
    """Result of re-checking a witness.

    ``still``: the rebuilt case shows the same verdict (violated, or ill-posed); ``arithmetic``:
    ``"exact"`` or ``"float64"``; ``matches``: the recomputed sides equal the stored ones (exactly for exact
    witnesses, to 1e-9 relative otherwise); ``message``: a one-line account.
    """

    claim_id: str
    reading: str
    verdict: str
    still: bool
    arithmetic: str
    lhs: float | None
    rhs: float | None
    matches: bool
    message: str


def witness_json(trial: Trial, *, seed: int | None = None, commit: str | None = "auto") -> dict[str, Any]:
    """The JSON form of a violated (or ill-posed) :class:`~validation.engine.search.Trial` (``commit``: the git commit, looked up by default)."""
    claim = get_claim(trial.claim_id)
    rd = claim.reading(trial.reading)
    st = rd.statement
    verdict = "ill-posed" if trial.ill_posed is not None else "violated"
    return {
        "format": WITNESS_FORMAT,
        "claim": {"id": claim.id, "title": claim.title, "source": claim.source, "text": claim.text},
        "reading": {"key": rd.key, "label": rd.label, "corrections": list(rd.corrections), "statement": st.text,
                    "relation": {"lhs": str(st.lhs), "op": st.op, "rhs": str(st.rhs)}},
        "verdict": verdict,
        "boundary": trial.ill_posed,
        "arithmetic": "exact" if trial.exact else "float64",
        "values": {k: _enc(v) for k, v in trial.values.items()},
        "sides": {"lhs": trial.lhs_exact if trial.lhs_exact is not None else _enc(trial.lhs),
                  "rhs": trial.rhs_exact if trial.rhs_exact is not None else _enc(trial.rhs),
                  "lhs_float": _enc(trial.lhs), "rhs_float": _enc(trial.rhs), "ratio": _enc(trial.ratio)},
        "mechanism": {"repaired_by": list(trial.repaired_by), "still_violated_by": list(trial.still_violated_by)},
        "note": trial.note,
        "case": trial.case,
        "created": {"seed": seed, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "git_commit": git_commit() if commit == "auto" else commit},
    }


def _enc(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, sp.Basic) and not x.is_Rational:
        return str(x) if x.is_finite is not False else ("inf" if x == sp.oo else str(x))
    try:
        return rq.encode(rq.F(x)) if not isinstance(x, float) else rq.encode(x)
    except (TypeError, ValueError):
        return rq.encode(float(x))


def save_witness(path: str | Path, obj: dict[str, Any]) -> Path:
    """Write a witness atomically (temporary file in the same folder, then rename)."""
    return write_json_atomic(path, obj)


def load_witness(path: str | Path) -> dict[str, Any]:
    """Read and validate a witness file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not JSON, not a witness (``format``), names an unknown claim or reading, or lacks a field.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"witness file {p} not found; give the path of a file written by `isgd verify` (witnesses/*.json)")
    try:
        obj = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"witness file {p} is not valid JSON ({err}); re-create it with `isgd verify`") from None
    if not isinstance(obj, dict) or obj.get("format") != WITNESS_FORMAT:
        raise ValueError(f"{p} is not a witness file (expected \"format\": \"{WITNESS_FORMAT}\"); re-create it with `isgd verify`")
    for key in ("claim", "reading", "verdict", "arithmetic", "case"):
        if key not in obj:
            raise ValueError(f"witness file {p} lacks the field {key!r}")
    if obj["verdict"] not in ("violated", "ill-posed"):
        raise ValueError(f"witness file {p}: verdict must be 'violated' or 'ill-posed'; got {obj['verdict']!r}")
    cid = obj["claim"].get("id") if isinstance(obj["claim"], dict) else None
    claim = get_claim(cid) if isinstance(cid, str) else None
    if claim is None:
        raise ValueError(f"witness file {p} names no claim")
    claim.reading(obj["reading"].get("key") if isinstance(obj["reading"], dict) else None)
    if not isinstance(obj["case"], dict):
        raise ValueError(f"witness file {p}: the case must be an object")
    return obj


def _same(stored: Any, value: float | None, stored_exact: Any, exact_value: str | None, exact: bool) -> bool:
    if value is None or stored is None:
        return stored is None and value is None
    if exact and isinstance(stored_exact, str) and exact_value is not None:
        try:
            with rq.unlimited_digits():
                return Fraction(stored_exact) == Fraction(exact_value)
        except ValueError:
            return sp.simplify(sp.sympify(stored_exact) - sp.sympify(exact_value)) == 0
    try:
        s = float(rq.decode(stored, exact=False)) if isinstance(stored, str) else float(stored)
    except (ValueError, TypeError):
        return False
    return math.isclose(s, float(value), rel_tol=1e-9, abs_tol=1e-300)


def recheck(obj: dict[str, Any]) -> Recheck:
    """Rebuild a witness's case and decide its reading again (module docstring).

    Raises
    ------
    ValueError
        When the case cannot be rebuilt or evaluated (a malformed witness).
    """
    claim = get_claim(obj["claim"]["id"])
    key = obj["reading"]["key"]
    readings = claim.readings()
    exact = obj.get("arithmetic") == "exact"
    try:
        case = claim.family.from_json(obj["case"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        raise ValueError(f"the witness case cannot be rebuilt: {err}") from None
    arith = "exact" if exact else "float64"
    try:
        trials = evaluate_case(claim, readings, case, exact=exact)
    except SkipCase as err:
        if not exact:
            raise ValueError(f"the witness case cannot be evaluated: {err}") from None
        logger.warning("exact re-check not feasible (%s); re-checking in float64", err)
        trials = evaluate_case(claim, readings, case, exact=False)
        arith = "float64"
    t = trials[key]
    verdict = obj["verdict"]
    still = t.ill_posed is not None if verdict == "ill-posed" else t.violated
    if not trials[key].exact and arith == "exact":
        arith = "float64"
    sides = obj.get("sides", {}) or {}
    matches = _same(sides.get("lhs_float"), t.lhs, sides.get("lhs"), t.lhs_exact, arith == "exact") and \
        _same(sides.get("rhs_float"), t.rhs, sides.get("rhs"), t.rhs_exact, arith == "exact")
    if verdict == "ill-posed":
        msg = f"{claim.id} [{key}]: {'still ill-posed' if still else 'NOT ill-posed'} ({arith}): {t.ill_posed or t.note or 'well posed'}"
    elif still:
        msg = f"{claim.id} [{key}]: still violated ({arith}): lhs = {t.lhs:.6g} {claim.reading(key).statement.op} rhs = {t.rhs:.6g} fails"
    else:
        why = "hypotheses not met: " + ", ".join(t.failed) if not t.applicable else (
            f"ill-posed: {t.ill_posed}" if t.ill_posed else f"lhs = {t.lhs}, rhs = {t.rhs}: the relation holds")
        msg = f"{claim.id} [{key}]: NO LONGER violated ({arith}): {why}"
    return Recheck(claim.id, key, verdict, bool(still), arith, t.lhs, t.rhs, matches, msg)


def recheck_file(path: str | Path) -> Recheck:
    """:func:`load_witness` then :func:`recheck`."""
    return recheck(load_witness(path))
