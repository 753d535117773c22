r"""``isgd verify``: search every claim of the registry for counterexamples and write a report.

For each selected claim (:data:`theory.claims.CLAIMS`), :func:`validation.engine.search.search_claim` tries
cases that satisfy the claim's hypotheses on exact expectations; the run directory receives

* ``report.md`` -- the table (claim, source, status, worst ratio, witness) and one section per claim;
* ``results.json`` -- everything the search found;
* ``witnesses/<claim>.json`` -- one re-checkable witness per violated claim (``isgd verify --witness FILE``);
* ``figures/`` -- bound versus observed as :math:`T` grows for representative cases, and an overview.

:func:`quick_verification` does the same within a time limit (default 45 s) into a subfolder of
another job's run directory and returns the markdown section for that job's report.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from theory.claims import CLAIMS

from .io import create_run_directory, write_json_atomic, write_text_atomic
from .report import FigureSpec, claim_figure, overview_figure, render_markdown
from .search import VIOLATED, ClaimResult, search_claim, select_claims
from .witness import recheck_file, save_witness, witness_json

logger = logging.getLogger(__name__)

__all__ = [
    "VerifySummary",
    "add_verify_arguments",
    "run_verify",
    "verify",
    "quick_verification",
    "QUICK_BUDGET",
    "QUICK_TIME_LIMIT",
]

DEFAULT_BUDGET = 300
"""Cases per claim of a full ``isgd verify``."""

DEFAULT_TIME_LIMIT = 900.0
"""Seconds for all claims of a full ``isgd verify``."""

QUICK_BUDGET = 60
"""Cases per claim of ``isgd verify --quick`` and of :func:`quick_verification`."""

QUICK_TIME_LIMIT = 35.0
"""Seconds of search (all claims) of ``--quick``; figures and the report come on top."""

FIGURE_TIME_SHARE = 0.2
"""Share of :func:`quick_verification`'s time limit kept for figures and the report."""


@dataclass
class VerifySummary:
    """What a verification wrote and found.

    ``markdown`` is the report (for :func:`quick_verification`: the section to embed in another report,
    with links relative to that report's run directory).
    """

    out: Path
    results: list[ClaimResult]
    report_path: Path
    figures: dict[str, FigureSpec] = field(default_factory=dict)
    witnesses: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    markdown: str = ""

    @property
    def violated(self) -> list[str]:
        return [r.claim_id for r in self.results if r.status == VIOLATED]

    def status_table(self) -> list[tuple[str, str, str, str]]:
        """Rows ``(claim, status, worst ratio, witness file)``."""
        rows = []
        for r in self.results:
            ratio = "-" if r.worst_ratio is None else f"{r.worst_ratio:.4g}"
            rows.append((r.claim_id, r.status, ratio, str(self.witnesses.get(r.claim_id, "-"))))
        return rows

    def __str__(self) -> str:
        return self.markdown


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="verify", unit="case", disable=not enabled, leave=False, dynamic_ncols=True)


def verify(
    out: Path,
    claim_ids: Sequence[str],
    *,
    budget: int,
    time_limit: float | None,
    seed: int = 0,
    progress: bool = False,
    figures: bool = True,
    link_root: Path | None = None,
    heading: str = "#",
    config: dict[str, Any] | None = None,
) -> VerifySummary:
    """Search ``claim_ids`` and write report, results, witnesses and figures under ``out`` (a folder)."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    search_limit = None if time_limit is None else time_limit * (1.0 - (FIGURE_TIME_SHARE if figures else 0.0))
    results: list[ClaimResult] = []
    bar = _progress(len(claim_ids) * budget, progress)
    try:
        for k, cid in enumerate(claim_ids):
            left = None
            if search_limit is not None:
                left = max(0.0, (search_limit - (time.perf_counter() - t0)) / (len(claim_ids) - k))
            bar.set_postfix_str(cid)
            res = search_claim(cid, budget=budget, time_limit=left, seed=seed, progress=bar.update)
            if (k + 1) * budget > bar.n:
                bar.update((k + 1) * budget - bar.n)
            logger.info("%-40s %-15s worst ratio %-10s tried %d (applicable %d)", cid, res.status,
                        "-" if res.worst_ratio is None else f"{res.worst_ratio:.4g}", res.tried, res.applicable)
            results.append(res)
    finally:
        bar.close()
    witnesses: dict[str, Path] = {}
    for res in results:
        if res.witness is not None:
            path = out / "witnesses" / f"{res.claim_id}.json"
            save_witness(path, witness_json(res.witness, seed=seed, description=res.statement))
            witnesses[res.claim_id] = path
    figs: dict[str, FigureSpec] = {}
    if figures:
        for res in results:
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                logger.warning("time limit reached: remaining figures left out")
                break
            spec = claim_figure(res, out / "figures" / f"{res.claim_id}.png")
            if spec is not None:
                figs[res.claim_id] = spec
        ov = overview_figure(results, out / "figures" / "overview.png")
        if ov is not None:
            figs["overview"] = ov
    seconds = time.perf_counter() - t0
    cfg = dict(config or {})
    cfg.update(budget=budget, time_limit=time_limit, seed=seed, claims=list(claim_ids))
    own_md = render_markdown(results, figures=figs, witnesses=witnesses, link_root=out, config=cfg, seconds=seconds)
    report_path = write_text_atomic(out / "report.md", own_md)
    write_json_atomic(out / "results.json", {"config": cfg, "seconds": seconds, "results": [r.to_json() for r in results]})
    md = own_md if link_root is None else render_markdown(
        results, figures=figs, witnesses=witnesses, link_root=link_root, config=cfg, seconds=seconds, heading=heading)
    return VerifySummary(out, results, report_path, figs, witnesses, seconds, md)


def quick_verification(run_dir: Any, time_limit: float = 45.0, *, subdir: str = "verification",
                       budget: int = QUICK_BUDGET, seed: int = 0, progress: bool = False) -> VerifySummary:
    """A quick verification of every claim into ``run_dir/subdir`` (report.md, figures, witnesses).

    ``run_dir`` is a run directory object with a ``path`` attribute (or a path). Returns a
    :class:`VerifySummary` whose ``markdown`` is a section (``##`` headings) with links relative to
    ``run_dir``, ready to paste into that job's ``report.md``.
    """
    root = Path(getattr(run_dir, "path", run_dir))
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive; got {time_limit!r}")
    out = root / subdir
    return verify(out, list(CLAIMS), budget=budget, time_limit=float(time_limit), seed=seed, progress=progress,
                  link_root=root, heading="##", config={"mode": "quick"})


# ----------------------------------------------------------------------------------------------
# command line


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``isgd verify``."""
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run directory for report.md, results.json, witnesses/ and figures/ "
                             "(default: runs/verify-<timestamp>)")
    parser.add_argument("--claims", metavar="ID", nargs="+", default=None,
                        help="claims to search, by id or id prefix (e.g. paper.theorem1 kr.); default: all "
                             f"{len(CLAIMS)} claims of the registry")
    parser.add_argument("--budget", metavar="N", type=int, default=None,
                        help=f"cases tried per claim (default: {DEFAULT_BUDGET}; --quick: {QUICK_BUDGET})")
    parser.add_argument("--time-limit", metavar="SECONDS", type=float, default=None,
                        help=f"wall-clock limit for the whole verification (default: {DEFAULT_TIME_LIMIT:.0f}; "
                             f"--quick: {QUICK_TIME_LIMIT:.0f} plus figures)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grids and of the hypothesis search (default: 0)")
    parser.add_argument("--witness", metavar="FILE", default=None,
                        help="instead of searching, re-check a saved witness from scratch: exit status 0 if it is "
                             "still a violation, 1 if not, 2 on bad input")
    parser.add_argument("--quick", action="store_true",
                        help=f"a quick verification (budget {QUICK_BUDGET} per claim, about a minute in all)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it is shown only on a terminal anyway)")


def run_verify(args: argparse.Namespace) -> int:
    """Entry point of ``isgd verify`` (see :func:`add_verify_arguments`)."""
    if args.witness is not None:
        result = recheck_file(args.witness)
        log = logger.info if result.violated else logger.warning
        log("%s", result.message)
        if not result.matches:
            logger.warning("the recomputed sides differ from the ones stored in %s", args.witness)
        return 0 if result.violated else 1
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    if budget < 0:
        raise ValueError(f"--budget must be >= 0 (cases per claim); got {budget}")
    limit = args.time_limit if args.time_limit is not None else (QUICK_TIME_LIMIT / (1 - FIGURE_TIME_SHARE) if args.quick else DEFAULT_TIME_LIMIT)
    if limit <= 0:
        raise ValueError(f"--time-limit must be positive (seconds); got {limit}")
    claim_ids = select_claims(args.claims)
    out = Path(args.out) if args.out else Path("runs") / f"verify-{time.strftime('%Y%m%d-%H%M%S')}"
    config = {"job": "verify", "claims": claim_ids, "budget": budget, "time_limit": limit, "seed": args.seed, "quick": bool(args.quick)}
    run_path = create_run_directory(out, config, seed=args.seed)
    progress = bool(getattr(args, "progress", True)) and sys.stderr.isatty()
    summary = verify(run_path, claim_ids, budget=budget, time_limit=limit, seed=args.seed, progress=progress,
                     config={"quick": bool(args.quick)})
    for cid, status, ratio, wit in summary.status_table():
        logger.info("%-40s %-15s %-10s %s", cid, status, ratio, wit)
    logger.info("report: %s (%.1f s)", summary.report_path, summary.seconds)
    return 0
