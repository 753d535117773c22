"""`isgd bound` on tiny ISGD runs of the weakly convex ridge family: the certified lower-level modulus
(data term minus the certified negative curvature) enters every hypergradient and is reported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bilevel.regularizer import regularizer_from_description
from bilevel.runner import load_iterates
from bilevel.train import TrainConfig, train
from validation.cli import main as isgd_main
from validation.experiments.foe_bound import analyze_runs

TINY = dict(crop=16, train_count=4, test_count=1, batch_size=2, sampler="with_replacement", step="constant",
            alpha0=1e-3, budget=160, eval_every=160, dtype="float64", iterates_every=1, checkpoint_every=50,
            progress=False, regularizer="ridge", filters=4, kernel_size=3, weak_convexity=0.6, init_budget=0.8)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("ridge-bound-runs")
    paths = []
    for seed in (0, 1):
        path = root / f"seed{seed}"
        train(TrainConfig(**TINY, seed=seed), path)
        paths.append(path)
    return paths


def test_bound_check_on_the_ridge_family(runs) -> None:
    result = analyze_runs(runs, max_iterates=3)
    assert result.config["regularizer"] == "ridge"
    fam = regularizer_from_description({"name": "ridge", "num_filters": 4, "kernel_size": 3, "weak_convexity": 0.6})
    iterates = {int(r["iteration"]): r["theta"].double() for r in load_iterates(runs[0])}
    for p in result.points:
        assert p.tight_converged
        assert 0 <= p.error_mean <= p.error_max <= p.certified_max  # the certified bound holds with the lowered modulus
        if p.seed == 0:
            expected = 1.0 - fam.at(iterates[p.iteration]).negative_curvature_bound()
            assert p.modulus == pytest.approx(expected, rel=1e-12)
            assert 0.4 < p.modulus < 1.0  # strictly below the convex case, above 1 - rho_max
        assert p.smoothness > p.modulus
    low = result.to_json()["lower_level"]
    assert low["regularizer"] == "ridge" and low["modulus_min"] == min(p.modulus for p in result.points)


def test_bound_command_on_ridge_runs(runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert isgd_main(["-q", "bound", *map(str, runs), "--out", str(out), "--max-iterates", "3"]) == 0
    data = json.loads((out / "bound" / "bound.json").read_text())
    assert data["lower_level"]["regularizer"] == "ridge"
    assert data["lower_level"]["modulus_max"] < 1.0
    theta = torch.load(runs[0] / "theta_final.pt")
    assert theta["regularizer"]["name"] == "ridge"
    assert regularizer_from_description(theta["regularizer"]).dim == theta["theta"].numel()
