"""Run directories to trust: umask, a metrics row per iteration, plain progress lines off a terminal,
data fingerprints, resumes that extend a run, sweeps that grow in place, the [dist] extra."""
from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bilevel.io import write_bytes_atomic
from bilevel.plots import pyplot, save_figure, training_curves_figure
from bilevel.runner import Callback
from bilevel.sweep import launch
from bilevel.tables import read_table
from bilevel.train import TrainConfig, train
from validation.cli import main

SMALL = dict(crop=24, train_count=4, test_count=1, batch_size=2, budget=200, eval_every=200, checkpoint_every=50)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def test_files_honour_the_umask(tmp_path, umask):
    umask(0o022)
    assert _mode(write_bytes_atomic(tmp_path / "a.bin", b"x")) == 0o644
    plt = pyplot()
    assert _mode(save_figure(plt.figure(), tmp_path / "f.png")) == 0o644
    res = train(TrainConfig(**SMALL), tmp_path / "run")
    files = [p for p in res.run_dir.path.rglob("*") if p.is_file()]
    assert {"metrics.csv", "regularizer.json", "last.pt", "data.json"} <= {p.name for p in files}
    assert all(_mode(p) == 0o644 for p in files), {p.name: oct(_mode(p)) for p in files}
    umask(0o077)
    assert _mode(write_bytes_atomic(tmp_path / "b.bin", b"x")) == 0o600
    assert not list(tmp_path.rglob("*.tmp"))


class _Watch(Callback):
    """Reads metrics.csv after every iteration (what a colleague watching the run sees)."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, []

    def on_step(self, run, record):
        self.seen.append((run.state.iteration, len(read_table(self.path / "metrics.csv"))))


def test_metrics_csv_holds_every_iteration_as_it_happens(tmp_path, caplog):
    out = tmp_path / "run"
    watch = _Watch(out)
    with caplog.at_level(logging.INFO, logger="bilevel.runner"):
        res = train(TrainConfig(**{**SMALL, "budget": 400}), out, extra_callbacks=[watch])
    assert watch.seen and all(it == rows for it, rows in watch.seen)
    # pytest's stderr is not a terminal: no bar, plain progress lines instead
    lines = [r.getMessage() for r in caplog.records if r.name == "bilevel.runner" and "computations)" in r.getMessage()]
    assert lines and all("\r" not in line for line in lines) and "100%" in lines[-1]
    assert len(read_table(out / "metrics.csv")) == res.summary["iterations"]


def test_data_fingerprint_absolute_paths_and_changed_data(tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8)).save(folder / f"p{i}.png")
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(**{**SMALL, "data": "photos", "test_data": None, "test_count": None, "max_iterations": 2})
    train(cfg, tmp_path / "run")
    rec = json.loads((tmp_path / "run" / "data.json").read_text())
    assert rec["train"]["path"] == str(folder.resolve()) and rec["test"] is None
    assert [f[0] for f in rec["train"]["files"]] == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert rec["train"]["files"][0][1] == (folder / "p0.png").stat().st_size and len(rec["train"]["sha256"]) == 64
    # resuming from elsewhere reads the recorded absolute path
    monkeypatch.chdir(tmp_path / "run")
    assert main(["-q", "train", "--out", str(tmp_path / "run"), "--resume", "--max-iterations", "3"]) == 0
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["resumes"][-1]["changes"] == {"max_iterations": {"stored": 2, "now": 3}}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["max_iterations"] == 3
    # changed images are refused
    Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8)).save(folder / "p1.png")
    with pytest.raises(ValueError, match="differ from the ones the run started with"):
        train(TrainConfig(**{**cfg.as_dict(), "max_iterations": 4}), tmp_path / "run", resume=True)


def test_sweep_grows_in_place_and_dry_run_writes_nothing(tmp_path):
    base = {"crop": 24, "train_count": 4, "test_count": 1, "batch_size": 2, "budget": 100, "eval_every": 100}
    spec = {"base": base, "grid": {"seed": [0]}, "out": str(tmp_path / "sw"), "executor": {"cluster": "debug"}}
    rows = launch(spec, dry_run=True)
    assert [r["status"] for r in rows] == ["missing"] and not (tmp_path / "sw").exists()
    assert launch(spec)[0]["status"] == "finished"
    first = tmp_path / "sw" / "runs" / "seed=0" / "summary.json"
    stamp = first.stat().st_mtime_ns
    grown = {**spec, "grid": {"seed": [0, 1]}}
    launch(grown, dry_run=True)
    table = launch(grown)
    assert [r["status"] for r in table] == ["finished", "finished"] and first.stat().st_mtime_ns == stamp
    assert len(read_table(tmp_path / "sw" / "results.csv")) == 2
    meta = json.loads((tmp_path / "sw" / "meta.json").read_text())
    assert meta["grid_changes"][0]["added"] == ["seed=1"]
    # a larger budget extends every run; another base option for the same names is refused
    longer = {**grown, "base": {**base, "budget": 200}}
    assert all(r["computations"] >= 200 for r in launch(longer))
    with pytest.raises(ValueError, match="different config: --alpha0"):
        launch({**longer, "base": {**base, "budget": 200, "alpha0": 1e-5}})


def test_sweep_without_submitit_says_which_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)
    spec = {"base": {"crop": 24, "train_count": 4, "budget": 50}, "grid": {"seed": [0]}, "out": str(tmp_path / "sw")}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    assert main(["-q", "sweep", str(tmp_path / "s.json")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'isgd-toolkit[dist]'" in err and "--cluster debug" in err and "Traceback" not in err
    assert not (tmp_path / "sw").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from importlib.metadata import version

    assert capsys.readouterr().out.strip() == f"isgd {version('isgd-toolkit')}"


def _overlaps(fig) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        for labels in (ax.get_xticklabels(which="both"), ax.get_yticklabels(which="both")):
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels if t.get_visible() and t.get_text()]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i][1].overlaps(boxes[j][1]):
                        bad.append((boxes[i][0], boxes[j][0]))
    return bad


@pytest.mark.parametrize("low,high,budget", [(118.0, 131.0, 12000), (90.0, 101.0, 12000), (125.8, 126.8, 600),
                                             (0.5, 300.0, 400000)])
def test_training_figure_tick_labels_do_not_overlap(low, high, budget):
    c = np.linspace(100, budget, 200)
    loss = high - (high - low) * (c / budget) ** 0.5
    runs = {"ISGD": {"records": [{"computations": float(x), "batch_loss": float(v)} for x, v in zip(c, loss)],
                     "evaluations": [{"computations": float(x), "train_psnr": 23 + x / budget, "test_psnr": 23.0}
                                     for x in np.linspace(0, budget, 6)]}}
    fig = training_curves_figure(runs, "t")
    try:
        assert _overlaps(fig) == []
        fig.canvas.draw()
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels(which="both") if t.get_text()]
        assert 3 <= len(labels) <= 8, labels  # a few labels, never a crowd of minor ones
        if high / low < 10:  # less than a decade: plain numbers, not 1.26x10^2, 1.28x10^2, ...
            assert not any("times" in t for t in labels), labels
    finally:
        pyplot().close(fig)


_LAZY_CHILD = r"""
import sys
import bilevel, bilevel.io, bilevel.rundir
assert "torch" not in sys.modules, "importing bilevel, bilevel.io or bilevel.rundir loaded torch"
from bilevel import FieldOfExperts            # a public name loads its module on first use
assert "torch" in sys.modules and FieldOfExperts.__module__ == "bilevel.foe"
assert bilevel.ridge.WeaklyConvexRidge is bilevel.WeaklyConvexRidge  # submodules as attributes
try:
    bilevel.no_such_name
except AttributeError as exc:
    assert "no_such_name" in str(exc)
else:
    raise AssertionError("an unknown name must raise AttributeError")
assert {"FieldOfExperts", "hypergradient"} <= set(dir(bilevel))
print("ok")
"""


def test_package_loads_its_torch_modules_on_first_use():
    import subprocess

    res = subprocess.run([sys.executable, "-c", _LAZY_CHILD], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_json_writer_knows_fractions_tensors_dtypes_and_paths(tmp_path):
    from fractions import Fraction

    import torch

    from bilevel.io import write_json_atomic

    p = write_json_atomic(tmp_path / "x.json", {"f": Fraction(3, 7), "g": Fraction(4, 1), "t": torch.arange(3),
                                                "d": torch.float64, "a": np.array([1.5]), "p": Path("a/b")})
    assert json.loads(p.read_text()) == {"f": "3/7", "g": "4", "t": [0, 1, 2], "d": "torch.float64", "a": [1.5],
                                         "p": "a/b"}
    with pytest.raises(TypeError, match="object"):
        write_json_atomic(tmp_path / "y.json", {"o": object()})
    assert not (tmp_path / "y.json").exists()


def test_machine_description_names_the_cpu_model(tmp_path) -> None:
    """Benchmarks and run records name the CPU model, so timings from different machines are not mixed up."""
    from bilevel.rundir import cpu_model, machine_description

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\nflags\t: fpu\n")
    assert cpu_model(info) == "AMD EPYC 9B14"
    info.write_text("processor\t: 0\nflags\t: fpu\n")
    assert cpu_model(info) is None
    assert cpu_model(tmp_path / "missing") is None
    desc = machine_description()
    assert "cpu_model" in desc and desc["cpu_count"] == os.cpu_count()
