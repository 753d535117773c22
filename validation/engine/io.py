"""Files of the verification engine: atomic writes and the run directory of ``isgd verify``.

Torch-free on purpose (the engine must import without :mod:`torch`): the writers are those of
:mod:`bilevel.io` and :mod:`bilevel.rundir`, which import nothing of torch (the ``bilevel`` package
loads its torch modules only on first use). Every file is written to a temporary file in the target
folder, flushed, then renamed over the target, so a crash or a bad input never leaves a half-written
result.

A verification run directory holds::

    config.json     what was asked (claims, budget, time limit, seed)
    meta.json       seed, git commit, package versions, command line, machine, start time
    results.json    everything the search found
    report.md       the report
    witnesses/      one re-checkable witness file per mechanism and violated reading
    figures/        bound versus observed for witnesses, an overview
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from bilevel.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from bilevel.rundir import RunDirectory, git_commit
from bilevel.rundir import package_versions as _package_versions

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


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Python and package versions (``None`` for a package that is not installed)."""
    return _package_versions(names)


def create_run_directory(path: str | os.PathLike, config: dict[str, Any], seed: int) -> Path:
    """Create a fresh run directory with ``config.json`` and ``meta.json`` (seed, git commit,
    versions, command line, machine, start time; :class:`bilevel.rundir.RunDirectory`).

    Raises
    ------
    ValueError
        If ``path`` already holds a run (a ``config.json``): choose another ``--out``; results already
        there are never overwritten.
    """
    path = Path(path)
    if (path / "config.json").exists():
        raise ValueError(f"run directory {path} already holds a run; choose another --out")
    return RunDirectory.create(path, config, seed).path
