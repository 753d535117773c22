"""Atomic file writes: results already written are never corrupted by a crash or bad input.

Every file is first written to a temporary file in the target folder, flushed to disk and then
renamed over the target. Files are created with the permissions ``0o666`` minus the process umask
(like ``open(path, "w")``), so shared results are readable by colleagues when the umask says so.
Torch-free: the verification engine writes its files with it.
"""
from __future__ import annotations

import json
import os
import secrets
import sys
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator


def _temporary_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that needs a file name (e.g. matplotlib);
    rename it over ``path`` when the block succeeds, remove it when it fails.

    The temporary file is created empty with mode ``0o666 & ~umask`` before it is yielded.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file in the target folder, fsync it, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
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
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one complete line to ``path`` with a single ``write`` on a file opened for appending,
    so a reader (or a killed writer) sees either the whole line or none of it."""
    data = (line if line.endswith("\n") else line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - only on a full disk
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes (disk full?)")
    finally:
        os.close(fd)


def _jsonable(x: Any) -> Any:
    """JSON form of what ``json`` cannot write: arrays and tensors as lists, torch dtypes by name,
    paths as strings, exact fractions as ``"p/q"``. Never imports torch (a tensor exists only if
    torch is already loaded)."""
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.dtype):
        return str(x)
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot serialize {type(x).__name__} to JSON")
