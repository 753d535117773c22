"""The FoE bound check on tiny ISGD runs: internal consistency of every quantity it reports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bilevel.rundir import RunDirectory
from bilevel.sampling import make_sampler
from bilevel.train import TrainConfig, train
from theory.bounds import theorem1_rhs, theorem1_rhs_source
from validation.cli import main as isgd_main
from validation.experiments.foe_bound import analyze_runs, difference_quotients, observed_minimum, write_bound_results

TINY = dict(crop=16, train_count=4, test_count=1, batch_size=2, sampler="with_replacement", step="constant",
            alpha0=1e-3, budget=160, eval_every=160, dtype="float64", iterates_every=1, checkpoint_every=50,
            progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("bound-runs")
    paths = []
    for seed in (0, 1):
        path = root / f"seed{seed}"
        train(TrainConfig(**TINY, seed=seed), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def result(runs):
    return analyze_runs(runs, max_iterates=5, keep_per_image=True)


def test_exact_second_moments_equal_enumeration(result) -> None:
    law = make_sampler("with_replacement", result.m, result.batch_size, 0).law()
    vectors, probs = law.support()
    vectors, probs = np.asarray(vectors, dtype=float), np.asarray(probs, dtype=float)
    assert abs(probs.sum() - 1) < 1e-12
    for p in result.points:
        kept = result.per_image[(p.seed, p.iteration)]
        G, Z = kept["grads"], kept["inexact"]
        brute = sum(pk * float(np.sum((v @ G / result.m) ** 2)) for v, pk in zip(vectors, probs))
        brute_z = sum(pk * float(np.sum((v @ Z / result.m) ** 2)) for v, pk in zip(vectors, probs))
        brute_e = sum(pk * float(np.sum((v @ (Z - G) / result.m) ** 2)) for v, pk in zip(vectors, probs))
        assert p.second_moment == pytest.approx(brute, rel=1e-10)
        assert p.second_moment_inexact == pytest.approx(brute_z, rel=1e-10)
        assert p.eps2 == pytest.approx(brute_e, rel=1e-9, abs=1e-18)
        grad = G.mean(axis=0)
        assert p.grad_sq == pytest.approx(float(grad @ grad), rel=1e-12)
        assert p.inner == pytest.approx(float(grad @ Z.mean(axis=0)), rel=1e-12)  # E z_v = mean_i z_i
        assert p.f == pytest.approx(float(kept["losses"].mean()), rel=1e-12)


def test_fitted_constants_satisfy_their_data(result) -> None:
    f = np.array([p.f for p in result.points])
    g = np.array([p.grad_sq for p in result.points])
    y = np.array([p.second_moment for p in result.points])
    yz = np.array([p.second_moment_inexact for p in result.points])
    s = np.array([p.inner for p in result.points])
    assert np.all(2 * result.abc.A * f + result.abc.B * g + result.abc.C >= y)
    a = result.abc_inexact
    assert np.all(2 * a.A * f + a.B * g + a.C >= yz)
    assert np.all(result.bias.b * g - result.bias.c <= s)
    assert min(result.abc.A, result.abc.B, result.abc.C, result.bias.b, result.bias.c) >= 0


def test_lipschitz_estimate_is_the_largest_difference_quotient(result) -> None:
    best = 0.0
    for seed in result.seeds:
        keys = sorted(k for k in result.per_image if k[0] == seed)
        thetas = np.stack([result.per_image[k]["theta"] for k in keys])
        grads = np.stack([result.per_image[k]["grads"].mean(axis=0) for k in keys])
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                dist = np.linalg.norm(thetas[a] - thetas[b])
                if dist > 0:
                    best = max(best, float(np.linalg.norm(grads[a] - grads[b]) / dist))
    assert result.L == pytest.approx(best, rel=1e-12)
    seed, ta, tb = result.L_pair
    assert seed in result.seeds and ta < tb


def test_delta0_eps2_and_measured_errors(result) -> None:
    first = min(p.iteration for p in result.points)
    assert first == 0
    assert result.delta0 == max(p.f for p in result.points if p.iteration == 0)
    assert result.eps2 == max(p.eps2 for p in result.points)
    for p in result.points:
        assert p.tight_converged
        assert 0 <= p.error_mean <= p.error_max <= p.certified_max  # the certified bound holds
        assert p.error_max <= 10 * result.eps * 1e3  # the errors are of the order of the accuracy


def test_curve_observed_and_ratios(result) -> None:
    iters = sorted({p.iteration for p in result.points})
    values = np.array([[next(p.grad_sq for p in result.points if p.seed == s and p.iteration == it) for it in iters]
                       for s in result.seeds])
    mean = values.mean(axis=0)
    assert [r.T for r in result.curve] == [it + 1 for it in iters]
    for k, row in enumerate(result.curve):
        assert row.observed == pytest.approx(float(mean[:k + 1].min()), rel=1e-12)
        assert row.simultaneous_low <= row.observed <= row.simultaneous_high
        assert row.pointwise_low <= row.observed <= row.pointwise_high
        for key in ("printed", "source", "fitted"):
            bound = getattr(row, key)
            if bound is not None:
                assert row.ratio(key) == pytest.approx(bound / row.observed, rel=1e-12)
        expected = theorem1_rhs(A=result.abc.A, B=result.abc.B, C=result.abc.C, L=result.L, delta0=result.delta0,
                                eps2=result.eps2, zeta=row.printed_zeta, eta=row.printed_eta, alpha=result.alpha,
                                T=row.T, enforce_step=False)
        assert row.printed == pytest.approx(float(expected), rel=1e-12)
        expected_s = theorem1_rhs_source(A=result.abc.A, B=result.abc.B, C=result.abc.C, L=result.L,
                                         delta0=result.delta0, eps2=result.eps2, zeta=row.source_zeta,
                                         eta=row.source_eta, alpha=result.alpha, T=row.T, enforce_step=False)
        assert row.source == pytest.approx(float(expected_s), rel=1e-12)
        assert row.printed_step_ok == (result.step_product < 1)


def test_written_files_round_trip(result, tmp_path: Path) -> None:
    paths = write_bound_results(result, tmp_path / "bound")
    assert [p.name for p in paths] == ["bound.json", "points.csv", "curve.csv"]
    data = json.loads((tmp_path / "bound" / "bound.json").read_text())
    assert data["constants"]["L_lower_estimate"] == pytest.approx(result.L)
    assert data["final"]["ratio_printed"] == pytest.approx(result.final.printed / result.final.observed)
    assert len(data["points"]) == len(result.points)
    assert len((tmp_path / "bound" / "curve.csv").read_text().splitlines()) == len(result.curve) + 1
    assert not list((tmp_path / "bound").glob("*.tmp"))


def test_observed_minimum_intervals() -> None:
    values = np.array([[4.0, 2.0, 3.0], [6.0, 2.5, 1.0], [5.0, 1.5, 2.0]])
    rows = observed_minimum(values, 0.95)
    assert [r["value"] for r in rows] == [5.0, 2.0, 2.0]
    assert [r["argmin"] for r in rows] == [0, 1, 1]
    for r in rows:
        lo, hi = r["simultaneous"]
        plo, phi = r["pointwise"]
        assert lo <= plo <= r["value"] <= phi
        assert lo <= r["value"] <= hi
    single = observed_minimum(values[:1])
    assert single[-1]["pointwise"] is None and single[-1]["value"] == 2.0
    with pytest.raises(ValueError):
        observed_minimum(np.zeros(3))


def test_difference_quotients() -> None:
    thetas = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [3.0, 1.0]])
    grads = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 5.0], [2.0, 5.0]])
    q, pair = difference_quotients(thetas, grads)
    assert q == pytest.approx(5.0) and pair == (1, 2)
    assert difference_quotients(np.zeros((2, 2)), np.ones((2, 2))) == (0.0, (-1, -1))


def _fake_run(path: Path, iterates: bool = True, **changes) -> Path:
    cfg = TrainConfig(**{**TINY, **changes})
    RunDirectory.create(path, cfg.as_dict(), cfg.seed)
    if iterates:
        (path / "iterates").mkdir()
        torch.save({"iteration": 0, "computations": 0, "theta": torch.zeros(1482)}, path / "iterates" / "iter_000000000.pt")
    return path


def test_bad_runs_are_clear_errors(tmp_path: Path, runs) -> None:
    with pytest.raises(FileNotFoundError, match="iterates"):
        analyze_runs([_fake_run(tmp_path / "a", iterates=False)])
    with pytest.raises(ValueError, match="constant step"):
        analyze_runs([_fake_run(tmp_path / "b", step="inverse_sqrt")])
    with pytest.raises(ValueError, match="Theorem 1 is about ISGD"):
        analyze_runs([_fake_run(tmp_path / "c", method="maid")])
    with pytest.raises(ValueError, match="differ in"):
        analyze_runs([runs[0], _fake_run(tmp_path / "d", seed=5, alpha0=1e-4)])
    with pytest.raises(ValueError, match="share a seed"):
        analyze_runs([runs[0], runs[0]])
    with pytest.raises(FileNotFoundError):
        analyze_runs([tmp_path / "missing"])
    with pytest.raises(ValueError, match="at least one"):
        analyze_runs([])


def test_bound_command(runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert isgd_main(["-q", "bound", *map(str, runs), "--out", str(out), "--max-iterates", "3"]) == 0
    assert (out / "bound" / "bound.json").exists()
    job = json.loads((out / "bound" / "job.json").read_text())  # what the analysis cost, as in isgd figures
    assert job["cpu_seconds"] > 0 and job["wall_seconds"] > 0 and job["workers"] == 1
    assert (job["seeds"], job["iterates"]) == (len(runs), len(json.loads((out / "bound" / "bound.json").read_text())["points"]))
    assert "**Verdict:" in (out / "report.md").read_text()
    for name in ("fig_bound_vs_observed.png", "fig_fitted_constants.png"):
        assert (out / "figures" / name).stat().st_size > 0
    assert isgd_main(["-q", "bound", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert isgd_main(["-q", "bound", *map(str, runs), "--out", str(out), "--workers", "0"]) == 2


def test_worker_processes_give_the_serial_result(runs, result) -> None:
    """Runs analysed in two spawned processes give exactly the analysis of one process."""
    parallel = analyze_runs(runs, max_iterates=5, keep_per_image=True, workers=2)
    assert [(p.seed, p.iteration) for p in parallel.points] == [(p.seed, p.iteration) for p in result.points]
    for a, b in zip(parallel.points, result.points):
        assert a == b
    for key, kept in result.per_image.items():
        np.testing.assert_array_equal(parallel.per_image[key]["grads"], kept["grads"])
        np.testing.assert_array_equal(parallel.per_image[key]["inexact"], kept["inexact"])
    assert (parallel.abc.A, parallel.abc.B, parallel.abc.C) == (result.abc.A, result.abc.B, result.abc.C)
    assert (parallel.bias.b, parallel.bias.c) == (result.bias.b, result.bias.c)
    assert (parallel.L, parallel.L_pair, parallel.law) == (result.L, result.L_pair, result.law)
    assert [r.printed for r in parallel.curve] == [r.printed for r in result.curve]
    with pytest.raises(ValueError, match="workers"):
        analyze_runs(runs, workers=0)


def test_reference_hypergradients_need_no_certification(runs) -> None:
    """The references skip the a-posteriori bound; their hypergradients are those with it."""
    from bilevel.runner import load_iterates
    from bilevel.train import load_data
    from validation.experiments.foe_bound import per_image_hypergradients

    cfg = TrainConfig.from_dict(RunDirectory.open(runs[0]).config)
    problem, data, _ = load_data(cfg, torch.device("cpu"), torch.float64)
    theta0 = load_iterates(runs[0])[-1]["theta"].double()
    plain = per_image_hypergradients(problem, theta0, data.x_star, data.y, 1e-6, 1e-6, certify=False)
    certified = per_image_hypergradients(problem, theta0, data.x_star, data.y, 1e-6, 1e-6)
    np.testing.assert_array_equal(plain.grads, certified.grads)
    np.testing.assert_array_equal(plain.losses, certified.losses)
    assert np.isnan(plain.certified).all() and np.isfinite(certified.certified).all()
