"""`isgd figures`: experiment sets (the paper scale's plan without training), figure scripts and verdicts on
synthetic stored results with seeds, the tiny pipeline end to end, export, draw-only, dirty-tree guard."""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bilevel.io import write_json_atomic
from validation.cli import build_parser, main
from validation.experiments import evidence
from validation.experiments import figures as fg
from validation.experiments import paper_results as pr
from validation.experiments.figures import (
    FIGURE_KEYS,
    PAPER_ALPHAS,
    PAPER_MILESTONES,
    SCALES,
    add_figures_arguments,
    experiment_set,
    holdout_split,
    load_figure_script,
    run_figures,
)


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


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
    """Stored results of every figure at the tiny scale (two seeds), made up (no training), in the layout of
    `isgd figures`. With ``isgd_better``, ISGD's PSNRs are higher than MAID's and the decreasing step
    oscillates less; otherwise the reverse. Seeds differ by a little, so the intervals are narrow."""
    scale = SCALES["tiny"]
    exps = experiment_set(scale, check_data=False)
    write_json_atomic(root / "experiments.json", {"scale": scale.describe(), "device": "cpu", "notes": [],
                                                  "experiments": [e.as_dict() for e in exps]})
    write_json_atomic(root / "config.json", {"job": "figures", "scale": "tiny"})
    write_json_atomic(root / "meta.json", {"seed": 0, "git_commit": "0123abc", "machine": {"processor": "x86_64",
                                                                                           "cpu_count": 2}})
    gain = 1.0 if isgd_better else -1.0
    for n, e in enumerate(exps):
        path = root / "runs" / e.name
        path.mkdir(parents=True)
        write_json_atomic(path / "config.json", e.config.as_dict())
        write_json_atomic(path / "meta.json", {"seed": e.config.seed, "git_commit": "0123abc"})
        seed = e.spec.get("seed", 0)
        maid = e.spec["method"] == "maid"
        step = 30 if maid else 4
        speed = 1.0 if maid else 2.0 + 0.1 * n
        comps = np.arange(1, 150 // step + 2) * step
        wiggle = 0.0 if maid else (0.02 if (e.spec.get("step") == "inverse_sqrt") == isgd_better else 0.2)
        signs = (-1.0) ** np.arange(comps.size)  # an oscillation of known size, nearly equal for both seeds
        loss = (3.0 + 1.0 / (1 + speed * comps / 50)) * np.exp(wiggle * (1 + 0.01 * seed) * signs)
        _write_csv(path / "metrics.csv", [{"iteration": i + 1, "computations": int(c), "batch_loss": float(v)}
                                          for i, (c, v) in enumerate(zip(comps, loss))])
        ev_c = np.array([0, 50, 100, 150])
        jitter = 0.01 * seed
        top = 23.0 + (gain * 0.5 if not maid else 0.0) + jitter
        _write_csv(path / "evaluations.csv", [
            {"iteration": i, "computations": int(c), "train_loss": 3.0 + 1.0 / (1 + speed * c / 50) - jitter,
             "train_psnr": 22.0 + (top - 22.0) * c / 150, "test_loss": 3.2,
             "test_psnr": 22.0 + (top - 22.0) * c / 150, "eval_seconds": 0.1} for i, c in enumerate(ev_c)])
        write_json_atomic(path / "summary.json", {"diverged": False, "iterations": int(comps.size),
                                                  "computations": int(comps[-1]), "stop_reason": "budget"})
        write_json_atomic(path / "job.json", {"cpu_seconds": 1.0, "wall_seconds": 1.5})
    img = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    rows = []
    arrays = {"clean": img, "noisy": img}
    for i, (method, label) in enumerate((("isgd", "ISGD constant"), ("isgd", "ISGD decreasing"), ("maid", "MAID"))):
        panels, by_seed = [], {}
        for s in range(scale.seeds):
            by_seed[str(s)] = [25.0 + j + (gain if method == "isgd" else 0.0) + 0.01 * s * (i + 1)
                               for j in range(len(scale.milestones))]
        for j, ms in enumerate(scale.milestones):
            arrays[f"row{i}_m{j}"] = img
            panels.append({"milestone": ms, "computations": ms, "iteration": j, "psnr": by_seed["0"][j]})
        rows.append({"name": f"r{i}", "label": label, "method": method, "step": None, "alpha0": 1e-3, "panels": panels,
                     "psnr_by_seed": by_seed})
    (root / "artifacts").mkdir()
    np.savez_compressed(root / "artifacts" / "fig3.npz", **arrays)
    write_json_atomic(root / "artifacts" / "fig3.json", {
        "image_index": 0, "milestones": list(scale.milestones), "paper_milestones": list(PAPER_MILESTONES),
        "claim_computations": scale.claim_computations, "paper_claim_computations": 200_000, "factor": scale.factor,
        "noisy_psnr": 20.0, "eps": 1e-3, "rows": rows, "seeds": list(range(scale.seeds)), "shown_seed": 0})
    deb_isgd = next(e.name for e in exps if e.spec["task"] == "deblurring" and e.spec["method"] == "isgd")
    deb_maid = next(e.name for e in exps if e.spec["task"] == "deblurring" and e.spec["method"] == "maid")
    base = np.array([24.0, 25.0, 26.5, 23.0, 27.0])
    np.savez_compressed(root / "artifacts" / "fig5.npz", truth=img, blurry=img, **{f"maid-{deb_maid}": img, "isgd": img})
    write_json_atomic(root / "artifacts" / "fig5.json", {
        "image_index": 1, "eps": 3e-2, "seeds": [0], "panels": [
            {"key": "truth", "label": "ground truth", "psnr": None},
            {"key": "blurry", "label": "blurry", "psnr": 24.0},
            {"key": f"maid-{deb_maid}", "label": "MAID", "psnr": 27.0, "run": deb_maid},
            {"key": "isgd", "label": "ISGD", "psnr": 27.0 + gain, "run": deb_isgd}],
        "per_image": {deb_maid: list(base + 2.0), deb_isgd: list(base + 2.0 + gain * np.array([0.6, 0.5, 0.7, 0.55, 0.6]))},
        "per_image_blurry": list(base)})
    write_json_atomic(root / "bound" / "bound.json", _bound_json(bound_ratio))
    return root


# ----------------------------------------------------------------------------------------------
# plans


def test_experiment_sets() -> None:
    for name in ("quick", "full", "paper"):
        scale = SCALES[name]
        exps = experiment_set(scale, check_data=False)
        names = [e.name for e in exps]
        assert len(set(names)) == len(names)
        fig1 = [e for e in exps if "fig1" in e.figures]
        assert len(fig1) == 8 * scale.seeds and {e.spec["alpha0"] for e in fig1} == set(PAPER_ALPHAS)
        assert {e.config.step for e in fig1} == {"constant", "inverse_sqrt"}
        fig2 = [e for e in exps if "fig2" in e.figures]
        assert {e.spec["method"] for e in fig2} == {"isgd", "maid"}
        assert len(fig2) == (4 + len(scale.maid_errors)) * scale.seeds
        assert {e.config.maid_error for e in fig2 if e.spec["method"] == "maid"} == set(scale.maid_errors)
        deb = [e for e in exps if "fig4" in e.figures]
        isgd = next(e for e in deb if e.spec["method"] == "isgd")
        assert isgd.config.step == "inverse_sqrt" and isgd.config.alpha0 == 1e-3
        # float64 MAID on deblurring, except at the paper scale (float32, estimated oracle: see _MAID_DEBLUR_PAPER)
        want = "float32" if name == "paper" else "float64"
        assert all(e.config.dtype == want for e in deb if e.spec["method"] == "maid")
        assert all(e.config.train_count <= isgd.config.train_count for e in deb)
        bound = [e for e in exps if "bound" in e.figures]
        assert len(bound) == scale.bound_seeds and all(e.config.step == "constant" for e in bound)
        assert len({json.dumps({k: v for k, v in e.config.as_dict().items() if k != "seed"}) for e in bound}) == 1
    assert SCALES["quick"].milestones == (200, 1000, 2000, 4000)
    assert SCALES["paper"].milestones == PAPER_MILESTONES == SCALES["full"].milestones
    assert len([e for e in experiment_set(SCALES["quick"], check_data=False, seeds=5) if "bound" in e.figures]) == 5
    with pytest.raises(ValueError, match="seeds"):
        experiment_set(SCALES["quick"], check_data=False, seeds=0)


def test_paper_plan_without_training() -> None:
    """The paper scale's plan: counts, sizes, budgets, seeds and oracles, paired seeds (no training)."""
    sc = SCALES["paper"]
    exps = experiment_set(sc, check_data=False)
    den = [e for e in exps if e.spec["task"] == "denoising" and "bound" not in e.figures]
    assert len(den) == 3 * (8 + 2) and sc.seeds >= 3 and sc.bound_seeds >= 5
    for e in den:
        c = e.config
        assert (c.crop, c.budget, c.train_count, c.sigma, c.batch_size) == (96, 200_000, 1024, None, 8)
        assert c.noise == pytest.approx(25 / 255) and c.dtype == "float32"
        assert c.eval_every == 10_000 and c.iterates_every >= 1 and e.name.endswith(f"-s{c.seed}")
    # every configuration on the same seeds (paired comparisons), MAID with both oracles
    by_cfg: dict = {}
    for e in den:
        by_cfg.setdefault((e.spec["method"], e.spec.get("step"), e.spec["alpha0"], e.spec.get("maid_error")),
                          set()).add(e.config.seed)
    assert len(by_cfg) == 10 and all(s == {0, 1, 2} for s in by_cfg.values())
    assert {k[3] for k in by_cfg if k[0] == "maid"} == {"certified", "estimated"}
    deb = [e for e in exps if e.spec["task"] == "deblurring"]
    assert all(e.config.crop == 256 and e.config.spec.operator == "blur" for e in deb)
    assert {e.config.train_count for e in deb} == {1536, 256}
    maid_deb = [e for e in deb if e.spec["method"] == "maid"]
    assert [(e.config.train_count, e.config.dtype, e.config.maid_error) for e in maid_deb] == [(256, "float32", "estimated")]
    bound = [e for e in exps if "bound" in e.figures]
    assert all((e.config.crop, e.config.train_count, e.config.dtype) == (96, 64, "float64") for e in bound)
    assert [e.config.seed for e in bound] == [0, 1, 2, 3, 4]
    assert sc.parallel == 2 and sc.threads == 1 and sc.clean_tree and sc.needs_data
    sample = experiment_set(SCALES["paper-sample"], check_data=False)
    assert {e.config.crop for e in sample if e.spec["task"] == "denoising"} == {96}
    assert all(e.config.budget <= 6_000 for e in sample)


def _photo_folder(path: Path, n: int, size: tuple[int, int]) -> Path:
    from PIL import Image

    path.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", size, (i * 3 % 256, 90, 160)).save(path / f"{1000 + i}.png")
    return path


def test_paper_plan_on_folders_splits_by_file(tmp_path: Path) -> None:
    """CBSD68-like (68 photographs of 481x321) and McMaster-like (18 of 500x500) folders: caps, the held-out
    deblurring split (disjoint, deterministic, written as lists the loader reads), MAID's 1/6."""
    train = _photo_folder(tmp_path / "train", 68, (481, 321))
    test = _photo_folder(tmp_path / "test", 18, (500, 500))
    notes: list[str] = []
    splits: dict = {}
    exps = experiment_set(SCALES["paper"], data_dir=str(train), test_data_dir=str(test), notes=notes,
                          split_dir=tmp_path / "splits", splits=splits)
    den = [e for e in exps if e.spec["task"] == "denoising" and "bound" not in e.figures]
    assert {e.config.train_count for e in den} == {1020} and {e.config.test_count for e in den} == {16}
    sp = splits["deblurring"]
    assert len(sp.train) == 56 and len(sp.test) == 12 and not set(sp.train) & set(sp.test)
    assert sorted(sp.train + sp.test) == sorted(p.name for p in train.iterdir())
    again: dict = {}
    experiment_set(SCALES["paper"], data_dir=str(train), test_data_dir=str(test), split_dir=tmp_path / "splits",
                   splits=again)
    assert again["deblurring"].test == sp.test
    deb = {e.spec["method"] + str(e.config.train_count): e for e in exps if e.spec["task"] == "deblurring"}
    assert set(deb) == {"isgd56", "maid9"}  # MAID on 1/6 of the photographs, as in the paper
    assert all(e.config.test_count == 12 and e.config.test_data.endswith("deblurring-test.txt") for e in deb.values())
    assert any("held out by file" in n for n in notes)
    sp.write()
    from bilevel.datasets import load_crops

    x = load_crops(deb["isgd56"].config.data, 256, 56)
    assert x.shape == (56, 3, 256, 256)
    assert load_crops(deb["isgd56"].config.test_data, 256).shape[0] == 12
    with pytest.raises(ValueError, match="data-dir"):
        run_figures(tmp_path / "out", "paper")


def test_holdout_split() -> None:
    names = [f"{i}.png" for i in range(10)]
    tr, te = holdout_split(names[::-1], 3)
    assert len(te) == 3 and sorted(tr + te) == sorted(names) and te == sorted(te)
    assert holdout_split(names, 3) == (tr, te)  # order of the input does not matter
    assert holdout_split(names, 3, seed=1) != (tr, te)
    with pytest.raises(ValueError, match="hold out"):
        holdout_split(names, 10)
    with pytest.raises(ValueError, match="distinct"):
        holdout_split(["a.png", "a.png", "b.png"], 1)


def test_full_scale_on_embedded_data_caps_the_counts() -> None:
    notes: list[str] = []
    exps = experiment_set(SCALES["full"], notes=notes)
    den = next(e for e in exps if e.name == "den-maid-certified-s0")
    assert den.config.train_count < 1024 and any("denoising training set" in n for n in notes)
    deb = [e for e in exps if "fig4" in e.figures]
    isgd = next(e for e in deb if e.spec["method"] == "isgd")
    assert all(e.config.train_count <= isgd.config.train_count for e in deb)


def test_estimate_from_costs() -> None:
    sc = SCALES["paper"]
    exps = experiment_set(sc, check_data=False)
    kinds = {k: {"units_per_computation": 2.0, "units_per_image_evaluation": 10.0, "runs": []}
             for k in ("denoising/isgd/float32", "denoising/maid/float32", "deblurring/isgd/float32",
                       "deblurring/maid/float32", "denoising/isgd/float64")}
    costs = {"kinds": kinds, "idle_unit_seconds": 1e-3, "reference_seconds_mean": 4e-3,
             "bound_units_per_image_iterate": 100.0, "artifact_units": 0.0}
    est = evidence.estimate_plan(exps, sc, costs)
    row = next(r for r in est["runs"] if r["name"] == "den-isgd-constant-0.001-s0")
    # 2 units x 2e5 computations + margin x 10 units x (2e5/1e4 + 2 evaluations) x (64 + 16 images)
    assert row["units"] == pytest.approx(2.0 * 200_000 + evidence.EVAL_GROWTH * 10.0 * 22 * 80)
    assert row["seconds_idle"] == pytest.approx(row["units"] * 1e-3)
    assert est["bound_units"] == pytest.approx(100.0 * sc.bound_iterates * 5 * 64)
    # the idle unit is that of one of two single-threaded runs at a time: the runs' units are halved; the
    # analysis runs one seed per process: 5 seeds take 3 rounds of one seed's analysis
    run_units = sum(r["units"] for r in est["runs"])
    assert est["total_units"] == pytest.approx(run_units + est["bound_units"])
    assert est["total_hours_idle_two_cores"] == pytest.approx(
        (run_units / 2 + est["bound_units"] * 3 / 5) * 1e-3 / 3600)
    # artifacts run in one process; measured on a paper-sample folder they are scaled up for the full plan
    arts = evidence.estimate_plan(exps, sc, {**costs, "artifact_units": 1000.0})
    assert arts["artifact_units"] == 1000.0
    assert arts["total_hours_idle_two_cores"] - est["total_hours_idle_two_cores"] == pytest.approx(1000.0 * 1e-3 / 3600)
    assert evidence.estimate_plan(exps, sc, {**costs, "artifact_units": 1000.0, "scale": "paper-sample"}
                                  )["artifact_units"] == 3000.0
    with pytest.raises(ValueError, match="no measurement"):
        evidence.estimate_plan(exps, sc, {**costs, "kinds": {}})
    assert est["remaining_units"] == pytest.approx(est["total_units"]) and est["remaining_hours_here"] is None
    # a resumed job: two runs and the bound check done, converted with a unit measured here (2 runs at a time)
    done = ["den-isgd-constant-0.001-s0", "den-maid-certified-s0"]
    part = evidence.estimate_plan(exps, sc, costs, finished=done, bound_done=True, local_unit_seconds=5e-3, parallel=2)
    left = part["total_units"] - part["bound_units"] - sum(r["units"] for r in part["runs"] if r["name"] in done)
    assert part["finished_runs"] == sorted(done) and part["remaining_units"] == pytest.approx(left)
    assert part["remaining_hours_here"] == pytest.approx(left * 5e-3 / 2 / 3600)
    assert part["remaining_hours_idle_two_cores"] == pytest.approx(left * 1e-3 / 2 / 3600)  # bound check done
    with pytest.raises(ValueError, match="parallel"):
        evidence.estimate_plan(exps, sc, costs, parallel=0)


def test_measured_costs_feed_the_estimate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    root = synthetic_results(tmp_path / "sample")
    plan = json.loads((root / "experiments.json").read_text())
    for e in plan["experiments"]:  # 10 s of CPU per run, half of its wall time in evaluations, unit 2 ms
        write_json_atomic(root / "runs" / e["name"] / "job.json", {"cpu_seconds": 10.0, "wall_seconds": 20.0,
                                                                   "reference_seconds": 2e-3, "load_at_start": 1.0})
        rows = _read_csv(root / "runs" / e["name"] / "evaluations.csv")
        for r in rows:
            r["eval_seconds"] = 10.0 / len(rows)
        _write_csv(root / "runs" / e["name"] / "evaluations.csv", rows)
    costs = json.loads(evidence.measure_costs(root, tmp_path / "costs.json").read_text())
    run = next(r for r in costs["runs"] if r["name"] == "den-maid-certified-s0")
    summary = json.loads((root / "runs" / "den-maid-certified-s0" / "summary.json").read_text())
    # half of 10 s of CPU for the algorithm, in units of 2 ms, per computation
    assert run["units_per_computation"] == pytest.approx(5.0 / 2e-3 / summary["computations"])
    assert run["units"] == pytest.approx(5000.0)
    assert set(costs["kinds"]) == {"denoising/isgd/float32", "denoising/maid/float32", "deblurring/isgd/float32",
                                   "deblurring/maid/float64", "denoising/isgd/float64"}
    assert costs["commits"] == ["0123abc"]
    # the idle unit comes from the benchmark that times the reference unit itself (never from another one)
    idle, source = evidence._idle_unit_seconds()
    assert costs["idle_unit_seconds"] == idle and "reference_unit_cpu.json" in source
    bench = json.loads((Path(evidence.__file__).resolve().parents[2] / "benchmarks" / "results"
                        / "reference_unit_cpu.json").read_text())
    assert idle == bench["unit_seconds"] and bench["processes"] == evidence.IDLE_UNIT_PROCESSES
    # a kind's cost is the median over its runs: one run slowed for a while does not set it; a run whose
    # accounting misses a killed session is listed but not used
    kind = "denoising/isgd/float32"
    names = costs["kinds"][kind]["runs"]
    assert len(names) >= 3
    typical = costs["kinds"][kind]["units_per_computation"]
    slow, killed = names[0], names[1]
    job = json.loads((root / "runs" / slow / "job.json").read_text())
    write_json_atomic(root / "runs" / slow / "job.json", {**job, "cpu_seconds": 100.0})
    write_json_atomic(root / "runs" / killed / "job.json", {**job, "unrecorded_sessions": True})
    again = json.loads(evidence.measure_costs(root, tmp_path / "costs2.json").read_text())
    assert killed not in again["kinds"][kind]["runs"] and slow in again["kinds"][kind]["runs"]
    assert next(r for r in again["runs"] if r["name"] == killed)["partial_accounting"]
    assert again["kinds"][kind]["units_per_computation"] == pytest.approx(typical)
    assert again["kinds"][kind]["largest_units_per_computation"] > 5 * typical
    est = evidence.estimate_plan(experiment_set(SCALES["tiny"], check_data=False), SCALES["tiny"], costs)
    assert len(est["runs"]) == len(plan["experiments"]) and est["total_units"] > 0
    out = tmp_path / "est"
    assert main(["-q", "figures", "--scale", "tiny", "--estimate", "--costs", str(tmp_path / "costs.json"),
                 "--out", str(out)]) == 0
    assert json.loads((out / "estimate.json").read_text())["scale"] == "tiny"
    # resuming: a finished run in --out is left out of the remaining time; --calibrate measures the unit here
    done = plan["experiments"][0]["name"]
    shutil.copytree(root / "runs" / done, out / "runs" / done)
    monkeypatch.setattr(evidence, "reference_unit_seconds", lambda repeats=3: 4e-3)
    assert main(["-q", "figures", "--scale", "tiny", "--estimate", "--calibrate", "--max-parallel", "3", "--costs",
                 str(tmp_path / "costs.json"), "--out", str(out)]) == 0
    est = json.loads((out / "estimate.json").read_text())
    assert est["finished_runs"] == [done] and est["local_unit_seconds"] == 4e-3 and est["parallel"] == 3
    left = est["total_units"] - next(r["units"] for r in est["runs"] if r["name"] == done)
    assert est["remaining_units"] == pytest.approx(left)
    assert est["remaining_hours_here"] == pytest.approx(left * 4e-3 / 3 / 3600)
    assert "remaining" in capsys.readouterr().out
    assert main(["-q", "figures", "--scale", "tiny", "--calibrate", "--out", str(out)]) != 0
    assert "--calibrate only goes with --estimate" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# drawing and verdicts from stored (synthetic) results


@pytest.mark.parametrize("key", FIGURE_KEYS)
def test_every_figure_script_draws_from_stored_results(key: str, tmp_path: Path) -> None:
    root = synthetic_results(tmp_path / "res")
    module = load_figure_script(key)
    paths = module.draw(root, tmp_path / "png")
    assert paths and all(p.exists() and p.stat().st_size > 1000 and p.suffix == ".png" for p in paths)
    assert module.main([str(root), "--out", str(tmp_path / "png2")]) == 0
    assert (tmp_path / "png2" / paths[0].name).stat().st_size > 0
    assert module.main([str(tmp_path / "nothing")]) == 2


def test_verdicts_follow_the_stored_numbers(tmp_path: Path) -> None:
    good = run_figures(synthetic_results(tmp_path / "good"), "tiny", draw_only=True)
    bad = run_figures(synthetic_results(tmp_path / "bad", isgd_better=False, bound_ratio=0.5), "tiny", draw_only=True)
    text = good.markdown_path.read_text()
    for key in FIGURE_KEYS:
        assert pr.FIGURES[key].title in text
        assert f"figures/{pr.FIGURES[key].stem}.png" in text
        for v in good.verdicts[key]:
            assert v.status in (pr.SUPPORTED, pr.NOT_SUPPORTED, pr.INCONCLUSIVE)
            assert v.scale == "tiny" and v.seeds and v.intervals  # every verdict states scale, seeds, intervals
    assert "**Verdict:" in text and "95 % paired Student-t interval over seeds 0, 1" in text

    def status(res, key: str, i: int = 0) -> str:
        return res.verdicts[key][i].status

    assert status(good, "fig1") == pr.SUPPORTED and status(bad, "fig1") == pr.NOT_SUPPORTED
    psnr_claim = [v for v in good.verdicts["fig2"] if "significantly higher training PSNR" in v.claim]
    psnr_bad = [v for v in bad.verdicts["fig2"] if "significantly higher training PSNR" in v.claim]
    assert psnr_claim and all(v.status == pr.NOT_SUPPORTED for v in psnr_claim)  # 0 dB at the first milestone
    assert all(v.status == pr.NOT_SUPPORTED for v in psnr_bad)
    for key in ("fig3", "fig4", "fig5"):
        assert status(good, key) == pr.SUPPORTED and status(bad, key) == pr.NOT_SUPPORTED
    assert status(good, "bound") == pr.SUPPORTED and status(bad, "bound") == pr.NOT_SUPPORTED
    assert "ratio bound/observed 50" in good.verdicts["bound"][0].finding
    printed, source, fitted = (v.finding for v in good.verdicts["bound"])  # each route names its own bound
    assert "relative to the printed route" not in printed
    assert "relative to the printed route's" in source and "+5.00e-01 relative to the printed route's" in fitted
    stored = json.loads((tmp_path / "good" / "verdicts.json").read_text())
    assert stored["fig5"][0]["status"] == pr.SUPPORTED and stored["fig5"][0]["seeds"] == [0]
    rows = _read_csv(tmp_path / "good" / "headline.csv")
    assert len(rows) == sum(len(v) for v in good.verdicts.values()) and rows[0]["scale"] == "tiny"
    comparison = _read_csv(tmp_path / "good" / "paper_comparison.csv")
    assert {float(r["paper_db"]) for r in comparison} >= {23.90, 31.35, 20.78, 29.97, 24.78, 27.06, 27.86}
    assert "The paper's numbers beside ours" in text and "What differs" in text


def test_fig3_verdict_is_decided_by_the_seed_intervals(tmp_path: Path) -> None:
    root = synthetic_results(tmp_path / "r")
    meta = json.loads((root / "artifacts" / "fig3.json").read_text())
    for row in meta["rows"]:  # ISGD above MAID by 1 dB at every milestone, consistently over seeds
        row["psnr_by_seed"] = {s: [v + (1.0 if row["method"] == "isgd" else 0.0) + 0.01 * int(s) for v in (20, 21, 22, 23)]
                               for s in ("0", "1")}
    write_json_atomic(root / "artifacts" / "fig3.json", meta)
    assert pr.verdicts_fig3(root)[0].status == pr.SUPPORTED
    for row in meta["rows"]:  # one seed only: no interval, so never supported
        row["psnr_by_seed"] = {"0": row["psnr_by_seed"]["0"]}
    write_json_atomic(root / "artifacts" / "fig3.json", meta)
    assert pr.verdicts_fig3(root)[0].status == pr.INCONCLUSIVE


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


# ----------------------------------------------------------------------------------------------
# export, draw-only from the exported folder, README table, dirty-tree guard


def test_export_draw_only_and_readme_table(tmp_path: Path) -> None:
    src = synthetic_results(tmp_path / "work")
    for name in ("checkpoints", "iterates"):
        (src / "runs" / "den-maid-certified-s0" / name).mkdir()
        (src / "runs" / "den-maid-certified-s0" / name / "x.pt").write_bytes(b"0" * 5000)
    (src / "runs" / "den-maid-certified-s0" / "theta_final.pt").write_bytes(b"0" * 100)
    config = json.loads((src / "runs" / "den-isgd-constant-0.001-s0" / "config.json").read_text())
    config["data"] = str(tmp_path / "photos" / "CBSD68")
    write_json_atomic(src / "runs" / "den-isgd-constant-0.001-s0" / "config.json", config)
    work = run_figures(src, "tiny", draw_only=True)
    dest = evidence.export_results(src, tmp_path / "results" / "paper", max_points=8)
    files = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert not any(("checkpoints" in f or "iterates" in f or f.endswith(".pt")) for f in files)
    assert {"experiments.json", "figures.md", "verdicts.json", "headline.csv", "MANIFEST.json",
            "bound/bound.json", "artifacts/fig3.npz"} <= files
    assert all(f"figures/{pr.FIGURES[k].stem}.png" in files for k in FIGURE_KEYS)
    for f in dest.rglob("*"):  # no machine-specific path of the working folder
        if f.suffix in (".json", ".csv", ".md"):
            assert str(tmp_path) not in f.read_text(), f
    exported = json.loads((dest / "runs" / "den-isgd-constant-0.001-s0" / "config.json").read_text())
    assert exported["data"] == "CBSD68"
    rows = _read_csv(dest / "runs" / "den-isgd-constant-0.001-s0" / "metrics.csv")
    assert 2 < len(rows) <= 9
    # the verdicts of the exported (thinned) folder are those of the working folder, redrawn from it alone
    shutil.rmtree(src)
    again = run_figures(dest, "tiny", draw_only=True)
    assert ({k: [v.status for v in vs] for k, vs in again.verdicts.items()}
            == {k: [v.status for v in vs] for k, vs in work.verdicts.items()})
    assert main(["-q", "figures", "--scale", "tiny", "--draw-only", "--out", str(dest)]) == 0
    table = evidence.readme_table(dest, link="results/paper")
    assert "Scale **tiny**" in table and "`0123abc`" in table and "](results/paper/figures.md)" in table
    assert table.count("\n| Fig.") + table.count("\n| Theorem") + table.count("\n| Fitted") == sum(
        len(v) for v in again.verdicts.values())
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{evidence.README_BEGIN}\nold\n{evidence.README_END}\ntail\n")
    assert main(["-q", "figures", "--out", str(dest), "--readme-table", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and "Scale **tiny**" in text and text.endswith("tail\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        evidence.update_readme(tmp_path / "plain.md", table)


def test_export_refuses_dirty_results(tmp_path: Path) -> None:
    src = synthetic_results(tmp_path / "work")
    meta = json.loads((src / "runs" / "den-maid-certified-s1" / "meta.json").read_text())
    write_json_atomic(src / "runs" / "den-maid-certified-s1" / "meta.json", {**meta, "git_commit": "0123abc-dirty"})
    assert evidence.provenance(src)["dirty"]
    with pytest.raises(fg.DirtyTree, match="uncommitted"):
        evidence.export_results(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    dest = evidence.export_results(src, tmp_path / "out", allow_dirty=True)
    assert "WARNING: these results were made from a source tree with uncommitted changes" in (
        dest / "figures.md").read_text()
    with pytest.raises(ValueError, match="outside"):
        evidence.export_results(src, src / "inner")


def test_provenance_counts_the_commit_of_every_resumed_session(tmp_path: Path) -> None:
    src = synthetic_results(tmp_path / "work")
    assert not evidence.provenance(src)["dirty"]
    path = src / "runs" / "den-maid-certified-s1" / "meta.json"
    meta = json.loads(path.read_text())
    resumes = [{"iteration": 3, "git_commit": "4567def"}, {"iteration": 5}]  # the second: an older record
    write_json_atomic(path, {**meta, "resumes": resumes})
    prov = evidence.provenance(src)
    assert "4567def" in prov["commits"] and "0123abc" in prov["commits"] and not prov["dirty"]
    write_json_atomic(path, {**meta, "resumes": [{"iteration": 3, "git_commit": "4567def-dirty"}]})
    assert evidence.provenance(src)["dirty"]  # a session resumed from a dirty tree taints the results


def test_dirty_tree_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(fg, "git_commit", lambda: "0123abc-dirty")
    with pytest.raises(fg.DirtyTree, match="commit"):
        fg.check_clean_tree(SCALES["paper"], allow_dirty=False)
    assert fg.check_clean_tree(SCALES["paper"], allow_dirty=True) == "0123abc-dirty"
    assert "--allow-dirty" in caplog.text
    assert fg.check_clean_tree(SCALES["tiny"], allow_dirty=False) == "0123abc-dirty"  # not meant for committing
    monkeypatch.setattr(fg, "git_commit", lambda: None)
    with pytest.raises(fg.DirtyTree, match="not a git checkout"):
        fg.check_clean_tree(SCALES["paper"], allow_dirty=False)
    # the paper scale refuses before training anything
    monkeypatch.setattr(fg, "git_commit", lambda: "0123abc-dirty")
    photos = _photo_folder(tmp_path / "photos", 3, (100, 100))
    with pytest.raises(fg.DirtyTree):
        run_figures(tmp_path / "out", "paper", data_dir=str(photos), test_data_dir=str(photos))
    assert not (tmp_path / "out" / "runs").exists()
    assert main(["-q", "figures", "--scale", "paper", "--data-dir", str(photos), "--test-data-dir", str(photos),
                 "--out", str(tmp_path / "out2")]) == 2
    monkeypatch.setattr(fg, "git_commit", lambda: "0123abc")
    assert fg.check_clean_tree(SCALES["paper"], allow_dirty=False) == "0123abc"


# ----------------------------------------------------------------------------------------------
# the whole pipeline at the tiny scale


def test_isgd_figures_tiny_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "fig"
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--device", "cpu"]) == 0
    text = (out / "figures.md").read_text()
    for key in FIGURE_KEYS:
        png = out / "figures" / f"{pr.FIGURES[key].stem}.png"
        assert png.stat().st_size > 1000, key
        assert pr.FIGURES[key].title in text
    for name in ("experiments.json", "results.csv", "verdicts.json", "timing.json", "config.json", "meta.json",
                 "headline.csv", "bound/bound.json", "bound/curve.csv", "artifacts/fig3.json", "artifacts/fig5.npz"):
        assert (out / name).exists(), name
    plan = json.loads((out / "experiments.json").read_text())
    for e in plan["experiments"]:
        run = out / "runs" / e["name"]
        assert (run / "summary.json").exists() and (run / "stats.json").exists() and (run / "job.json").exists()
    fig3 = json.loads((out / "artifacts" / "fig3.json").read_text())
    assert fig3["seeds"] == [0, 1] and all(len(r["psnr_by_seed"]) == 2 for r in fig3["rows"])
    fig5 = json.loads((out / "artifacts" / "fig5.json").read_text())
    assert all(len(v) == fig5["test_images"] for v in fig5["per_image"].values())
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert all(v["scale"] == "tiny" and v["seeds"] for vs in verdicts.values() for v in vs)
    # a rerun skips every stored run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--device", "cpu", "--only", "fig5",
                 "constants"]) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert main(["-q", "figures", "--scale", "tiny", "--out", str(out), "--draw-only", "--only", "fig1",
                 "--export", str(tmp_path / "export"), "--allow-dirty"]) == 0
    assert (tmp_path / "export" / "figures.md").exists()
    assert "Fig. 1" in (out / "figures.md").read_text()
    assert not list(out.rglob("*.tmp"))


def test_runs_through_the_local_executor_two_at_a_time(tmp_path: Path) -> None:
    """The sweep machinery underneath: two tiny runs as separate processes, one torch thread each, locked."""
    pytest.importorskip("submitit")
    exps = [e for e in experiment_set(SCALES["tiny"]) if e.spec["task"] == "deblurring"]
    status = fg.run_experiments(exps, tmp_path, parallel=2, threads=1)
    assert set(status.values()) == {"trained"}
    for e in exps:
        job = json.loads((tmp_path / "runs" / e.name / "job.json").read_text())
        assert job["torch_threads"] == 1 and job["cpu_seconds"] > 0
    # a session killed before writing job.json (simulated by deleting it) is flagged by the next session
    path = tmp_path / "runs" / exps[0].name
    fg.train_job(exps[0].config.as_dict(), str(path), threads=1)
    assert json.loads((path / "job.json").read_text())["sessions"] == 2
    assert "unrecorded_sessions" not in json.loads((path / "job.json").read_text())
    (path / "job.json").unlink()
    fg.train_job(exps[0].config.as_dict(), str(path), threads=1)
    assert json.loads((path / "job.json").read_text())["unrecorded_sessions"] is True
    with fg._lock(tmp_path / "runs" / ".locks" / f"{exps[0].name}.lock"):
        with pytest.raises(fg.RunLocked, match="another process"):
            fg.train_job(exps[0].config.as_dict(), str(tmp_path / "runs" / exps[0].name))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the whole quick scale: 8 min of CPU time in one thread, longer beside other test processes
def test_isgd_figures_quick(tmp_path: Path) -> None:
    out = tmp_path / "quick"
    assert main(["-q", "figures", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert set(verdicts) == set(FIGURE_KEYS)
    for key in FIGURE_KEYS:
        assert (out / "figures" / f"{pr.FIGURES[key].stem}.png").exists()


def test_compact_law_name_shortens_only_equal_lists() -> None:
    from validation.experiments.paper_results import compact_law_name

    long = "WithReplacement(q=[" + ", ".join(["0.015625"] * 64) + "], tau=8)"
    assert compact_law_name(long) == "WithReplacement(q=[0.015625]*64, tau=8)"
    assert compact_law_name("WithReplacement(q=[0.25, 0.5, 0.25], tau=2)") == "WithReplacement(q=[0.25, 0.5, 0.25], tau=2)"
    assert compact_law_name("TauNice(m=4, tau=2)") == "TauNice(m=4, tau=2)"
