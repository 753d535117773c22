"""Sweeps: grids of training runs executed through submitit, gathered into one table.

A sweep file (JSON) names a base configuration and a grid::

    {
      "base": {"task": "denoising", "budget": 20000, "train_count": 48},
      "grid": {"alpha0": [1e-3, 1e-4], "step": ["constant", "inverse_sqrt"], "seed": [0, 1]},
      "out": "runs/sweep-fig1",
      "executor": {"cluster": "local", "max_parallel": 2, "timeout_min": 600, "slurm": {"slurm_partition": "gpu"}}
    }

Every combination of the grid values is one run (a full run directory ``<out>/runs/<name>``, the
name made of the grid values). ``cluster`` is ``local`` (parallel processes on this machine, the
default), ``slurm`` (with the ``slurm`` parameters passed to submitit) or ``debug`` (in this
process). Finished runs (with a ``summary.json``) are skipped on re-launch; unfinished ones resume.
The results of all runs are gathered into ``<out>/results.csv`` and ``results.json``, one row per
run with its grid values, seed and final metrics.
"""
from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .io import write_json_atomic
from .rundir import RunDirectory
from .train import TrainConfig

log = logging.getLogger(__name__)

CLUSTERS = ("local", "slurm", "debug")


@dataclass(frozen=True)
class SweepRun:
    name: str
    values: dict[str, Any]  # the grid values of this run
    config: TrainConfig


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def expand(spec: dict) -> list[SweepRun]:
    """All runs of a sweep spec (grid keys in the file's order, values in the file's order)."""
    base, grid = dict(spec.get("base", {})), dict(spec.get("grid", {}))
    unknown = sorted(set(spec) - {"base", "grid", "out", "executor"})
    if unknown:
        raise ValueError(f"unknown keys in the sweep file: {unknown}; use base, grid, out, executor")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid entry {key!r} must be a non-empty list of values")
    runs = []
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        cfg = TrainConfig.from_dict({**base, **values, "progress": False})
        name = "_".join(f"{k}={_fmt(v)}" for k, v in values.items()) or "run"
        runs.append(SweepRun(name, values, cfg))
    if len({r.name for r in runs}) != len(runs):
        raise ValueError("two runs of the sweep get the same name; make the grid values distinct")
    return runs


def run_one(config: dict, out: str) -> dict:
    """The job each worker executes: train (or resume) one run and return its summary."""
    from .train import train

    res = train(TrainConfig.from_dict(config), out, resume=True)
    return res.summary


def _finished(path: Path) -> bool:
    return (path / "summary.json").exists()


def launch(spec: dict, out: str | Path | None = None, cluster: str | None = None, max_parallel: int | None = None,
           dry_run: bool = False, poll_seconds: float = 1.0) -> list[dict]:
    """Run every unfinished run of the sweep and return the gathered table (one row per run)."""
    runs = expand(spec)
    ex_spec = dict(spec.get("executor", {}))
    cluster = cluster or ex_spec.get("cluster", "local")
    if cluster not in CLUSTERS:
        raise ValueError(f"unknown cluster {cluster!r}; use one of {CLUSTERS}")
    max_parallel = max_parallel or int(ex_spec.get("max_parallel", 2))
    if max_parallel < 1:
        raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
    root = Path(out or spec.get("out") or f"runs/sweep-{time.strftime('%Y%m%d-%H%M%S')}")
    sweep_dir = RunDirectory.create(root, {"sweep": spec}, seed=0, exist_ok=True)
    todo = [r for r in runs if not _finished(root / "runs" / r.name)]
    log.info("sweep %s: %d runs, %d finished, %d to run on %s", root, len(runs), len(runs) - len(todo), len(todo), cluster)
    if dry_run:
        for r in todo:
            log.info("would run %s", r.name)
        return gather(root, runs)
    if todo:
        failures = execute(todo, root, cluster, max_parallel, ex_spec, poll_seconds=poll_seconds)
        if failures:
            log.error("%d of %d runs failed; re-launch the sweep to retry them", len(failures), len(todo))
    table = gather(root, runs)
    sweep_dir.write_csv("results.csv", table)
    write_json_atomic(root / "results.json", table)
    return table


def execute(runs: list[SweepRun], root: Path, cluster: str = "local", max_parallel: int = 2,
            executor: dict | None = None, *, job: Callable[[dict, str], Any] = run_one,
            poll_seconds: float = 1.0) -> list[tuple[str, str]]:
    """Run ``job(config, root/runs/<name>)`` for every run through submitit, at most ``max_parallel`` at a
    time (Slurm: as an array with that parallelism), and return the failures ``[(name, message)]``.

    ``executor`` holds the sweep file's executor options (``timeout_min``, ``slurm``); ``job`` must be
    importable by the workers (a module-level function, or a ``functools.partial`` of one).
    """
    if cluster not in CLUSTERS:
        raise ValueError(f"unknown cluster {cluster!r}; use one of {CLUSTERS}")
    if max_parallel < 1:
        raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
    try:
        import submitit
    except ImportError:
        raise ImportError("running jobs through submitit needs the submitit package: pip install submitit "
                          "(or the toolkit's [dist] extra)") from None
    ex_spec = dict(executor or {})
    ex = submitit.AutoExecutor(folder=str(Path(root) / "submitit"), cluster=cluster)
    params = {"timeout_min": int(ex_spec.get("timeout_min", 600))}
    if cluster == "slurm":
        params.update(ex_spec.get("slurm", {}))
        params["slurm_array_parallelism"] = max_parallel
    ex.update_parameters(**params)
    pending = list(runs)
    running: list[tuple[SweepRun, Any]] = []
    failures: list[tuple[str, str]] = []
    while pending or running:
        while pending and (cluster == "slurm" or len(running) < max_parallel):
            r = pending.pop(0)
            handle = ex.submit(job, r.config.as_dict(), str(Path(root) / "runs" / r.name))
            running.append((r, handle))
            log.info("submitted %s (job %s)", r.name, handle.job_id)
        still = []
        for r, handle in running:
            if handle.done():
                try:
                    handle.result()
                    log.info("finished %s", r.name)
                except Exception as exc:  # a failed run must not stop the others
                    failures.append((r.name, str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)))
                    log.error("run %s failed: %s", r.name, failures[-1][1])
            else:
                still.append((r, handle))
        running = still
        if running:
            time.sleep(poll_seconds)
    return failures


def gather(root: Path, runs: list[SweepRun]) -> list[dict]:
    """One row per run: name, grid values, seed, method, and final metrics (empty if not finished)."""
    rows = []
    for r in runs:
        path = root / "runs" / r.name
        row: dict[str, Any] = {"name": r.name, **{f"grid.{k}": v for k, v in r.values.items()},
                               "method": r.config.method, "seed": r.config.seed, "run_dir": str(path)}
        if _finished(path):
            s = json.loads((path / "summary.json").read_text())
            final = s.get("final", {})
            row.update(status="diverged" if s.get("diverged") else "finished", stop_reason=s.get("stop_reason"),
                       iterations=s.get("iterations"), computations=s.get("computations"),
                       train_psnr=final.get("train_psnr"), test_psnr=final.get("test_psnr"),
                       train_loss=final.get("train_loss"), algorithm_wall_time=s.get("algorithm_wall_time"))
        else:
            row.update(status="missing")
        rows.append(row)
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    return [{k: row.get(k, "") for k in keys} for row in rows]


def load_spec(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep file {path} does not exist")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"sweep file {path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"sweep file {path} must hold a JSON object with 'base' and 'grid'")
    return spec


def add_sweep_arguments(p) -> None:
    p.add_argument("config", metavar="CONFIG", help="sweep file (JSON with 'base', 'grid', optional 'out', 'executor')")
    p.add_argument("--out", help="sweep directory (default: the file's 'out', else runs/sweep-<time>)")
    p.add_argument("--cluster", choices=CLUSTERS, help="where runs execute: local processes (default), slurm, or debug (in process)")
    p.add_argument("--max-parallel", type=int, help="runs at a time (default: the file's executor.max_parallel, else 2)")
    p.add_argument("--dry-run", action="store_true", help="list the runs that would execute, run nothing")


def run_sweep(args) -> int:
    table = launch(load_spec(args.config), args.out, args.cluster, args.max_parallel, args.dry_run)
    missing = sum(1 for r in table if r.get("status") != "finished")
    log.info("%d runs gathered (%d not finished)", len(table), missing)
    return 0 if missing == 0 or args.dry_run else 5
