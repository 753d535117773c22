"""The benchmark scripts run end to end at tiny sizes and write well-formed JSON (no timing asserted)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_throughput_tiny(tmp_path):
    out = tmp_path / "t.json"
    r = _run("bench_throughput.py", "--batches", "1", "2", "--dtypes", "float32", "--side", "24", "--iters", "2",
             "--repeats", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    rows = d["results"]["float32"]["rows"]
    assert [row["batch"] for row in rows] == [1, 2]
    for row in rows:
        assert all(v > 0 for v in row["image_iterations_per_s"].values())
        assert 0 < row["roofline"]["gradient"]["fraction_of_roofline"]
    assert d["results"]["float32"]["work_per_image_iteration"]["gradient"]["flops"] > 0


def test_scaling_tiny(tmp_path):
    out = tmp_path / "s.json"
    r = _run("bench_scaling.py", "--ms", "2", "4", "--sides", "16", "24", "--chunk", "2", "--repeats", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert len(d["time_vs_m"]["seconds"]) == 2 and len(d["memory_vs_m"]["peak_bytes"]) == 2
    assert all(b > 0 for b in d["memory_vs_m"]["peak_bytes"])


@pytest.mark.slow
def test_core_quick(tmp_path):
    out = tmp_path / "c.json"
    r = _run("bench_core.py", "--quick", "--repeats", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert set(d["ratios"]) >= {"hvp_over_gradient", "gradient_over_bare_pair"}


def test_cost_tiny_reports_first_evaluation_at_target(tmp_path):
    out = tmp_path / "cost.json"
    r = _run("bench_cost.py", "--train-count", "8", "--crop", "32", "--budget", "400", "--eval-every", "200", "--target", "23.0",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert set(d["methods"]) == {"ISGD constant", "ISGD decreasing", "MAID certified", "MAID estimated"}
    for label in ("MAID certified", "MAID estimated"):
        parts = d["methods"][label]["maid"]
        assert parts["accepted"] + parts["rejected"] == d["methods"][label]["iterations"]
        assert parts["gradient_computations"] == sum(parts[k] for k in ("lower_iterations", "cg_iterations",
                                                                          "certification_iterations"))
        assert parts["gradient_computations"] + parts["trial_computations"] == parts["computations"]
        assert parts["rejected_trial_computations"] <= parts["trial_computations"]
    rows = (tmp_path / "cost.csv").read_text().splitlines()[1:]
    for label, res in d["methods"].items():
        evals = [(int(c), float(p)) for m, c, p, _ in (row.split(",") for row in rows) if m == label]
        assert evals and evals[0][0] == 0
        reached = [c for c, p in evals if p >= d["target_psnr"]]
        assert res["computations_to_target"] == (reached[0] if reached else None)
    assert (tmp_path / "cost.png").stat().st_size > 0


def test_end_to_end_tiny_keeps_its_runs_beside_the_output(tmp_path):
    out = tmp_path / "e.json"
    r = _run("bench_end_to_end.py", "--data", "embedded", "--count", "40", "--budget", "200", "--chunk-size", "16",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["m"] == 40 and d["data"] == "embedded" and set(d["results"]) == {"isgd", "maid"}
    for method, res in d["results"].items():
        assert res["computations"] >= 200 and res["stop_reason"] == "budget"
        assert (tmp_path / "runs" / f"end-to-end-{method}" / "summary.json").exists()
    assert {"machine", "versions", "git_commit"} <= set(d)


def test_bound_tiny(tmp_path):
    out = tmp_path / "bound.json"
    r = _run("bench_bound.py", "--tasks", "denoising", "--count", "2", "1", "--crop", "12", "12", "--eps", "1e-1", "1e-3",
             "--theta", "initial=init", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert {(s["theta"], s["eps"]) for s in d["summary"]} == {("initial", 0.1), ("initial", 0.001)}
    assert len(d["rows"]) == 4
    for row in d["rows"]:
        assert row["bound_refined"] + row["reference_error_bound"] >= row["true_error"] > 0
        assert row["bound_direct"] + row["reference_error_bound"] >= row["true_error"]
        assert set(row["direct_terms"]) == set(row["true_terms"])
        assert row["decomposition_residual"] < 1e-6  # the true pieces add up to the true error vector
    assert d["goals"]["bound_never_below_true_error"]["met"]
    assert (tmp_path / "bound.png").stat().st_size > 0
    assert not (tmp_path / "bound.partial.json").exists()  # removed once the result is written
