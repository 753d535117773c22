"""Shared pieces of the benchmark scripts: timing, machine peaks, work per image-iteration.

Timings are medians of interleaved repeats (noise hits every candidate alike); device peaks are
*measured* here (a large matrix product for FLOP/s, a large copy for bytes/s), so the reported
fractions are relative to what this machine actually reaches, not to a data sheet.
"""
from __future__ import annotations

import logging
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import torch


def _source_checkout() -> Path | None:
    """The repository this package lies in (a source checkout or an editable install), else ``None``
    (an installed wheel: then nothing is read or written next to the installed package)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "setup.cfg").exists() and (root / "benchmarks" / "common.py").exists() else None


#: The repository root of a source checkout; the current directory for an installed package.
ROOT = _source_checkout() or Path.cwd()
#: Where results go by default: the committed ``benchmarks/results/`` of a checkout, else
#: ``benchmarks/results/`` under the current directory.
RESULTS = ROOT / "benchmarks" / "results"


def shared_data(name: str) -> str:
    """Default location of a real photograph collection: ``../shared/data/<name>`` next to the
    repository (of the current directory for an installed package)."""
    return str(ROOT.parent / "shared" / "data" / name)


def portable_path(path: str) -> str:
    """A path as stored in committed results: relative to the repository when it lies on the same
    drive (e.g. ``../shared/data/CBSD68``), so results name no machine-specific location. Names
    that are not paths (``embedded``, ``stl10:...``) are returned unchanged. Symbolic links are not
    followed: the path is stored as named (a linked data folder next to the repository stays
    ``../shared/...``). A location further away (a temporary folder, another drive) says nothing on
    another machine and is stored as ``outside:<its name>``."""
    if path == "embedded" or ":" in path.split("/")[0]:
        return path
    p = Path(os.path.abspath(path))
    try:
        rel = os.path.relpath(p, ROOT)
    except ValueError:  # another drive
        return f"outside:{p.name}"
    parts = Path(rel).parts
    if parts[:2] == ("..", ".."):  # beyond the folder next to the repository: a location of this machine
        return f"outside:{p.name}"
    return rel


def save_result(result: dict, out: str | os.PathLike | None, default_name: str) -> Path:
    """Stamp ``result`` with the machine, the package versions and the git commit, and write it
    atomically to ``out`` (default: ``benchmarks/results/<default_name>``)."""
    from bilevel.io import write_json_atomic
    from bilevel.rundir import git_commit, machine_description, package_versions

    path = Path(out) if out else RESULTS / default_name
    write_json_atomic(path, {**result, "machine": machine_description(), "versions": package_versions(),
                             "git_commit": git_commit()})
    logging.getLogger("benchmarks").info("written %s", path)
    return path


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per call of each function, called round-robin ``repeats`` times after a warm-up."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            synchronize(device)
            t0 = time.perf_counter()
            f()
            synchronize(device)
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def measured_peaks(device: torch.device, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """FLOP/s of a large matrix product and bytes/s of a large copy on ``device``."""
    n = 2048 if device.type == "cpu" else 8192
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    t = interleaved({"mm": lambda: a @ b}, 3 if device.type == "cpu" else 10, device)["mm"]
    flops = 2.0 * n**3 / t
    numel = (64 if device.type == "cpu" else 512) * 2**20 // 4
    x = torch.empty(numel, dtype=torch.float32, device=device).fill_(1.0)
    y = torch.empty_like(x)
    tc = interleaved({"copy": lambda: y.copy_(x)}, 5 if device.type == "cpu" else 20, device)["copy"]
    return {"flops_per_s": flops, "bytes_per_s": 2.0 * x.numel() * 4 / tc, "matmul_n": n, "copy_bytes": x.numel() * 4}


def foe_work(height: int, width: int, channels: int = 3, experts: int = 10, kernel: int = 7,
             itemsize: int = 4) -> dict[str, dict[str, float]]:
    """FLOPs and bytes one image-iteration must move, for a gradient and a Hessian-vector product.

    FLOPs: the correlation and the transposed correlation, ``2 H W J C k^2`` each, plus about
    ``8 J H W`` element-wise. Bytes: ``minimal`` = read the image, write the result (a fully fused
    kernel); ``unfused`` = what separate conv / element-wise / padding passes move (as implemented).
    """
    px = height * width
    conv = 2.0 * px * experts * channels * kernel**2
    img = px * channels * itemsize
    feat = px * experts * itemsize
    padded = (height + kernel - 1) * (width + kernel - 1) * channels * itemsize
    grad_unfused = padded + img + feat + 2 * feat + feat + padded + padded + img
    hvp_unfused = grad_unfused + feat  # plus reading the cached curvature weights
    return {
        "gradient": {"flops": 2 * conv + 8.0 * experts * px, "bytes_minimal": 2.0 * img, "bytes_unfused": float(grad_unfused)},
        "hvp": {"flops": 2 * conv + 2.0 * experts * px, "bytes_minimal": 3.0 * img + feat, "bytes_unfused": float(hvp_unfused)},
    }


def roofline(work: dict[str, float], peaks: dict[str, float], seconds_per_image_iteration: float) -> dict[str, float]:
    """Achieved fractions of the measured compute peak, bandwidth peak, and the roofline bound."""
    t_flops = work["flops"] / peaks["flops_per_s"]
    t_bytes = work["bytes_minimal"] / peaks["bytes_per_s"]
    return {
        "achieved_flops_per_s": work["flops"] / seconds_per_image_iteration,
        "fraction_of_flops_peak": t_flops / seconds_per_image_iteration,
        "fraction_of_bandwidth_bound": t_bytes / seconds_per_image_iteration,
        "fraction_of_roofline": max(t_flops, t_bytes) / seconds_per_image_iteration,
        "bound": "compute" if t_flops >= t_bytes else "memory",
    }
