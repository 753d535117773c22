"""benchmarks/compare_end_to_end.py: GPU against CPU on one configuration (no GPU needed: made-up GPU results)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CPU = ROOT / "benchmarks" / "results" / "end_to_end_cpu.json"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare_end_to_end.py"), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _gpu_copy(tmp_path: Path, **config_changes) -> Path:
    d = json.loads(CPU.read_text())
    for r in d["results"].values():
        r["algorithm_wall_time"] /= 40.0
        r["peak_memory_bytes"] //= 2
        r["device"] = "cuda:0"
        r["config"] = {**r["config"], "device": "cuda", "chunk_size": 1024, **config_changes}
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(d))
    return path


def test_gpu_versus_cpu_rows(tmp_path: Path) -> None:
    out = tmp_path / "cmp.json"
    r = _run("--cpu", str(CPU), "--gpu", str(_gpu_copy(tmp_path)), "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    cpu = json.loads(CPU.read_text())
    assert set(d["rows"]) == set(cpu["results"])
    for method, row in d["rows"].items():
        assert row["speedup"] == 40.0 or abs(row["speedup"] - 40.0) < 1e-9
        assert row["gpu_peak_memory_bytes"] == cpu["results"][method]["peak_memory_bytes"] // 2
        assert row["meets_goal"] == (row["gpu_algorithm_seconds"] <= 10.0)


def test_different_configurations_are_not_compared(tmp_path: Path) -> None:
    r = _run("--cpu", str(CPU), "--gpu", str(_gpu_copy(tmp_path, alpha0=1.0)), "--out", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "differ in ['alpha0']" in r.stderr
    assert not (tmp_path / "x.json").exists()
