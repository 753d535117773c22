"""Theorem 1 versus observed on FoE denoising: bounds and min_{t<T} E||grad f(theta_t)||^2 versus T.

Observed: the mean over seeds of ||grad f(theta_t)||^2 at the stored iterates (tight-accuracy
hypergradients), minimized over t < T, with the Bonferroni-simultaneous interval of the minimum
(band). Bounds (``validation.experiments.foe_bound``): Theorem 1 as printed and by its source route
([5, Theorem 3] with Proposition 1's constants), each at its best zeta, eta, and [5, Theorem 3] with
(b, c, A~, B~, C~) fitted to the inexact hypergradients. A bound that overflows (the source route's
(1 + L A~ alpha^2)^T) is drawn as a marker at the top of the axes. Reads ``bound/bound.json``.

Usage: ``python paper_figures/fig_bound_vs_observed.py RESULTS_DIR [--out DIR]``
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

try:
    from validation.experiments import paper_results as pr
except ImportError:  # a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from validation.experiments import paper_results as pr
from bilevel.plots import save_figure

BOUNDS = (("printed", "Theorem 1 as printed", "C3--"), ("source", "source route ([5, Thm 3] + Prop. 1)", "C0:"),
          ("fitted", "[5, Thm 3], fitted b, c, A~, B~, C~", "C2-."))


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig_bound_vs_observed.png`` into ``out_dir`` from ``bound/bound.json``."""
    b = pr.load_bound(results_dir)
    curve = b["curve"]
    T = np.array([r["T"] for r in curve], dtype=float)
    obs = np.array([r["observed"] for r in curve], dtype=float)
    plt = pr.pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    ax.plot(T, obs, "k-o", ms=3, lw=2, label=f"observed min_(t<T) mean over {len(b['seeds'])} seeds")
    lo = [r["simultaneous_low"] for r in curve]
    hi = [r["simultaneous_high"] for r in curve]
    if all(v is not None for v in lo + hi):
        ax.fill_between(T, np.maximum(np.array(lo, dtype=float), 1e-300), np.array(hi, dtype=float), color="k",
                        alpha=0.12, label=f"{100 * b['confidence']:.0f} % simultaneous interval of the minimum")
    finite_vals = [float(v) for v in obs if v > 0]
    overflow = []
    for key, label, style in BOUNDS:
        vals = np.array([r[key] if r[key] is not None else np.nan for r in curve], dtype=float)
        ok = [r[f"{key}_step_ok"] for r in curve]
        if np.all(np.isnan(vals)):
            continue
        tag = "" if all(ok) else " (step condition NOT met)"
        ax.plot(T, np.where(np.isfinite(vals), vals, np.nan), style, lw=1.8, label=label + tag)
        finite_vals += [float(v) for v in vals if np.isfinite(v) and v > 0]
        if np.any(np.isinf(vals)):
            overflow.append((key, style, T[np.isinf(vals)]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    if finite_vals:
        top = max(finite_vals) * 10
        ax.set_ylim(max(min(finite_vals) / 10, 1e-300), top)
        for key, style, Ts in overflow:
            ax.plot(Ts, np.full(Ts.shape, top / 1.5), style[:2] + "^", ms=5, label=f"{key}: overflows (inf)")
    k = b["constants"]
    ax.set_xlabel("horizon T (iterations)")
    ax.set_ylabel("min_(t<T) E||grad f(theta_t)||^2")
    fin = b["final"]
    ratio = fin.get("ratio_printed")
    ax.set_title(f"Theorem 1 vs observed, FoE denoising (m = {b['m']}, alpha = {b['alpha']:g}, eps = {b['eps']:g}); "
                 f"printed/observed at T = {fin['T']}: {ratio if ratio is None else f'{ratio:.3g}'}", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.text(0.01, -0.03, f"constants fitted on the visited iterates, L >= {k['L_lower_estimate']:.3g} (difference "
                          f"quotients, a lower estimate), delta0 = {k['delta0']:.4g} (f_lb = 0), eps^2 = {k['eps2']:.3g}, "
                          f"alpha L B = {k['alpha_L_B']:.3g}", fontsize=6.5)
    return [save_figure(fig, Path(out_dir) / "fig_bound_vs_observed.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
