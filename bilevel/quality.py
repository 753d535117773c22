"""Image quality measures, one value per image: PSNR (``10 log10(peak^2 / MSE)``) and SSIM.

SSIM is scikit-image's :func:`skimage.metrics.structural_similarity` (Wang et al. 2004, uniform
7x7 windows, colour channels averaged) on float64 copies with ``data_range = peak``; PSNR is
:func:`bilevel.data.psnr`.
"""
from __future__ import annotations

import numpy as np
import torch

from .data import psnr

__all__ = ["psnr", "ssim"]


def ssim(x: torch.Tensor, x_star: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Structural similarity of each image of ``x`` ``(B, C, H, W)`` to ``x_star``, shape ``(B,)``
    (float64, on the CPU). Images smaller than 7 pixels on a side use the largest odd window that
    fits (at least 3)."""
    if x.shape != x_star.shape or x.ndim != 4:
        raise ValueError(f"ssim needs two batches of the same shape (B, C, H, W), got {tuple(x.shape)} and "
                         f"{tuple(x_star.shape)}")
    from skimage.metrics import structural_similarity

    side = min(x.shape[-2:])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"ssim needs images of at least 3x3 pixels, got {tuple(x.shape[-2:])}")
    a = x.detach().to("cpu", torch.float64).numpy()
    b = x_star.detach().to("cpu", torch.float64).numpy()
    values = [structural_similarity(a[i], b[i], channel_axis=0, data_range=peak, win_size=win)
              for i in range(a.shape[0])]
    return torch.from_numpy(np.asarray(values, dtype=np.float64))
