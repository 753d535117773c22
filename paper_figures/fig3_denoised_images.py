"""Fig. 3: one denoised training image after the computation milestones, for ISGD, ISGD with
decreasing step, and MAID.

The paper's Fig. 3 (Section 3.1): milestones 1e4, 5e4, 1e5, 2e5 computations (scaled with the
budget at smaller scales). The first column shows the clean and the noisy image. Reads
``artifacts/fig3.json`` and ``artifacts/fig3.npz`` (reconstructions computed by ``isgd figures``).

Usage: ``python paper_figures/fig3_denoised_images.py RESULTS_DIR [--out DIR]``
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
    """Draw ``fig3_denoised_images.png`` into ``out_dir`` from the stored Fig. 3 artifact."""
    meta, arrays = pr.load_artifact(results_dir, "fig3")
    rows, milestones = meta["rows"], meta["milestones"]
    plt = pr.pyplot()
    n_rows, n_cols = max(len(rows), 2), len(milestones) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.3 * n_cols, 2.55 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(arrays["clean"])
    axes[0, 0].set_title("clean", fontsize=8)
    axes[1, 0].imshow(arrays["noisy"])
    axes[1, 0].set_title(f"noisy {meta['noisy_psnr']:.2f} dB", fontsize=8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row["panels"]):
            ax = axes[i, j + 1]
            ax.imshow(arrays[f"row{i}_m{j}"])
            ax.set_title(f"{panel['milestone']} ({panel['computations']}): {panel['psnr']:.2f} dB", fontsize=7)
        axes[i, 1].text(-0.08, 0.5, row["label"], transform=axes[i, 1].transAxes, rotation=90, va="center", ha="right",
                        fontsize=7)
    paper = ", ".join(f"{m:.0e}" for m in meta["paper_milestones"])
    seeds = meta.get("seeds", [])
    shown = f", seed {meta['shown_seed']} of {len(seeds)} (every seed's PSNR in fig3.json)" if len(seeds) > 1 else ""
    fig.suptitle(f"Fig. 3: training image {meta['image_index']} after {', '.join(map(str, milestones))} computations "
                 f"(the paper's {paper}){shown}; title: milestone (computations used): PSNR", fontsize=9)
    return [save_figure(fig, Path(out_dir) / "fig3_denoised_images.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
