"""Plots of training runs (matplotlib, Agg backend), saved atomically as PNG files."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 130) -> Path:
    """Save to a temporary file in the target folder, then rename (never a half-written PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        pyplot().close(fig)
    return path


def _col(rows: Sequence[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if r.get(key, "") != ""], dtype=float)


def plot_training_curves(runs: dict[str, dict], path: str | os.PathLike, title: str = "") -> Path:
    """Left: loss per iteration (mini-batch loss for ISGD, full loss for MAID) versus computations;
    right: training and test PSNR of the evaluations versus computations.

    ``runs`` maps a label to ``{"records": [...], "evaluations": [...]}``.
    """
    plt = pyplot()
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, data) in enumerate(runs.items()):
        color = f"C{i}"
        rec = data["records"]
        if rec:
            marker = "o" if len(rec) < 30 else None
            ax_l.plot(_col(rec, "computations"), _col(rec, "batch_loss"), color=color, lw=1, alpha=0.85, label=label,
                      marker=marker, ms=3)
        ev = data["evaluations"]
        if ev:
            c = _col(ev, "computations")
            ax_p.plot(c, _col(ev, "train_psnr"), "-o", color=color, ms=3, label=f"{label} (train)")
            if any("test_psnr" in r for r in ev):
                ax_p.plot(c, _col(ev, "test_psnr"), "--s", color=color, ms=3, label=f"{label} (test)")
    ax_l.set_xlabel("computations (lower-level + CG iterations)")
    ax_l.set_ylabel("loss per iteration")
    ax_l.set_yscale("log")
    ax_l.legend(fontsize=8)
    ax_p.set_xlabel("computations (lower-level + CG iterations)")
    ax_p.set_ylabel("average PSNR [dB]")
    ax_p.legend(fontsize=7)
    for ax in (ax_l, ax_p):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_image_row(images: list[tuple[str, np.ndarray]], path: str | os.PathLike, title: str = "") -> Path:
    """A row of images ``(label, array (H, W, 3) in [0, 1])``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(images), figsize=(2.6 * len(images), 2.9))
    axes = np.atleast_1d(axes)
    for ax, (label, img) in zip(axes, images):
        ax.imshow(np.clip(img, 0.0, 1.0))
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
