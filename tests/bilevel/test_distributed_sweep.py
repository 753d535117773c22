"""Data-parallel training with two gloo processes, rank failures, and sweeps on the local executor."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bilevel.sweep import expand, gather, launch, load_spec

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--crop", "24", "--train-count", "6", "--test-count", "2", "--batch-size", "4", "--budget", "400",
        "--eval-every", "200", "--checkpoint-every", "2", "--dtype", "float64", "--no-progress"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _train(out, *extra):
    return subprocess.run([sys.executable, "-m", "bilevel", "-q", "train", *TINY, "--out", str(out), *extra],
                          env=_env(), capture_output=True, text=True, timeout=600)


def _theta(out):
    return torch.load(Path(out) / "theta_final.pt", weights_only=False)["theta"]


@pytest.mark.parametrize("method", ["isgd", "maid"])
def test_two_gloo_ranks_equal_one_process(tmp_path, method):
    one = _train(tmp_path / "one", "--method", method)
    two = _train(tmp_path / "two", "--method", method, "--nproc", "2")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    a, b = _theta(tmp_path / "one"), _theta(tmp_path / "two")
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    s = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s["world_size"] == 2
    assert s["computations"] == json.loads((tmp_path / "one" / "summary.json").read_text())["computations"]


def test_failing_rank_stops_all_and_run_resumes(tmp_path):
    failed = _train(tmp_path / "r", "--nproc", "2", "--fail-at-iteration", "3", "--fail-rank", "1")
    assert failed.returncode != 0
    assert "--resume" in failed.stderr  # the message says how to continue
    assert (tmp_path / "r" / "checkpoints" / "last.pt").exists()
    resumed = _train(tmp_path / "r", "--nproc", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    single = _train(tmp_path / "s")
    assert torch.allclose(_theta(tmp_path / "r"), _theta(tmp_path / "s"), rtol=1e-10, atol=1e-12)


def _spec(out):
    base = {"crop": 24, "train_count": 4, "test_count": 1, "batch_size": 2, "budget": 120, "eval_every": 120,
            "checkpoint_every": 5}
    return {"base": base, "grid": {"alpha0": [1e-3, 1e-4], "seed": [0, 1]}, "out": str(out),
            "executor": {"cluster": "local", "max_parallel": 2}}


def test_expand_names_and_configs():
    runs = expand(_spec("x"))
    assert [r.name for r in runs] == ["alpha0=0.001_seed=0", "alpha0=0.001_seed=1", "alpha0=0.0001_seed=0",
                                      "alpha0=0.0001_seed=1"]
    assert runs[3].config.alpha0 == 1e-4 and runs[3].config.seed == 1 and runs[3].config.budget == 120
    with pytest.raises(ValueError, match="unknown keys"):
        expand({"base": {}, "grid": {}, "grids": {}})
    with pytest.raises(ValueError, match="unknown config keys"):
        expand({"base": {"learning_rate": 1}, "grid": {"seed": [0]}})
    with pytest.raises(ValueError, match="non-empty list"):
        expand({"grid": {"seed": 3}})


def test_tiny_sweep_on_local_executor(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = _spec(tmp_path / "sw")
    table = launch(spec, poll_seconds=0.2)
    assert len(table) == 4
    assert all(r["status"] == "finished" for r in table)
    assert {(r["grid.alpha0"], r["grid.seed"], r["seed"]) for r in table} == {(1e-3, 0, 0), (1e-3, 1, 1), (1e-4, 0, 0), (1e-4, 1, 1)}
    assert all(isinstance(r["train_psnr"], float) for r in table)
    csv_rows = (tmp_path / "sw" / "results.csv").read_text().strip().splitlines()
    assert len(csv_rows) == 5 and "grid.alpha0" in csv_rows[0] and "seed" in csv_rows[0]
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "sw" / "runs").glob("*/summary.json")}
    again = launch(spec, poll_seconds=0.2)  # finished runs are skipped
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "sw" / "runs").glob("*/summary.json")} == stamps
    assert [r["train_psnr"] for r in again] == [r["train_psnr"] for r in table]


def test_sweep_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_spec(bad)
    with pytest.raises(ValueError, match="cluster"):
        launch(_spec(tmp_path / "x"), cluster="kubernetes")
    rows = gather(tmp_path / "nothing", expand(_spec(tmp_path / "nothing")))
    assert all(r["status"] == "missing" for r in rows)
