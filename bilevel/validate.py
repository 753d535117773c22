"""Input checks shared by the core: clear ``ValueError`` messages that say what to do."""
from __future__ import annotations

import math

import torch

FLOAT_DTYPES = (torch.float32, torch.float64)


def check_images(name: str, x: torch.Tensor, channels: int | None = None) -> None:
    """``x`` must be a finite floating tensor of shape ``(B, C, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}; add a batch dimension with x[None]")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if x.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}; convert with .double() or .float()")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values; check the data or the previous step")


def check_like(name: str, x: torch.Tensor, ref_name: str, ref: torch.Tensor, same_shape: bool = True) -> None:
    """``x`` must share dtype and device (and, by default, shape) with ``ref``."""
    if x.dtype != ref.dtype:
        raise ValueError(f"{name} has dtype {x.dtype} but {ref_name} has {ref.dtype}; use one dtype for all inputs")
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; move both to one device")
    if same_shape and x.shape != ref.shape:
        raise ValueError(f"{name} has shape {tuple(x.shape)} but {ref_name} has {tuple(ref.shape)}")


def check_theta(theta: torch.Tensor, dim: int) -> None:
    if not isinstance(theta, torch.Tensor):
        raise ValueError(f"theta must be a torch.Tensor of shape ({dim},), got {type(theta).__name__}")
    if theta.shape != (dim,):
        raise ValueError(f"theta must have shape ({dim},), got {tuple(theta.shape)}")
    if theta.dtype not in FLOAT_DTYPES:
        raise ValueError(f"theta must be float32 or float64, got {theta.dtype}")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("theta contains NaN or infinite values; the upper-level iteration diverged, lower the step size")


def check_tolerance(name: str, value, batch: int | None = None) -> torch.Tensor | float:
    """A positive finite tolerance, scalar or one per image."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            value = float(value)
        else:
            if batch is not None and value.shape != (batch,):
                raise ValueError(f"{name} must be a scalar or have shape ({batch},), got {tuple(value.shape)}")
            if not bool(torch.isfinite(value).all()) or not bool((value > 0).all()):
                raise ValueError(f"{name} must be positive and finite for every image, got {value}")
            return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
