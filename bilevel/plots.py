"""Plots of training runs (matplotlib, Agg backend), saved atomically as PNG files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 130) -> Path:
    """Save to a temporary file in the target folder, then rename (never a half-written PNG)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        pyplot().close(fig)
    return path


def loss_axis(ax, values: np.ndarray, axis: str = "y") -> None:
    """A readable axis for positive values (losses): logarithmic with decade labels when they span
    more than a decade, else linear with a few plain labels (a log axis over less than a decade
    labels its minor ticks, e.g. ``9x10^1`` next to ``10^2``, and the labels overlap)."""
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    which = ax.yaxis if axis == "y" else ax.xaxis
    if v.size and v.max() / v.min() > 10.0:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        which.set_major_locator(LogLocator(base=10.0, numticks=8))
        which.set_minor_formatter(NullFormatter())
    else:
        which.set_major_locator(MaxNLocator(nbins=6))


def computations_axis(ax) -> None:
    """At most six labels on a computations axis, in scientific notation from 1e6 on."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 5), useMathText=True)


def _col(rows: Sequence[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if r.get(key, "") != ""], dtype=float)


def plot_training_curves(runs: dict[str, dict], path: str | os.PathLike, title: str = "") -> Path:
    """Left: loss per iteration (mini-batch loss for ISGD, full loss for MAID) versus computations;
    right: training and test PSNR of the evaluations versus computations.

    ``runs`` maps a label to ``{"records": [...], "evaluations": [...]}``.
    """
    return save_figure(training_curves_figure(runs, title), path)


def training_curves_figure(runs: dict[str, dict], title: str = ""):
    """The figure of :func:`plot_training_curves` (not saved)."""
    plt = pyplot()
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(11, 4))
    losses = []
    for i, (label, data) in enumerate(runs.items()):
        color = f"C{i}"
        rec = data["records"]
        if rec:
            losses.append(_col(rec, "batch_loss"))
            marker = "o" if len(rec) < 30 else None
            ax_l.plot(_col(rec, "computations"), _col(rec, "batch_loss"), color=color, lw=1, alpha=0.85, label=label,
                      marker=marker, ms=3)
        ev = data["evaluations"]
        if ev:
            c = _col(ev, "computations")
            ax_p.plot(c, _col(ev, "train_psnr"), "-o", color=color, ms=3, label=f"{label} (train)")
            if any("test_psnr" in r for r in ev):
                ax_p.plot(c, _col(ev, "test_psnr"), "--s", color=color, ms=3, label=f"{label} (test)")
    ax_l.set_xlabel("computations (lower-level, CG and certification iterations)")
    ax_l.set_ylabel("loss per iteration")
    loss_axis(ax_l, np.concatenate(losses) if losses else np.zeros(0))
    ax_l.legend(fontsize=8)
    ax_p.set_xlabel("computations (lower-level, CG and certification iterations)")
    ax_p.set_ylabel("average PSNR [dB]")
    ax_p.legend(fontsize=7)
    for ax in (ax_l, ax_p):
        ax.grid(alpha=0.3)
        computations_axis(ax)
    if title:
        fig.suptitle(title)
    return fig


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
