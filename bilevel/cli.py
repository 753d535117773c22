"""Command line of the learning core (``python -m bilevel ...``); ``isgd`` reuses these parsers."""
from __future__ import annotations

import argparse
import json
import logging
import sys

import torch

log = logging.getLogger("bilevel")


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose < 0 else logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def add_hypergradient_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", nargs="+", default=["denoising", "deblurring"], choices=["denoising", "deblurring"],
                   help="problems to run (default: both)")
    p.add_argument("--count", type=int, default=3, help="test crops per task, at most the crops available (default: 3)")
    p.add_argument("--eps", type=float, default=None,
                   help="certified lower-level distance ||x~ - x^|| (default: the task's, 1e-3 denoising, 1e-1 deblurring)")
    p.add_argument("--delta", type=float, default=None, help="CG residual tolerance (default: the task's, 1e-3)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating point type (default: float32)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise realization (default: 0)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")


def run_hypergradient_demo(args: argparse.Namespace) -> int:
    from .data import embedded_crops, TASKS
    from .demo import format_rows, hypergradient_rows, rows_as_dicts

    rows = []
    for task in args.tasks:
        available = embedded_crops("test", TASKS[task].crop).shape[0]
        count = min(args.count, available)
        eps = TASKS[task].eps if args.eps is None else args.eps
        delta = TASKS[task].delta if args.delta is None else args.delta
        log.info("%s: %d embedded test crop(s) of %dx%d, eps = %g, delta = %g, %s on %s",
                 task, count, TASKS[task].crop, TASKS[task].crop, eps, delta, args.dtype, args.device)
        rows += hypergradient_rows(task, count, eps, delta, _dtype(args.dtype), args.device, args.seed)
    log.info("\n%s", format_rows(rows))
    log.info("bound: certified a-posteriori bound on ||z_i - grad f_i|| (worst-case constants; see bilevel.hypergradient)")
    if args.json:
        from .io import write_json_atomic

        write_json_atomic(args.json, rows_as_dicts(rows))
        log.info("rows written to %s", args.json)
    return 0


def build_parser(sub: argparse._SubParsersAction) -> None:
    """Register the learning commands on a subparser collection (shared with ``isgd``)."""
    from .train import add_train_arguments, run_train

    t = sub.add_parser("train", help="learn an FoE regularizer with ISGD, MAID or IGD",
                       description="Learn a Field-of-Experts regularizer by bilevel optimization. Results (config, seed, "
                                   "git commit, package versions, metrics.csv, evaluations.csv, checkpoints, final "
                                   "parameters, summary.json) go to the run directory --out.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_arguments(t)
    t.set_defaults(func=run_train)

    from .sweep import add_sweep_arguments, run_sweep

    sw = sub.add_parser("sweep", help="run a grid of training runs through submitit and gather one table",
                        description="Expand a sweep file's grid (e.g. alpha0 x schedule x eps0 x seed x method) into "
                                    "training runs, execute the unfinished ones through submitit (local processes by "
                                    "default, Slurm when configured) and gather results.csv / results.json.")
    add_sweep_arguments(sw)
    sw.set_defaults(func=run_sweep)
    p = sub.add_parser("hypergrad", help="certified hypergradients of FoE denoising/deblurring on embedded images",
                       description="Compute certified inexact hypergradients of the FoE denoising and deblurring problems "
                                   "on embedded photographs and print per-image iterations, accuracies, error bounds and time.")
    add_hypergradient_demo_arguments(p)
    p.set_defaults(func=run_hypergradient_demo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bilevel", description="Learning FoE regularizers by bilevel optimization.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser(sub)
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError) as exc:
        log.error("error: %s", exc)
        return 2
    except RuntimeError as exc:
        log.error("failed: %s", exc)
        return 4
