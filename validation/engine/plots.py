"""Matplotlib helpers of the verification engine (Agg backend, atomic PNG writes, readable ticks).

Torch-free. :func:`save_figure` thins tick labels until none overlap (:func:`overlapping_tick_labels`
is the check the tests run on every written figure) and writes through a temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["pyplot", "save_figure", "overlapping_tick_labels", "tidy_ticks", "DPI"]

DPI = 110
"""Resolution of the verification figures."""

_MAX_THINNING = 6


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import logging

    import matplotlib

    matplotlib.use("Agg", force=True)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font-fallback notices are not results
    import matplotlib.pyplot as plt

    return plt


def _visible_labels(axis: Any) -> list[Any]:
    return [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]


def overlapping_tick_labels(fig: Any) -> list[tuple[str, str, str]]:
    """Pairs of tick labels whose boxes intersect, as ``(axis, label, label)``; empty when the ticks read cleanly."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for k, ax in enumerate(fig.axes):
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = _visible_labels(axis)
            boxes = [(t, t.get_window_extent(renderer)) for t in labels]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i][1].overlaps(boxes[j][1]):
                        out.append((f"axes {k} {name}", boxes[i][0].get_text(), boxes[j][0].get_text()))
    return out


def tidy_ticks(fig: Any) -> None:
    """Hide every other minor, then major, tick label of an axis until its labels no longer overlap."""
    for _ in range(_MAX_THINNING):
        bad = overlapping_tick_labels(fig)
        if not bad:
            return
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                labels = _visible_labels(axis)
                renderer = fig.canvas.get_renderer()
                boxes = [t.get_window_extent(renderer) for t in labels]
                if any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes))):
                    minor = [t for t in axis.get_ticklabels(which="minor") if t.get_visible() and t.get_text()]
                    if minor:
                        for t in minor:
                            t.set_visible(False)
                    else:
                        for t in labels[1::2]:
                            t.set_visible(False)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Tidy the tick labels, save to a temporary file in the target folder, then rename (never a half-written PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tidy_ticks(fig)
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
