"""Command line of the learning core (``python -m bilevel ...``); ``isgd`` reuses these parsers."""
from __future__ import annotations

import argparse
import errno
import logging
import sys
from typing import Callable

import torch

log = logging.getLogger("bilevel")

#: Exit statuses of the commands: bad input or an OS-level error (one line, nothing half written),
#: a failed computation, Ctrl-C (the usual 128 + SIGINT).
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 4, 130

_OS_HINTS = {
    errno.EACCES: "choose a location you may write to",
    errno.EPERM: "choose a location you may write to",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.EISDIR: "name a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOSPC: "the disk is full; free some space",
    errno.ENOENT: "check the path",
    errno.EEXIST: "choose another name",
}


def setup_logging(verbose: int = 0) -> None:
    level = logging.WARNING if verbose < 0 else logging.DEBUG if verbose > 0 else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)


def toolkit_version() -> str:
    """The installed version of isgd-toolkit (``unknown`` when run from a bare source tree)."""
    from importlib import metadata

    try:
        return metadata.version("isgd-toolkit")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def error_message(exc: BaseException) -> str:
    """One line for an error: our own messages as they are; OS errors as ``path: reason; hint``."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        where = exc.filename if exc.filename is not None else "?"
        text = f"{where}: {exc.strerror}"
        hint = _OS_HINTS.get(exc.errno)
        return f"{text}; {hint}" if hint else text
    return " ".join(str(exc).split()) or type(exc).__name__


def run_command(func: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """Run a command; bad input and OS errors become one line and exit status 2, failed
    computations status 4, Ctrl-C status 130 (never a traceback)."""
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt as exc:
        log.error("%s", error_message(exc) if str(exc) else "interrupted")
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:
        if str(exc).startswith("No module named"):  # not one of our messages, which name the extra to install
            log.error("error: the module %s is not installed; reinstall the toolkit (pip install isgd-toolkit)",
                      exc.name)
        else:
            log.error("error: %s", error_message(exc))
        return EXIT_BAD_INPUT
    except (ValueError, OSError, FloatingPointError) as exc:
        log.error("error: %s", error_message(exc))
        return EXIT_BAD_INPUT
    except RuntimeError as exc:
        log.error("failed: %s", error_message(exc))
        return EXIT_FAILED


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
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE (checked before computing)")


def run_hypergradient_demo(args: argparse.Namespace) -> int:
    from .data import embedded_crops, TASKS
    from .demo import format_rows, hypergradient_rows, rows_as_dicts
    from .rundir import check_writable_file

    if args.json:
        check_writable_file(args.json, "--json")

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
                       usage="%(prog)s [--config FILE] [--out DIR] [--resume] [OPTIONS] (all options: --help)",
                       description="Learn a Field-of-Experts regularizer by bilevel optimization. Results (config, seed, "
                                   "git commit, package versions, metrics.csv, evaluations.csv, checkpoints, final "
                                   "parameters, summary.json) go to the run directory --out.")
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

    from .denoise import add_denoise_arguments, run_denoise
    from .export import add_export_arguments, run_export
    from .filters import add_filters_arguments, run_filters
    from .runs import add_runs_arguments, run_runs

    r = sub.add_parser("runs", help="compare run directories in one table and one figure (PSNR versus computations)",
                       description="Gather training run directories (or folders holding them, e.g. a sweep or "
                                   "figures directory) into one table: the options in which they differ, final and "
                                   "best train/test PSNR and SSIM, iterations, computations and wall time. Prints "
                                   "it, writes runs.csv and runs.md, and draws psnr_vs_computations.png (one line "
                                   "per run).")
    add_runs_arguments(r)
    r.set_defaults(func=run_runs)
    d = sub.add_parser("denoise", help="apply a learned regularizer to your own images (PNG results, PSNR/SSIM)",
                       description="Restore image files of any size with a learned regularizer: solve the lower-level "
                                   "problem 1/2 ||A x - y||^2 + R_theta(x) + mu/2 ||x||^2 to a certified accuracy "
                                   "||x - x^|| <= --eps for each image. The inputs are noisy (or blurred) "
                                   "measurements, or, with --sigma, clean images that are degraded first. Writes "
                                   "the restored images as PNG and a table (results.csv, results.md) with PSNR and "
                                   "SSIM when clean references are known.")
    add_denoise_arguments(d)
    d.set_defaults(func=run_denoise)
    f = sub.add_parser("filters", help="draw the learned kernels and potentials of a regularizer",
                       description="Draw the kernels c_j (as colour images, with their weights e^(theta_0 + "
                                   "theta_j)) and the potentials e^(theta_0 + theta_j) (sqrt(u^2 + nu^2) - nu) with "
                                   "their derivatives, learned next to initial, of a run directory or a regularizer "
                                   "file.")
    add_filters_arguments(f)
    f.set_defaults(func=run_filters)
    e = sub.add_parser("export", help="write a run's learned regularizer as a small self-describing file",
                       description="Write the learned regularizer of a run directory (its final parameters, or those "
                                   "of its last checkpoint) as regularizer.json: theta, family, channels, noise level, "
                                   "ridge, operator and the training config; `isgd denoise --theta FILE` reads it.")
    add_export_arguments(e)
    e.set_defaults(func=run_export)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bilevel", description="Learning FoE regularizers by bilevel optimization.")
    parser.add_argument("--version", action="version", version=f"isgd-toolkit {toolkit_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser(sub)
    args = parser.parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    return run_command(args.func, args)
