"""Fig. 2: ISGD variants versus MAID, loss and average training PSNR versus computations.

The paper's Fig. 2 (Section 3.1): left, the loss per mini-batch of ISGD variants and MAID's
upper-level loss (full batch, one point per iteration); right, the average PSNR over the training set
(evaluated at certified accuracy, not charged to the methods): with several seeds, the mean over
seeds (each seed's last evaluation by a computation count, on a common grid) with the range of the
seeds shaded; the loss panel shows the first seed. The dotted line marks the scaled "2e5
computations" of the paper's claims. Reads ``metrics.csv`` and ``evaluations.csv`` of the Fig. 2
runs of a results directory of ``isgd figures``.

Usage: ``python paper_figures/fig2_isgd_vs_maid.py RESULTS_DIR [--out DIR]``
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


def _mean_band(runs: list, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over runs of the training PSNR held at each grid point (nan where a run has none)."""
    vals = np.array([[pr.value_by(*r.series("train_psnr", "evaluations"), g, slack=0.0) for g in grid] for r in runs])
    with np.errstate(all="ignore"):
        ok = ~np.all(np.isnan(vals), axis=0)
        mean = np.full(grid.shape, np.nan)
        lo, hi = mean.copy(), mean.copy()
        mean[ok], lo[ok], hi[ok] = np.nanmean(vals[:, ok], 0), np.nanmin(vals[:, ok], 0), np.nanmax(vals[:, ok], 0)
    return mean, lo, hi


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig2_isgd_vs_maid.png`` into ``out_dir`` from the stored Fig. 2 runs."""
    runs = pr.load_runs(results_dir, "fig2")
    if not runs:
        raise FileNotFoundError(f"no stored Fig. 2 runs in {results_dir}")
    milestone = pr.load_plan(results_dir)["scale"]["claim_computations"]
    configs = pr.group(runs)
    n_seeds = max(len(c.runs) for c in configs)
    plt = pr.pyplot()
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, c in enumerate(configs):
        maid = c.spec.get("method") == "maid"
        color = f"C{i}"
        first = c.runs[min(c.runs)]
        cl, vl = first.series("batch_loss")
        keep = vl > 0
        if maid:
            ax_l.plot(cl[keep], vl[keep], "-o", color=color, lw=1.8, ms=4, label=f"{c.label} (full loss)")
        else:
            ax_l.plot(cl[keep], vl[keep], lw=0.8, alpha=0.8, color=color,
                      label=c.label + (" (diverged)" if first.diverged else ""))
        members = list(c.runs.values())
        grid = np.unique(np.concatenate([r.series("train_psnr", "evaluations")[0] for r in members]))
        mean, lo, hi = _mean_band(members, grid)
        ax_p.plot(grid, mean, "-o" if maid else "-s", color=color, ms=3.0, lw=1.8 if maid else 1.1,
                  label=c.label + (f" (mean of {len(members)} seeds)" if len(members) > 1 else ""))
        if len(members) > 1:
            ax_p.fill_between(grid, lo, hi, color=color, alpha=0.15, lw=0)
    for ax in (ax_l, ax_p):
        ax.axvline(milestone, color="0.4", ls=":", lw=1)
        ax.set_xlabel("computations (lower-level, CG and certification iterations)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss per mini-batch (ISGD) / upper-level loss (MAID)" + (", first seed" if n_seeds > 1 else ""))
    ax_p.set_ylabel("average training PSNR [dB]")
    fig.suptitle(f"Fig. 2: ISGD versus MAID on FoE denoising (dotted: {milestone} computations, the paper's 2e5 scaled)")
    return [save_figure(fig, Path(out_dir) / "fig2_isgd_vs_maid.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
