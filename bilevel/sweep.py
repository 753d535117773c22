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
default), ``slurm`` (with the ``slurm`` parameters passed to submitit) or ``debug`` (one after the
other in this process, without submitit). ``local`` and ``slurm`` need submitit, the ``[dist]``
extra (``pip install 'isgd-toolkit[dist]'``).

A sweep directory grows in place: re-launch it with more grid values (or a larger ``budget``) and
the new runs run, finished ones are skipped, unfinished ones resume, and runs whose budget grew
are extended; the sweep's ``config.json`` then holds the new sweep file and ``meta.json`` lists
every change (``grid_changes``). A stored run whose options would change (another base option for
the same name) is refused before anything runs. ``--dry-run`` writes nothing. The results of all
runs of the grid are gathered into ``<out>/results.csv`` and ``results.json``, one row per run with
its grid values, seed and final metrics.
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
from .rundir import RunDirectory, check_writable_directory
from .train import TrainConfig, config_changes

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


def _state(run: SweepRun, path: Path) -> str:
    """``new``, ``finished``, ``unfinished`` or ``extend`` (finished, but its budget or iteration cap
    grew); a stored run with other options is a ``ValueError``."""
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        return "new"
    changes = config_changes(json.loads(cfg_file.read_text()), run.config, path)
    if not _finished(path):
        return "unfinished"
    return "extend" if any(new is None or (old is not None and new > old) for old, new in changes.values()) else "finished"


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ModuleNotFoundError("isgd sweep runs its jobs through submitit, which is not installed: "
                                  "pip install 'isgd-toolkit[dist]' (or run the grid in this process with "
                                  "--cluster debug)", name="submitit") from None
    return submitit


def _record_sweep(root: Path, spec: dict, runs: list[SweepRun]) -> RunDirectory:
    """Create the sweep directory, or store a changed sweep file in it (the change in ``meta.json``)."""
    if not (root / "config.json").exists():
        return RunDirectory.create(root, {"sweep": spec}, seed=0)
    sweep_dir = RunDirectory.open(root)
    old = (sweep_dir.config or {}).get("sweep", {})
    if json.dumps(old, sort_keys=True, default=str) != json.dumps(spec, sort_keys=True, default=str):
        try:
            old_names = {r.name for r in expand(old)}
        except (ValueError, TypeError):  # a sweep file of an older version
            old_names = set()
        meta = sweep_dir.meta
        meta.setdefault("grid_changes", []).append({
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "added": sorted({r.name for r in runs} - old_names), "removed": sorted(old_names - {r.name for r in runs}),
            "previous": old})
        sweep_dir.write_json("meta.json", meta)
        sweep_dir.write_json("config.json", {"sweep": spec})
    return sweep_dir


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
    check_writable_directory(root, "the sweep directory")
    states = {r.name: _state(r, root / "runs" / r.name) for r in runs}  # refuses changed runs before any work
    todo = [r for r in runs if states[r.name] != "finished"]
    counts = {k: sum(1 for v in states.values() if v == k) for k in ("new", "unfinished", "extend", "finished")}
    log.info("sweep %s: %d runs (%d new, %d to resume, %d to extend, %d finished) on %s", root, len(runs),
             counts["new"], counts["unfinished"], counts["extend"], counts["finished"], cluster)
    stray = sorted(p.name for p in (root / "runs").iterdir() if p.is_dir() and p.name not in states) \
        if (root / "runs").is_dir() else []
    if stray:
        log.info("%d stored run(s) are not in the grid (kept, not gathered): %s", len(stray), ", ".join(stray))
    if dry_run:
        for r in todo:
            log.info("would %s %s", {"new": "run", "unfinished": "resume", "extend": "extend"}[states[r.name]], r.name)
        return gather(root, runs)
    if todo and cluster != "debug":
        _submitit()  # a missing submitit is reported before anything is written
    sweep_dir = _record_sweep(root, spec, runs)
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
    failures: list[tuple[str, str]] = []
    if cluster == "debug":  # in this process, one after the other
        for r in runs:
            try:
                job(r.config.as_dict(), str(Path(root) / "runs" / r.name))
                log.info("finished %s", r.name)
            except (ValueError, OSError, RuntimeError, FloatingPointError) as exc:
                failures.append((r.name, " ".join(str(exc).split())))
                log.error("run %s failed: %s", r.name, failures[-1][1])
        return failures
    submitit = _submitit()
    ex_spec = dict(executor or {})
    ex = submitit.AutoExecutor(folder=str(Path(root) / "submitit"), cluster=cluster)
    params = {"timeout_min": int(ex_spec.get("timeout_min", 600))}
    if cluster == "slurm":
        params.update(ex_spec.get("slurm", {}))
        params["slurm_array_parallelism"] = max_parallel
    ex.update_parameters(**params)
    pending = list(runs)
    running: list[tuple[SweepRun, Any]] = []
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
                       train_ssim=final.get("train_ssim"), test_ssim=final.get("test_ssim"),
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
    if path.is_dir():
        raise IsADirectoryError(f"sweep file {path} is a directory; pass the JSON sweep file")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"sweep file {path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"sweep file {path} must hold a JSON object with 'base' and 'grid'")
    return spec


def add_sweep_arguments(p) -> None:
    p.add_argument("config", metavar="CONFIG", help="sweep file (JSON with 'base', 'grid', optional 'out', 'executor')")
    p.add_argument("--out", help="sweep directory (default: the file's 'out', else runs/sweep-<time>)")
    p.add_argument("--cluster", choices=CLUSTERS, help="where runs execute: local processes (default), slurm, or debug (in process)")
    p.add_argument("--max-parallel", type=int, help="runs at a time (default: the file's executor.max_parallel, else 2)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs that would run, resume or be extended; write nothing")


def run_sweep(args) -> int:
    table = launch(load_spec(args.config), args.out, args.cluster, args.max_parallel, args.dry_run)
    missing = sum(1 for r in table if r.get("status") != "finished")
    log.info("%d runs gathered (%d not finished)", len(table), missing)
    return 0 if missing == 0 or args.dry_run else 5
