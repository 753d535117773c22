"""Re-run stored training runs on this machine: their time against the estimate, their results against the stored ones.

``isgd figures --estimate`` predicts a plan's hours from costs measured elsewhere (``--costs``,
default ``benchmarks/results/paper_costs_cpu.json``) and the reference unit of this machine. This
benchmark checks that prediction where it matters, on real runs: it measures the reference unit here
(``bench_reference``: ``--parallel`` single-threaded processes at once), predicts each run's minutes
with :func:`validation.experiments.evidence.estimate_plan`, trains every run again from its stored
``config.json`` (``isgd train``, one torch thread each, ``--parallel`` at a time, the way the paper
scale runs them) and records

* per run: the measured session and algorithm seconds, the predicted seconds and their ratio;
* whether the re-run reproduces the stored one: computations, iterations and the final training and
  test PSNR, with their differences (float32 runs may differ in the last bits between CPUs; float64
  runs and runs on the same machine agree exactly).

The training data is ``--data-dir`` / ``--test-data-dir`` when given (stored configs name their
data folders by name only), else as stored (``embedded``). Runs whose data is a file list of their
evidence folder (``list:NAME``, the deblurring split by file) read the split from the evidence folder's
``experiments.json`` (``RUN_DIR/../../experiments.json``): its training and test files are taken from
``--data-dir`` (the folder the split was drawn from, e.g. CBSD68), through list files written into the
work folder.

Writes ``benchmarks/results/rerun_cpu.json``.

Usage: ``python benchmarks/bench_rerun.py RUN_DIR [RUN_DIR ...] [--data-dir D] [--test-data-dir D]
[--parallel 2] [--work DIR] [--out FILE]``
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.bench_reference import measure
from benchmarks.common import save_result

log = logging.getLogger("bench_rerun")

#: Summary entries compared between the stored run and its re-run.
COMPARED = ("computations", "iterations")
COMPARED_FINAL = ("train_psnr", "test_psnr")


def stored_run(path: Path) -> tuple[dict, dict]:
    """``(config, summary)`` of a finished stored run, with a clear error otherwise."""
    cfg_path, sum_path = path / "config.json", path / "summary.json"
    if not cfg_path.exists() or not sum_path.exists():
        raise FileNotFoundError(f"{path} is not a finished run directory (config.json and summary.json needed)")
    return json.loads(cfg_path.read_text()), json.loads(sum_path.read_text())


def list_files(path: Path, cfg: dict, data_dir: str | None) -> dict[str, list[Path]]:
    """``{"data"|"test_data": [files]}`` for the entries of ``cfg`` that are list files of the evidence folder.

    The split is read from ``path/../../experiments.json`` (``splits``: the file names of each list) and
    the files are taken from ``data_dir``. Nothing is written. Raises ``ValueError`` with what to do
    when the split, the data folder or one of its files is missing.
    """
    wanted = {key: str(cfg[key])[len("list:"):] for key in ("data", "test_data")
              if str(cfg.get(key) or "").startswith("list:")}
    if not wanted:
        return {}
    evidence = path.resolve().parent.parent / "experiments.json"
    if not evidence.exists():
        raise ValueError(f"{path}: its data is a file list ({', '.join(wanted.values())}) and {evidence} is missing; "
                         "re-run runs inside their evidence folder (RUN_DIR = EVIDENCE/runs/NAME)")
    if not data_dir:
        raise ValueError(f"{path}: its data is a file list of photographs; give --data-dir, the folder they were "
                         "drawn from")
    lists = {}
    for split in json.loads(evidence.read_text()).get("splits", {}).values():
        for side in ("train", "test"):
            lists[Path(split[f"{side}_list"]).name] = (split.get("folder"), split[side])
    out = {}
    for key, name in wanted.items():
        if Path(name).name not in lists:
            raise ValueError(f"{path}: {evidence.name} describes no list {name!r}; it lists {sorted(lists)}")
        folder, files = lists[Path(name).name]
        if folder and Path(data_dir).name != folder:
            raise ValueError(f"{path}: the list {name!r} was drawn from a folder named {folder!r}, not from "
                             f"{data_dir}; give --data-dir .../{folder}")
        missing = [f for f in files if not (Path(data_dir) / f).is_file()]
        if missing:
            raise ValueError(f"{path}: {data_dir} lacks {len(missing)} file(s) of the list {name!r}, e.g. {missing[0]}")
        out[key] = [(Path(data_dir) / f).resolve() for f in files]
    return out


def write_lists(name: str, files: dict[str, list[Path]], lists_dir: Path) -> dict[str, str]:
    """The lists of :func:`list_files` as list files ``lists_dir/NAME-KEY.txt``: ``{key: "list:FILE"}``."""
    out = {}
    for key, paths in files.items():
        lists_dir.mkdir(parents=True, exist_ok=True)
        target = lists_dir / f"{name}-{key}.txt"
        target.write_text("".join(f"{f}\n" for f in paths))
        out[key] = f"list:{target}"
    return out


def predicted_seconds(configs: dict[str, dict], costs: dict, unit_seconds: float) -> dict[str, float]:
    """Each run's seconds predicted by the estimate's cost model at the reference unit ``unit_seconds``."""
    from bilevel.train import TrainConfig
    from validation.experiments.evidence import estimate_plan
    from validation.experiments.figures import SCALES, Experiment

    exps = [Experiment(name, name, (), {}, TrainConfig.from_dict(cfg)) for name, cfg in configs.items()]
    est = estimate_plan(exps, SCALES["paper"], {**costs, "idle_unit_seconds": unit_seconds})
    return {r["name"]: r["seconds_idle"] for r in est["runs"]}


def rerun(path: Path, cfg: dict, work: Path, data_dir: str | None, test_data_dir: str | None,
          files: dict[str, list[Path]] | None = None) -> dict:
    """Train the run of ``path`` again into ``work/<name>`` (one torch thread); its new summary and wall time.
    ``files``: the run's list data resolved by :func:`list_files` (written as list files into ``work/lists``)."""
    out = work / path.name
    cmd = [sys.executable, "-m", "validation.cli", "-q", "train", "--config", str(path / "config.json"),
           "--out", str(out), "--no-progress"]
    lists = write_lists(path.name, files or {}, work / "lists")
    if "data" in lists:
        cmd += ["--data", lists["data"]]
    elif data_dir:
        cmd += ["--data", data_dir]
    if "test_data" in lists:
        cmd += ["--test-data", lists["test_data"]]
    elif test_data_dir and cfg.get("test_data"):
        cmd += ["--test-data", test_data_dir]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"re-running {path.name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return {"summary": json.loads((out / "summary.json").read_text()), "process_seconds": wall}


def makespan(seconds: list[float], parallel: int) -> float:
    """Wall time of jobs of ``seconds`` started in order on ``parallel`` slots (each starts when a slot frees)."""
    slots = [0.0] * parallel
    for s in seconds:
        i = slots.index(min(slots))
        slots[i] += s
    return max(slots)


def compare(stored: dict, again: dict) -> dict:
    """Differences between a stored summary and its re-run's (``identical`` when all compared entries agree)."""
    diff = {k: again.get(k, math.nan) - stored.get(k, math.nan) for k in COMPARED}
    fs, fa = stored.get("final") or {}, again.get("final") or {}
    diff.update({k: (fa.get(k) or math.nan) - (fs.get(k) or math.nan) for k in COMPARED_FINAL})
    return {"differences": diff, "identical": all(v == 0 for v in diff.values())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished stored runs (e.g. results/paper/runs/NAME)")
    ap.add_argument("--data-dir", default=None, help="training images for every run (default: the stored config's); for "
                         "runs on a file list of their evidence folder, the folder the list was drawn from")
    ap.add_argument("--test-data-dir", default=None, help="test images for every run (default: the stored config's)")
    ap.add_argument("--parallel", type=int, default=2, help="runs at a time, one torch thread each (default 2)")
    ap.add_argument("--costs", default=None,
                    help="costs file of the estimate (default benchmarks/results/paper_costs_cpu.json)")
    ap.add_argument("--work", default=None, help="folder for the re-runs (default: a temporary folder, removed)")
    ap.add_argument("--out", default=None, help="output JSON (default benchmarks/results/rerun_cpu.json)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.parallel < 1:
        ap.error(f"--parallel must be a positive number of runs at a time, got {args.parallel}")
    from validation.experiments.evidence import default_costs_file

    paths = [Path(p) for p in args.runs]
    if len({p.name for p in paths}) != len(paths):
        ap.error("run directories must have distinct names")
    try:
        stored = {p.name: stored_run(p) for p in paths}
        files = {p.name: list_files(p, stored[p.name][0], args.data_dir) for p in paths}  # fails before any work
    except (FileNotFoundError, ValueError) as err:
        ap.error(str(err))
    costs_path = Path(args.costs) if args.costs else default_costs_file()
    costs = json.loads(costs_path.read_text())
    unit = measure(args.parallel, 3)
    log.info("reference unit here: %.3f ms (%d at a time)", unit["unit_seconds"] * 1e3, args.parallel)
    predicted = predicted_seconds({n: c for n, (c, _) in stored.items()}, costs, unit["unit_seconds"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            futures = {p.name: pool.submit(rerun, p, stored[p.name][0], work, args.data_dir, args.test_data_dir,
                                           files[p.name]) for p in paths}
            results = {name: f.result() for name, f in futures.items()}
        total_wall = time.perf_counter() - t0
    rows = []
    for p in paths:
        again = results[p.name]["summary"]
        session = float(again.get("session_seconds") or math.nan)
        row = {"name": p.name, "predicted_seconds": predicted[p.name], "session_seconds": session,
               "algorithm_seconds": again.get("algorithm_wall_time"),
               "process_seconds": results[p.name]["process_seconds"],
               "measured_over_predicted": session / predicted[p.name],
               "stored_session_seconds": stored[p.name][1].get("session_seconds"),
               **compare(stored[p.name][1], again)}
        rows.append(row)
        log.info("%s: %.0f s (predicted %.0f s, x%.2f); %s the stored run", p.name, session, predicted[p.name],
                 row["measured_over_predicted"], "reproduces" if row["identical"] else "differs from")
    predicted_wall = makespan([predicted[p.name] for p in paths], args.parallel)
    save_result({"benchmark": "rerun", "device": "cpu", "parallel": args.parallel, "runs": rows,
                 "reference_unit": unit, "costs_file": costs_path.name,
                 "wall_seconds": total_wall, "predicted_wall_seconds": predicted_wall,
                 "wall_over_predicted": total_wall / predicted_wall}, args.out, "rerun_cpu.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
