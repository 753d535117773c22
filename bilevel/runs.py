"""``isgd runs``: gather run directories into one table and one figure.

Any set of training run directories (or folders that hold them: a sweep, the runs of
``isgd figures``) becomes one :class:`pandas.DataFrame` with one row per run: where it lies, how it
ended, the options in which the runs differ, iterations, computations, algorithm wall time, and the
final and best train and test PSNR and SSIM of its evaluations (``evaluations.csv``, at certified
accuracy). The table is printed, written as ``runs.csv`` and ``runs.md``, and
``psnr_vs_computations.png`` draws test PSNR (train PSNR dashed) versus computations, one line per
run. Runs still in progress or killed are read as far as they got.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .io import write_text_atomic
from .tables import markdown_table, read_table, write_table

log = logging.getLogger(__name__)

#: Options never shown as differences (they do not change what a run computes).
_IGNORED = ("progress",)
#: The quality columns: (column, evaluations.csv column, reducer).
QUALITY = [(f"{when}_{split}_{metric}", f"{split}_{metric}", when)
           for split in ("train", "test") for metric in ("psnr", "ssim") for when in ("final", "best")]


@dataclass
class StoredTrainingRun:
    """A run directory as read back: config, summary (``None`` unless finished), tables."""

    path: Path
    config: dict
    summary: dict | None
    metrics: pd.DataFrame
    evaluations: pd.DataFrame

    @property
    def status(self) -> str:
        if self.summary is None:
            return "unfinished"
        return "diverged" if self.summary.get("diverged") else "finished"


def is_training_run(path: Path) -> bool:
    """A folder with a ``config.json`` of ``isgd train`` (it has a ``method``)."""
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        return "method" in json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return False


def find_runs(paths: list[str | os.PathLike]) -> list[Path]:
    """Training run directories among ``paths``: each path is a run or is searched for runs below it."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist; pass run directories of `isgd train` or folders holding them")
        if not p.is_dir():
            raise NotADirectoryError(f"{p} is a file; pass run directories of `isgd train` or folders holding them")
        if is_training_run(p):
            found.append(p)
            continue
        below = sorted(c.parent for c in p.rglob("config.json") if is_training_run(c.parent))
        if not below:
            raise FileNotFoundError(f"no training run directory in {p} (none holds a config.json of `isgd train`)")
        found += below
    unique = list(dict.fromkeys(f.resolve() for f in found))
    return unique


def load_run(path: Path) -> StoredTrainingRun:
    config = json.loads((path / "config.json").read_text())
    summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").exists() else None
    tables = {}
    for name in ("metrics.csv", "evaluations.csv"):
        tables[name] = read_table(path / name) if (path / name).exists() else pd.DataFrame()
    return StoredTrainingRun(path, config, summary, tables["metrics.csv"], tables["evaluations.csv"])


def _names(paths: list[Path]) -> list[str]:
    if len(paths) == 1:
        return [paths[0].name]
    common = Path(os.path.commonpath([str(p) for p in paths]))
    return [p.relative_to(common).as_posix() or p.name for p in paths]


def _differences(configs: list[dict]) -> list[str]:
    keys: list[str] = []
    for c in configs:
        keys += [k for k in c if k not in keys and k not in _IGNORED]
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def _last(df: pd.DataFrame, col: str) -> float:
    if col not in df or df[col].dropna().empty:
        return math.nan
    return float(df[col].dropna().iloc[-1])


def compare_runs(runs: list[StoredTrainingRun]) -> pd.DataFrame:
    """One row per run (see the module docstring); columns that no run has are left out."""
    if not runs:
        raise ValueError("no runs to compare")
    names = _names([r.path for r in runs])
    differ = _differences([r.config for r in runs])
    rows = []
    for name, r in zip(names, runs):
        s = r.summary or {}
        row: dict = {"run": name, "status": r.status, "method": r.config.get("method"), "task": r.config.get("task")}
        row.update({k: r.config.get(k) for k in differ if k not in ("method", "task")})
        last_iteration = _last(r.metrics, "iteration")
        row["iterations"] = s.get("iterations", 0 if math.isnan(last_iteration) else int(last_iteration))
        row["computations"] = s.get("computations", _last(r.metrics, "computations"))
        row["wall_time_s"] = s.get("algorithm_wall_time", _last(r.metrics, "wall_time"))
        for column, source, when in QUALITY:
            if source in r.evaluations and not r.evaluations[source].dropna().empty:
                v = r.evaluations[source].dropna()
                row[column] = float(v.iloc[-1] if when == "final" else v.max())
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.dropna(axis=1, how="all")


def plot_psnr_vs_computations(runs: list[StoredTrainingRun], names: list[str], path: Path) -> Path:
    """Test PSNR (solid; train PSNR dashed) of every run's evaluations versus computations."""
    from .plots import computations_axis, pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for i, (name, r) in enumerate(zip(names, runs)):
        ev = r.evaluations
        if ev.empty or "computations" not in ev:
            continue
        color = f"C{i % 10}"
        for split, style in (("test", "-o"), ("train", "--")):
            col = f"{split}_psnr"
            if col in ev and not ev[col].dropna().empty:
                keep = ev[col].notna()
                ax.plot(ev["computations"][keep], ev[col][keep], style, color=color, ms=3, lw=1.2,
                        label=f"{name} ({split})")
                drawn += 1
    if not drawn:
        plt.close(fig)
        raise ValueError("none of the runs has evaluations yet (evaluations.csv); nothing to draw")
    ax.set_xlabel("computations (lower-level, CG and certification iterations)")
    ax.set_ylabel("average PSNR [dB]")
    ax.grid(alpha=0.3)
    computations_axis(ax)
    ax.legend(fontsize=7, loc="best", ncol=1 if len(runs) <= 6 else 2)
    ax.set_title("PSNR versus computations")
    return save_figure(fig, path)


@dataclass
class Comparison:
    table: pd.DataFrame
    csv: Path
    markdown: Path
    figure: Path | None


def write_comparison(paths: list[str | os.PathLike], out: str | os.PathLike) -> Comparison:
    """Find, read and compare runs; write ``runs.csv``, ``runs.md`` and the figure into ``out``."""
    from .rundir import check_writable_directory

    out = Path(out)
    check_writable_directory(out, "--out")
    runs = [load_run(p) for p in find_runs(paths)]
    table = compare_runs(runs)
    csv_path = write_table(out / "runs.csv", table)
    md = ["# Runs compared", "",
          f"{len(runs)} run(s); PSNR in dB and SSIM of the evaluations at certified accuracy (final: the last "
          "evaluation, best: the highest); wall time of the algorithm in seconds.", "", markdown_table(table)]
    figure = None
    try:
        figure = plot_psnr_vs_computations(runs, list(table["run"]), out / "psnr_vs_computations.png")
        md += ["", f"![PSNR versus computations]({figure.name})", ""]
    except ValueError as exc:
        log.warning("no figure: %s", exc)
    md_path = write_text_atomic(out / "runs.md", "\n".join(md))
    return Comparison(table, csv_path, md_path, figure)


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="DIR",
                   help="run directories of `isgd train`, or folders holding them (searched below)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where runs.csv, runs.md and psnr_vs_computations.png go (default: runs/compare-<time>)")


def run_runs(args: argparse.Namespace) -> int:
    out = args.out or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    res = write_comparison(args.runs, out)
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.precision", 4):
        sys.stdout.write(res.table.to_string(index=False) + "\n")
    log.info("table: %s, %s%s", res.csv, res.markdown, f"; figure: {res.figure}" if res.figure else "")
    return 0
