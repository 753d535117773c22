"""Tables read back with pandas, `isgd runs`, the exported regularizer, `isgd denoise` and `isgd filters`."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from bilevel.data import embedded_crops, make_measurements, psnr
from bilevel.export import FILE_NAME, export_regularizer, load_regularizer
from bilevel.foe import FieldOfExperts
from bilevel.operators import Identity
from bilevel.quality import ssim
from bilevel.regularizer import regularizer_from_description
from bilevel.runs import compare_runs, find_runs, load_run
from bilevel.tables import read_table, records, write_table
from bilevel.train import TrainConfig, train
from validation.cli import main

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(crop=24, train_count=4, test_count=2, batch_size=2, budget=300, eval_every=100, checkpoint_every=3)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    a = train(TrainConfig(**SMALL, alpha0=1e-3), root / "a").run_dir.path
    b = train(TrainConfig(**SMALL, alpha0=3e-3, seed=1), root / "b").run_dir.path
    return a, b


def test_ssim_is_scikit_image_s_and_one_on_equal_images():
    from skimage.metrics import structural_similarity

    x = embedded_crops("test", 32, 2)
    y = make_measurements(Identity(), x, 0.1, 0).y
    s = ssim(y, x)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    ref = structural_similarity(y[1].numpy(), x[1].numpy(), channel_axis=0, data_range=1.0)
    assert s[1].item() == pytest.approx(ref, abs=1e-12) and 0 < s[1] < 1


def test_one_reader_for_every_csv(two_runs, tmp_path):
    a, _ = two_runs
    metrics = read_table(a / "metrics.csv")
    evals = read_table(a / "evaluations.csv")
    assert isinstance(metrics, pd.DataFrame) and list(metrics["iteration"]) == list(range(1, len(metrics) + 1))
    assert metrics["certified"].dtype == bool and metrics["computations"].dtype.kind == "i"
    assert {"train_psnr", "train_ssim", "test_psnr", "test_ssim"} <= set(evals.columns)
    assert evals["test_ssim"].between(0, 1).all()
    # booleans, infinities and empty cells come back as such
    write_table(tmp_path / "t.csv", [{"a": 1, "b": True, "c": "inf"}, {"a": 2, "b": False}])
    t = read_table(tmp_path / "t.csv")
    assert t["b"].tolist() == [True, False] and t["c"].iloc[0] == math.inf and math.isnan(t["c"].iloc[1])
    assert records(t)[1] == {"a": 2, "b": False}
    cost = read_table(ROOT / "benchmarks" / "results" / "cost.csv")  # a committed benchmark table
    assert {"method", "computations", "train_psnr"} <= set(cost.columns) and len(cost) > 3
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "none.csv")


def test_runs_table_and_figure(two_runs, tmp_path, capsys):
    a, b = two_runs
    assert find_runs([a.parent]) == [a.resolve(), b.resolve()]
    table = compare_runs([load_run(a), load_run(b)])
    assert list(table["run"]) == ["a", "b"] and {"alpha0", "seed"} <= set(table.columns)
    assert "budget" not in table.columns  # equal in both runs
    for path, row in zip((a, b), table.to_dict("records")):
        ev = read_table(path / "evaluations.csv")
        assert row["final_test_psnr"] == ev["test_psnr"].iloc[-1] and row["best_train_ssim"] == ev["train_ssim"].max()
        assert row["computations"] == json.loads((path / "summary.json").read_text())["computations"]
    out = tmp_path / "cmp"
    assert main(["runs", str(a), str(b), "--out", str(out)]) == 0
    assert "final_test_psnr" in capsys.readouterr().out
    assert read_table(out / "runs.csv")["run"].tolist() == ["a", "b"]
    assert "| run | status |" in (out / "runs.md").read_text()
    assert (out / "psnr_vs_computations.png").stat().st_size > 5000
    assert main(["-q", "runs", str(tmp_path / "nothing"), "--out", str(out)]) == 2


def test_unfinished_runs_are_compared_as_far_as_they_got(two_runs, tmp_path):
    a, _ = two_runs
    import shutil

    c = tmp_path / "c"
    shutil.copytree(a, c)
    (c / "summary.json").unlink()
    row = compare_runs([load_run(c)]).iloc[0]
    assert row["status"] == "unfinished" and row["computations"] == read_table(c / "metrics.csv")["computations"].iloc[-1]


def test_exported_regularizer_round_trips_exactly(two_runs, tmp_path):
    a, _ = two_runs
    theta = torch.load(a / "theta_final.pt", weights_only=False)["theta"]
    assert (a / FILE_NAME).exists()  # written by every finished run
    path = export_regularizer(a, tmp_path / "r.json")
    reg = load_regularizer(path)
    assert torch.equal(reg.theta.to(theta.dtype), theta) and reg.theta_dtype == "float32"
    d = json.loads(path.read_text())
    assert d["format"] == "isgd-regularizer" and d["channels"] == 3 and d["task"] == "denoising"
    assert d["sigma"] == pytest.approx(25 / 255) and d["training"]["alpha0"] == 1e-3 and d["source"]["finished"]
    for source in (a, a / "theta_final.pt"):
        assert torch.equal(load_regularizer(source).theta, reg.theta)
    bad = dict(d, theta=d["theta"][:-1])
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="theta has 1481 entries"):
        load_regularizer(tmp_path / "bad.json")
    fam = FieldOfExperts(per_expert_smoothing=True)
    assert regularizer_from_description(fam.describe()) == fam
    with pytest.raises(ValueError, match="unknown regularizer family"):
        regularizer_from_description({"name": "tv"})


def _png(path: Path, img: np.ndarray) -> Path:
    Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


def test_denoise_colour_and_gray_images_of_any_size(two_runs, tmp_path, capsys):
    a, _ = two_runs
    x = embedded_crops("test", 64, 1)[0].permute(1, 2, 0).numpy()[:50, :61]  # not square, not a crop size
    colour = _png(tmp_path / "cat.png", x)
    gray = _png(tmp_path / "cat_gray.png", x.mean(axis=2))
    out = tmp_path / "den"
    assert main(["-q", "denoise", str(colour), "--theta", str(a), "--sigma", "25/255", "--out", str(out)]) == 0
    table = read_table(out / "results.csv")
    row = table.iloc[0]
    assert row["certified"] and row["certified_distance"] <= 1e-2
    assert row["psnr_output"] > row["psnr_input"] + 1.0 and row["ssim_output"] > row["ssim_input"]
    with Image.open(out / "cat_denoised.png") as im:
        restored = np.asarray(im)
    assert restored.shape == (50, 61, 3)
    with Image.open(colour) as im:
        clean = torch.from_numpy(np.asarray(im, dtype=np.float64) / 255).permute(2, 0, 1)[None]
    got = torch.from_numpy(restored / 255.0).permute(2, 0, 1)[None]
    assert abs(float(psnr(got, clean)[0]) - row["psnr_output"]) < 0.1  # the PNG is what the table measured
    # a grayscale image needs the flag, and comes back grayscale
    assert main(["-q", "denoise", str(gray), "--theta", str(a / FILE_NAME), "--out", str(out)]) == 2
    assert "--allow-gray" in capsys.readouterr().err
    assert main(["-q", "denoise", str(gray), "--theta", str(a / FILE_NAME), "--allow-gray", "--out", str(out),
                 "--reference", str(gray)]) == 0
    with Image.open(out / "cat_gray_denoised.png") as im:
        assert im.mode == "L"
    assert read_table(out / "results.csv").iloc[0]["psnr_input"] == math.inf  # the reference is the input itself
    # bad input: a reference of another size, a missing regularizer
    small = _png(tmp_path / "small.png", x[:20, :20])
    assert main(["-q", "denoise", str(colour), "--theta", str(a), "--reference", str(small), "--out",
                 str(tmp_path / "x")]) == 2
    assert main(["-q", "denoise", str(colour), "--theta", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_filters_draw_kernels_and_potentials(two_runs, tmp_path):
    a, _ = two_runs
    assert main(["-q", "filters", str(a), "--out", str(tmp_path / "f")]) == 0
    for name in ("filters.png", "potentials.png"):
        assert (tmp_path / "f" / name).stat().st_size > 10000
    assert main(["-q", "export", str(a), "--out", str(tmp_path / "r.json")]) == 0
    assert main(["-q", "filters", str(tmp_path / "r.json")]) == 0
    assert (tmp_path / "filters.png").exists()


def test_filters_draw_a_ridge_run_and_it_denoises(tmp_path):
    run = train(TrainConfig(**{**SMALL, "budget": 120, "eval_every": 120}, regularizer="ridge", filters=4,
                            kernel_size=3), tmp_path / "ridge").run_dir.path
    assert main(["-q", "filters", str(run), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "filters.png").stat().st_size > 10000
    reg = load_regularizer(run)
    assert reg.family.describe()["name"] == "ridge" and reg.theta.numel() == reg.family.dim
