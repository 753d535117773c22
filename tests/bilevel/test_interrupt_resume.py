"""Kill -9 and Ctrl-C during `isgd train`, then `isgd train --out RUN --resume` with no other flag,
finish bit for bit equal to an uninterrupted run (real processes, real signals)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bilevel.runner import load_checkpoint
from bilevel.tables import read_table, records

ROOT = Path(__file__).resolve().parents[2]
# 16 iterations; evaluations every 300 computations (a few during the run), iterates every 3, checkpoints every 5
RUN = ["--crop", "24", "--train-count", "6", "--test-count", "2", "--batch-size", "3", "--budget", "100000",
       "--max-iterations", "16", "--eval-every", "300", "--checkpoint-every", "5", "--iterates-every", "3",
       "--dtype", "float64"]
TIME_COLUMNS = ("wall_time", "eval_seconds")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _isgd(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from validation.cli import main; sys.exit(main())", *args]


def _rows(path: Path) -> int:
    f = path / "metrics.csv"
    return max(0, len(f.read_text().splitlines()) - 1) if f.exists() else 0


def _start_and_stop_after(out: Path, rows: int, sig: int) -> subprocess.CompletedProcess:
    """Start a run, send ``sig`` once metrics.csv holds ``rows`` iterations, return the finished process."""
    proc = subprocess.Popen(_isgd("train", *RUN, "--out", str(out)), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _rows(out) < rows:
        assert proc.poll() is None, f"the run ended before it could be stopped: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _without_time(path: Path, name: str) -> list[dict]:
    df = read_table(path / name)
    return records(df.drop(columns=[c for c in TIME_COLUMNS if c in df]))


def _assert_same_run(a: Path, b: Path) -> None:
    ta = torch.load(a / "theta_final.pt", weights_only=False)["theta"]
    tb = torch.load(b / "theta_final.pt", weights_only=False)["theta"]
    assert torch.equal(ta, tb)
    for name in ("metrics.csv", "evaluations.csv"):
        assert _without_time(a, name) == _without_time(b, name), name
    ia, ib = sorted((a / "iterates").glob("*.pt")), sorted((b / "iterates").glob("*.pt"))
    assert [p.name for p in ia] == [p.name for p in ib]
    assert all(torch.equal(torch.load(p, weights_only=False)["theta"], torch.load(q, weights_only=False)["theta"])
               for p, q in zip(ia, ib))
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    assert (sa["iterations"], sa["computations"], sa["final"]["train_psnr"]) == \
           (sb["iterations"], sb["computations"], sb["final"]["train_psnr"])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    r = subprocess.run(_isgd("train", *RUN, "--out", str(out)), env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert _rows(out) == 16
    return out


def test_kill_9_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    killed = _start_and_stop_after(out, 7, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    # metrics.csv was appended every iteration, beyond the last checkpoint
    at = int(load_checkpoint(out / "checkpoints" / "last.pt")["state"]["iteration"])
    assert _rows(out) >= 7 > at
    resumed = subprocess.run(_isgd("train", "--out", str(out), "--resume"), env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} at iteration {at}" in resumed.stderr
    _assert_same_run(uninterrupted, out)


def test_ctrl_c_writes_a_checkpoint_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    out = tmp_path / "interrupted"
    stopped = _start_and_stop_after(out, 6, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"continue with: isgd train --out {out} --resume" in stopped.stderr
    at = int(load_checkpoint(out / "checkpoints" / "last.pt")["state"]["iteration"])
    assert at == _rows(out) >= 6  # the checkpoint is the last complete iteration, not the last periodic one
    assert not (out / "summary.json").exists() and not (out / "theta_final.pt").exists()
    resumed = subprocess.run(_isgd("train", "--out", str(out), "--resume", "--no-progress"), env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(uninterrupted, out)
    meta = json.loads((out / "meta.json").read_text())
    assert [r["iteration"] for r in meta["resumes"]] == [at] and meta["resumes"][0]["changes"] == {}
    assert meta["resumes"][0]["git_commit"] == meta["git_commit"]  # each session records the code it ran
