"""``isgd``: the one entry point. Each subcommand belongs to the package that implements it;
this module only assembles them (``bilevel`` never imports ``validation``)."""
from __future__ import annotations

import argparse
import sys

from bilevel import cli as bilevel_cli

def _command(sub, name: str, help: str, description: str, add_arguments, func) -> None:
    """One subcommand: its parser, its options and the function that runs it."""
    p = sub.add_parser(name, help=help, description=description)
    add_arguments(p)
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="isgd",
        description="Bilevel learning with inexact stochastic gradients: certified FoE hypergradients, "
                    "ISGD and MAID, and checks of the paper's claims.",
    )
    parser.add_argument("--version", action="version", version=f"isgd {bilevel_cli.toolkit_version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (repeat for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .experiments.bench import add_bench_arguments, run_bench_command
    from .experiments.demo import add_demo_arguments, run_demo
    from .experiments.figures import add_bound_arguments, add_figures_arguments, run_bound_command, run_figures_command
    from .engine.verify import add_verify_arguments, run_verify

    _command(sub, "demo", "the main job on the embedded data (what `make demo` runs)",
             "Run the main job on the embedded photographs: certified hypergradients of FoE denoising and "
             "deblurring, training with ISGD and MAID, and a quick verification of the paper's claims; everything "
             "goes to one run directory with report.md.", add_demo_arguments, run_demo)
    bilevel_cli.build_parser(sub)
    _command(sub, "verify", "check every claim of the paper on exact computations (report, witnesses, figures)",
             "Search every claim of the paper (and of the sources it cites) for counterexamples on quadratic "
             "problems with exact expectations; write report.md, results.json, witnesses and figures to a run "
             "directory, or re-check a saved witness.", add_verify_arguments, run_verify)
    _command(sub, "figures", "run the experiments behind the paper's figures, draw them, judge its claims",
             "Run the training runs behind Figs. 1-5 of the paper and the FoE bound check (stored runs are "
             "skipped), draw every figure with the scripts of paper_figures/ and write figures.md: what each "
             "figure shows, the paper's claim and whether this reproduction supports it.",
             add_figures_arguments, run_figures_command)
    _command(sub, "bound", "Theorem 1 versus observed on stored ISGD runs (FoE bound check)",
             "Fit the constants of Theorem 1 (A, B, C, b, c, a lower estimate of L, delta0) along stored "
             "constant-step ISGD runs (one per seed, with stored iterates) and compare the theorem's right side "
             "with the observed min_t ||grad f(theta_t)||^2.", add_bound_arguments, run_bound_command)
    _command(sub, "bench", "run a benchmark of the benchmarks package (speed, scaling, quality, cost) by name",
             "Run one of the benchmark modules of the benchmarks package: it measures on this machine and writes "
             "JSON/CSV to benchmarks/results/ (of a source checkout, else of the current directory; or --out). "
             "Arguments after NAME go to the benchmark; `isgd bench NAME --help` lists them.",
             add_bench_arguments, run_bench_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    bilevel_cli.setup_logging(-1 if args.quiet else args.verbose)
    return bilevel_cli.run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
