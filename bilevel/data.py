"""Embedded default data and measurements (DESIGN.md, "Data").

The embedded photographs are the natural colour photographs that ship inside scikit-image (no
download). They are cut deterministically into non-overlapping square crops in row-major order;
training and test crops come from different photographs. Measurements ``y = A x* + sigma n`` use a
seeded generator, so a seed fixes every noise realization.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
import torch

log = logging.getLogger(__name__)

#: Noise level of the paper's denoising experiment (sigma = 25/255).
DENOISING_SIGMA = 25.0 / 255.0
#: Noise level of the deblurring experiment ("noise level 5", i.e. 5/255).
DEBLURRING_SIGMA = 5.0 / 255.0


def _skimage_photo(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data as skd

        if name == "motorcycle":
            return skd.stereo_motorcycle()[0]
        return getattr(skd, name)()

    return load


#: Photographs used for training crops and for test crops (disjoint).
EMBEDDED_TRAIN = ("astronaut", "coffee", "rocket")
EMBEDDED_TEST = ("chelsea", "motorcycle")


def load_embedded_photo(name: str) -> np.ndarray:
    """An embedded photograph as float64 ``(H, W, 3)`` in ``[0, 1]``."""
    if name not in EMBEDDED_TRAIN + EMBEDDED_TEST:
        raise ValueError(f"unknown embedded photograph {name!r}; choose from {EMBEDDED_TRAIN + EMBEDDED_TEST}")
    img = np.asarray(_skimage_photo(name)())
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"embedded photograph {name!r} is not an RGB image (shape {img.shape})")
    return img.astype(np.float64) / 255.0


def grid_crops(img: np.ndarray, size: int, limit: int | None = None, name: str = "image") -> list[np.ndarray]:
    """Non-overlapping ``size x size`` crops in row-major order, centred on the image."""
    H, W = img.shape[:2]
    if size > H or size > W:
        raise ValueError(f"crop size {size} is larger than {name} ({H}x{W}); choose a smaller crop size")
    nh, nw = H // size, W // size
    oh, ow = (H - nh * size) // 2, (W - nw * size) // 2
    out = []
    for i in range(nh):
        for j in range(nw):
            out.append(img[oh + i * size: oh + (i + 1) * size, ow + j * size: ow + (j + 1) * size])
            if limit is not None and len(out) >= limit:
                return out
    return out


def embedded_crops(split: str = "train", size: int = 96, count: int | None = None) -> torch.Tensor:
    """Crops of the embedded photographs as a float64 tensor ``(N, 3, size, size)`` in ``[0, 1]``.

    Crops are taken photograph by photograph in round-robin order (crop 0 of every photograph, then
    crop 1, ...) so that a small ``count`` still mixes photographs.
    """
    names = {"train": EMBEDDED_TRAIN, "test": EMBEDDED_TEST}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    per_photo = [grid_crops(load_embedded_photo(n), size, name=n) for n in names]
    crops: list[np.ndarray] = []
    for k in range(max(len(c) for c in per_photo)):
        for c in per_photo:
            if k < len(c):
                crops.append(c[k])
    if count is not None:
        if count < 1:
            raise ValueError(f"count must be positive, got {count}")
        if count > len(crops):
            raise ValueError(
                f"only {len(crops)} {split} crops of size {size} exist in the embedded photographs, asked for {count}; "
                "use a smaller count or crop size, or a data folder"
            )
        crops = crops[:count]
    arr = np.stack(crops).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(arr))


class Measurements(NamedTuple):
    """Ground truth ``x_star`` and measurements ``y = A x_star + sigma n`` ``(N, C, H, W)``."""

    x_star: torch.Tensor
    y: torch.Tensor
    sigma: float
    seed: int


def make_measurements(operator, x_star: torch.Tensor, sigma: float, seed: int) -> Measurements:
    """Apply ``operator`` and add Gaussian noise from a generator seeded with ``seed`` (on the CPU,
    in float64, so the realization does not depend on device or dtype)."""
    if not sigma >= 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    x64 = x_star.detach().to("cpu", torch.float64)
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(x64.shape, generator=gen, dtype=torch.float64)
    y = operator.forward(x64) + sigma * noise
    return Measurements(x_star, y.to(dtype=x_star.dtype, device=x_star.device), float(sigma), int(seed))


def psnr(x: torch.Tensor, x_star: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(peak^2 / MSE)`` ``(B,)``."""
    mse = (x - x_star).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(peak**2 / mse)


@dataclass(frozen=True)
class TaskSpec:
    """A standard problem of the paper: crop size, operator, noise, ridge and default accuracies.

    The default certified distance ``eps`` of deblurring is larger because its modulus is the ridge
    ``mu = 1e-2``: the stopping test ``||grad h|| <= mu eps`` must stay above the float32 precision
    floor of a 256x256 colour image.
    """

    name: str
    crop: int
    operator: str
    sigma: float
    mu: float
    eps: float
    delta: float


DENOISING = TaskSpec("denoising", 96, "identity", DENOISING_SIGMA, 0.0, 1e-3, 1e-3)
DEBLURRING = TaskSpec("deblurring", 256, "blur", DEBLURRING_SIGMA, 1e-2, 1e-1, 1e-3)
TASKS = {"denoising": DENOISING, "deblurring": DEBLURRING}
