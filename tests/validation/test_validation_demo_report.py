"""`isgd demo` writes report.md after every stage, says where it stopped, and has one Verification heading."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from validation.cli import main
from validation.experiments import demo


@pytest.fixture
def quick_stages(monkeypatch):
    """Stage 1 and the verification replaced by fast stand-ins (the report logic is under test)."""
    monkeypatch.setattr(demo, "_hypergradient_section", lambda device: ("task img lower it\ndenoising 0 12", [{"a": 1}]))
    calls = []

    def fake_verification(run_dir):
        calls.append(run_dir)
        return SimpleNamespace(markdown="## Verification of the paper's claims\n\n3 claims searched.\n")

    import validation.engine.verify as verify

    monkeypatch.setattr(verify, "quick_verification", fake_verification)
    return calls


def test_report_after_each_stage_and_where_it_stopped(tmp_path, monkeypatch, quick_stages, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("the training data went away")

    monkeypatch.setattr(demo, "run_learning_demo", boom)
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out)]) == 4
    text = (out / "report.md").read_text()
    assert "## Certified hypergradients" in text and "denoising 0 12" in text
    assert ("**Stopped in stage 2 of 3 (learning FoE denoising):** RuntimeError: the training data went away" in text)
    assert "Verification" not in text and not quick_stages
    assert (out / "hypergradients.json").exists()


def test_one_verification_heading(tmp_path, quick_stages):
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--skip-training"]) == 0
    text = (out / "report.md").read_text()
    assert text.count("Verification") == 1 and "3 claims searched." in text
    assert "running" not in text and "Stopped" not in text
    assert text.index("## Certified hypergradients") < text.index("## Verification")


def test_report_is_written_before_the_last_stage_ends(tmp_path, monkeypatch, quick_stages):
    seen = {}

    def interrupted(run_dir):
        seen["report"] = (run_dir.path / "report.md").read_text()
        raise KeyboardInterrupt

    import validation.engine.verify as verify

    monkeypatch.setattr(verify, "quick_verification", interrupted)
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--out", str(out), "--skip-training"]) == 130
    assert "## Certified hypergradients" in seen["report"] and "is running" in seen["report"]
    assert "Stopped in stage 2 of 2 (verification of the paper's claims):** interrupted" in (out / "report.md").read_text()
