"""Training runs: resume equals uninterrupted, MAID's certified decrease, divergence, bad configs."""
from __future__ import annotations

import json

import pytest
import torch

from bilevel.hypergradient import SquaredError
from bilevel.methods import MAID, MAIDSettings, TrainingData
from bilevel.runner import Callback, load_checkpoint, load_iterates
from bilevel.solvers import solve_lower
from bilevel.train import TrainConfig, build_method, initial_theta, load_data, make_regularizer, train
from validation.cli import main as isgd_main

SMALL = dict(crop=24, train_count=6, test_count=2, batch_size=3, budget=600, eval_every=300, checkpoint_every=2,
             alpha0=3e-4, progress=False)


class Kill(Callback):
    """Simulates a crash after a given iteration."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step(self, run, record):
        if run.state.iteration == self.at:
            raise KeyboardInterrupt


def _strip_time(rows):
    return [{k: v for k, v in r.items() if "time" not in k and "seconds" not in k} for r in rows]


@pytest.mark.parametrize("method", ["isgd", "maid"])
def test_resume_equals_uninterrupted_run(tmp_path, method):
    cfg = TrainConfig(method=method, iterates_every=2, **SMALL)
    full = train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", extra_callbacks=[Kill(3)])
    resumed = train(cfg, tmp_path / "killed", resume=True)
    assert torch.equal(full.theta, resumed.theta)
    assert _strip_time(full.records) == _strip_time(resumed.records)
    assert _strip_time(full.evaluations) == _strip_time(resumed.evaluations)
    saved = torch.load(tmp_path / "killed" / "theta_final.pt", weights_only=False)["theta"]
    assert torch.equal(saved, full.theta.cpu())
    for name in ("config.json", "meta.json", "metrics.csv", "evaluations.csv", "summary.json", "checkpoints/last.pt"):
        assert (tmp_path / "killed" / name).exists()
    it_full = load_iterates(tmp_path / "full")
    it_res = load_iterates(tmp_path / "killed")
    assert [r["iteration"] for r in it_full] == [r["iteration"] for r in it_res]
    assert it_full[0]["iteration"] == 0 and it_full[-1]["iteration"] == full.summary["iterations"]
    assert all(torch.equal(a["theta"], b["theta"]) for a, b in zip(it_full, it_res))
    meta = json.loads((tmp_path / "killed" / "meta.json").read_text())
    assert meta["seed"] == 0 and "torch" in meta["versions"]


def test_run_directory_refuses_other_config(tmp_path):
    train(TrainConfig(**SMALL), tmp_path / "r")
    with pytest.raises(ValueError, match="already holds a run"):
        train(TrainConfig(**SMALL), tmp_path / "r")
    with pytest.raises(ValueError, match="different config"):
        train(TrainConfig(**{**SMALL, "alpha0": 1e-4}), tmp_path / "r", resume=True)


def test_same_configuration_is_one_test_for_resume_and_reuse(tmp_path):
    """config_differences reads both sides as a TrainConfig; figures' reuse of finished runs uses it too."""
    from bilevel.train import config_differences
    from validation.experiments.figures import Experiment, _check_stored

    cfg = TrainConfig(**SMALL)
    stored = json.loads(json.dumps(cfg.as_dict()))  # as read back from config.json (lists, not tuples)
    assert config_differences(stored, cfg) == {}
    del stored["eval_eps"]  # an option the stored run predates counts as its default
    assert config_differences(stored, cfg) == {}
    stored.update(alpha0=1e-4, device="cuda")
    assert set(config_differences(stored, cfg)) == {"alpha0", "device"}
    assert set(config_differences(stored, cfg, ignore=("device",))) == {"alpha0"}
    run = tmp_path / "runs" / "x"
    train(cfg, run)
    exp = Experiment("x", "x", ("fig1",), {}, cfg)
    assert _check_stored(exp, tmp_path)
    other = Experiment("x", "x", ("fig1",), {}, TrainConfig(**{**SMALL, "alpha0": 1e-4, "device": "cpu"}))
    with pytest.raises(ValueError, match=r"another configuration \(keys \['alpha0'\]\)"):
        _check_stored(other, tmp_path)


def test_resume_accepts_run_stored_before_an_option_existed(tmp_path):
    first = train(TrainConfig(**SMALL), tmp_path / "r")
    cfg_file = tmp_path / "r" / "config.json"
    stored = json.loads(cfg_file.read_text())
    del stored["reshuffle"]  # a run written before the option existed, at its default value
    cfg_file.write_text(json.dumps(stored))
    again = train(TrainConfig(**SMALL), tmp_path / "r", resume=True)
    assert torch.equal(first.theta, again.theta)
    with pytest.raises(ValueError, match="different config"):
        train(TrainConfig(**{**SMALL, "reshuffle": not TrainConfig().reshuffle}), tmp_path / "r", resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    train(TrainConfig(**SMALL), tmp_path / "r")
    ck = tmp_path / "r" / "checkpoints" / "last.pt"
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(ck)
    with pytest.raises(ValueError, match="corrupt"):
        train(TrainConfig(**SMALL), tmp_path / "r", resume=True)
    assert (tmp_path / "r" / "metrics.csv").exists()  # results already written are kept


def test_divergence_stops_and_keeps_last_good_state(tmp_path):
    cfg = TrainConfig(**{**SMALL, "alpha0": 50.0, "budget": 3000})
    res = train(cfg, tmp_path / "d")
    assert res.diverged and "diverged" in res.stop_reason
    assert bool(torch.isfinite(res.theta).all())
    saved = torch.load(tmp_path / "d" / "theta_final.pt", weights_only=False)["theta"]
    assert bool(torch.isfinite(saved).all())
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["diverged"] is True


def test_maid_never_accepts_a_step_whose_certified_test_fails():
    cfg = TrainConfig(method="maid", crop=20, train_count=4, test_count=1, dtype="float64", alpha0=1e-2,
                      eps0=1e-2, progress=False)
    problem, data, _ = load_data(cfg, torch.device("cpu"), torch.float64)
    maid = build_method(cfg, problem, data)
    state = maid.init(initial_theta(cfg, problem.regularizer, torch.float64, torch.device("cpu")))
    loss = SquaredError()

    def exact_f(theta):
        x = solve_lower(problem.bind(theta, data.y), 1e-10).x
        return float(loss.value(x, data.x_star).mean())

    accepted = 0
    for _ in range(6):
        new, rec = maid.step(state)
        if rec["accepted"]:
            accepted += 1
            assert rec["decrease_test_lhs"] <= rec["decrease_test_rhs"]
            assert rec["error_bound"] <= (1 - maid.settings.eta) * rec["grad_norm"]
            # certified test passed => the exact objective decreased sufficiently
            assert exact_f(new.theta) <= exact_f(state.theta) - maid.settings.lam * rec["step_size"] * rec["grad_norm"] ** 2
        else:
            assert torch.equal(new.theta, state.theta)
            assert rec["decrease_test_lhs"] > rec["decrease_test_rhs"]
            assert new.extra["J"] == state.extra["J"] + 1
        state = new
    assert accepted >= 1


@pytest.mark.parametrize(
    "changes,match",
    [
        (dict(alpha0=-1e-3), "alpha0"),
        (dict(batch_size=10, train_count=4), "larger than the training set"),
        (dict(method="adam"), "unknown method"),
        (dict(step="cosine"), "schedules"),
        (dict(eps0=0.0), "eps0"),
        (dict(mu=-1.0), "mu"),
        (dict(regularizer="ridge", init_rest=0.0), "init_rest"),
    ],
)
def test_bad_configs_rejected(tmp_path, changes, match):
    with pytest.raises(ValueError, match=match):
        cfg = TrainConfig(**{**SMALL, **changes})
        train(cfg, tmp_path / "bad")


def test_ridge_init_rest_sets_the_norm_of_the_filters_beyond_the_first_differences():
    """``init_rest`` reaches the family's documented initialization: the 2C opponent first differences
    keep norm ``init_scale``, every other filter starts at ``init_rest * init_scale``."""
    norms = {}
    for rest in (0.01, 0.3):
        cfg = TrainConfig(**{**SMALL, "regularizer": "ridge", "filters": 9, "kernel_size": 3, "init_scale": 0.2,
                             "init_rest": rest})
        fam = make_regularizer(cfg)
        k = fam.unpack(initial_theta(cfg, fam, torch.float64, torch.device("cpu"))).kernels.flatten(1).norm(dim=1)
        assert torch.allclose(k[:6], torch.full((6,), 0.2, dtype=torch.float64))
        assert torch.allclose(k[6:], torch.full((3,), 0.2 * rest, dtype=torch.float64))
        norms[rest] = k
    assert not torch.allclose(norms[0.01], norms[0.3])


def test_cli_train_and_errors(tmp_path, capsys):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({**SMALL, "budget": 200}))
    out = tmp_path / "cli"
    assert isgd_main(["-q", "train", "--config", str(cfg_file), "--alpha0", "1e-4", "--out", str(out)]) == 0
    stored = json.loads((out / "config.json").read_text())
    assert stored["alpha0"] == 1e-4 and stored["budget"] == 200  # command line overrides the file
    assert isgd_main(["-q", "train", "--alpha0", "-1", "--out", str(tmp_path / "x")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learning_rate": 1.0}))
    assert isgd_main(["-q", "train", "--config", str(bad), "--out", str(tmp_path / "y")]) == 2
    assert isgd_main(["-q", "train", "--config", str(tmp_path / "missing.json")]) == 2
    with pytest.raises(SystemExit):
        isgd_main(["train", "--method", "adam"])


@pytest.mark.parametrize("oracle", ["certified", "estimated"])
def test_maid_reports_its_steps_and_where_computations_go(tmp_path, oracle):
    """Both oracles train; the breakdown adds up to the run's computations and the demo table shows it."""
    from bilevel.main_job import format_maid_breakdown, format_table, maid_breakdown

    cfg = TrainConfig(method="maid", maid_error=oracle, **{**SMALL, "budget": 400, "crop": 16, "train_count": 4})
    res = train(cfg, tmp_path / oracle)
    parts = maid_breakdown(res.records)
    assert parts["accepted"] + parts["rejected"] == len(res.records) >= 1
    assert parts["computations"] == res.summary["computations"]
    assert parts["gradient_computations"] == sum(parts[k] for k in ("lower_iterations", "cg_iterations",
                                                                      "certification_iterations"))
    assert parts["gradient_computations"] + parts["trial_computations"] == parts["computations"]
    assert parts["rejected_computations"] <= parts["gradient_computations"]
    assert parts["rejected_trial_computations"] <= parts["trial_computations"]
    assert parts["certification_iterations"] > 0
    # records read back from metrics.csv give the same breakdown
    again = train(cfg, tmp_path / oracle, resume=True)
    assert maid_breakdown(again.records) == parts
    table = format_table([{"method": f"MAID {oracle}", "iterations": len(res.records), "computations": 1,
                           "train_psnr": 20.0, "train_psnr_start": 19.0, "test_psnr": None, "algorithm_seconds": 1.0,
                           "stop": "budget", "maid": parts}])
    assert f"MAID {oracle}" in table and "accepted" in format_maid_breakdown({"x": parts})
    assert maid_breakdown([{"computations": 3}]) == {}  # ISGD records have no MAID fields


def test_demo_rows_say_when_they_are_not_certified():
    from bilevel.demo import DemoRow, format_rows

    row = dict(task="deblurring", image=0, lower_iterations=100, cg_iterations=5, distance_bound=0.5, residual=1e-3,
               error_bound=12.5, error_estimate=0.1, grad_norm=30.0, psnr_measured=20.0, psnr_solution=22.0, seconds=1.0)
    text = format_rows([DemoRow(**row, certified=False), DemoRow(**row, certified=True)])
    lines = text.splitlines()[2:]
    assert lines[0].endswith("not certified") and "1.25e+01" not in lines[0]
    assert lines[1].endswith("  certified") and "1.25e+01" in lines[1]


@pytest.mark.slow
def test_demo_maid_with_the_estimated_oracle_moves(tmp_path):
    """In the main job's setting (its crops, its 12,000 computations) MAID with the estimated oracle
    takes tens of iterations, most of them accepted, and every gradient it used was certified."""
    from bilevel.main_job import DEMO_METHODS, demo_config, maid_breakdown

    cfg = demo_config(12000, "cpu", False, **DEMO_METHODS["MAID estimated"])
    res = train(cfg, tmp_path / "maid")
    parts = maid_breakdown(res.records)
    assert len(res.records) >= 20, parts
    assert parts["accepted"] >= 15 and parts["rejected_gradients"] == 0, parts
    assert all(str(r["certified"]) in ("True", "1", "true") for r in res.records)
    assert res.evaluations[-1]["train_psnr"] > res.evaluations[0]["train_psnr"] + 1.0


def test_train_help_states_each_default_once(capsys) -> None:
    """``isgd train --help``: every option explained, a default appended only where the help does not
    already state one and there is one to state (no "(default: None)")."""
    with pytest.raises(SystemExit):
        isgd_main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--alpha0" in text and "(default: isgd)" in text
    assert "(default: None)" not in text
    assert "override it (default:" not in text
    assert "(default: 1) (default: 1)" not in text and ") (default: runs/" not in text
