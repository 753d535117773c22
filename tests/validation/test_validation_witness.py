"""Saved witnesses stay violations when rebuilt from scratch; tampered or broken files are caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from validation_testkit import DATA

from theory.proofs import theorem1_counterexample
from validation.engine.witness import instance_witness_json, load_witness, recheck, recheck_file, save_witness

COMMITTED = sorted(DATA.glob("*.json"))


def test_committed_witnesses_exist() -> None:
    names = {p.name for p in COMMITTED}
    assert {"theorem1_exact.json", "theorem1_theory_instance.json", "corollary1_float64.json", "remark2_exact.json"} <= names


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_saved_witnesses_stay_violations(path: Path) -> None:
    stored = json.loads(path.read_text())
    result = recheck_file(path)
    assert result.violated, result.message
    assert result.matches, "the recomputed sides differ from the stored ones"
    assert result.arithmetic == stored["arithmetic"]


def test_tampered_witness_is_not_a_violation(tmp_path: Path) -> None:
    """Theorem 1's witness with a horizon too short for the 1/T decay to beat the observed minimum."""
    obj = load_witness(DATA / "theorem1_exact.json")
    obj["case"]["T"] = 2
    assert recheck(obj).violated is False


def test_theory_counterexample_round_trip(tmp_path: Path) -> None:
    ce = theorem1_counterexample(20)
    path = save_witness(tmp_path / "w.json", instance_witness_json("paper.theorem1", ce.instance, description=ce.description))
    res = recheck_file(path)
    assert res.violated and res.arithmetic == "exact" and res.matches


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
    obj = json.loads((DATA / "theorem1_exact.json").read_text())
    obj["claim_id"] = "paper.lemma9"
    bad.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="unknown claim"):
        load_witness(bad)
    obj = json.loads((DATA / "theorem1_exact.json").read_text())
    obj["case"]["type"] = "mystery"
    bad.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="case"):
        recheck_file(bad)
    copy = tmp_path / "copy.json"
    shutil.copy(DATA / "remark2_exact.json", copy)
    assert recheck_file(copy).violated
