"""``isgd bench``: run the benchmark modules of the :mod:`benchmarks` package by name.

Each benchmark is a module ``benchmarks/bench_<name>.py`` (shipped with the package) that measures
on the current machine and writes JSON/CSV (to ``benchmarks/results/`` of a source checkout, or of
the current directory); this command finds it in the installed package, runs it in a fresh process
(``python -m benchmarks.bench_<name>``) with every argument after the name and returns its exit
status. ``isgd bench NAME --help`` shows the benchmark's own options.
"""
from __future__ import annotations

import argparse
import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def benchmarks_dir() -> Path:
    """The folder of the installed :mod:`benchmarks` package."""
    import benchmarks

    return Path(benchmarks.__file__).resolve().parent


def available_benchmarks(folder: Path | None = None) -> dict[str, tuple[Path, str]]:
    """``name -> (script, first sentence of its docstring)`` for every ``bench_<name>.py``."""
    folder = benchmarks_dir() if folder is None else Path(folder)
    found = {}
    for path in sorted(folder.glob("bench_*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        paragraph = " ".join(doc.strip().split("\n\n")[0].split())
        end = paragraph.find(". ")
        found[path.stem[len("bench_"):]] = (path, paragraph if end < 0 else paragraph[:end + 1])
    return found


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="which benchmark (see --list); every later argument goes to its script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="options of the benchmark script (see `isgd bench NAME --help`)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and what each measures")


def run_bench_command(args: argparse.Namespace) -> int:
    folder = benchmarks_dir()
    found = available_benchmarks(folder)
    if args.list or not args.name:
        for name, (_, summary) in found.items():
            sys.stdout.write(f"{name:<12} {summary}\n")
        if not args.name and not args.list:
            sys.stdout.write("\nrun one with `isgd bench NAME [OPTIONS]`; `isgd bench NAME --help` lists its options\n")
        return 0
    if args.name not in found:
        raise ValueError(f"unknown benchmark {args.name!r}; choose one of {sorted(found)} (see `isgd bench --list`)")
    script = found[args.name][0]
    root = str(folder.parent)  # where this process found the package: the child imports the same one
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log.info("running %s %s", script.name, " ".join(args.args))
    return subprocess.run([sys.executable, "-m", f"benchmarks.{script.stem}", *args.args], env=env).returncode
