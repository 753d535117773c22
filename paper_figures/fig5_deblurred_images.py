"""Fig. 5: a deblurred test image: ground truth, blurry, MAID, ISGD, with PSNR.

The paper's Fig. 5 (Section 3.2). Reads ``artifacts/fig5.json`` and ``artifacts/fig5.npz``
(reconstructions with the final learned regularizers, computed by ``isgd figures``).

Usage: ``python paper_figures/fig5_deblurred_images.py RESULTS_DIR [--out DIR]``
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

try:
    from validation.experiments import paper_results as pr
except ImportError:  # a source checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from validation.experiments import paper_results as pr
from bilevel.plots import save_figure


def draw(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Draw ``fig5_deblurred_images.png`` into ``out_dir`` from the stored Fig. 5 artifact."""
    meta, arrays = pr.load_artifact(results_dir, "fig5")
    panels = meta["panels"]
    plt = pr.pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), squeeze=False)
    for ax, (letter, p) in zip(axes[0], zip("abcdefgh", panels)):
        ax.imshow(arrays[p["key"]])
        psnr = p.get("psnr")
        value = f": {psnr:.2f} dB" if isinstance(psnr, (int, float)) and math.isfinite(psnr) else ""
        ax.set_title(f"({letter}) {p['label']}{value}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Fig. 5: deblurring test image {meta['image_index']} with the learned FoE regularizers", fontsize=10)
    return [save_figure(fig, Path(out_dir) / "fig5_deblurred_images.png")]


def main(argv: list[str] | None = None) -> int:
    return pr.figure_main(draw, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
