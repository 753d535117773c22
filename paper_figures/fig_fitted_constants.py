"""Fitted constants of the FoE problem along ISGD trajectories (Lemma 1, Proposition 1).

Left: at every analysed iterate, the exact second moment E||grad f_v||^2 of the sampling used against
the fitted right side 2A f + B ||grad f||^2 + C of Lemma 1 (points on or below the diagonal; the
active ones on it), and the same for E||z_v||^2 of the inexact hypergradients with the fitted
A~, B~, C~. Right: the table of constants (A, B, C; A~, B~, C~; b, c; L lower estimate; delta0;
eps^2; measured and certified hypergradient errors). Reads ``bound/bound.json``.

Usage: ``python paper_figures/fig_fitted_constants.py RESULTS_DIR [--out DIR]``
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

try:
    from validation.experiments import paper_results as pr
except ImportError:  # a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from validation.experiments import paper_results as pr
from bilevel.plots import save_figure


def _g(x: object) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.4g}" if isinstance(x, (int, float)) else str(x)


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig_fitted_constants.png`` into ``out_dir`` from ``bound/bound.json``."""
    b = pr.load_bound(results_dir)
    k, e, pts = b["constants"], b["errors"], b["points"]
    f = np.array([p["f"] for p in pts], dtype=float)
    g = np.array([p["grad_sq"] for p in pts], dtype=float)
    y = np.array([p["second_moment"] for p in pts], dtype=float)
    yz = np.array([p["second_moment_inexact"] for p in pts], dtype=float)
    fit = 2 * k["A"] * f + k["B"] * g + k["C"]
    fit_z = 2 * k["A_tilde_fit"] * f + k["B_tilde_fit"] * g + k["C_tilde_fit"]
    plt = pr.pyplot()
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
    ax.plot(fit, y, "o", ms=4, label="E||grad f_v||^2 vs 2A f + B||grad f||^2 + C")
    ax.plot(fit_z, yz, "x", ms=5, label="E||z_v||^2 vs 2A~ f + B~||grad f||^2 + C~")
    lo, hi = float(min(fit.min(), y.min(), fit_z.min(), yz.min())), float(max(fit.max(), y.max(), fit_z.max(), yz.max()))
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="equality")
    if lo > 0 and hi / lo > 100:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("fitted right side")
    ax.set_ylabel("exact second moment (sampling law)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(f"{len(pts)} iterates, {len(b['seeds'])} seeds, {b['law']['name']}", fontsize=8)
    rows = [
        ("A, B, C (Lemma 1)", f"{_g(k['A'])}, {_g(k['B'])}, {_g(k['C'])}"),
        ("A~, B~, C~ (fitted to z_v)", f"{_g(k['A_tilde_fit'])}, {_g(k['B_tilde_fit'])}, {_g(k['C_tilde_fit'])}"),
        ("b, c (fitted, (8))", f"{_g(k['b_fit'])}, {_g(k['c_fit'])}"),
        ("L (lower estimate)", _g(k["L_lower_estimate"])),
        ("delta0 (f_lb = 0)", _g(k["delta0"])),
        ("eps^2 = max E||e_v||^2", _g(k["eps2"])),
        ("run's alpha, eps", f"{_g(b['alpha'])}, {_g(b['eps'])}"),
        ("alpha L B (< 1 needed)", _g(k["alpha_L_B"])),
        ("||z_i - grad f_i|| mean, max", f"{_g(e['mean'])}, {_g(e['max'])}"),
        ("certified bound, max", _g(e["certified_max"])),
        ("sampling", f"{b['sampler']}, tau = {b['batch_size']}, m = {b['m']}"),
    ]
    ax_t.axis("off")
    table = ax_t.table(cellText=[[n, v] for n, v in rows], colLabels=["constant", "value"], cellLoc="left",
                       colWidths=[0.45, 0.55], bbox=[0.0, 0.0, 1.0, 1.0])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    fig.suptitle("Fitted constants of FoE denoising along ISGD trajectories", fontsize=10)
    return [save_figure(fig, Path(out_dir) / "fig_fitted_constants.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
