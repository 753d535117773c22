"""Files of the verification engine: atomic writes and the run directory of ``isgd verify``.

Torch-free on purpose (the engine must import without :mod:`torch`). Every file is written to a
temporary file in the target folder, flushed, then renamed over the target, so a crash or a bad
input never leaves a half-written result.

A verification run directory holds::

    config.json     what was asked (claims, budget, time limit, seed)
    meta.json       seed, git commit, package versions, command line, machine, start time
    results.json    everything the search found
    report.md       the report
    witnesses/      one re-checkable witness file per mechanism and violated reading
    figures/        bound versus observed for witnesses, an overview
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

logger = logging.getLogger(__name__)

__all__ = [
    "write_bytes_atomic",
    "write_text_atomic",
    "write_json_atomic",
    "create_run_directory",
    "git_commit",
    "package_versions",
    "TRACKED_PACKAGES",
]

TRACKED_PACKAGES = ("numpy", "scipy", "sympy", "matplotlib", "isgd-toolkit")
"""Packages whose versions are recorded in ``meta.json`` (the engine needs no others)."""


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file next to ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Atomic UTF-8 text write (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _jsonable(x: Any) -> Any:
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot serialize {type(x).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Atomic JSON write (indented, sorted keys; Fractions as ``"p/q"``)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The commit of the source tree (``-dirty`` appended when tracked files changed), or ``None`` outside git."""
    here = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Python and package versions (``None`` for a package that is not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def create_run_directory(path: str | os.PathLike, config: dict[str, Any], seed: int) -> Path:
    """Create a fresh run directory with ``config.json`` and ``meta.json``.

    Raises
    ------
    ValueError
        If ``path`` already holds a run (a ``config.json``): choose another ``--out``; results already
        there are never overwritten.
    """
    path = Path(path)
    if (path / "config.json").exists():
        raise ValueError(f"run directory {path} already holds a run; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path / "config.json", config)
    write_json_atomic(path / "meta.json", {
        "seed": seed,
        "git_commit": git_commit(),
        "versions": package_versions(),
        "argv": list(sys.argv),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    return path
