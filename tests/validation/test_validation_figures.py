"""`isgd figures`: experiment sets, figure scripts on synthetic stored results, computed verdicts, end to end."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bilevel.io import write_json_atomic
from validation.experiments import paper_results as pr
from validation.cli import build_parser, main
from validation.experiments.figures import (
    FIGURE_KEYS,
    PAPER_MILESTONES,
    SCALES,
    add_figures_arguments,
    experiment_set,
    load_figure_script,
    run_figures,
)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _bound_json(ratio: float) -> dict:
    """A bound.json as validation.experiments.foe_bound writes it (two seeds, four horizons)."""
    points = [{"seed": s, "iteration": it, "computations": 40 * it, "f": 3.0 - 0.1 * it, "grad_sq": 8.0 - 0.2 * it,
               "second_moment": 11.0 - 0.2 * it, "second_moment_inexact": 11.1 - 0.2 * it, "inner": 7.9 - 0.2 * it,
               "eps2": 1e-6, "error_mean": 1e-3, "error_max": 2e-3, "certified_max": 30.0, "tight_converged": True}
              for s in (0, 1) for it in (0, 1, 3, 7)]
    curve = []
    for it in (0, 1, 3, 7):
        obs = 8.0 - 0.2 * it
        row = {"T": it + 1, "observed": obs, "argmin_iteration": it, "pointwise_low": obs - 0.5,
               "pointwise_high": obs + 0.5, "simultaneous_low": obs - 1, "simultaneous_high": obs + 1,
               "printed": ratio * obs, "printed_zeta": 2.0, "printed_eta": 1.0, "printed_step_ok": True,
               "source": "inf" if it == 7 else 2 * ratio * obs, "source_zeta": 2.0, "source_eta": 1.0,
               "source_step_ok": True, "fitted": 1.5 * ratio * obs, "fitted_step_ok": True}
        row.update(ratio_printed=ratio, ratio_source="inf" if it == 7 else 2 * ratio, ratio_fitted=1.5 * ratio)
        curve.append(row)
    last = curve[-1]
    return {
        "runs": ["runs/bound-seed0", "runs/bound-seed1"], "seeds": [0, 1], "config": {}, "alpha": 1e-3, "eps": 1e-3,
        "delta": 1e-3, "m": 4, "sampler": "with_replacement", "batch_size": 2,
        "law": {"name": "WithReplacement(q=[0.25, 0.25, 0.25, 0.25], tau=2)", "diagonal": [2.0] * 4, "beta": 0.5},
        "tight_accuracy": 1e-6,
        "constants": {"A": 0.1, "B": 0.5, "C": 9.0, "A_tilde_fit": 0.1, "B_tilde_fit": 0.5, "C_tilde_fit": 9.1,
                      "b_fit": 0.99, "c_fit": 0.01, "L_lower_estimate": 8.0, "L_pair": [0, 1, 3], "delta0": 3.0,
                      "f_lb": 0.0, "eps2": 1e-6, "alpha_L_B": 4e-3, "alpha_max_any_zeta_eta": 0.25,
                      "alpha_max_fitted_route": 0.24, "abc_diagnostics": [], "abc_inexact_diagnostics": [],
                      "bias_diagnostics": []},
        "errors": {"mean": 1e-3, "max": 2e-3, "certified_max": 30.0},
        "points": points, "curve": curve,
        "final": {k: last[k] for k in ("T", "observed", "printed", "source", "fitted", "ratio_printed", "ratio_source",
                                        "ratio_fitted", "printed_step_ok", "source_step_ok", "fitted_step_ok")},
        "confidence": 0.95, "notes": [],
    }


def synthetic_results(root: Path, isgd_better: bool = True, bound_ratio: float = 50.0) -> Path:
    """Stored results of every figure, made up (no training), in the layout of `isgd figures`."""
    scale = SCALES["tiny"]
    exps = experiment_set(scale, check_data=False)
    write_json_atomic(root / "experiments.json", {"scale": scale.describe(), "device": "cpu", "notes": [],
                                                  "experiments": [e.as_dict() for e in exps]})
    rng = np.random.default_rng(0)
    gain = 1.0 if isgd_better else -1.0
    for n, e in enumerate(exps):
        path = root / "runs" / e.name
        path.mkdir(parents=True)
        write_json_atomic(path / "config.json", e.config.as_dict())
        maid = e.spec["method"] == "maid"
        step = 30 if maid else 8
        speed = 1.0 if maid else 2.0 + 0.1 * n
        comps = np.arange(1, 150 // step + 2) * step
        loss = 3.0 + 1.0 / (1 + speed * comps / 50) + (0 if maid else 0.05 * rng.standard_normal(comps.size))
        _write_csv(path / "metrics.csv", [{"iteration": i + 1, "computations": int(c), "batch_loss": float(v)}
                                          for i, (c, v) in enumerate(zip(comps, loss))])
        ev_c = np.array([0, 50, 100, 150])
        base = 23.0 + (gain * 0.5 if not maid else 0.0)
        _write_csv(path / "evaluations.csv", [
            {"iteration": i, "computations": int(c), "train_loss": 3.0 + 1.0 / (1 + speed * c / 50),
             "train_psnr": 22.0 + (base - 22.0) * c / 150 + (0 if maid else 0.3 * c / 150),
             "test_loss": 3.2, "test_psnr": 22.0 + (base - 22.0) * c / 150} for i, c in enumerate(ev_c)])
        write_json_atomic(path / "summary.json", {"diverged": False, "iterations": int(comps.size),
                                                  "computations": int(comps[-1]), "stop_reason": "budget"})
    img = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    rows = []
    arrays = {"clean": img, "noisy": img}
    for i, (method, label) in enumerate((("isgd", "ISGD constant"), ("isgd", "ISGD decreasing"), ("maid", "MAID"))):
        panels = []
        for j, ms in enumerate(scale.milestones):
            arrays[f"row{i}_m{j}"] = img
            panels.append({"milestone": ms, "computations": ms, "iteration": j,
                           "psnr": 25.0 + j + (gain if method == "isgd" else 0.0)})
        rows.append({"name": f"r{i}", "label": label, "method": method, "step": None, "alpha0": 1e-3, "panels": panels})
    (root / "artifacts").mkdir()
    np.savez_compressed(root / "artifacts" / "fig3.npz", **arrays)
    write_json_atomic(root / "artifacts" / "fig3.json", {
        "image_index": 0, "milestones": list(scale.milestones), "paper_milestones": list(PAPER_MILESTONES),
        "claim_computations": scale.claim_computations, "paper_claim_computations": 200_000, "factor": scale.factor,
        "noisy_psnr": 20.0, "eps": 1e-3, "rows": rows})
    np.savez_compressed(root / "artifacts" / "fig5.npz", truth=img, blurry=img, **{"maid-deb-maid-m2": img, "isgd": img})
    write_json_atomic(root / "artifacts" / "fig5.json", {"image_index": 1, "eps": 1e-3, "panels": [
        {"key": "truth", "label": "ground truth", "psnr": None},
        {"key": "blurry", "label": "blurry", "psnr": 24.0},
        {"key": "maid-deb-maid-m2", "label": "MAID", "psnr": 27.0},
        {"key": "isgd", "label": "ISGD", "psnr": 27.0 + gain}]})
    write_json_atomic(root / "bound" / "bound.json", _bound_json(bound_ratio))
    return root


def test_experiment_sets() -> None:
    for name in ("quick", "full"):
        scale = SCALES[name]
        exps = experiment_set(scale, check_data=False)
        names = [e.name for e in exps]
        assert len(set(names)) == len(names)
        fig1 = [e for e in exps if "fig1" in e.figures]
        assert len(fig1) == 8 and {e.spec["alpha0"] for e in fig1} == {1e-3, 1e-4, 1e-5, 1e-6}
        assert {e.config.step for e in fig1} == {"constant", "inverse_sqrt"}
        fig2 = [e for e in exps if "fig2" in e.figures]
        assert {e.spec["method"] for e in fig2} == {"isgd", "maid"} and len(fig2) == 6
        assert {e.config.maid_error for e in fig2 if e.spec["method"] == "maid"} == {"certified", "estimated"}
        assert {e.config.maid_error for e in exps if "fig4" in e.figures and e.spec["method"] == "maid"} == {
            "certified", "estimated"}
        deb = [e for e in exps if "fig4" in e.figures]
        isgd = next(e for e in deb if e.spec["method"] == "isgd")
        assert isgd.config.step == "inverse_sqrt" and isgd.config.alpha0 == 1e-3
        assert all(e.config.dtype == "float64" for e in deb if e.spec["method"] == "maid")
        assert all(e.config.train_count < isgd.config.train_count or e.spec["method"] == "isgd"
                   or e.config.train_count == isgd.config.train_count for e in deb)
        bound = [e for e in exps if "bound" in e.figures]
        assert len(bound) == scale.bound_seeds and all(e.config.step == "constant" for e in bound)
        assert len({json.dumps({k: v for k, v in e.config.as_dict().items() if k != "seed"}) for e in bound}) == 1
    full = experiment_set(SCALES["full"], check_data=False)
    assert next(e for e in full if e.name == "den-maid").config.train_count == 1024
    assert {e.config.train_count for e in full if "fig4" in e.figures} == {1536, 256}
    assert all(e.config.crop == 256 for e in full if "fig4" in e.figures)
    assert SCALES["quick"].milestones == (200, 1000, 2000, 4000)
    assert SCALES["full"].milestones == PAPER_MILESTONES
    assert len([e for e in experiment_set(SCALES["quick"], check_data=False, seeds=5) if "bound" in e.figures]) == 5
    with pytest.raises(ValueError, match="seeds"):
        experiment_set(SCALES["quick"], check_data=False, seeds=0)


def test_full_scale_on_embedded_data_caps_the_counts() -> None:
    notes: list[str] = []
    exps = experiment_set(SCALES["full"], notes=notes)
    den = next(e for e in exps if e.name == "den-maid")
    assert den.config.train_count < 1024 and any("denoising training set" in n for n in notes)
    deb = [e for e in exps if "fig4" in e.figures]
    isgd = next(e for e in deb if e.spec["method"] == "isgd")
    assert all(e.config.train_count <= isgd.config.train_count for e in deb)


@pytest.mark.parametrize("key", FIGURE_KEYS)
def test_every_figure_script_draws_from_stored_results(key: str, tmp_path: Path) -> None:
    root = synthetic_results(tmp_path / "res")
    module = load_figure_script(key)
    paths = module.draw(root, tmp_path / "png")
    assert paths and all(p.exists() and p.stat().st_size > 1000 and p.suffix == ".png" for p in paths)
    assert module.main([str(root), "--out", str(tmp_path / "png2")]) == 0
    assert (tmp_path / "png2" / paths[0].name).stat().st_size > 0
    assert module.main([str(tmp_path / "nothing")]) == 2


def test_figures_md_lists_every_figure_with_computed_verdicts(tmp_path: Path) -> None:
    good = run_figures(synthetic_results(tmp_path / "good"), "tiny", draw_only=True)
    bad = run_figures(synthetic_results(tmp_path / "bad", isgd_better=False, bound_ratio=0.5), "tiny", draw_only=True,
                      only=["fig3", "fig4", "fig5", "bound"])
    text = good.markdown_path.read_text()
    for key in FIGURE_KEYS:
        assert pr.FIGURES[key].title in text
        assert f"figures/{pr.FIGURES[key].stem}.png" in text
        assert good.verdicts[key] and all(v.status in (pr.SUPPORTED, pr.NOT_SUPPORTED, pr.INCONCLUSIVE)
                                          for v in good.verdicts[key])
    assert "**Verdict:" in text
    # the verdicts follow the stored numbers
    assert [v.status for v in good.verdicts["fig5"]] == [pr.SUPPORTED]
    assert [v.status for v in bad.verdicts["fig5"]] == [pr.NOT_SUPPORTED]
    assert good.verdicts["fig4"][0].status == pr.SUPPORTED and bad.verdicts["fig4"][0].status == pr.NOT_SUPPORTED
    assert good.verdicts["fig3"][0].status == pr.SUPPORTED and bad.verdicts["fig3"][0].status == pr.NOT_SUPPORTED
    assert good.verdicts["bound"][0].status == pr.SUPPORTED and bad.verdicts["bound"][0].status == pr.NOT_SUPPORTED
    assert "ratio bound/observed 50" in good.verdicts["bound"][0].finding
    assert json.loads((tmp_path / "good" / "verdicts.json").read_text())["fig5"][0]["status"] == pr.SUPPORTED


def test_draw_only_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="without --draw-only"):
        run_figures(tmp_path / "empty", "tiny", draw_only=True)
    assert main(["-q", "figures", "--scale", "tiny", "--draw-only", "--out", str(tmp_path / "empty2")]) == 2
    with pytest.raises(ValueError, match="unknown figures"):
        run_figures(tmp_path / "x", "tiny", only=["fig9"])


def test_every_option_has_help() -> None:
    p = argparse.ArgumentParser()
    add_figures_arguments(p)
    for action in p._actions:
        assert action.help, action.dest
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"figures", "bound"} <= set(sub.choices)
    for action in sub.choices["bound"]._actions:
        assert action.help, action.dest
    with pytest.raises(SystemExit):
        build_parser().parse_args(["figures", "--only", "fig9"])


def test_isgd_figures_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "fig"
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--device", "cpu"]) == 0
    text = (out / "figures.md").read_text()
    for key in FIGURE_KEYS:
        png = out / "figures" / f"{pr.FIGURES[key].stem}.png"
        assert png.stat().st_size > 1000, key
        assert pr.FIGURES[key].title in text
    for name in ("experiments.json", "results.csv", "verdicts.json", "timing.json", "config.json", "meta.json",
                 "bound/bound.json", "bound/curve.csv", "artifacts/fig3.json", "artifacts/fig5.npz"):
        assert (out / name).exists(), name
    plan = json.loads((out / "experiments.json").read_text())
    for e in plan["experiments"]:
        assert (out / "runs" / e["name"] / "summary.json").exists()
    # a rerun skips every stored run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--device", "cpu", "--only", "fig5",
                 "constants"]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--draw-only", "--only", "fig1"]) == 0
    assert "Fig. 1" in (out / "figures.md").read_text()
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_isgd_figures_quick(tmp_path: Path) -> None:
    out = tmp_path / "quick"
    assert main(["-q", "figures", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert set(verdicts) == set(FIGURE_KEYS)
    for key in FIGURE_KEYS:
        assert (out / "figures" / f"{pr.FIGURES[key].stem}.png").exists()
