"""Forward operators ``A`` of the lower-level data term ``1/2 ||A x - y||^2``.

Each operator acts on batches ``(B, C, H, W)``, has an exact adjoint, the normal operator
``A^T A``, a certified upper bound on ``||A||^2`` and a certified lower bound on ``lambda_min(A^T A)``
(used for the strong convexity modulus of the lower-level problem; ``0`` when injectivity cannot be
certified).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .padding import check_padding, pad, pad_adjoint


class Identity:
    """``A = I`` (denoising). ``||A||^2 = lambda_min(A^T A) = 1``."""

    name = "identity"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^T A x``."""
        return x

    def norm_sq_bound(self, height: int, width: int) -> float:
        return 1.0

    def gram_lower_bound(self, height: int, width: int) -> float:
        return 1.0

    def describe(self) -> dict:
        return {"name": self.name}


def gaussian_kernel(size: int, sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalized 2-D Gaussian ``(size, size)``, ``k(i, j) ~ exp(-(i^2 + j^2) / (2 sigma^2))``."""
    if size < 1 or size % 2 != 1:
        raise ValueError(f"blur size must be a positive odd integer, got {size}")
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"blur sigma must be positive and finite, got {sigma}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r**2) / (2.0 * sigma**2))
    k = torch.outer(g, g)
    return (k / k.sum()).to(dtype)


@dataclass
class GaussianBlur:
    """Channel-wise Gaussian blur ``A x = k * P x`` (a depthwise valid correlation after padding).

    Parameters
    ----------
    size, sigma:
        Kernel size (odd) and standard deviation in pixels (the paper: 7 and 2).
    padding:
        ``"reflect"`` (default), ``"circular"`` or ``"zero"``; the adjoint is exact for each.
    """

    size: int = 7
    sigma: float = 2.0
    padding: str = "reflect"
    name: str = field(default="gaussian_blur", init=False)

    def __post_init__(self) -> None:
        check_padding(self.padding)
        self._kernel64 = gaussian_kernel(self.size, self.sigma)
        self._cache: dict[tuple, torch.Tensor] = {}

    def _weight(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.dtype, x.device, x.shape[1])
        w = self._cache.get(key)
        if w is None:
            c = x.shape[1]
            w = self._kernel64.to(dtype=x.dtype, device=x.device).expand(c, 1, self.size, self.size).contiguous()
            self._cache[key] = w
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self._weight(x)
        return F.conv2d(pad(x, self.size // 2, self.padding), w, groups=x.shape[1])

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        w = self._weight(y)
        return pad_adjoint(F.conv_transpose2d(y, w, groups=y.shape[1]), self.size // 2, self.padding)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^T A x``."""
        return self.adjoint(self.forward(x))

    def norm_sq_bound(self, height: int, width: int) -> float:
        """``||A||^2 <= ||P||^2 ||k||_1^2``; the kernel is non-negative with unit sum."""
        from .padding import padding_multiplicities

        return float(padding_multiplicities(height, width, self.size, self.padding).pad_norm_sq)

    def gram_lower_bound(self, height: int, width: int) -> float:
        """Certified lower bound on ``lambda_min(A^T A)``.

        Exact for circular padding (the minimum of ``|FFT(k)|^2`` on the image grid); ``0`` for
        reflect and zero padding, whose injectivity is not certified.
        """
        if self.padding != "circular":
            return 0.0
        k = torch.zeros(height, width, dtype=torch.float64)
        p = self.size // 2
        for i in range(self.size):
            for j in range(self.size):
                k[(i - p) % height, (j - p) % width] += self._kernel64[i, j]
        return float(torch.fft.fft2(k).abs().min() ** 2)

    def describe(self) -> dict:
        return {"name": self.name, "size": self.size, "sigma": self.sigma, "padding": self.padding}


def make_operator(name: str, **kwargs) -> Identity | GaussianBlur:
    """Build an operator by name: ``"identity"`` or ``"blur"`` (kwargs: size, sigma, padding)."""
    if name in ("identity", "denoising"):
        if kwargs:
            raise ValueError(f"the identity operator takes no options, got {sorted(kwargs)}")
        return Identity()
    if name in ("blur", "gaussian_blur", "deblurring"):
        return GaussianBlur(**kwargs)
    raise ValueError(f"unknown operator {name!r}; use 'identity' or 'blur'")
