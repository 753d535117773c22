r"""The committed evidence of ``isgd figures``: provenance, export, README table, costs and time estimate.

* :func:`provenance` -- the commits (``meta.json`` of the figures job and of every run), whether any
  is ``-dirty`` or unknown, the machine and the CPU hours spent (``job.json``).
* :func:`export_results` -- copies what the drawing and the verdicts need from a working folder of
  ``isgd figures`` (hundreds of MB of checkpoints, iterates and warm starts) into a small folder meant
  for committing, e.g. ``results/paper/``: the plan, every run's ``config.json``, ``meta.json``,
  ``summary.json``, ``evaluations.csv``, ``stats.json`` (statistics of the full records) and
  ``job.json``, its ``metrics.csv`` thinned to at most :data:`MAX_POINTS` rows for plotting (the
  smallest and largest batch loss of every bin of consecutive iterations, so oscillations stay
  visible), the artifacts, the bound check's tables; machine-specific paths are shortened (data
  folders to their names, the working folder to ``.``). It refuses results made from a source tree
  with uncommitted changes (unless ``allow_dirty``), writes into a temporary folder and swaps it in
  whole, then draws every figure and writes ``figures.md`` there. ``isgd figures --draw-only --out
  DIR`` redraws it in seconds.
* :func:`readme_table` / :func:`update_readme` -- the verdict table for README, computed from the
  stored results.
* :func:`measure_costs` / :func:`estimate_plan` -- per-computation costs measured by a
  ``paper-sample`` run, and the time of every run of a plan predicted from them.

Cost model (what :func:`estimate_plan` assumes, in words). Every run's CPU time is divided by the CPU
time of one *reference unit* measured in the same process right after it (one image-iteration of a
certified hypergradient at batch 8, 96x96, float32, one thread: :func:`reference_unit_seconds`), so
costs are counted in units that do not depend on how loaded the machine was. From the sample runs:
units per computation of each kind of run (task, method, dtype; the median over the measured runs),
units per image of an evaluation (the median of the runs' mean per-image costs, times :data:`EVAL_GROWTH`
where the planned run is more than twice as long as the measured ones: evaluations get dearer as the
regularizer is learned, which a short sample run does not see), units per image and analysed iterate of the
bound check, units of the artifacts. A run of the plan costs ``budget x units/computation +
evaluations x images x units/image``. The wall time on two idle cores converts units with the *idle*
seconds of one unit measured by ``benchmarks/bench_reference.py`` with two single-threaded processes at
a time (``benchmarks/results/reference_unit_cpu.json``), phase by phase, as the paper scale runs them:
the runs two at a time (their units halved: perfect packing, longest first), the bound check's analysis
one seed per process (``ceil(seeds / 2)`` rounds of one seed's analysis), then the artifacts in one
process.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from bilevel.io import write_bytes_atomic, write_json_atomic, write_text_atomic

from . import paper_results as pr

log = logging.getLogger(__name__)

__all__ = [
    "MAX_POINTS",
    "README_BEGIN",
    "README_END",
    "estimate_plan",
    "export_results",
    "measure_costs",
    "provenance",
    "readme_table",
    "reference_unit_seconds",
    "thin_rows",
    "update_readme",
]

MAX_POINTS = 1500
"""Rows of a run's ``metrics.csv`` kept in the exported folder (plots only; statistics come from ``stats.json``)."""

EVAL_GROWTH = 2.0
"""Margin on the measured cost of an evaluation: a learned regularizer makes the lower-level problems
harder (more iterations per solve; a short sample run barely learns), measured up to 3.4x between the
first and the last evaluation of a 1e4-computation run with alpha0 = 1e-3."""

README_BEGIN = "<!-- paper-evidence:begin -->"
README_END = "<!-- paper-evidence:end -->"

#: Files of a run directory copied whole into the export (JSON files have their paths shortened).
_RUN_FILES = ("config.json", "meta.json", "summary.json", "job.json", "stats.json", "evaluations.csv")


# ----------------------------------------------------------------------------------------------
# provenance


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def provenance(root: str | Path) -> dict[str, Any]:
    """Commits, dirtiness, machine and CPU time of a results folder (figures job and every run)."""
    root = Path(root)
    try:
        names = [e["name"] for e in pr.load_plan(root)["experiments"]]
    except FileNotFoundError:
        names = []
    commits: set[str] = set()
    cpu, runs, machine = 0.0, 0, None
    for meta_path in [root / "meta.json"] + [root / "runs" / n / "meta.json" for n in names]:
        if not meta_path.exists():
            continue
        meta = _read_json(meta_path)
        commits.add(meta.get("git_commit") or "unknown")
        for resume in meta.get("resumes", []):  # a resumed session may run other code (older records lack it)
            if "git_commit" in resume:
                commits.add(resume["git_commit"] or "unknown")
        if machine is None and meta.get("machine"):
            m = meta["machine"]
            machine = f"{m.get('cpu_model') or m.get('processor', '?')}, {m.get('cpu_count', '?')} CPUs"
    for n in names:
        job = _read_json(root / "runs" / n / "job.json")
        if job:
            runs += 1
            cpu += float(job.get("cpu_seconds", 0.0))
    cpu += float(_read_json(root / "bound" / "job.json").get("cpu_seconds", 0.0))
    dirty = any(c.endswith("-dirty") or c == "unknown" for c in commits)
    return {"commits": sorted(commits), "dirty": dirty, "machine": machine, "cpu_hours": cpu / 3600.0, "runs": runs}


# ----------------------------------------------------------------------------------------------
# export


def thin_rows(rows: list[dict], max_points: int = MAX_POINTS, key: str = "batch_loss") -> list[dict]:
    """At most about ``max_points`` rows: the first and the last, and in each of ``max_points // 2`` bins
    of consecutive rows the rows with the smallest and the largest ``key`` (every row if there are few)."""
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    if len(rows) <= max_points:
        return list(rows)
    keep = {0, len(rows) - 1}
    for idx in np.array_split(np.arange(len(rows)), max_points // 2):
        vals = [(rows[i].get(key), i) for i in idx]
        vals = [(float(v), i) for v, i in vals if isinstance(v, (int, float)) and math.isfinite(float(v))]
        if vals:
            keep.add(min(vals)[1])
            keep.add(max(vals)[1])
        else:
            keep.add(int(idx[0]))
    return [rows[i] for i in sorted(keep)]


def _csv_text(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, header: list[str], rows: Iterable[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buf.getvalue().encode())


class _Scrubber:
    """Shortens machine-specific paths in JSON values: the working folder to ``.``, data folders to
    their names, the source tree to ``<source>``, the home folder to ``~``."""

    def __init__(self, root: Path, data_dirs: Iterable[str | None]) -> None:
        pairs: list[tuple[str, str]] = [(str(root.resolve()) + os.sep, ""), (str(root.resolve()), ".")]
        for d in data_dirs:
            if d:
                p = Path(d).expanduser()
                pairs += [(str(p.resolve()), p.resolve().name), (str(d), p.resolve().name)]
        pairs.append((str(Path(__file__).resolve().parents[2]), "<source>"))
        pairs.append((str(Path.home()), "~"))
        self.pairs = sorted(((a, b) for a, b in pairs if a and a not in (os.sep, ".")), key=lambda ab: -len(ab[0]))

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self(v) for v in obj]
        if isinstance(obj, str):
            for a, b in self.pairs:
                obj = obj.replace(a, b)
            return obj
        return obj


def _data_folders(experiments: list[dict]) -> list[str]:
    """The paths of the data sources of experiments (``{"config": ...}``; ``kind:`` prefixes removed)."""
    from bilevel.datasets import SOURCE_KINDS

    out = set()
    for e in experiments:
        for key in ("data", "test_data"):
            value = e.get("config", {}).get(key)
            if not value or value == "embedded":
                continue
            kind, sep, rest = str(value).partition(":")
            out.add(rest if sep and kind in SOURCE_KINDS else str(value))
    return sorted(out)


def _copy_json(src: Path, dest: Path, scrub: _Scrubber) -> None:
    if src.exists():
        write_json_atomic(dest, scrub(json.loads(src.read_text())))


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def export_results(src: str | Path, dest: str | Path, *, allow_dirty: bool = False,
                   max_points: int = MAX_POINTS) -> Path:
    """Write the committed folder ``dest`` from the working folder ``src`` of ``isgd figures`` (module
    docstring) and draw it; returns ``dest``.

    Raises:
        FileNotFoundError: ``src`` holds no results of ``isgd figures``.
        ValueError: the results were made from a source tree with uncommitted changes (or an unknown
            commit) and ``allow_dirty`` is false; ``dest`` is ``src`` or inside it.
    """
    from .figures import SCALES, DirtyTree, _draw_and_write  # figures imports this module lazily

    src, dest = Path(src), Path(dest)
    plan = pr.load_plan(src)
    if dest.resolve() == src.resolve() or src.resolve() in dest.resolve().parents:
        raise ValueError(f"export folder {dest} must lie outside the working folder {src}")
    prov = provenance(src)
    if prov["dirty"]:
        msg = (f"the results in {src} were made at commit(s) {', '.join(prov['commits'])}: a source tree with "
               "uncommitted changes (or an unknown commit) cannot be traced, so they must not be committed as "
               "evidence; commit the code and run again from the clean commit")
        if not allow_dirty:
            raise DirtyTree(msg + " (or pass --allow-dirty to export them marked as untraceable)")
        log.warning("!!! %s (exporting anyway: --allow-dirty) !!!", msg)
    job = _read_json(src / "config.json")
    run_configs = [_read_json(src / "runs" / e["name"] / "config.json") for e in plan["experiments"]]
    scrub = _Scrubber(src, [job.get("data_dir"), job.get("test_data_dir")]
                      + _data_folders(plan["experiments"] + [{"config": c} for c in run_configs]))
    stage = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    try:
        write_json_atomic(stage / "experiments.json", scrub(plan))
        for name in ("config.json", "meta.json"):
            _copy_json(src / name, stage / name, scrub)
        thinned = {}
        for e in plan["experiments"]:
            rs, rd = src / "runs" / e["name"], stage / "runs" / e["name"]
            if not (rs / "metrics.csv").exists():
                continue
            for name in _RUN_FILES:
                if not (rs / name).exists():
                    continue
                if name.endswith(".json"):
                    _copy_json(rs / name, rd / name, scrub)
                else:
                    rd.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(rs / name, rd / name)
            if not (rd / "stats.json").exists():  # runs stored before stats.json existed
                write_json_atomic(rd / "stats.json", _finite(pr.run_statistics(
                    pr.read_rows(rs / "metrics.csv"), pr.read_rows(rs / "evaluations.csv"))))
            header, rows = _csv_text(rs / "metrics.csv")
            kept = thin_rows(rows, max_points)
            _write_csv(rd / "metrics.csv", header, kept)
            if len(kept) < len(rows):
                thinned[e["name"]] = [len(rows), len(kept)]
        for f in sorted((src / "artifacts").glob("*")) if (src / "artifacts").exists() else []:
            if f.suffix == ".json":
                _copy_json(f, stage / "artifacts" / f.name, scrub)
            elif f.suffix == ".npz":
                (stage / "artifacts").mkdir(exist_ok=True)
                shutil.copyfile(f, stage / "artifacts" / f.name)
        for name in ("bound.json", "job.json"):
            _copy_json(src / "bound" / name, stage / "bound" / name, scrub)
        for name in ("points.csv", "curve.csv"):
            if (src / "bound" / name).exists():
                shutil.copyfile(src / "bound" / name, stage / "bound" / name)
        manifest = {"exported_from": ".", "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "provenance": prov,
                    "metrics_thinned": {"max_points": max_points, "runs": thinned,
                                        "rule": "first and last row, and the smallest and largest batch_loss of every "
                                                "bin of consecutive rows; statistics in stats.json use every row"},
                    "paths": "data folders are given by name, the working folder as '.', the source tree as <source>"}
        write_json_atomic(stage / "MANIFEST.json", _finite(manifest))
        scale = SCALES.get(plan["scale"]["name"])
        if scale is None:
            raise ValueError(f"unknown scale {plan['scale']['name']!r} in {src / 'experiments.json'}")
        from bilevel.rundir import RunDirectory

        _draw_and_write(stage, scale, list(pr.FIGURES), list(plan.get("notes", [])), plan.get("device", "cpu"),
                        RunDirectory.open(stage), None, provenance(stage), {}, time.perf_counter())
        old = dest.parent / f".{dest.name}.old-{os.getpid()}"
        if dest.exists():
            dest.rename(old)
        stage.rename(dest)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        if stage.exists():
            shutil.rmtree(stage)
        raise
    size = _folder_bytes(dest)
    log.info("exported %s to %s (%.2f MB)", src, dest, size / 1e6)
    if size > 20e6:
        log.warning("the exported folder %s holds %.1f MB; check what grew before committing it", dest, size / 1e6)
    return dest


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


# ----------------------------------------------------------------------------------------------
# README


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def readme_table(root: str | Path, link: str | None = None) -> str:
    """The Markdown verdict table of the results in ``root`` (from ``verdicts.json``), with the scale,
    seeds and intervals of every verdict, the commit and a link to the folder."""
    root = Path(root)
    path = root / "verdicts.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `isgd figures --draw-only --out {root}` first")
    verdicts = json.loads(path.read_text())
    plan = pr.load_plan(root)
    prov = provenance(root)
    target = link or root.as_posix()
    sc = plan["scale"]
    lines = [f"Scale **{sc['name']}** ({sc.get('summary', '')}); results in [`{target}/`]({target}/figures.md), made at "
             f"commit {', '.join(f'`{c}`' for c in prov['commits']) or 'unknown'}"
             + (" **(uncommitted changes: not citable)**" if prov["dirty"] else "") + ".", "",
             "| figure | the paper's claim | verdict | scale, seeds, intervals |", "|---|---|---|---|"]
    for key, vs in verdicts.items():
        title = pr.FIGURES[key].title if key in pr.FIGURES else key
        for v in vs:
            seeds = ", ".join(str(s) for s in v.get("seeds", [])) or "none"
            ivs = "; ".join(v.get("intervals", [])) or "no interval"
            lines.append(f"| {_cell(title)} | {_cell(v['claim'])} | **{_cell(v['status'])}** | "
                         f"{_cell(v.get('scale', ''))}; seeds {_cell(seeds)}; {_cell(ivs)} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: str | Path, table: str) -> Path:
    """Replace the text between :data:`README_BEGIN` and :data:`README_END` in ``readme`` by ``table``."""
    readme = Path(readme)
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text or text.index(README_BEGIN) > text.index(README_END):
        raise ValueError(f"{readme} holds no '{README_BEGIN}' ... '{README_END}' markers; add them where the table goes")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return write_text_atomic(readme, f"{head}{README_BEGIN}\n{table}{README_END}{tail}")


# ----------------------------------------------------------------------------------------------
# costs and the time estimate


def reference_unit_seconds(repeats: int = 3) -> float:
    """CPU seconds of one reference unit in this process now: one image-iteration of a certified
    hypergradient (batch 8, 96x96 embedded crops, sigma 25/255, float32, eps = delta = 1e-3, cold
    start), the smallest of ``repeats`` measurements."""
    import torch

    from bilevel.data import DENOISING_SIGMA, embedded_crops, make_measurements
    from bilevel.foe import FieldOfExperts
    from bilevel.hypergradient import hypergradient
    from bilevel.operators import Identity
    from bilevel.problem import LowerLevelProblem

    x = embedded_crops("train", 96, 8).float()
    y = make_measurements(Identity(), x, DENOISING_SIGMA, 0).y.float()
    foe = FieldOfExperts()
    problem = LowerLevelProblem(Identity(), foe, 0.0)
    theta = foe.init_theta(dtype=torch.float32)
    best = math.inf
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        res = hypergradient(problem, theta, y, x, 1e-3, 1e-3)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        best = min(best, cpu / max(1, int(res.cost.computations)))
    return best


#: Runs at a time behind the idle unit (``benchmarks/bench_reference.py``'s default: two single-threaded
#: processes on two cores, as the paper scale runs).
IDLE_UNIT_PROCESSES = 2


def _idle_unit_seconds() -> tuple[float | None, str]:
    """Seconds of one reference unit on the idle machine with two runs at a time: the committed
    ``benchmarks/results/reference_unit_cpu.json`` (``benchmarks/bench_reference.py``, which times
    :func:`reference_unit_seconds` itself, so units and seconds measure the same operation)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "reference_unit_cpu.json"
    if not path.exists():
        return None, ("benchmarks/results/reference_unit_cpu.json not found (run `isgd bench reference` on an idle "
                      "machine, or pass --calibrate)")
    d = json.loads(path.read_text())
    if d.get("processes") != IDLE_UNIT_PROCESSES or not d.get("unit_seconds"):
        return None, (f"{path.name} was not measured with {IDLE_UNIT_PROCESSES} processes at a time; run "
                      "`isgd bench reference` again")
    return (float(d["unit_seconds"]),
            f"benchmarks/results/reference_unit_cpu.json (commit {d.get('git_commit')}, "
            f"{d['processes']} single-threaded processes at a time, {d.get('busy_cores_at_start')} cores busy at "
            "the start)")


def _kind(cfg: dict) -> str:
    return f"{cfg['task']}/{cfg['method']}/{cfg.get('dtype', 'float32')}"


def _partial_accounting(job: dict, summary: dict) -> bool:
    """Whether ``job.json`` misses sessions of its run: a session killed before it could write it (the
    run resumed later from a checkpoint). Flagged by :func:`~validation.experiments.figures.train_job`
    since it knows, and for older records detected by a recorded wall time below the run's own
    algorithm time (which the checkpoints carry across sessions)."""
    if job.get("unrecorded_sessions"):
        return True
    algo = summary.get("algorithm_wall_time")
    return algo is not None and float(job.get("wall_seconds") or 0.0) < 0.95 * float(algo)


def measure_costs(root: str | Path, out_file: str | Path) -> Path:
    """Per-computation costs of the runs in ``root`` (a ``paper-sample`` folder, or the finished runs
    of a larger scale) in reference units, written to ``out_file`` (JSON) for :func:`estimate_plan`.

    A run's CPU seconds are split between the algorithm and its evaluations in the ratio of their wall
    times. The cost of a kind of run is the *median* over its runs (a run paused or slowed for a while
    skews that split; the median of many runs is robust to it, the largest is not) with the largest kept
    beside it. Runs whose accounting misses a session (:func:`_partial_accounting`) are listed but not
    used.
    """
    root = Path(root)
    plan = pr.load_plan(root)
    runs, kinds = [], {}
    for e in plan["experiments"]:
        path = root / "runs" / e["name"]
        job, summary = _read_json(path / "job.json"), _read_json(path / "summary.json")
        if not job or not summary or not job.get("reference_seconds"):
            continue
        cfg = e["config"]
        evals = pr.read_rows(path / "evaluations.csv")
        ref = float(job["reference_seconds"])
        wall = float(job.get("wall_seconds") or 0.0)
        eval_wall = float(sum(r.get("eval_seconds") or 0.0 for r in evals))
        cpu = float(job["cpu_seconds"])
        cpu_eval = cpu * eval_wall / wall if wall > 0 else 0.0
        comps = int(summary.get("computations", 0))
        images = int(min(cfg.get("eval_train_count") or 10**9, cfg["train_count"])) + int(cfg.get("test_count") or 0)
        row = {"name": e["name"], "kind": _kind(cfg), "crop": cfg.get("crop"), "budget": cfg.get("budget"),
               "computations": comps, "iterations": summary.get("iterations"), "cpu_seconds": cpu,
               "wall_seconds": wall, "reference_seconds": ref, "units": cpu / ref,
               "units_per_computation": (cpu - cpu_eval) / ref / comps if comps else None,
               "units_per_image_evaluation": cpu_eval / ref / (len(evals) * images) if evals else None,
               "load": job.get("load_at_start"), "partial_accounting": _partial_accounting(job, summary)}
        runs.append(row)
        if row["partial_accounting"]:
            continue
        k = kinds.setdefault(row["kind"], {"runs": [], "budget": 0})
        k["runs"].append(e["name"])
        k["budget"] = max(k["budget"], int(cfg.get("budget") or 0))
    for name, k in kinds.items():
        rows = [r for r in runs if r["name"] in k["runs"]]
        for key in ("units_per_computation", "units_per_image_evaluation"):
            vals = [r[key] for r in rows if r[key] is not None]
            k[key] = float(np.median(vals)) if vals else 0.0
            k[key.replace("units", "largest_units", 1)] = float(max(vals)) if vals else 0.0
    bound = _read_json(root / "bound" / "job.json")
    timing = _read_json(root / "timing.json")
    refs = [r["reference_seconds"] for r in runs if not r["partial_accounting"]]
    ref_mean = float(np.mean(refs)) if refs else math.nan
    out: dict[str, Any] = {"measured_in": ".", "scale": plan["scale"]["name"], "runs": runs, "kinds": kinds,
                           "reference_seconds_mean": ref_mean,
                           "reference": "CPU seconds of one image-iteration of a certified hypergradient, batch 8, "
                                        "96x96, float32, one thread, measured in each run's process after it"}
    if bound and bound.get("iterates") and bound.get("m"):
        out["bound_units_per_image_iterate"] = float(bound["cpu_seconds"]) / ref_mean / (bound["iterates"] * bound["m"])
    if timing.get("artifacts_cpu") is not None:
        out["artifact_units"] = float(timing["artifacts_cpu"]) / ref_mean
    idle, source = _idle_unit_seconds()
    out["idle_unit_seconds"], out["idle_unit_source"] = idle, source
    prov = provenance(root)
    out["commits"], out["machine"] = prov["commits"], prov["machine"]
    return write_json_atomic(Path(out_file), _finite(out))


@dataclass(frozen=True)
class RunEstimate:
    name: str
    kind: str
    budget: int
    evaluations: int
    units: float
    seconds_idle: float | None
    finished: bool = False


def estimate_plan(exps: list, scale, costs: dict, finished: Iterable[str] = (), bound_done: bool = False,
                  local_unit_seconds: float | None = None, parallel: int = 2) -> dict[str, Any]:
    """The time of every run of ``exps`` (and of the bound check and the artifacts) from measured ``costs``.

    ``finished`` names the runs already done (a resumed job) and ``bound_done`` says whether the bound
    check's analysis is; the ``remaining_*`` totals leave them out. ``local_unit_seconds`` (a reference
    unit measured on this machine now, :func:`reference_unit_seconds`, one thread) converts the
    remaining units into hours on this machine with ``parallel`` single-threaded runs at a time
    (``remaining_hours_here``), instead of the committed idle unit of another machine.
    """
    if parallel < 1:
        raise ValueError(f"parallel must be a positive number of runs at a time, got {parallel}")
    finished = set(finished)
    idle = costs.get("idle_unit_seconds")
    kinds = costs["kinds"]
    rows: list[RunEstimate] = []
    missing = set()
    for e in exps:
        cfg = e.config
        kind = f"{cfg.task}/{cfg.method}/{cfg.dtype}"
        k = kinds.get(kind)
        if k is None:
            missing.add(kind)
            continue
        pix = (cfg.crop_size / 96.0) ** 2 if kind.startswith("denoising") else (cfg.crop_size / 256.0) ** 2
        n_eval = cfg.budget // cfg.eval_every + 2
        images = min(cfg.eval_train_count or cfg.train_count or 0, cfg.train_count or 0) + (cfg.test_count or 0)
        growth = EVAL_GROWTH if cfg.budget > 2 * int(k.get("budget") or 0) else 1.0
        units = pix * (k["units_per_computation"] * cfg.budget
                       + growth * k["units_per_image_evaluation"] * n_eval * images)
        rows.append(RunEstimate(e.name, kind, cfg.budget, n_eval, units, units * idle if idle else None,
                                e.name in finished))
    if missing:
        raise ValueError(f"the costs file has no measurement of the run kinds {sorted(missing)}; run the "
                         "paper-sample scale with --measure-costs first")
    bound_units = 0.0
    bound_runs = [e for e in exps if "bound" in e.figures]
    if bound_runs and costs.get("bound_units_per_image_iterate"):
        bound_units = costs["bound_units_per_image_iterate"] * scale.bound_iterates * len(bound_runs) * (
            bound_runs[0].config.train_count or 0)
    # artifacts measured on a paper-sample folder: the full plan has more seeds and milestones to draw
    artifact_units = float(costs.get("artifact_units") or 0.0) * (3 if costs.get("scale") == "paper-sample" else 1)
    # the phases one after the other: the runs, IDLE_UNIT_PROCESSES at a time; the bound check's
    # analysis, one run (seed) per worker process, so ceil(seeds / processes) rounds of one seed's
    # analysis; the artifacts in one process
    seeds = max(1, len(bound_runs))
    bound_rounds = math.ceil(seeds / IDLE_UNIT_PROCESSES) / seeds * IDLE_UNIT_PROCESSES
    total_units = sum(r.units for r in rows) + bound_units + artifact_units

    def wall_units(run_units: float, bound: float, artifacts: float) -> float:
        """Units of one process's time: what the hours on two idle cores convert."""
        return run_units / IDLE_UNIT_PROCESSES + bound * bound_rounds / IDLE_UNIT_PROCESSES + artifacts

    total_wall = wall_units(sum(r.units for r in rows), bound_units, artifact_units)
    remaining_wall = wall_units(sum(r.units for r in rows if not r.finished), 0.0 if bound_done else bound_units,
                                artifact_units)
    remaining = sum(r.units for r in rows if not r.finished) + (0.0 if bound_done else bound_units) + artifact_units
    out = {"runs": [r.__dict__ for r in rows], "bound_units": bound_units, "artifact_units": artifact_units,
           "total_units": total_units, "idle_unit_seconds": idle, "idle_unit_source": costs.get("idle_unit_source"),
           "bound_seeds": len(bound_runs), "wall_units_one_process": total_wall,
           "total_hours_idle_two_cores": total_wall * idle / 3600.0 if idle else None,
           "reference_seconds_measured": costs.get("reference_seconds_mean"),
           "total_hours_as_measured_two_processes": total_units * costs.get("reference_seconds_mean", math.nan) / 2 / 3600.0,
           "assumption": f"{IDLE_UNIT_PROCESSES} single-threaded runs at a time on the idle machine, each at the "
                         "idle reference unit measured that way (benchmarks/bench_reference.py); a run's "
                         "seconds_idle is its own duration; the hours add the phases: the runs' sum divided by "
                         "the runs at a time, the bound check's analysis in rounds of one seed per process, "
                         "the artifacts in one process",
           "finished_runs": sorted(r.name for r in rows if r.finished), "bound_done": bool(bound_done),
           "remaining_units": remaining,
           "remaining_hours_idle_two_cores": remaining_wall * idle / 3600.0 if idle else None,
           "local_unit_seconds": local_unit_seconds, "parallel": parallel,
           "remaining_hours_here": (remaining * local_unit_seconds / parallel / 3600.0
                                    if local_unit_seconds else None)}
    return out


def default_costs_file() -> Path:
    return Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "paper_costs_cpu.json"


def estimate_command(scale_name: str, out: str | Path, data_dir: str | None, test_data_dir: str | None,
                     costs_file: str | None, seeds: int | None, calibrate: bool = False,
                     parallel: int | None = None) -> int:
    """``isgd figures --estimate``: print the plan with the time of every run, write OUT/estimate.json.

    Runs already finished in ``out`` (a job that is being resumed) are marked and left out of the
    remaining time. With ``calibrate`` the reference unit is measured on this machine first (about half a
    minute, one thread, at the machine's present load) and the remaining time is also given in hours
    here, with ``parallel`` runs at a time (default: the scale's).
    """
    from .figures import SCALES, experiment_set

    scale = SCALES[scale_name]
    path = Path(costs_file) if costs_file else default_costs_file()
    if not path.exists():
        raise FileNotFoundError(f"costs file {path} not found; measure it with `isgd figures --scale paper-sample "
                                "--data-dir ... --test-data-dir ... --measure-costs FILE`")
    costs = json.loads(path.read_text())
    # the committed idle unit now (None with the reason when missing), never the one stored with the costs:
    # older costs files carry the throughput benchmark's unit, which times another operation
    costs["idle_unit_seconds"], costs["idle_unit_source"] = _idle_unit_seconds()
    notes: list[str] = []
    out = Path(out)
    exps = experiment_set(scale, data_dir=data_dir, test_data_dir=test_data_dir, seeds=seeds, notes=notes,
                          check_data=bool(data_dir), split_dir=out / "splits")
    finished = [e.name for e in exps if (out / "runs" / e.name / "summary.json").exists()]
    bound_done = (out / "bound" / "bound.json").exists()
    local = load = None
    if calibrate:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            log.info("measuring the reference unit on this machine (one thread, load %s)", load)
            local = reference_unit_seconds()
        finally:
            torch.set_num_threads(threads)
    par = parallel if parallel is not None else scale.parallel
    est = estimate_plan(exps, scale, costs, finished=finished, bound_done=bound_done, local_unit_seconds=local,
                        parallel=par)
    est.update(scale=scale.name, costs_file=str(path.name), notes=notes, load_at_calibration=load)
    write_json_atomic(out / "estimate.json", _finite(est))
    idle = est["idle_unit_seconds"]
    lines = [f"{'run':34s} {'kind':28s} {'budget':>8s} {'evals':>5s} {'minutes (idle)':>14s}"]
    for r in est["runs"]:
        lines.append(f"{r['name']:34s} {r['kind']:28s} {r['budget']:8d} {r['evaluations']:5d} "
                     f"{(r['seconds_idle'] or math.nan) / 60:14.1f}{'  finished' if r['finished'] else ''}")
    lines.append(f"bound-check analysis: {est['bound_units'] * (idle or math.nan) / 60:.1f} CPU min over "
                 f"{est['bound_seeds']} seeds, one per process"
                 f"{' (finished)' if bound_done else ''}; artifacts: "
                 f"{est['artifact_units'] * (idle or math.nan) / 60:.1f} min")
    lines.append(f"total: {(est['total_hours_idle_two_cores'] or math.nan):.2f} h on two idle cores "
                 f"({est['total_hours_as_measured_two_processes']:.2f} h at the load of the cost measurement)")
    if not idle:
        lines.append(f"no idle unit: {est['idle_unit_source']}")
    if finished or bound_done:
        lines.append(f"remaining ({len(finished)} of {len(est['runs'])} runs finished in {out}): "
                     f"{(est['remaining_hours_idle_two_cores'] or math.nan):.2f} h on two idle cores")
    if local:
        lines.append(f"on this machine now (reference unit {local * 1e3:.2f} ms, one thread, load "
                     f"{load if load is None else round(load, 2)}; {par} run(s) at a time): "
                     f"{est['remaining_hours_here']:.2f} h remaining")
    print("\n".join(lines))  # noqa: T201 (the command's output)
    return 0
