"""Fig. 1: ISGD loss per mini-batch versus computations, constant step and decreasing step alpha0/sqrt(k+1).

The paper's Fig. 1 (Section 3.1): FoE denoising, one curve per alpha0 in 1e-3 ... 1e-6; left the
constant step, right the decreasing step. Reads ``runs/<name>/metrics.csv`` of the Fig. 1 runs of a
results directory of ``isgd figures``; with several seeds per configuration, the first seed's curves
(the verdicts use every seed); a diverged run ends with a cross.

Usage: ``python paper_figures/fig1_isgd_steps.py RESULTS_DIR [--out DIR]``
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

STEPS = (("constant", "constant step alpha_k = alpha0"), ("inverse_sqrt", "decreasing step alpha_k = alpha0/sqrt(k+1)"))


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig1_isgd_steps.png`` into ``out_dir`` from the stored Fig. 1 runs."""
    runs = [r for r in pr.load_runs(results_dir, "fig1") if r.spec.get("method") == "isgd"]
    if not runs:
        raise FileNotFoundError(f"no stored Fig. 1 runs in {results_dir}")
    seed = min(r.seed for r in runs)
    n_seeds = len({r.seed for r in runs})
    runs = [r for r in runs if r.seed == seed]
    alphas = sorted({r.spec["alpha0"] for r in runs}, reverse=True)
    plt = pr.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, (step, title) in zip(axes, STEPS):
        for r in sorted((r for r in runs if r.spec["step"] == step), key=lambda r: -r.spec["alpha0"]):
            color = f"C{alphas.index(r.spec['alpha0'])}"
            c, v = r.series("batch_loss")
            keep = v > 0
            label = f"alpha0 = {r.spec['alpha0']:.0e}" + (" (diverged)" if r.diverged else "")
            ax.plot(c[keep], v[keep], lw=0.9, alpha=0.85, color=color, label=label)
            if r.diverged and keep.any():
                ax.plot(c[keep][-1], v[keep][-1], "x", color=color, ms=9, mew=2)
        ax.set_yscale("log")
        ax.set_xlabel("computations (lower-level, CG and certification iterations)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("loss per mini-batch")
    fig.suptitle("Fig. 1: ISGD on FoE denoising, loss per mini-batch versus computations"
                 + (f" (seed {seed} of {n_seeds})" if n_seeds > 1 else ""))
    return [save_figure(fig, Path(out_dir) / "fig1_isgd_steps.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
