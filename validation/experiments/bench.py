"""``isgd bench``: run the benchmark scripts of ``benchmarks/`` (source checkout) by name.

Each benchmark is a standalone script ``benchmarks/bench_<name>.py`` that measures on the current
machine and writes JSON/CSV to ``benchmarks/results/``; this command finds it, forwards every
argument after the name and returns its exit status. ``isgd bench NAME --help`` shows the script's
own options.
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
    """``benchmarks/`` of the source tree (next to the ``validation`` package)."""
    return Path(__file__).resolve().parents[2] / "benchmarks"


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
    if not folder.is_dir():
        raise FileNotFoundError(f"no benchmarks/ folder at {folder}; the benchmarks run from a source checkout "
                                "(clone the repository and install it with `pip install -e .`)")
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
    root = str(folder.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log.info("running %s %s", script.name, " ".join(args.args))
    return subprocess.run([sys.executable, str(script), *args.args], env=env).returncode
