r"""The verification report: ``report.md``, ``results.json``, witnesses and figures in a run directory.

* a table: claim, source, status, worst ratio, cases tried (applicable), witness;
* per claim: statement, what was tried, the worst case, the witness (sides, arithmetic, case);
* figures (matplotlib, Agg backend, written atomically): for a representative case of each run claim
  (the witness, else the worst case) the observed :math:`\min_{t<T}\mathbb E\|\nabla f(\theta_t)\|^2`
  and the claim's bound as :math:`T` grows (for Theorem 1: the printed bound and the source route
  side by side), and one overview of the worst ratio of every claim.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .plots import pyplot, save_figure
from theory.claims import CLAIMS

from . import cases as cs
from .search import HOLDS, NOT_APPLICABLE, VIOLATED, ClaimResult

logger = logging.getLogger(__name__)

__all__ = ["FigureSpec", "claim_figure", "overview_figure", "render_markdown", "save_figure", "STATUS_TEXT"]

STATUS_TEXT = {
    HOLDS: "holds on everything tried",
    VIOLATED: "**violated**",
    NOT_APPLICABLE: "not applicable (no case met the hypotheses)",
    "no search": "no search",
}

PLOT_T_MAX = 1_000_000
"""Largest horizon drawn in the bound-versus-observed figures."""

_PARTNER = {"paper.theorem1": ("paper.theorem1", "paper.theorem1.from_source"),
            "paper.theorem1.from_source": ("paper.theorem1.from_source", "paper.theorem1")}


@dataclass(frozen=True)
class FigureSpec:
    """A figure written for a claim: where, and what it shows."""

    claim_id: str
    path: Path
    caption: str


def _representative(res: ClaimResult) -> cs.Trial | None:
    return res.witness if res.witness is not None else res.worst


def _label(cid: str) -> str:
    return {
        "paper.theorem1": "Theorem 1 as printed",
        "paper.theorem1.from_source": "source route ([5, Thm 3] + Prop. 1)",
        "kr.theorem": "[18] nonconvex theorem",
        "demidovich.theorem3": "[5, Theorem 3]",
    }.get(cid, cid)


def claim_figure(res: ClaimResult, path: Path) -> FigureSpec | None:
    """Bound versus observed as :math:`T` grows for a run claim's representative case; ``None`` for other claims."""
    trial = _representative(res)
    if trial is None:
        return None
    kind = cs.CLAIM_CASE_TYPE.get(res.claim_id)
    draw = {"run": _run_figure, "corollary": _corollary_figure, "remark2": _remark2_figure}.get(kind or "")
    if draw is None:
        return None
    try:
        # plotting is cosmetic: a warning inside matplotlib must not stop the verification
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return draw(res, cs.case_from_json(trial.case), path)
    except Exception as err:  # noqa: BLE001 - any plotting failure leaves that figure out, with a warning
        logger.warning("no figure for %s: %s: %s", res.claim_id, type(err).__name__, err)
    return None


def _horizons(T: int, cap: int) -> np.ndarray:
    top = min(cap, max(1000, 100 * T))
    return np.unique(np.round(np.logspace(0, math.log10(top), 40)).astype(int))


def _run_figure(res: ClaimResult, case: cs.RunCase, path: Path) -> FigureSpec:
    ids = _PARTNER.get(res.claim_id, (res.claim_id,))
    cap = PLOT_T_MAX if not cs._needs_sequence(case.scenario.bias) else 100_000
    Ts, observed, rhs = cs.run_curve(ids, case, _horizons(case.T, cap))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(Ts, np.maximum(observed, 1e-300), "k-", lw=2, label="observed min_{t<T} E||grad f(theta_t)||^2 (exact)")
    for cid, style in zip(ids, ("C3--", "C0:")):
        vals = np.where(np.isfinite(rhs[cid]), rhs[cid], np.nan)
        ax.loglog(Ts, vals, style, lw=1.8, label=f"bound: {_label(cid)}")
    bad = observed > rhs[ids[0]]
    if np.any(bad):
        ax.fill_between(Ts, 0, 1, where=bad, color="C3", alpha=0.08, transform=ax.get_xaxis_transform(),
                        label=f"observed above: {_label(ids[0])}")
    pos = [float(v) for v in observed if v > 0] + [float(v) for cid in ids for v in rhs[cid] if np.isfinite(v) and v > 0]
    if pos:
        lo, hi = max(min(pos), 1e-250), min(max(pos), 1e250)
        ax.set_ylim(lo / 10, hi * 10)
    ax.set_xlabel("horizon T")
    ax.set_ylabel("value")
    return _finish_claim_figure(fig, ax, res, case, path, f"bound versus observed as T grows ({_case_line(case)})")


def _finish_claim_figure(fig: Any, ax: Any, res: ClaimResult, case: Any, path: Path, caption: str) -> FigureSpec:
    """Title (claim and status), legend, grid and the case line of a claim's figure; saved atomically."""
    ax.set_title(f"{res.claim_id}: {res.status}", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.text(0.01, -0.02, _case_line(case), fontsize=6)
    save_figure(fig, path, dpi=110)
    return FigureSpec(res.claim_id, path, f"{res.claim_id}: {caption}")


def _case_line(case: Any) -> str:
    sc = getattr(case, "scenario", None)
    base = sc.describe() if sc is not None else ""
    parts = [base]
    for name in ("step", "zeta", "eta", "source", "factor", "reading"):
        v = getattr(case, name, None)
        if v is not None:
            parts.append(f"{name}={v}")
    return ", ".join(p for p in parts if p)


def _corollary_figure(res: ClaimResult, case: cs.CorollaryCase, path: Path) -> FigureSpec:
    from dataclasses import replace

    Ts, obs, bnd = [], [], []
    for f in (1, 2, 4, 8, 16, 32):
        try:
            t = cs.evaluate(res.claim_id, replace(case, factor=case.factor * f))
        except cs.SkipCase:
            break
        if t.lhs is None or t.rhs is None:
            continue
        T = int(str(t.note).split("T = ")[1].split(",")[0]) if "T = " in t.note else None
        if T is None and "K = " in t.note:
            T = int(str(t.note).split("K = ")[1].split(",")[0])
        if T is None:
            continue
        Ts.append(T)
        obs.append(t.lhs)
        bnd.append(t.rhs)
    if not Ts:
        raise cs.SkipCase("no horizon of the corollary could be evaluated")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.loglog(Ts, np.maximum(obs, 1e-300), "ko-", label="observed min_{t<T} E||grad f||^2 with the prescribed step")
    ax.loglog(Ts, bnd, "C3s--", label="bound of the corollary")
    ax.set_xlabel("horizon T (multiples of the prescribed T(eps^2))")
    return _finish_claim_figure(fig, ax, res, case, path,
                                f"bound versus observed for growing horizons ({_case_line(case)})")


def _remark2_figure(res: ClaimResult, case: cs.Remark2Case, path: Path) -> FigureSpec:
    limit, regime, evidence = cs.exact_horizon_limit(case)
    Ts = [int(k) for k in evidence]
    vals = [evidence[k] for k in evidence]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.semilogx(Ts, vals, "ko-", label="min_{t<T} E||grad f||^2 with Corollary 1's step alpha_T")
    ax.axhline(float(limit), color="C3", ls="--", label=f"limit as T -> oo ({regime.split(' (')[0]})")
    ax.axhline(0.0, color="C0", ls=":", label="Remark 2's claim: 0")
    ax.set_xlabel("horizon T")
    return _finish_claim_figure(fig, ax, res, case, path, f"the running minimum along Corollary 1's step ({regime})")


def overview_figure(results: Sequence[ClaimResult], path: Path) -> FigureSpec | None:
    """Worst ratio (claimed-smaller side over claimed-larger side) of every claim; above 1 is a violation."""
    rows = [r for r in results if r.worst_ratio is not None]
    if not rows:
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _overview(rows, path)
    except Exception as err:  # noqa: BLE001 - cosmetic, see claim_figure
        logger.warning("no overview figure: %s: %s", type(err).__name__, err)
        return None


def _overview(rows: Sequence[ClaimResult], path: Path) -> FigureSpec:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 0.32 * len(rows) + 1.2))
    vals = [r.worst_ratio if math.isfinite(r.worst_ratio) else 1e300 for r in rows]
    colors = ["C3" if r.status == VIOLATED else "C2" for r in rows]
    y = np.arange(len(rows))
    ax.barh(y, [max(v, 1e-6) if np.isfinite(v) else 0 for v in vals], color=colors)
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels([r.claim_id for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("worst ratio found (claimed-smaller / claimed-larger side; > 1 violates)")
    ax.set_title("claims stated as equalities (Remark 2) have no ratio and are not shown", fontsize=8)
    save_figure(fig, path, dpi=110)
    return FigureSpec("overview", path, "worst ratio of every claim (red: violated)")


def _fmt_ratio(r: ClaimResult) -> str:
    if r.worst_ratio is None:
        if r.status == VIOLATED and r.witness is not None and r.witness.lhs is not None:
            return f"gap {abs(r.witness.lhs - (r.witness.rhs or 0.0)):.4g}"
        return "-"
    if not math.isfinite(r.worst_ratio):
        return "inf"
    return f"{r.worst_ratio:.4g}"


def _short_exact(text: str, limit: int = 48) -> str:
    """An exact rational as written, or its size when it is too long to read (the witness file has it all)."""
    if len(text) <= limit:
        return text
    num, _, den = text.partition("/")
    return f"a rational of {len(num)}/{len(den)} digits" if den else f"an integer of {len(num)} digits"


def _fmt_num(x: Any) -> str:
    if x is None:
        return "-"
    return f"{float(x):.6g}"


def render_markdown(
    results: Sequence[ClaimResult],
    *,
    figures: dict[str, FigureSpec],
    witnesses: dict[str, Path],
    link_root: Path,
    config: dict[str, Any],
    seconds: float,
    heading: str = "#",
) -> str:
    """The report as markdown; links are relative to ``link_root`` (the folder the markdown lives in, or its parent)."""

    def rel(p: Path) -> str:
        return os.path.relpath(p, link_root).replace(os.sep, "/")

    counts = {s: sum(1 for r in results if r.status == s) for s in (HOLDS, VIOLATED, NOT_APPLICABLE)}
    lines = [
        f"{heading} Verification of the paper's claims",
        "",
        f"{len(results)} claims searched in {seconds:.1f} s (budget {config.get('budget')} cases per claim, "
        f"time limit {config.get('time_limit')} s, seed {config.get('seed')}): "
        f"{counts[VIOLATED]} violated, {counts[HOLDS]} hold on everything tried, {counts[NOT_APPLICABLE]} not applicable.",
        "",
        "Each claim is encoded as printed (`theory.claims`); cases are built to satisfy its hypotheses "
        "(step-size condition, constants as in the paper's proof, zeta and eta) and evaluated on exact "
        "expectations of quadratic problems. Ratio = claimed-smaller side / claimed-larger side "
        "(> 1 violates, 1 is tight). Violations are confirmed in exact rational arithmetic where feasible.",
        "",
        "| claim | source | status | worst ratio | tried (applicable) | witness |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        wit = "-"
        if r.claim_id in witnesses:
            arith = "exact" if r.witness is not None and r.witness.exact else "float64"
            wit = f"[{arith}]({rel(witnesses[r.claim_id])})"
        lines.append(
            f"| `{r.claim_id}` | {r.source} | {STATUS_TEXT.get(r.status, r.status)} | {_fmt_ratio(r)} | "
            f"{r.tried} ({r.applicable}) | {wit} |"
        )
    lines.append("")
    if "overview" in figures:
        lines += [f"![overview]({rel(figures['overview'].path)})", ""]
    for r in results:
        lines += [f"{heading}# `{r.claim_id}` -- {STATUS_TEXT.get(r.status, r.status)}", "", f"*{r.source}.* {r.statement}", ""]
        lines.append(
            f"Tried {r.tried} cases ({r.grid_tried} grid, {r.hypothesis_tried} hypothesis, {r.climb_tried} climbing; "
            f"{r.applicable} met the hypotheses, {r.skipped} skipped, {r.exact_checked} decided exactly) in {r.seconds:.1f} s."
            + (f" Violations: {r.violations} of the {r.applicable} applicable cases." if r.violations else "")
        )
        if r.violation_kinds:
            lines.append("Violations by regime: " + "; ".join(f"{k} ({v})" for k, v in sorted(r.violation_kinds.items())) + ".")
        if r.skip_reasons:
            top = sorted(r.skip_reasons.items(), key=lambda kv: -kv[1])[:3]
            lines.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in top) + ".")
        lines.append("")
        rep = r.witness if r.witness is not None else r.worst
        if rep is not None:
            what = "Witness" if r.witness is not None else "Worst case"
            sides = f"lhs = {_fmt_num(rep.lhs)}, rhs = {_fmt_num(rep.rhs)}"
            if rep.lhs_exact and rep.rhs_exact:
                sides += f" (exactly {_short_exact(rep.lhs_exact)} and {_short_exact(rep.rhs_exact)})"
            lines.append(f"{what} ({'exact' if rep.exact else 'float64'}): {sides}; {CLAIMS[r.claim_id].relation} "
                         f"{'fails' if r.witness is not None else 'holds'}. {rep.note}")
            try:
                case = cs.case_from_json(rep.case)
                lines.append(f"Case: {_case_line(case)}" + (f", T = {case.T}" if hasattr(case, "T") else "") + ".")
            except ValueError:
                pass
            lines.append("")
        for note in r.notes:
            lines += [f"Note: {note}", ""]
        if r.claim_id in figures:
            lines += [f"![{r.claim_id}]({rel(figures[r.claim_id].path)})", ""]
    return "\n".join(lines) + "\n"
