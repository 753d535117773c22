"""`isgd verify` end to end: report, figures, witnesses, --witness exit codes, bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from validation_testkit import DATA

from bilevel.rundir import RunDirectory
from theory.claims import CLAIMS
from validation.cli import build_parser, main
from validation.engine.verify import add_verify_arguments, quick_verification


def test_verify_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["-q", "verify", "--quick", "--time-limit", "15", "--out", str(out), "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    for cid in CLAIMS:
        assert f"`{cid}`" in report
    assert list((out / "figures").glob("*.png"))
    results = json.loads((out / "results.json").read_text())
    assert {r["claim_id"] for r in results["results"]} == set(CLAIMS)
    assert (out / "config.json").exists() and (out / "meta.json").exists()
    for r in results["results"]:
        if r["status"] == "violated":
            wit = out / "witnesses" / f"{r['claim_id']}.json"
            assert wit.exists()
            assert main(["-q", "verify", "--witness", str(wit)]) == 0
    assert not list(out.rglob("*.tmp"))


def test_verify_selected_claims(tmp_path: Path) -> None:
    out = tmp_path / "sel"
    assert main(["-q", "verify", "--claims", "paper.lemma2", "kr.prop", "--budget", "10", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    assert [r["claim_id"] for r in results] == ["paper.lemma2", "kr.prop2", "kr.prop3"]
    assert main(["-q", "verify", "--claims", "paper.lemma2", "--budget", "5", "--out", str(out)]) == 2  # occupied run dir


def test_witness_exit_codes(tmp_path: Path) -> None:
    assert main(["-q", "verify", "--witness", str(DATA / "theorem1_exact.json")]) == 0
    obj = json.loads((DATA / "theorem1_exact.json").read_text())
    obj["case"]["T"] = 2
    holds = tmp_path / "holds.json"
    holds.write_text(json.dumps(obj))
    assert main(["-q", "verify", "--witness", str(holds)]) == 1
    assert main(["-q", "verify", "--witness", str(tmp_path / "missing.json")]) == 2
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    assert main(["-q", "verify", "--witness", str(broken)]) == 2


def test_bad_input_exits_2(tmp_path: Path) -> None:
    assert main(["-q", "verify", "--claims", "paper.lemma9", "--out", str(tmp_path / "a")]) == 2
    assert main(["-q", "verify", "--budget", "-3", "--out", str(tmp_path / "b")]) == 2
    assert main(["-q", "verify", "--time-limit", "0", "--out", str(tmp_path / "c")]) == 2


def test_every_option_has_help() -> None:
    p = argparse.ArgumentParser()
    add_verify_arguments(p)
    for action in p._actions:
        assert action.help, action.dest
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "verify" in sub.choices


def test_quick_verification_into_another_run_directory(tmp_path: Path) -> None:
    run_dir = RunDirectory.create(tmp_path / "job", {"job": "test"}, seed=0)
    summary = quick_verification(run_dir, time_limit=6.0)
    assert (tmp_path / "job" / "verification" / "report.md").exists()
    assert "## Verification of the paper's claims" in summary.markdown
    assert "](verification/" in summary.markdown
    assert {r.claim_id for r in summary.results} == set(CLAIMS)
    assert summary.seconds < 30.0
    with pytest.raises(ValueError, match="time_limit"):
        quick_verification(run_dir, time_limit=0)
