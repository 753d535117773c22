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
    ridge = d["results"]["float32"]["rows_ridge"]
    assert [row["batch"] for row in ridge] == [1, 2]
    for row in ridge:
        assert row["family"]["name"] == "ridge"
        assert set(row["ridge_over_foe"]) == {"gradient", "hvp", "lower_solve", "cg", "hypergradient"}
        assert all(v > 0 for v in row["ridge_over_foe"].values())


def test_scaling_tiny(tmp_path):
    out = tmp_path / "s.json"
    r = _run("bench_scaling.py", "--ms", "2", "4", "--sides", "16", "24", "--m-side", "16", "--chunk", "2", "--repeats", "1",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["m_side"] == 16
    assert len(d["time_vs_m"]["seconds"]) == 2 and len(d["memory_vs_m"]["peak_bytes"]) == 2
    assert all(b > 0 for b in d["memory_vs_m"]["peak_bytes"])


@pytest.mark.slow
def test_reference_unit(tmp_path):
    out = tmp_path / "r.json"
    r = _run("bench_reference.py", "--processes", "1", "--repeats", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["processes"] == 1 and len(d["concurrent_seconds"]) == 1
    assert d["busy_cores_at_start"] is None or 0 <= d["busy_cores_at_start"] <= os.cpu_count()
    assert d["unit_seconds"] == pytest.approx(d["concurrent_seconds"][0]) and d["alone_seconds"] > 0
    assert d["concurrent_over_alone"] == pytest.approx(d["unit_seconds"] / d["alone_seconds"])
    bad = _run("bench_reference.py", "--processes", "0", "--out", str(tmp_path / "bad.json"))
    assert bad.returncode != 0 and "positive" in bad.stderr and not (tmp_path / "bad.json").exists()


@pytest.mark.slow
def test_core_quick(tmp_path):
    out = tmp_path / "c.json"
    r = _run("bench_core.py", "--quick", "--repeats", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert set(d["ratios"]) >= {"hvp_over_gradient", "gradient_over_bare_pair", "mixed_over_float64_lower_solve"}
    solve = d["lower_solve_float64_eps_1e-3"]
    assert solve["certified"] and solve["distance_between_solutions"] <= 2e-3  # both within 1e-3 of the solution
    assert solve["mu"] == 0.0 and solve["images"][0] == 8
    assert len(solve["iterations_float64"]) == len(solve["iterations_float32_then_float64"]) == 8


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
    r = _run("bench_end_to_end.py", "--data", "embedded", "--count", "40", "--crop", "32", "--test-count", "4",
             "--budget", "200", "--chunk-size", "16", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    assert d["m"] == 40 and d["data"] == "embedded" and set(d["results"]) == {"isgd", "maid"}
    for method, res in d["results"].items():
        assert res["computations"] >= 200 and res["stop_reason"] == "budget"
        assert res["config"]["crop"] == 32 and res["config"]["test_count"] == 4
        assert (tmp_path / "runs" / f"end-to-end-{method}" / "summary.json").exists()
    assert {"machine", "versions", "git_commit"} <= set(d)


def _photo_folder(folder: Path, names: tuple[str, ...], side: int) -> Path:
    """A folder of small PNG photographs cut from the embedded ones (no shared data needed)."""
    import numpy as np
    from PIL import Image

    from bilevel.data import load_embedded_photo

    folder.mkdir(parents=True)
    for name in names:
        img = load_embedded_photo(name)
        Image.fromarray((np.clip(img[:side, :side], 0, 1) * 255).round().astype(np.uint8)).save(folder / f"{name}.png")
    return folder


def test_quality_tiny_compares_every_method_with_paired_statistics(tmp_path):
    train_dir = _photo_folder(tmp_path / "train", ("astronaut", "coffee", "rocket"), 96)
    test_dir = _photo_folder(tmp_path / "test", ("chelsea", "motorcycle"), 64)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"train_count": 4, "crop": 32, "budget": 300, "batch_size": 2, "filters": 8,
                                 "kernel_size": 5}))
    foe = tmp_path / "foe.json"
    foe.write_text(json.dumps({"train_count": 4, "crop": 32, "budget": 300, "batch_size": 2}))
    small.write_text(json.dumps({**json.loads(small.read_text()), "regularizer": "ridge"}))
    out = tmp_path / "quality.json"
    r = _run("bench_quality.py", "--train-data", str(train_dir), "--test-data", str(test_dir), "--crop", "32",
             "--test-count", "6", "--tv-count", "4", "--foe-config", str(foe), "--ridge-config", str(small),
             "--eval-eps", "1e-2", "--ridge-run", str(tmp_path / "ridge-run"), "--train-eval-count", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    methods = set(d["methods"])
    assert {"noisy", "tv", "foe", "ridge"} <= methods
    crops = d["crops"]
    assert len(crops["per_image"]) == 6 and crops["count"] == 6
    assert sorted({row["photograph"] for row in crops["per_image"]}) == [0, 1]
    for m in methods:
        vals = [row[f"{m}_psnr"] for row in crops["per_image"]]
        assert crops["mean"][m]["psnr"]["mean"] == pytest.approx(sum(vals) / len(vals))
        assert all(0 < row[f"{m}_ssim"] <= 1 for row in crops["per_image"])
    pair = crops["paired"]["ridge - tv"]["psnr"]
    diffs = [row["ridge_psnr"] - row["tv_psnr"] for row in crops["per_image"]]
    assert pair["mean_difference"] == pytest.approx(sum(diffs) / len(diffs))
    assert pair["ci95"][0] <= pair["mean_difference"] <= pair["ci95"][1] and pair["n"] == 6
    assert crops["paired"]["ridge - tv"]["psnr_by_photograph"]["n"] == 2
    train = d["train_crops"]
    assert train["count"] == 3 and len(train["per_image"]) == 3 and set(train["mean"]) == methods
    assert sorted(row["photograph"] for row in train["per_image"]) == [0, 1, 2]  # one crop of each photograph first
    assert train["paired"]["ridge - tv"]["psnr"]["n"] == 3
    full = d["full"]
    assert full["count"] == 2 and len(full["per_image"]) == 2
    ridge = d["ridge"]
    assert 0 < ridge["certified_modulus_96x96"] <= 1.0
    assert ridge["negative_curvature_bound"] <= ridge["prescribed_weak_convexity"]
    assert ridge["certified_modulus_96x96"] == pytest.approx(1.0 - ridge["negative_curvature_bound"], rel=1e-6)
    act = ridge["filter_activity"]
    assert len(act["norms"]) == act["filters"] == ridge["regularizer"]["num_filters"] and 1 <= act["active"] <= act["filters"]
    assert max(act["norms"]) == pytest.approx(act["largest_norm"]) and 0 < act["budget_in_use"] < 1
    assert (tmp_path / "quality_ridge_filters.png").stat().st_size > 0
    theta = json.loads((tmp_path / "quality_ridge_theta.json").read_text())
    assert theta["regularizer"]["name"] == "ridge" and len(theta["theta"]) == theta["regularizer"]["dim"]
    assert ("cbm3d" in methods) == ("cbm3d_note" not in d)
    assert d["eval_dtype"] == "float64"
    for part in (crops, train, full):  # every variational solve certified in float64
        assert part["uncertified"] == {"tv": 0, "foe": 0, "ridge": 0}
    assert (tmp_path / "ridge-run" / "summary.json").exists() and d["ridge"]["stop"] == "budget"
    (tmp_path / "quality_ridge_filters.png").unlink()
    assert _run("bench_quality.py", "--draw-only", "--out", str(out)).returncode == 0
    assert (tmp_path / "quality_ridge_filters.png").stat().st_size > 0


def test_quality_names_the_ridge_artifacts_after_its_output():
    from benchmarks.bench_quality import ridge_artifact

    assert ridge_artifact(Path("r/quality.json"), "theta.json") == Path("r/quality_ridge_theta.json")
    assert ridge_artifact(Path("r/quality_ridge_2e5.json"), "filters.png") == Path("r/quality_ridge_2e5_filters.png")
    assert ridge_artifact(Path("r/other.json"), "theta.json") == Path("r/other_ridge_theta.json")


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


def test_quality_counts_solves_without_the_certificate():
    """A float32 solve asked for an accuracy below its precision floor stops uncertified, and is counted."""
    import torch

    from benchmarks.bench_quality import denoise, tv_problem, tv_theta
    from bilevel.data import DENOISING_SIGMA, embedded_crops, make_measurements
    from bilevel.operators import Identity

    x = embedded_crops("test", 32, 3)
    y = make_measurements(Identity(), x, DENOISING_SIGMA, 0).y
    problem, fam = tv_problem()
    out, missed = denoise(problem, tv_theta(fam, 0.05, torch.float64), y.double(), 1e-3)
    assert missed == 0 and out.dtype == torch.float64
    out, missed = denoise(problem, tv_theta(fam, 0.05, torch.float32), y.float(), 1e-7)
    assert missed == 3


def test_core_mixed_solve_entry_on_deblurring():
    """bench_core's item 4 on deblurring (not run by --quick), at a tiny size."""
    import torch

    from benchmarks.bench_core import mixed_versus_float64
    from bilevel.data import embedded_crops
    from bilevel.foe import FieldOfExperts
    from bilevel.operators import make_operator

    theta = FieldOfExperts().init_theta(scale=0.1, nu=0.01, dtype=torch.float32)
    e = mixed_versus_float64("deblurring", make_operator("blur"), theta, embedded_crops("train", 16, 2).float(), 1,
                             torch.device("cpu"))
    assert e["mu"] == 1e-2 and e["images"] == [2, 3, 16, 16]
    assert set(e["seconds"]) == {"float64", "float32_then_float64"} and all(v > 0 for v in e["seconds"].values())
    assert e["certified"] and e["distance_between_solutions"] <= 2e-3


def test_rerun_reproduces_a_stored_run_and_predicts_its_time(tmp_path):
    """bench_rerun trains a stored run again: on the same machine it reproduces it exactly, and every
    row carries the estimate's prediction beside the measured time."""
    stored = tmp_path / "stored" / "tiny-run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    train = subprocess.run([sys.executable, "-m", "validation.cli", "-q", "train", "--crop", "16", "--train-count", "4",
                            "--test-count", "1", "--batch-size", "2", "--budget", "150", "--eval-every", "75",
                            "--out", str(stored), "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    out = tmp_path / "rerun.json"
    r = _run("bench_rerun.py", str(stored), "--parallel", "1", "--work", str(tmp_path / "again"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    (row,) = d["runs"]
    assert row["name"] == "tiny-run" and row["identical"], row["differences"]
    assert row["predicted_seconds"] > 0 and row["session_seconds"] > 0
    assert row["measured_over_predicted"] == pytest.approx(row["session_seconds"] / row["predicted_seconds"])
    assert (tmp_path / "again" / "tiny-run" / "summary.json").exists()
    assert d["reference_unit"]["processes"] == 1 and d["predicted_wall_seconds"] == pytest.approx(row["predicted_seconds"])
    bad = _run("bench_rerun.py", str(tmp_path / "missing"), "--out", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "not a finished run directory" in bad.stderr
    assert not (tmp_path / "bad.json").exists()


def test_rerun_schedule_and_comparison():
    from benchmarks.bench_rerun import compare, makespan

    assert makespan([8.0, 15.0, 4.0], 2) == 15.0 and makespan([8.0, 15.0, 4.0], 1) == 27.0
    s = {"computations": 10, "iterations": 2, "final": {"train_psnr": 30.0, "test_psnr": 29.0}}
    assert compare(s, s)["identical"]
    c = compare(s, {**s, "computations": 12})
    assert not c["identical"] and c["differences"]["computations"] == 2


def _evidence_with_a_split(tmp_path: Path) -> tuple[Path, Path]:
    """An evidence folder whose run trains on a file list (the deblurring split), and the photographs."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (24, 24), (10, 20, 30)).save(photos / name)
    evidence = tmp_path / "evidence"
    run = evidence / "runs" / "deb-run"
    run.mkdir(parents=True)
    split = {"folder": "photos", "seed": 0, "train": ["a.png", "b.png"], "test": ["c.png"],
             "train_list": "deblurring-train.txt", "test_list": "deblurring-test.txt"}
    (evidence / "experiments.json").write_text(json.dumps({"splits": {"deblurring": split}}))
    return run, photos


def test_rerun_resolves_the_file_lists_of_an_evidence_folder(tmp_path):
    """Deblurring runs train on list files of their evidence folder: the re-run rebuilds them from the split
    stored in experiments.json and --data-dir, and says what to do when it cannot."""
    from benchmarks.bench_rerun import list_files, write_lists

    def list_sources(run, cfg, data_dir, lists_dir):
        return write_lists(run.name, list_files(run, cfg, data_dir), lists_dir)

    run, photos = _evidence_with_a_split(tmp_path)
    cfg = {"data": "list:deblurring-train.txt", "test_data": "list:deblurring-test.txt"}
    got = list_sources(run, cfg, str(photos), tmp_path / "lists")
    assert set(got) == {"data", "test_data"}
    train = Path(got["data"][len("list:"):]).read_text().split()
    test = Path(got["test_data"][len("list:"):]).read_text().split()
    assert [Path(f).name for f in train] == ["a.png", "b.png"] and [Path(f).name for f in test] == ["c.png"]
    assert all(Path(f).is_file() for f in train + test)
    assert list_sources(run, {"data": "embedded"}, None, tmp_path / "none") == {}
    with pytest.raises(ValueError, match="give --data-dir"):
        list_sources(run, cfg, None, tmp_path / "lists")
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match="drawn from a folder named 'photos'"):
        list_sources(run, cfg, str(other), tmp_path / "lists")
    (photos / "c.png").unlink()
    with pytest.raises(ValueError, match="lacks 1 file"):
        list_sources(run, cfg, str(photos), tmp_path / "lists")
    with pytest.raises(ValueError, match="describes no list"):
        list_sources(run, {"data": "list:elsewhere.txt"}, str(photos), tmp_path / "lists")
    lone = tmp_path / "lone" / "run"
    lone.mkdir(parents=True)
    with pytest.raises(ValueError, match="experiments.json is missing"):
        list_sources(lone, cfg, str(photos), tmp_path / "lists")


@pytest.mark.slow
def test_rerun_of_a_run_on_file_lists(tmp_path):
    """A stored deblurring run on the evidence folder's lists is re-run from --data-dir and reproduced."""
    run, photos = _evidence_with_a_split(tmp_path)
    evidence = run.parent.parent
    for side, files in (("train", ["a.png", "b.png"]), ("test", ["c.png"])):
        (evidence / f"deblurring-{side}.txt").write_text("".join(f"{photos / f}\n" for f in files))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    train = subprocess.run([sys.executable, "-m", "validation.cli", "-q", "train", "--task", "deblurring", "--crop", "16",
                            "--data", f"list:{evidence / 'deblurring-train.txt'}", "--test-data",
                            f"list:{evidence / 'deblurring-test.txt'}", "--train-count", "2", "--test-count", "1",
                            "--batch-size", "1", "--budget", "60", "--eval-every", "60", "--out", str(run),
                            "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr
    cfg_path = run / "config.json"  # as the evidence folder stores it: the list by name
    cfg = json.loads(cfg_path.read_text())
    cfg.update(data="list:deblurring-train.txt", test_data="list:deblurring-test.txt")
    cfg_path.write_text(json.dumps(cfg))
    out = tmp_path / "rerun.json"
    r = _run("bench_rerun.py", str(run), "--data-dir", str(photos), "--parallel", "1", "--work", str(tmp_path / "again"),
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(out.read_text())["runs"]
    assert row["identical"], row["differences"]
    again = json.loads((tmp_path / "again" / "deb-run" / "config.json").read_text())
    assert again["data"].startswith("list:") and again["data"].endswith("deb-run-data.txt")
    bad = _run("bench_rerun.py", str(run), "--out", str(tmp_path / "bad.json"))
    assert bad.returncode == 2 and "give --data-dir" in bad.stderr
