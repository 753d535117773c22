"""Boundary extension of images and its exact adjoint.

A convolution with "reflect", "circular" or "zero" boundary handling is written as
``K = C o P``: ``P`` extends a ``(B, C, H, W)`` image by ``p`` pixels on each side and ``C`` is a
*valid* cross-correlation. Every adjoint in this package is ``K^T = P^T o C^T`` with
``C^T = conv_transpose2d`` and ``P^T`` given here, so that ``<K x, y> = <x, K^T y>`` holds to
rounding error for every padding mode.

The functions :func:`index_map` and :func:`padding_multiplicities` describe ``P`` combinatorially;
the certified constants of :mod:`bilevel.foe` (operator norms and Lipschitz bounds) are built from
these counts, so they hold exactly for the padding that is actually applied.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

PADDING_MODES = ("reflect", "circular", "zero")


def check_padding(mode: str) -> str:
    """Return ``mode`` if it is a supported padding mode, else raise ``ValueError``."""
    if mode not in PADDING_MODES:
        raise ValueError(f"unknown padding mode {mode!r}; use one of {PADDING_MODES}")
    return mode


def pad(x: torch.Tensor, p: int, mode: str) -> torch.Tensor:
    """Extend ``x`` of shape ``(B, C, H, W)`` by ``p`` pixels on each side.

    ``reflect`` mirrors without repeating the edge pixel (``x[-k] = x[k]``), ``circular`` wraps
    around, ``zero`` pads with zeros.
    """
    if p == 0:
        return x
    if mode == "zero":
        return F.pad(x, (p, p, p, p))
    return F.pad(x, (p, p, p, p), mode=mode)


def _fold_last(g: torch.Tensor, p: int, mode: str, dim: int) -> torch.Tensor:
    """Adjoint of the 1-D padding along ``dim`` (size ``n + 2p`` -> ``n``)."""
    n = g.shape[dim] - 2 * p
    out = g.narrow(dim, p, n).clone()
    left = g.narrow(dim, 0, p)
    right = g.narrow(dim, n + p, p)
    if mode == "reflect":
        # padded index j < p holds x[p - j]; padded index n + p + k holds x[n - 2 - k].
        out.narrow(dim, 1, p).add_(left.flip(dim))
        out.narrow(dim, n - 1 - p, p).add_(right.flip(dim))
    elif mode == "circular":
        # padded index j < p holds x[n - p + j]; padded index n + p + k holds x[k].
        out.narrow(dim, n - p, p).add_(left)
        out.narrow(dim, 0, p).add_(right)
    return out


def pad_adjoint(g: torch.Tensor, p: int, mode: str) -> torch.Tensor:
    """Adjoint of :func:`pad`: maps ``(B, C, H + 2p, W + 2p)`` to ``(B, C, H, W)``.

    Satisfies ``<pad(x), g> = <x, pad_adjoint(g)>`` exactly up to rounding.
    """
    if p == 0:
        return g
    if mode == "zero":
        return g[..., p:-p, p:-p]
    # P = P_H o P_W (both act on separate dims), hence P^T = P_W^T o P_H^T.
    return _fold_last(_fold_last(g, p, mode, dim=-2), p, mode, dim=-1)


def index_map(n: int, p: int, mode: str) -> np.ndarray:
    """Original index of every position of a 1-D signal of length ``n`` padded by ``p``.

    Returns an integer array of length ``n + 2p``; ``-1`` marks a zero-padded position.
    """
    check_padding(mode)
    j = np.arange(-p, n + p)
    if mode == "circular":
        return np.mod(j, n)
    if mode == "reflect":
        out = np.abs(j)
        return np.where(out > n - 1, 2 * (n - 1) - out, out)
    return np.where((j >= 0) & (j < n), j, -1)


class PaddingMultiplicities(NamedTuple):
    """Counts that bound norms of operators built from padding (per image axis, then combined).

    Attributes
    ----------
    pad_norm_sq:
        ``||P||^2``: the largest number of copies of one pixel in the padded image.
    window_sum:
        ``M_P = max_q #{(p, k): P(p + k) = q}``: how often one pixel is read by all
        ``k x k`` windows of a valid correlation together; ``sum_k ||win_k(P w)||^2 <= M_P ||w||^2``.
    window_max:
        ``m_w``: the largest number of copies of one pixel inside a single window;
        ``||win(P w)|| <= sqrt(m_w) ||w||``.
    """

    pad_norm_sq: int
    window_sum: int
    window_max: int


def _multiplicities_1d(n: int, kernel_size: int, mode: str) -> tuple[int, int, int]:
    p = kernel_size // 2
    idx = index_map(n, p, mode)
    valid = idx[idx >= 0]
    copies = np.bincount(valid, minlength=n).max() if valid.size else 0
    window_sum = np.zeros(n, dtype=np.int64)
    window_max = 0
    for start in range(n):  # output pixel `start` reads padded positions start .. start + k - 1
        win = idx[start:start + kernel_size]
        win = win[win >= 0]
        counts = np.bincount(win, minlength=n)
        window_sum += counts
        window_max = max(window_max, int(counts.max()) if win.size else 0)
    return int(copies), int(window_sum.max()), int(window_max)


def padding_multiplicities(height: int, width: int, kernel_size: int, mode: str) -> PaddingMultiplicities:
    """Exact multiplicities of the padding used by a ``kernel_size`` correlation on an image.

    Padding is separable, so each count is the product of the per-axis counts.
    """
    check_padding(mode)
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    p = kernel_size // 2
    if mode == "reflect" and min(height, width) <= p:
        raise ValueError(
            f"reflect padding of {p} pixels needs images larger than {p} pixels, got {height}x{width}"
        )
    h = _multiplicities_1d(height, kernel_size, mode)
    w = _multiplicities_1d(width, kernel_size, mode)
    return PaddingMultiplicities(h[0] * w[0], h[1] * w[1], h[2] * w[2])
