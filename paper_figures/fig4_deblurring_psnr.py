"""Fig. 4: deblurring, average test PSNR versus computations, ISGD versus MAID.

The paper's Fig. 4 (Section 3.2): ISGD with the decreasing step on the larger training set against
MAID on a subset (and, at full scale, MAID on the same set). Evaluations come about once per ISGD
epoch (``eval_every`` computations) and after the last iteration. Reads ``evaluations.csv`` of the
deblurring runs of a results directory of ``isgd figures``.

Usage: ``python paper_figures/fig4_deblurring_psnr.py RESULTS_DIR [--out DIR]``
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
    """Draw ``fig4_deblurring_psnr.png`` into ``out_dir`` from the stored deblurring runs."""
    runs = pr.load_runs(results_dir, "fig4")
    if not runs:
        raise FileNotFoundError(f"no stored Fig. 4 runs in {results_dir}")
    plt = pr.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, r in enumerate(runs):
        c, v = r.series("test_psnr", "evaluations")
        style = "-s" if r.spec.get("method") == "isgd" else "--o"
        ax.plot(c, v, style, color=f"C{i}", ms=4, label=r.label + (" (diverged)" if r.diverged else ""))
    ax.set_xlabel("computations (lower-level, CG and certification iterations)")
    ax.set_ylabel("average test PSNR [dB]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Fig. 4: FoE deblurring, test PSNR during training", fontsize=10)
    return [save_figure(fig, Path(out_dir) / "fig4_deblurring_psnr.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
