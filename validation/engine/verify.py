r"""``isgd verify``: search every reading of every claim, explain the violations, write a report.

For each selected claim (:data:`validation.engine.claims.CLAIMS`), :func:`validation.engine.search.search_claim`
tries cases of the claim's family under every reading; the run directory receives

* ``report.md`` -- verdicts, proof statuses, witnesses in plain mathematics, mechanisms, corrected statements;
* ``results.json`` -- everything the search found;
* ``witnesses/<claim>--<reading>[--<mechanism>].json`` -- one re-checkable witness per mechanism and per
  violated (or ill-posed) reading (``isgd verify --witness FILE``; schema in :mod:`validation.engine.witness`);
* ``figures/`` -- bound versus observed for run witnesses, step policies of limit claims, an overview.

:func:`quick_verification` does the same within a time limit (default 45 s) into a subfolder of another
job's run directory and returns the markdown section for that job's report.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .claims import CLAIMS, select_claims
from .io import create_run_directory, git_commit, write_json_atomic, write_text_atomic
from .report import FigureSpec, limit_figure, overview_figure, render_markdown, witness_figure
from .search import FALSE, ClaimResult, search_claim
from .statement import PRINTED, proof_cache
from .witness import EXIT_GONE, EXIT_MALFORMED, EXIT_STILL, recheck_file, save_witness, witness_json

logger = logging.getLogger(__name__)

__all__ = [
    "VerifySummary",
    "add_verify_arguments",
    "run_verify",
    "verify",
    "quick_verification",
    "DEFAULT_BUDGET",
    "DEFAULT_TIME_LIMIT",
    "QUICK_BUDGET",
    "QUICK_TIME_LIMIT",
]

DEFAULT_BUDGET = 300
"""Cases per claim of a full ``isgd verify``."""

DEFAULT_TIME_LIMIT = 480.0
"""Seconds for the whole default ``isgd verify`` (search, proofs, figures, report)."""

QUICK_BUDGET = 40
"""Cases per claim of ``isgd verify --quick`` and of :func:`quick_verification`."""

QUICK_TIME_LIMIT = 35.0
"""Seconds for the whole of ``isgd verify --quick`` (after the interpreter has started)."""

REPORT_RESERVE = 4.0
"""Seconds of the time limit kept for witnesses, figures and the report (the proofs come first and are counted)..."""

REPORT_SHARE = 0.1
"""...plus this share of the time limit."""


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
    witnesses: dict[tuple[str, str, str], Path] = field(default_factory=dict)
    seconds: float = 0.0
    markdown: str = ""

    @property
    def violated(self) -> list[str]:
        """Claims whose printed statement is false."""
        return [r.claim_id for r in self.results if r.severity == FALSE]

    def status_table(self) -> list[tuple[str, str, str, str, str]]:
        """Rows ``(claim, reading, verdict, proof status, worst ratio)``."""
        rows = []
        for r in self.results:
            for rr in r.readings:
                ratio = "-" if rr.worst_ratio is None else f"{rr.worst_ratio:.4g}"
                rows.append((r.claim_id, rr.key, rr.severity, rr.proof.status if rr.proof is not None else "-", ratio))
        return rows

    def __str__(self) -> str:
        return self.markdown


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "none"


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
    results: list[ClaimResult] = []
    with proof_cache():
        proofs: dict[tuple[str, str], Any] = {}
        for cid in claim_ids:  # derived first: the search then gets whatever time is left
            claim = CLAIMS[cid]
            for rd in claim.readings():
                try:
                    proofs[(cid, rd.key)] = claim.proof(rd)
                except Exception as err:  # noqa: BLE001 - a failing derivation is reported, never fatal
                    logger.warning("proof of %s [%s] failed: %s: %s", cid, rd.key, type(err).__name__, err)
        logger.info("proofs derived in %.1f s", time.perf_counter() - t0)
    search_limit = None
    if time_limit is not None:
        search_limit = max(0.1 * time_limit, time_limit * (1.0 - REPORT_SHARE) - REPORT_RESERVE - (time.perf_counter() - t0))
    t_search = time.perf_counter()
    bar = _progress(len(claim_ids) * budget, progress)
    try:
        weights = [getattr(CLAIMS[cid].family, "cost", 1.0) for cid in claim_ids]
        for k, cid in enumerate(claim_ids):
            left = None
            if search_limit is not None:
                left = max(0.0, (search_limit - (time.perf_counter() - t_search)) * weights[k] / sum(weights[k:]))
            bar.set_postfix_str(cid)
            res = search_claim(cid, budget=budget, time_limit=left, seed=seed, progress=bar.update)
            if (k + 1) * budget > bar.n:
                bar.update((k + 1) * budget - bar.n)
            logger.info("%-32s %-26s tried %4d in %5.1f s", cid, res.severity, res.tried, res.seconds)
            for rr in res.readings:
                rr.proof = proofs.get((cid, rr.key))
            results.append(res)
    finally:
        bar.close()
    witnesses: dict[tuple[str, str, str], Path] = {}
    commit = git_commit()
    for res in results:
        for rr in res.readings:
            items = list(rr.witnesses.items())
            if rr.ill_posed is not None:
                items.append(("ill-posed", rr.ill_posed))
            for mech, t in items:
                name = f"{res.claim_id}--{_slug(rr.key)}" + (f"--{_slug(mech)}" if mech else "") + ".json"
                path = out / "witnesses" / name
                save_witness(path, witness_json(t, seed=seed, commit=commit))
                witnesses[(res.claim_id, rr.key, mech)] = path
    figs: dict[str, FigureSpec] = {}
    skipped_figures = 0
    if figures:
        jobs: list[tuple[str, Any]] = []
        for res in results:  # the mechanisms of the printed statements first, then the other violated readings
            for mech, t in res.printed.witnesses.items():
                jobs.append((f"{res.claim_id}|{PRINTED}|{mech}", t))
        for res in results:
            jobs.append((f"{res.claim_id}|limit", res))
            for rr in res.readings[1:]:
                for mech, t in rr.witnesses.items():
                    jobs.append((f"{res.claim_id}|{rr.key}|{mech}", t))
        for n, (key, item) in enumerate(jobs):
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                logger.warning("time limit reached: %d of %d figures left out", len(jobs) - n, len(jobs))
                skipped_figures = len(jobs) - n
                break
            cid, _, rest = key.partition("|")
            if rest == "limit":
                spec = limit_figure(item, out / "figures" / f"{cid}--limit.png")
            else:
                rkey, _, mech = rest.partition("|")
                name = f"{cid}--{_slug(rkey)}" + (f"--{_slug(mech)}" if mech else "") + ".png"
                spec = witness_figure(cid, item, out / "figures" / name)
            if spec is not None:
                figs[key] = spec
        ov = overview_figure(results, out / "figures" / "overview.png")
        if ov is not None:
            figs["overview"] = ov
    seconds = time.perf_counter() - t0
    cfg = dict(config or {})
    cfg.update(budget=budget, time_limit=time_limit, seed=seed, claims=list(claim_ids), figures_left_out=skipped_figures)
    own_md = render_markdown(results, figures=figs, witnesses=witnesses, link_root=out, config=cfg, seconds=seconds)
    report_path = write_text_atomic(out / "report.md", own_md)
    write_json_atomic(out / "results.json", {"config": cfg, "seconds": seconds, "results": [r.to_json() for r in results]})
    md = own_md if link_root is None else render_markdown(
        results, figures=figs, witnesses=witnesses, link_root=link_root, config=cfg, seconds=seconds, heading=heading)
    return VerifySummary(out, results, report_path, figs, witnesses, seconds, md)


def quick_verification(run_dir: Any, time_limit: float = QUICK_TIME_LIMIT, *, subdir: str = "verification",
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
                             "(default: runs/verify-<timestamp>); it must not hold a run already")
    parser.add_argument("--claims", metavar="ID", nargs="+", default=None,
                        help="claims to search, by id or id prefix (e.g. paper.theorem1 kr.); default: all "
                             f"{len(CLAIMS)} claims of the registry")
    parser.add_argument("--budget", metavar="N", type=int, default=None,
                        help=f"cases tried per claim, each under every reading (default: {DEFAULT_BUDGET}; --quick: {QUICK_BUDGET})")
    parser.add_argument("--time-limit", metavar="SECONDS", type=float, default=None,
                        help=f"wall-clock limit for the whole verification, report included (default: {DEFAULT_TIME_LIMIT:.0f}; "
                             f"--quick: {QUICK_TIME_LIMIT:.0f})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the case generators (default: 0)")
    parser.add_argument("--witness", metavar="FILE", default=None,
                        help=f"instead of searching, rebuild a saved witness's case and decide its reading again: exit status "
                             f"{EXIT_STILL} if it is still violated (or still ill-posed), {EXIT_GONE} if it no longer is, "
                             f"{EXIT_MALFORMED} if the file is missing or not a valid witness")
    parser.add_argument("--quick", action="store_true",
                        help=f"a quick verification (budget {QUICK_BUDGET} per claim, under a minute in all)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it is shown only on a terminal anyway)")


def run_witness(path: str) -> int:
    """``isgd verify --witness FILE``: the exit status of :func:`add_verify_arguments`'s contract."""
    try:
        result = recheck_file(path)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        logger.error("malformed witness: %s", err)
        return EXIT_MALFORMED
    (logger.info if result.still else logger.warning)("%s", result.message)
    if not result.matches:
        logger.warning("the recomputed sides differ from the ones stored in %s", path)
    return EXIT_STILL if result.still else EXIT_GONE


def run_verify(args: argparse.Namespace) -> int:
    """Entry point of ``isgd verify`` (see :func:`add_verify_arguments`)."""
    if args.witness is not None:
        return run_witness(args.witness)
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    if budget < 0:
        raise ValueError(f"--budget must be >= 0 (cases per claim); got {budget}")
    limit = args.time_limit if args.time_limit is not None else (QUICK_TIME_LIMIT if args.quick else DEFAULT_TIME_LIMIT)
    if limit <= 0:
        raise ValueError(f"--time-limit must be positive (seconds); got {limit}")
    claim_ids = select_claims(args.claims)
    out = Path(args.out) if args.out else Path("runs") / f"verify-{time.strftime('%Y%m%d-%H%M%S')}"
    config = {"job": "verify", "claims": claim_ids, "budget": budget, "time_limit": limit, "seed": args.seed, "quick": bool(args.quick)}
    run_path = create_run_directory(out, config, seed=args.seed)
    progress = bool(getattr(args, "progress", True)) and sys.stderr.isatty()
    summary = verify(run_path, claim_ids, budget=budget, time_limit=limit, seed=args.seed, progress=progress,
                     config={"quick": bool(args.quick)})
    for cid, key, verdict, proof, ratio in summary.status_table():
        logger.info("%-32s %-20s %-26s %-22s %s", cid, key, verdict, proof, ratio)
    logger.info("report: %s (%.1f s)", summary.report_path, summary.seconds)
    return 0
