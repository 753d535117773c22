"""Witness files: written from a search, rebuilt from scratch, tampering and malformed files caught."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp

from validation.engine.claims import get_claim
from validation.engine.families import RunCase
from validation.engine.problems import theorem1_witness_scenario
from validation.engine.search import evaluate_case
from validation.engine.statement import PRINTED
from validation.engine.witness import WITNESS_FORMAT, load_witness, recheck, recheck_file, save_witness, witness_json


def _theorem1_witness(tmp_path: Path, T: int = 14) -> Path:
    claim = get_claim("paper.theorem1")
    case = RunCase(theorem1_witness_scenario(), T=T, step=Fraction(1), zeta=Fraction(1), eta=Fraction(1), source="prop3")
    t = evaluate_case(claim, claim.readings(), case, exact=True)[PRINTED]
    return save_witness(tmp_path / "w.json", witness_json(t, seed=0))


def test_witness_schema_and_round_trip(tmp_path: Path) -> None:
    path = _theorem1_witness(tmp_path)
    obj = json.loads(path.read_text())
    assert obj["format"] == WITNESS_FORMAT and obj["verdict"] == "violated" and obj["arithmetic"] == "exact"
    assert obj["claim"]["id"] == "paper.theorem1" and obj["reading"]["key"] == PRINTED
    assert obj["sides"]["lhs"] == "1" and obj["sides"]["rhs"] == "5/7"
    assert obj["mechanism"]["repaired_by"] == ["source exponent"]
    assert obj["case"]["family"] == "run" and obj["case"]["T"] == 14
    res = recheck_file(path)
    assert res.still and res.matches and res.arithmetic == "exact"


def test_standalone_recheck_from_the_documented_fields(tmp_path: Path) -> None:
    """The README's short check: substitute ``values`` into ``relation`` with sympy, nothing else."""
    obj = json.loads(_theorem1_witness(tmp_path).read_text())
    rel = obj["reading"]["relation"]
    names = {k: sp.Symbol(k) for k in obj["values"]}
    lhs = sp.sympify(rel["lhs"], locals=names).subs({names[k]: sp.Rational(v) for k, v in obj["values"].items()})
    rhs = sp.sympify(rel["rhs"], locals=names).subs({names[k]: sp.Rational(v) for k, v in obj["values"].items()})
    assert rel["op"] == "<=" and lhs == 1 and rhs == sp.Rational(5, 7) and not bool(lhs <= rhs)


def test_tampered_witness_is_no_longer_violated(tmp_path: Path) -> None:
    """A horizon too short for the 1/T decay to beat the observed minimum."""
    obj = load_witness(_theorem1_witness(tmp_path))
    obj["case"]["T"] = 2
    res = recheck(obj)
    assert res.still is False and "NO LONGER violated" in res.message


def test_bad_witness_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_witness(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_witness(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a witness file"):
        load_witness(bad)
    obj = json.loads(_theorem1_witness(tmp_path).read_text())
    for key, value, message in (("claim", {"id": "paper.lemma9"}, "unknown claim"), ("reading", {"key": "mystery"}, "no reading"),
                                ("verdict", "maybe", "verdict")):
        bad.write_text(json.dumps({**obj, key: value}))
        with pytest.raises(ValueError, match=message):
            load_witness(bad)
    bad.write_text(json.dumps({**obj, "case": {**obj["case"], "scenario": {"problem": {}}}}))
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        recheck_file(bad)


DATA = Path(__file__).resolve().parent / "data"
COMMITTED = sorted(DATA.glob("*.json"))
"""Witnesses written by ``tests/validation/make_witness_data.py`` from a clean commit."""


def test_committed_witnesses_exist() -> None:
    assert {p.name for p in COMMITTED} >= {"theorem1_exponent_exact.json", "theorem1_accuracy_exact.json",
                                           "remark2_fixed_step_exact.json", "remark2_zeta_half_ill_posed.json"}
    assert len(list(DATA.glob("corollary1_accuracy_*.json"))) == 1


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_committed_witnesses_stay_what_they_claim(path: Path) -> None:
    stored = json.loads(path.read_text())
    res = recheck_file(path)
    assert res.still, res.message
    assert res.matches, "the recomputed sides differ from the stored ones"
    assert res.arithmetic == stored["arithmetic"]
    assert not str(stored["created"]["git_commit"]).endswith("-dirty")


def test_committed_mechanisms() -> None:
    exponent = json.loads((DATA / "theorem1_exponent_exact.json").read_text())
    assert exponent["values"]["E_eps_T_sq"] == "0" and exponent["values"]["max_t_E_eps_t_sq"] == "0"  # exact gradients
    assert exponent["mechanism"]["repaired_by"] == ["source exponent"]
    accuracy = json.loads((DATA / "theorem1_accuracy_exact.json").read_text())
    assert accuracy["mechanism"]["repaired_by"][0] == "max accuracy" and "source exponent" in accuracy["mechanism"]["still_violated_by"]
    half = json.loads((DATA / "remark2_zeta_half_ill_posed.json").read_text())
    assert half["verdict"] == "ill-posed" and half["boundary"].startswith("b(zeta) = 0") and half["values"]["zeta"] == "1/2"
