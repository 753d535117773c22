"""`isgd verify` end to end: report, figures, witnesses, --witness exit codes, bad input, quick_verification."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from validation.cli import build_parser, main
from validation.engine.claims import CLAIMS
from validation.engine.plots import overlapping_tick_labels, pyplot
from validation.engine.verify import add_verify_arguments, quick_verification
from validation.engine.witness import EXIT_GONE, EXIT_MALFORMED, EXIT_STILL


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify") / "run"
    assert main(["-q", "verify", "--claims", "paper.theorem1", "paper.remark2", "paper.lemma2", "--budget", "16",
                 "--time-limit", "120", "--out", str(out), "--no-progress"]) == 0
    return out


def test_report_reads_like_mathematics(quick_run: Path) -> None:
    report = (quick_run / "report.md").read_text()
    assert "Case: ." not in report and "Case:" not in report
    for cid in ("paper.theorem1", "paper.remark2", "paper.lemma2"):
        assert f"`{cid}`" in report
    assert "## Mechanisms found" in report and "repaired only by" in report
    assert "$f_{1}(\\theta) =" in report and "sampling law:" in report and "error law:" in report
    assert "corrected statement: $" in report and "Proof (" in report and "residual $" in report
    assert "**ill-posed at a boundary**" in report and "b(zeta) = 0" in report
    results = json.loads((quick_run / "results.json").read_text())
    assert [r["claim_id"] for r in results["results"]] == ["paper.theorem1", "paper.remark2", "paper.lemma2"]
    assert (quick_run / "config.json").exists() and (quick_run / "meta.json").exists()
    assert not list(quick_run.rglob("*.tmp"))


def test_every_witness_rechecks_with_exit_status_0(quick_run: Path) -> None:
    files = sorted((quick_run / "witnesses").glob("*.json"))
    assert any("theorem1--as-printed--source-exponent" in f.name for f in files)
    assert any("remark2--as-printed--ill-posed" in f.name for f in files)
    for f in files:
        assert main(["-q", "verify", "--witness", str(f)]) == EXIT_STILL, f.name


def test_witness_exit_codes(quick_run: Path, tmp_path: Path) -> None:
    src = next((quick_run / "witnesses").glob("paper.theorem1--as-printed--source-exponent*.json"))
    obj = json.loads(src.read_text())
    obj["case"]["T"] = 1
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps(obj))
    assert main(["-q", "verify", "--witness", str(gone)]) == EXIT_GONE
    assert main(["-q", "verify", "--witness", str(tmp_path / "missing.json")]) == EXIT_MALFORMED
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    assert main(["-q", "verify", "--witness", str(broken)]) == EXIT_MALFORMED
    assert len({EXIT_STILL, EXIT_GONE, EXIT_MALFORMED, 2}) == 4  # 2 stays argparse's usage error


def test_figures_are_readable(quick_run: Path) -> None:
    """Every figure is written, and a violation figure is drawn on the scale of the violation (no 1e63 axis)."""
    from matplotlib import image

    figs = sorted((quick_run / "figures").glob("*.png"))
    assert any(f.name.startswith("paper.theorem1--as-printed") for f in figs) and any(f.name == "overview.png" for f in figs)
    for f in figs:
        assert image.imread(str(f)).shape[0] > 100


def test_witness_figure_scale_and_ticks(quick_run: Path) -> None:
    from validation.engine.report import _witness_figure
    from validation.engine.search import Trial

    res = json.loads((quick_run / "results.json").read_text())["results"][0]
    w = res["readings"][0]["witnesses"]["source exponent"]
    claim = CLAIMS["paper.theorem1"]
    trial = Trial(claim.id, w["reading"], w["case"], True, None, False, None, None, True)
    plt = pyplot()
    captured = {}
    original = plt.Figure.savefig

    def keep(fig, *a, **k):
        captured["ylim"] = fig.axes[0].get_ylim()
        captured["overlaps"] = overlapping_tick_labels(fig)
        return original(fig, *a, **k)

    plt.Figure.savefig = keep
    try:
        _witness_figure(claim, trial, quick_run / "check.png")
    finally:
        plt.Figure.savefig = original
    lo, hi = captured["ylim"]
    assert hi / lo < 1e8 and not captured["overlaps"]


def test_selected_claims_and_occupied_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "sel"
    assert main(["-q", "verify", "--claims", "paper.lemma2", "kr.prop", "--budget", "6", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    assert [r["claim_id"] for r in results] == ["paper.lemma2", "kr.prop2", "kr.prop3"]
    assert main(["-q", "verify", "--claims", "paper.lemma2", "--budget", "5", "--out", str(out)]) == 2


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
    class Run:
        path = tmp_path / "job"

    Run.path.mkdir()
    summary = quick_verification(Run(), time_limit=15.0, budget=4)
    assert (Run.path / "verification" / "report.md").exists()
    assert "## Verification of the paper's claims" in summary.markdown
    assert "](verification/" in summary.markdown
    assert {r.claim_id for r in summary.results} == set(CLAIMS)
    with pytest.raises(ValueError, match="time_limit"):
        quick_verification(Run(), time_limit=0)
