r"""Witnesses: violations saved as JSON and re-checked from scratch.

A witness file holds the claim id, the *case* that violates it (problem, sampling law, error model,
start, step, horizon, :math:`\zeta`, :math:`\eta`, constants: everything needed to rebuild the claim's
instance), the arithmetic that decided it and the two sides found. :func:`recheck` rebuilds the
instance from the case -- recomputing every expectation, in exact rational arithmetic when the
witness was exact -- and checks the claim again; it never trusts the stored sides.

A second form stores a claim's instance directly (``"instance"``: the fields of a
:class:`theory.instances.RunInstance`, exact numbers as ``"p/q"``), for counterexamples built by hand
such as :func:`theory.proofs.theorem1_counterexample`.
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

import numpy as np

from theory.claims import CLAIMS
from theory.instances import RunInstance

from . import rational as rq
from .io import write_json_atomic
from .cases import SkipCase, Trial, case_from_json, evaluate

logger = logging.getLogger(__name__)

__all__ = ["WITNESS_FORMAT", "Recheck", "witness_json", "instance_witness_json", "save_witness", "load_witness", "recheck", "recheck_file"]

WITNESS_FORMAT = "isgd-witness/1"
"""The ``format`` field of every witness file."""

_RUN_FIELDS = ("L", "delta0", "A", "B", "C", "alpha", "T", "grad_sq", "eps2", "zeta", "eta", "b", "c", "target_eps2",
               "running_min_limit", "step_rule", "eps2_sum")


@dataclass(frozen=True)
class Recheck:
    """Result of re-checking a witness.

    ``violated``: the rebuilt instance meets the claim's hypotheses and the relation fails;
    ``arithmetic``: ``"exact"`` or ``"float64"``; ``matches``: the recomputed sides equal the stored ones
    (exactly for exact witnesses, to 1e-9 relative otherwise); ``message``: a one-line account.
    """

    claim_id: str
    violated: bool
    arithmetic: str
    lhs: float | None
    rhs: float | None
    matches: bool
    message: str


def witness_json(trial: Trial, *, seed: int | None = None, description: str = "") -> dict[str, Any]:
    """The JSON form of a violating :class:`~validation.engine.cases.Trial`."""
    claim = CLAIMS[trial.claim_id]
    return {
        "format": WITNESS_FORMAT,
        "claim_id": trial.claim_id,
        "claim_source": claim.source,
        "claim_statement": claim.statement,
        "arithmetic": "exact" if trial.exact else "float64",
        "lhs": rq.encode(trial.lhs),
        "rhs": rq.encode(trial.rhs),
        "lhs_exact": trial.lhs_exact,
        "rhs_exact": trial.rhs_exact,
        "ratio": rq.encode(trial.ratio) if trial.ratio is not None else None,
        "note": trial.note,
        "description": description,
        "case": trial.case,
        "created": {"seed": seed, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }


def instance_witness_json(claim_id: str, instance: RunInstance, *, description: str = "") -> dict[str, Any]:
    """A witness that stores a :class:`~theory.instances.RunInstance` directly (exact numbers as ``"p/q"``)."""
    if claim_id not in CLAIMS:
        raise ValueError(f"unknown claim id {claim_id!r}")
    fields = {}
    for name in _RUN_FIELDS:
        v = getattr(instance, name)
        if v is None:
            continue
        fields[name] = v if isinstance(v, str) else rq.encode(v if not isinstance(v, np.ndarray) else v)
    check = CLAIMS[claim_id].check(instance)
    return {
        "format": WITNESS_FORMAT,
        "claim_id": claim_id,
        "claim_source": CLAIMS[claim_id].source,
        "claim_statement": CLAIMS[claim_id].statement,
        "arithmetic": "exact" if instance.exact else "float64",
        "lhs": rq.encode(float(check.lhs)),
        "rhs": rq.encode(float(check.rhs)),
        "lhs_exact": _exact_text(check.lhs) if instance.exact else None,
        "rhs_exact": _exact_text(check.rhs) if instance.exact else None,
        "description": description,
        "instance": {"type": "RunInstance", "fields": fields},
        "created": {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }


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
        If it is not JSON, not a witness, or names an unknown claim.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"witness file {p} not found; pass a JSON file written by `isgd verify` (witnesses/<claim>.json)")
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"witness file {p} is not valid JSON ({err}); re-create it with `isgd verify`") from None
    if not isinstance(obj, dict) or obj.get("format") != WITNESS_FORMAT:
        raise ValueError(f"{p} is not a witness file (expected \"format\": \"{WITNESS_FORMAT}\"); re-create it with `isgd verify`")
    cid = obj.get("claim_id")
    if cid not in CLAIMS:
        raise ValueError(f"witness file {p} names an unknown claim {cid!r}; known ids: {sorted(CLAIMS)}")
    if ("case" in obj) == ("instance" in obj):
        raise ValueError(f"witness file {p} must hold exactly one of 'case' or 'instance'")
    return obj


def _instance_from(obj: dict[str, Any], exact: bool) -> RunInstance:
    inst = obj.get("instance")
    if not isinstance(inst, dict) or inst.get("type") != "RunInstance" or not isinstance(inst.get("fields"), dict):
        raise ValueError("the witness instance must be {\"type\": \"RunInstance\", \"fields\": {...}}")
    kw: dict[str, Any] = {}
    for name, v in inst["fields"].items():
        if name not in _RUN_FIELDS:
            raise ValueError(f"unknown RunInstance field {name!r} in the witness")
        if name == "step_rule":
            kw[name] = v
        elif name == "T":
            kw[name] = int(rq.decode(v))
        else:
            kw[name] = rq.decode(v, exact=exact)
    try:
        return RunInstance(**kw)
    except TypeError as err:
        raise ValueError(f"the witness instance is incomplete: {err}") from None


def _exact_text(x: Any) -> str:
    return rq.fraction_str(x) if isinstance(x, Fraction) else str(x)


def _matches(stored: Any, stored_exact: Any, value: float | None, exact_value: str | None, exact: bool) -> bool:
    if value is None or stored is None:
        return False
    if exact and stored_exact is not None and exact_value is not None:
        try:
            with rq.unlimited_digits():
                return Fraction(stored_exact) == Fraction(exact_value)
        except ValueError:
            return stored_exact == exact_value
    s = float(rq.decode(stored, exact=False)) if not isinstance(stored, (int, float)) else float(stored)
    return math.isclose(s, float(value), rel_tol=1e-9, abs_tol=1e-300)


def recheck(obj: dict[str, Any]) -> Recheck:
    """Rebuild a witness's instance from scratch and check its claim again (module docstring)."""
    cid = obj["claim_id"]
    exact = obj.get("arithmetic") == "exact"
    if "instance" in obj:
        inst = _instance_from(obj, exact)
        chk = CLAIMS[cid].check(inst)
        violated = bool(chk.applicable is True and chk.holds is False)
        lhs, rhs = float(chk.lhs), float(chk.rhs)
        ok = _matches(obj.get("lhs"), obj.get("lhs_exact"), lhs, _exact_text(chk.lhs) if exact else None, exact) and _matches(
            obj.get("rhs"), obj.get("rhs_exact"), rhs, _exact_text(chk.rhs) if exact else None, exact)
        arith = "exact" if inst.exact else "float64"
        return Recheck(cid, violated, arith, lhs, rhs, ok, _message(cid, violated, arith, lhs, rhs))
    case = case_from_json(obj["case"])
    arith = "exact" if exact else "float64"
    try:
        trial = evaluate(cid, case, exact=exact)
    except SkipCase as err:
        if not exact:
            raise ValueError(f"the witness case cannot be evaluated: {err}") from None
        logger.warning("exact re-check not feasible (%s); re-checking in float64", err)
        trial = evaluate(cid, case, exact=False)
        arith = "float64"
    ok = _matches(obj.get("lhs"), obj.get("lhs_exact"), trial.lhs, trial.lhs_exact, arith == "exact") and _matches(
        obj.get("rhs"), obj.get("rhs_exact"), trial.rhs, trial.rhs_exact, arith == "exact")
    return Recheck(cid, trial.violated, arith, trial.lhs, trial.rhs, ok, _message(cid, trial.violated, arith, trial.lhs, trial.rhs))


def _message(cid: str, violated: bool, arith: str, lhs: float | None, rhs: float | None) -> str:
    rel = CLAIMS[cid].relation
    verdict = "still violated" if violated else "NOT violated"
    return f"{cid}: {verdict} ({arith}): lhs = {lhs:.6g} {rel} rhs = {rhs:.6g} fails" if violated else (
        f"{cid}: {verdict} ({arith}): lhs = {lhs if lhs is None else f'{lhs:.6g}'}, rhs = {rhs if rhs is None else f'{rhs:.6g}'}")


def recheck_file(path: str | Path) -> Recheck:
    """:func:`load_witness` then :func:`recheck`."""
    return recheck(load_witness(path))
