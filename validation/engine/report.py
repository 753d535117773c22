r"""The verification report (``report.md``) and its figures, written for a mathematician.

For every claim: the statement as a formula, each reading with its verdict (false as stated,
ill-posed at a boundary, not applicable, holds on everything tried) and its derived proof status
(with the expression sympy could not settle). For every violated reading: the case in plain
mathematics (:math:`f_i`, sampling law, error law, step policy, :math:`T`, :math:`\theta_0`, constants),
both sides exactly, the dominant term of the bound, the mechanism (which single corrections repair
the case) and the corrected statement as a formula, with a link to its witness file.

Figures (matplotlib Agg, :mod:`validation.engine.plots`): for a run witness, the observed running
minimum and the bounds of the readings as :math:`T` grows, on a scale set by the observed values and
the violated bound (a bound that leaves the frame is marked, not allowed to flatten the picture);
for a limit claim, the running minimum under each step policy next to its exact limit; an overview
of the worst ratio of every reading.
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
import sympy as sp

from .claims import get_claim
from .plots import pyplot, save_figure
from .search import FALSE, HOLDS, ILL_POSED, NOT_APPLICABLE, ClaimResult, ReadingResult, Trial
from .statement import CONSTANTS_NOTE, OBSERVABLE_TEXT, PRINTED, _numeric, latex

logger = logging.getLogger(__name__)

__all__ = ["FigureSpec", "witness_figure", "limit_figure", "overview_figure", "render_markdown", "PLOT_T_MAX"]

PLOT_T_MAX = 100_000
"""Largest horizon drawn in the bound-versus-observed figures."""

VERDICT_TEXT = {FALSE: "**false as stated**", ILL_POSED: "**ill-posed at a boundary**", NOT_APPLICABLE: "not applicable",
                HOLDS: "holds on everything tried"}

EXPLAIN = """\
How to read this report. Each claim is encoded once (`validation/engine/claims/`): its statement is built from
the sympy constants of `theory`, and the same expressions are checked on exact expectations and handed to the
proof. A claim that cites a source or admits several readings is checked **as printed**, under **each single
correction** (an exponent restored from the cited source, the accuracy read as a maximum over t, another step
policy) and with **all corrections** together. A violation of the printed statement is **explained** by the
single corrections under which the same case holds: its **mechanism**. Verdicts: **false as stated** (an exact
witness when feasible), **ill-posed at a boundary** (a quantity of the statement vanishes or diverges on a case
its hypotheses allow), **not applicable** (no case met the hypotheses), **holds on everything tried**. Proof
statuses are computed from sympy steps derived from the reading's own sides: *proven*, *proven from premises*
(a cited result is not proven here), *not proven* (with the expression sympy could not settle). Ratio = claimed-
smaller side / claimed-larger side (> 1 violates, 1 is tight). In formulas, """ + CONSTANTS_NOTE + "."


@dataclass(frozen=True)
class FigureSpec:
    """A figure written for a claim: where, and what it shows."""

    claim_id: str
    path: Path
    caption: str


def _tex(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        if "/" in x and len(x) > 48:
            num, _, den = x.partition("/")
            try:
                val = float(sp.Rational(int(num), int(den)))
                return f"{val:.8g}\\ (\\text{{a rational of {len(num)}/{len(den)} digits}})"
            except (ValueError, OverflowError):
                return x
        try:
            return sp.latex(sp.sympify(x)) if len(x) < 60 else x
        except (sp.SympifyError, TypeError):
            return x
    f = float(x)
    if math.isinf(f):
        return r"\infty"
    return f"{f:.6g}"


def _latex(expr: Any) -> str:
    return latex(expr)


def _values_for_terms(t: Trial) -> dict[str, float]:
    out = {}
    for k, v in t.values.items():
        try:
            out[k] = float(v) if not isinstance(v, str) else float(sp.Rational(v))
        except (TypeError, ValueError):
            try:
                out[k] = float(sp.N(sp.sympify(v)))
            except (TypeError, ValueError, sp.SympifyError):
                pass
    return out


def _dominant(claim_id: str, reading_key: str, t: Trial) -> str:
    """Which additive term of the right side is the largest on the witness (with each term's value)."""
    st = get_claim(claim_id).reading(reading_key).statement
    if not st.terms:
        return ""
    vals = _values_for_terms(t)
    parts = []
    for name, e in st.terms:
        try:
            parts.append((name, _numeric(e, vals)))
        except (KeyError, ValueError):
            return ""
    top = max(parts, key=lambda p: p[1] if math.isfinite(p[1]) else math.inf)
    return "terms of the right side: " + ", ".join(f"{n} = {v:.4g}" for n, v in parts) + f" (dominant: {top[0]})"


def _reading_latex(claim_id: str, key: str) -> str:
    return get_claim(claim_id).reading(key).statement.latex()


def _witness_block(res: ClaimResult, rr: ReadingResult, mech: str, t: Trial, link: str | None, fig: str | None) -> list[str]:
    claim = get_claim(res.claim_id)
    fam = claim.family
    lines = []
    title = f"mechanism: {_mech_text(claim, mech)}" if rr.key == PRINTED else f"reading: {rr.label}"
    lines.append(f"**Witness** ({'exact' if t.exact else 'float64'}; {title})" + (f" -- [witness file]({link})" if link else ""))
    lines.append("")
    try:
        case = fam.from_json(t.case)
        vals = dict(t.values)
        lines += fam.describe(case, vals)
    except Exception as err:  # noqa: BLE001 - an unreadable case is reported, not fatal
        lines.append(f"- (case not rendered: {err})")
    st = claim.reading(rr.key).statement
    lhs_name = OBSERVABLE_TEXT.get(str(st.lhs), str(st.lhs))
    lines.append(f"- left side ${_latex(st.lhs)}$ ({lhs_name}) $= {_tex(t.lhs_exact or t.lhs)}$; right side $= {_tex(t.rhs_exact or t.rhs)}$"
                 + (f"; ratio {t.ratio:.6g}" if t.ratio is not None and math.isfinite(t.ratio) else ""))
    dom = _dominant(res.claim_id, rr.key, t)
    if dom:
        lines.append(f"- {dom}")
    if t.note:
        lines.append(f"- {t.note}")
    others = [r for r in claim.readings() if r.key != rr.key]
    if others:
        rep = [get_claim(res.claim_id).reading(k) for k in t.repaired_by]
        if rep:
            lines.append("- repaired by: " + "; ".join(f"*{r.label}*" for r in rep))
            for r in rep:
                lines.append(f"  - corrected statement: ${r.statement.latex()}$")
        else:
            lines.append("- no single correction repairs this case")
        if t.still_violated_by:
            lines.append("- still violated under: " + "; ".join(f"*{claim.reading(k).label}*" for k in t.still_violated_by))
    if fig:
        lines += ["", f"![{res.claim_id} {rr.key}]({fig})"]
    lines.append("")
    return lines


def _mech_text(claim: Any, mech: str) -> str:
    if not mech:
        return "no single correction alone repairs it"
    keys = mech.split("+")
    labels = [claim.reading(k).label for k in keys]
    if len(labels) == 1:
        return f"repaired only by: {labels[0]}"
    return "repaired by any of: " + "; ".join(labels)


def _proof_lines(rr: ReadingResult) -> list[str]:
    pr = rr.proof
    if pr is None:
        return ["Proof: none encoded."]
    out = [f"Proof ({pr.status})."]
    cited = [f"{s.premise.name} ({s.premise.status})" for s in pr.steps
             if s.kind == "premise" and s.premise is not None and not s.premise.is_assumption]
    cited = list(dict.fromkeys(cited))
    if cited:
        out[-1] += " Cites: " + ", ".join(cited) + "."
    bad = [s for s in pr.steps if s.verdict is not True]
    for s in bad[:4]:
        expr = s.expression
        out.append(f"- not confirmed: {s.description}" + (f" -- residual ${_latex(expr)}$" if expr is not None else ""))
    assumed = pr.all_assumed()
    if assumed and pr.status != "not proven":
        out.append("- standard facts used: " + "; ".join(assumed[:4]) + ("; ..." if len(assumed) > 4 else ""))
    return out


def _fmt_ratio(rr: ReadingResult) -> str:
    if rr.worst_ratio is None:
        return "-"
    return "inf" if not math.isfinite(rr.worst_ratio) else f"{rr.worst_ratio:.4g}"


def render_markdown(
    results: Sequence[ClaimResult],
    *,
    figures: dict[str, FigureSpec],
    witnesses: dict[tuple[str, str, str], Path],
    link_root: Path,
    config: dict[str, Any],
    seconds: float,
    heading: str = "#",
) -> str:
    """The report as markdown; links are relative to ``link_root``."""

    def rel(p: Path) -> str:
        return os.path.relpath(p, link_root).replace(os.sep, "/")

    n_read = sum(len(r.readings) for r in results)
    counts = {s: sum(1 for r in results for rr in r.readings if rr.severity == s) for s in VERDICT_TEXT}
    lines = [
        f"{heading} Verification of the paper's claims",
        "",
        f"{len(results)} claims, {n_read} readings, searched in {seconds:.1f} s (budget {config.get('budget')} cases per claim, "
        f"time limit {config.get('time_limit')} s, seed {config.get('seed')}): {counts[FALSE]} readings false as stated, "
        f"{counts[ILL_POSED]} ill-posed at a boundary, {counts[HOLDS]} hold on everything tried, {counts[NOT_APPLICABLE]} not applicable.",
        "",
        EXPLAIN,
        "",
    ]
    if config.get("figures_left_out"):
        lines += [f"The time limit left {config['figures_left_out']} witness figures out (a larger --time-limit draws them).", ""]
    lines += [
        "| claim | reading | verdict | worst ratio | cases (applicable) | proof | witness |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for rr in r.readings:
            wit = [f"[{'exact' if t.exact else 'float64'}]({rel(witnesses[(r.claim_id, rr.key, m)])})"
                   for m, t in rr.witnesses.items() if (r.claim_id, rr.key, m) in witnesses]
            if rr.ill_posed is not None and (r.claim_id, rr.key, "ill-posed") in witnesses:
                wit.append(f"[boundary]({rel(witnesses[(r.claim_id, rr.key, 'ill-posed')])})")
            proof = rr.proof.status if rr.proof is not None else "-"
            lines.append(f"| `{r.claim_id}` | {rr.key} | {VERDICT_TEXT[rr.severity]} | "
                         f"{_fmt_ratio(rr)} | {rr.tried} ({rr.applicable}) | {proof} | {' '.join(wit) or '-'} |")
    lines.append("")
    mech_lines = []
    for r in results:
        pr = r.printed
        if not pr.witnesses:
            continue
        claim = get_claim(r.claim_id)
        for m, t in sorted(pr.witnesses.items(), key=lambda kv: (kv[0] == "", kv[0])):
            link = witnesses.get((r.claim_id, PRINTED, m))
            mech_lines.append(f"- `{r.claim_id}` as printed -- {_mech_text(claim, m)}"
                              + (f" ([witness]({rel(link)}))" if link else "") + f": {'exact' if t.exact else 'float64'}, "
                              f"lhs $= {_tex(t.lhs_exact or t.lhs)}$, rhs $= {_tex(t.rhs_exact or t.rhs)}$.")
    if mech_lines:
        lines += [f"{heading}# Mechanisms found", "", *mech_lines, ""]
    if "overview" in figures:
        lines += [f"![overview]({rel(figures['overview'].path)})", ""]
    for r in results:
        claim = get_claim(r.claim_id)
        lines += [f"{heading}# {r.title} (`{r.claim_id}`) -- {VERDICT_TEXT[r.severity]} as printed", "",
                  f"*{r.source}.* {r.text}", "",
                  f"As encoded: ${claim.reading(PRINTED).statement.latex()}$", ""]
        lines.append(f"Searched {r.tried} cases in {r.seconds:.1f} s ({', '.join(f'{k} {v}' for k, v in r.phases.items())}; "
                     f"{r.skipped} skipped).")
        if r.skip_reasons:
            top = sorted(r.skip_reasons.items(), key=lambda kv: -kv[1])[:3]
            lines.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in top) + ".")
        lines.append("")
        for rr in r.readings:
            lines.append(f"{heading}## {rr.label if rr.key != PRINTED else 'As printed'} -- {VERDICT_TEXT[rr.severity]}")
            lines.append("")
            if rr.key != PRINTED:
                lines += [f"${rr.latex}$", ""]
            lines.append(f"{rr.tried} cases, {rr.applicable} met the hypotheses, {rr.exact_checked} decided exactly"
                         + (f", {rr.violations} violations" if rr.violations else "")
                         + (f", {rr.ill_posed_count} at a boundary" if rr.ill_posed_count else "") + ".")
            if rr.key == PRINTED and len(rr.regimes) > 1:
                parts = [f"{name}: {n} cases" + (f", worst ratio {w:.4g}" if w is not None else "") + (f", {v} violations" if v else "")
                         for name, (n, v, w) in sorted(rr.regimes.items())]
                lines.append("By regime (each makes one term dominate): " + "; ".join(parts) + ".")
            if rr.failed_hypotheses and rr.severity in (NOT_APPLICABLE, ILL_POSED):
                top = sorted(rr.failed_hypotheses.items(), key=lambda kv: -kv[1])[:3]
                lines.append("Hypotheses that failed: " + "; ".join(f"{k} ({v})" for k, v in top) + ".")
            lines += _proof_lines(rr)
            lines.append("")
            if rr.ill_posed is not None:
                t = rr.ill_posed
                link = witnesses.get((r.claim_id, rr.key, "ill-posed"))
                lines.append(f"**Boundary** ({'exact' if t.exact else 'float64'}): {t.ill_posed}"
                             + (f" -- [witness file]({rel(link)})" if link else ""))
                lines.append("")
                try:
                    lines += claim.family.describe(claim.family.from_json(t.case), dict(t.values))
                except Exception as err:  # noqa: BLE001
                    lines.append(f"- (case not rendered: {err})")
                lines.append("")
            for m, t in sorted(rr.witnesses.items(), key=lambda kv: (kv[0] == "", kv[0])):
                link = witnesses.get((r.claim_id, rr.key, m))
                fig = figures.get(f"{r.claim_id}|{rr.key}|{m}")
                lines += _witness_block(r, rr, m, t, rel(link) if link else None, rel(fig.path) if fig else None)
            if rr.severity == HOLDS and rr.worst is not None and rr.worst.ratio is not None:
                w = rr.worst
                lines.append(f"Worst case ({'exact' if w.exact else 'float64'}): lhs = ${_tex(w.lhs_exact or w.lhs)}$, "
                             f"rhs = ${_tex(w.rhs_exact or w.rhs)}$ (ratio {w.ratio:.6g}).")
                lines.append("")
        key = f"{r.claim_id}|limit"
        if key in figures:
            lines += [f"![{r.claim_id}]({rel(figures[key].path)})", ""]
        for note in r.notes[:5]:
            lines += [f"Note: {note}", ""]
        if claim.notes:
            lines += [f"*Note.* {claim.notes}", ""]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# figures


def _horizons(T: int, cap: int) -> np.ndarray:
    top = min(cap, max(1000, 100 * T))
    return np.unique(np.round(np.logspace(0, math.log10(top), 40)).astype(int))


def witness_figure(claim_id: str, trial: Trial, path: Path) -> FigureSpec | None:
    """Observed running minimum and the readings' bounds as T grows, for a run witness (``None`` for other families)."""
    claim = get_claim(claim_id)
    fam = claim.family
    if not hasattr(fam, "curve"):
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _witness_figure(claim, trial, path)
    except Exception as err:  # noqa: BLE001 - a figure failure leaves that figure out, with a warning
        logger.warning("no figure for %s [%s]: %s: %s", claim_id, trial.reading, type(err).__name__, err)
        return None


def _witness_figure(claim: Any, trial: Trial, path: Path) -> FigureSpec:
    case = claim.family.from_json(trial.case)
    readings = claim.readings()
    Ts, observed, rhs = claim.family.curve(case, readings, _horizons(case.T, PLOT_T_MAX))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    ax.loglog(Ts, np.maximum(observed, 1e-300), "k-", lw=2.2, label=r"observed $\min_{t<T}\,\mathbb{E}\|\nabla f(\theta_t)\|^2$")
    violated = rhs[trial.reading]
    shown = [v for v in list(observed) + list(violated) if np.isfinite(v) and v > 0]
    lo, hi = (min(shown), max(shown)) if shown else (1e-3, 1.0)
    lo, hi = lo / 4, hi * 4
    styles = ["C3--", "C0:", "C2-.", "C1--", "C4:"]
    offscale = []
    for (key, vals), style in zip(rhs.items(), styles):
        label = key
        v = np.where(np.isfinite(vals), vals, np.nan)
        inside = (v >= lo) & (v <= hi)
        if not np.any(inside):
            offscale.append(label)
            continue
        ax.loglog(Ts, np.clip(v, lo, hi), style, lw=1.6, label=f"bound: {label}")
    bad = observed > violated
    if np.any(bad):
        ax.fill_between(Ts, lo, hi, where=bad, color="C3", alpha=0.08, label="violated (observed above the bound)")
    ax.axvline(case.T, color="0.4", lw=0.8, ls=":")
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"horizon T (dotted: the witness's T = {case.T})")
    ax.set_ylabel("value")
    title = f"{claim.id} [{trial.reading}]: observed vs bounds of each reading"
    ax.set_title(title, fontsize=9)
    if offscale:
        fig.text(0.01, -0.03, "above the frame at every T: " + "; ".join(offscale), fontsize=7)
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax.grid(True, which="major", alpha=0.3)
    save_figure(fig, path)
    return FigureSpec(claim.id, path, title)


def limit_figure(result: ClaimResult, path: Path) -> FigureSpec | None:
    """For a limit claim: the running minimum under each reading's step policy (float64) and its exact limit."""
    claim = get_claim(result.claim_id)
    fam = claim.family
    if not hasattr(fam, "evidence"):
        return None
    trial = None
    for rr in result.readings:
        if rr.witness is not None:
            trial = rr.witness
            break
    if trial is None:
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            case = fam.from_json(trial.case)
            plt = pyplot()
            fig, ax = plt.subplots(figsize=(7.0, 4.2))
            for k, rd in enumerate(claim.readings()):
                ev = fam.evidence(case, rd, (10, 100, 1000, 10_000))
                if not ev:
                    continue
                xs = sorted(ev)
                ax.loglog(xs, [max(ev[x], 1e-12) for x in xs], "o-", color=f"C{k}", ms=7 - k, label=rd.key)
                rr = result.reading(rd.key)
                lim = None
                for t in list(rr.witnesses.values()) + ([rr.worst] if rr.worst else []):
                    if t is not None and t.lhs is not None and t.case == trial.case:
                        lim = t.lhs
                        break
                if lim is not None and math.isfinite(lim) and lim > 0:
                    ax.axhline(lim, color=f"C{k}", ls="--", lw=1)
            ax.set_xlabel("horizon T (the step alpha_T of each policy)")
            ax.set_ylabel(r"$\min_{t<T}\,\mathbb{E}\|\nabla f(\theta_t)\|^2$")
            ax.set_title(f"{claim.id}: running minimum per step policy (dashed: the limit, exact or a certified lower bound; the claim: 0)", fontsize=9)
            ax.legend(fontsize=7)
            ax.grid(True, alpha=0.3)
            save_figure(fig, path)
            return FigureSpec(claim.id, path, "running minimum per step policy")
    except Exception as err:  # noqa: BLE001
        logger.warning("no limit figure for %s: %s: %s", result.claim_id, type(err).__name__, err)
        return None


def overview_figure(results: Sequence[ClaimResult], path: Path) -> FigureSpec | None:
    """Worst ratio of every reading (claimed-smaller side over claimed-larger side); above 1 violates."""
    rows = [(r.claim_id, rr) for r in results for rr in r.readings if rr.worst_ratio is not None]
    if not rows:
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            plt = pyplot()
            fig, ax = plt.subplots(figsize=(8.0, 0.3 * len(rows) + 1.4))
            lo, hi = 1e-2, 1e2
            vals = [min(max(rr.worst_ratio, lo), hi) if math.isfinite(rr.worst_ratio) else hi for _, rr in rows]
            colors = ["C3" if rr.severity == FALSE else "C1" if rr.severity == ILL_POSED else "C2" for _, rr in rows]
            y = np.arange(len(rows))
            ax.hlines(y, lo, vals, colors="0.85", lw=1)
            ax.scatter(vals, y, c=colors, s=36, zorder=3)
            ax.axvline(1.0, color="k", lw=1)
            ax.set_xscale("log")
            ax.set_xlim(lo, hi)
            ax.set_yticks(y)
            ax.set_yticklabels([f"{cid} [{rr.key}]" for cid, rr in rows], fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("worst ratio found: claimed-smaller / claimed-larger side (> 1 violates; clipped to [0.01, 100])")
            ax.set_title("worst ratio of every reading (red: false as stated; limits stated as '= 0' have no ratio)", fontsize=9)
            ax.grid(True, axis="x", alpha=0.3)
            save_figure(fig, path)
            return FigureSpec("overview", path, "worst ratio of every reading")
    except Exception as err:  # noqa: BLE001
        logger.warning("no overview figure: %s: %s", type(err).__name__, err)
        return None
