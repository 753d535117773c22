"""The main job (``make demo`` / ``isgd demo``): everything the toolkit does, at demo scale.

1. certified hypergradients of FoE denoising and deblurring on embedded test crops (one row per
   image: iterations, certified accuracies, error bound, time);
2. learning FoE denoising with ISGD (constant and decreasing step) and MAID with each error oracle
   (certified bound, estimate) for a small budget: loss and PSNR versus computations, a test image,
   a summary table with MAID's accepted/rejected steps and where its computations went;
3. a quick verification of the paper's claims.

Everything is written to one run directory (default ``runs/demo``) with ``report.md`` at its top.
The report is rewritten after every stage, so a job that stops (a crash, Ctrl-C) keeps what the
finished stages found, and the report says which stage stopped and why. A rerun reuses finished
training runs and resumes unfinished ones (``--fresh`` starts over).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from bilevel.data import TASKS, embedded_crops
from bilevel.demo import format_rows, hypergradient_rows, rows_as_dicts
from bilevel.main_job import format_table, run_learning_demo
from bilevel.rundir import RunDirectory

log = logging.getLogger(__name__)

STAGES = ("certified hypergradients", "learning FoE denoising", "verification of the paper's claims")


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run directory of the main job (default: runs/demo)")
    p.add_argument("--budget", type=int, default=12000,
                   help="training budget per method in computations (default: 12000)")
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda (default: auto)")
    p.add_argument("--fresh", action="store_true", help="retrain even if finished runs are stored in --out")
    p.add_argument("--skip-training", action="store_true", help="only the hypergradient table (and verification)")
    p.add_argument("--skip-verify", action="store_true", help="leave out the quick verification of the paper's claims")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bars (they are shown only on a terminal anyway)")


def _hypergradient_section(device: str) -> tuple[str, list[dict]]:
    rows = []
    for task in ("denoising", "deblurring"):
        spec = TASKS[task]
        count = min(3, embedded_crops("test", spec.crop).shape[0])
        rows += hypergradient_rows(task, count, spec.eps, spec.delta, torch.float32, device)
    return format_rows(rows), rows_as_dicts(rows)


class Report:
    """``report.md`` of the main job, rewritten (atomically) after every stage."""

    def __init__(self, run_dir: RunDirectory, stages: list[str]) -> None:
        self.run_dir, self.stages = run_dir, stages
        self.sections: list[list[str]] = []
        self.t0 = time.perf_counter()

    def add(self, lines: list[str]) -> None:
        self.sections.append(lines)
        self.write()

    def write(self, stopped: str | None = None) -> Path:
        done = len(self.sections)
        lines = ["# Main job report", ""]
        for section in self.sections:
            lines += section
        if stopped is not None:
            lines += [f"**Stopped in stage {done + 1} of {len(self.stages)} ({self.stages[done]}):** {stopped}. The "
                      "sections above are complete; rerun `isgd demo` with the same --out to continue "
                      "(finished training runs are reused).", ""]
        elif done < len(self.stages):
            lines += [f"_Stage {done} of {len(self.stages)} done; {self.stages[done]} is running (this report is "
                      "rewritten after every stage)._", ""]
        lines += [f"_Total time {time.perf_counter() - self.t0:.1f} s._", ""]
        return self.run_dir.write_text("report.md", "\n".join(lines))


def _verification_section(run_dir: RunDirectory) -> list[str]:
    from ..engine.verify import quick_verification

    summary = quick_verification(run_dir)
    text = summary.markdown if hasattr(summary, "markdown") else str(summary)
    if not text.lstrip().startswith("#"):  # the summary brings its own heading; add one only if it has none
        text = "## Verification of the paper's claims\n\n" + text
    return [text.rstrip(), ""]


def run_demo(args: argparse.Namespace) -> int:
    if args.budget < 1:
        raise ValueError(f"--budget must be positive, got {args.budget}")
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    run_dir = RunDirectory.create(args.out, {"job": "demo", "budget": args.budget, "device": device}, seed=0,
                                  exist_ok=True)
    stages = [STAGES[0]] + ([] if args.skip_training else [STAGES[1]]) + ([] if args.skip_verify else [STAGES[2]])
    report = Report(run_dir, stages)
    report.write()
    try:
        log.info("== 1/%d certified hypergradients on embedded test crops ==", len(stages))
        text, rows = _hypergradient_section(device)
        log.info("\n%s", text)
        run_dir.write_json("hypergradients.json", rows)
        report.add(["## Certified hypergradients", "",
                    "One row per embedded test crop: lower-level and CG iterations, certified distance ||x~ - x^||, "
                    "CG residual, certified a-posteriori bound on ||z_i - grad f_i|| (refined: Newton-corrected, see the README), "
                    "the estimate of that error, ||z_i||, PSNR of the measurement and of the lower-level solution, wall "
                    "time of the batch, and whether the row is certified (lower level and CG reached eps and delta; a row "
                    "that did not is marked 'not certified' and shows no bound).", "", "```", text, "```", ""])

        if not args.skip_training:
            log.info("== 2/%d learning FoE denoising: ISGD (constant, decreasing step) and MAID (certified, estimated) ==", len(stages))
            demo = run_learning_demo(run_dir.path / "training", budget=args.budget, device=device,
                                     progress=args.progress, fresh=args.fresh)
            table = format_table(demo.table)
            log.info("\n%s", table)
            run_dir.write_json("training_summary.json", demo.table)
            m = demo.results[next(iter(demo.results))].summary["m"]
            report.add(["## Learning FoE denoising", "",
                        f"Budget {args.budget} computations per method on {m} embedded training crops; PSNR at "
                        "certified accuracy 1e-3.", "", "```", table, "```", ""]
                       + [f"![{p.stem}]({p.relative_to(run_dir.path).as_posix()})" for p in demo.figures] + [""])

        if not args.skip_verify:
            log.info("== %d/%d quick verification of the paper's claims ==", len(stages), len(stages))
            report.add(_verification_section(run_dir))
    except KeyboardInterrupt:
        report.write(stopped="interrupted (Ctrl-C)")
        raise
    except Exception as exc:
        report.write(stopped=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        raise
    path = report.write()
    log.info("report: %s", path)
    return 0
