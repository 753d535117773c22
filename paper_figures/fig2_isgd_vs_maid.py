"""Fig. 2: ISGD variants versus MAID, loss and average training PSNR versus computations.

The paper's Fig. 2 (Section 3.1): left, the loss per mini-batch of ISGD variants and MAID's
upper-level loss (full batch, one point per iteration); right, the average PSNR over the training set
(evaluated at certified accuracy, not charged to the methods). The dotted line marks the scaled
"2e5 computations" of the paper's claims. Reads ``metrics.csv`` and ``evaluations.csv`` of the Fig. 2
runs of a results directory of ``isgd figures``.

Usage: ``python paper_figures/fig2_isgd_vs_maid.py RESULTS_DIR [--out DIR]``
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    from validation.experiments import paper_results as pr
except ImportError:  # a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from validation.experiments import paper_results as pr
from bilevel.plots import save_figure


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig2_isgd_vs_maid.png`` into ``out_dir`` from the stored Fig. 2 runs."""
    runs = pr.load_runs(results_dir, "fig2")
    if not runs:
        raise FileNotFoundError(f"no stored Fig. 2 runs in {results_dir}")
    milestone = pr.load_plan(results_dir)["scale"]["claim_computations"]
    plt = pr.pyplot()
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, r in enumerate(runs):
        color = "k" if r.spec.get("method") == "maid" else f"C{i}"
        c, v = r.series("batch_loss")
        keep = v > 0
        if r.spec.get("method") == "maid":
            ax_l.plot(c[keep], v[keep], "-o", color=color, lw=1.8, ms=4, label=f"{r.label} (full loss)")
        else:
            ax_l.plot(c[keep], v[keep], lw=0.8, alpha=0.8, color=color, label=r.label + (" (diverged)" if r.diverged else ""))
        ce, pe = r.series("train_psnr", "evaluations")
        ax_p.plot(ce, pe, "-o" if r.spec.get("method") == "maid" else "-s", color=color, ms=3.5,
                  lw=1.8 if r.spec.get("method") == "maid" else 1.1, label=r.label)
    for ax in (ax_l, ax_p):
        ax.axvline(milestone, color="0.4", ls=":", lw=1)
        ax.set_xlabel("computations (lower-level + CG iterations)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss per mini-batch (ISGD) / upper-level loss (MAID)")
    ax_p.set_ylabel("average training PSNR [dB]")
    fig.suptitle(f"Fig. 2: ISGD versus MAID on FoE denoising (dotted: {milestone} computations, the paper's 2e5 scaled)")
    return [save_figure(fig, Path(out_dir) / "fig2_isgd_vs_maid.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
