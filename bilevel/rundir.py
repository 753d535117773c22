"""Run directories: every result lives next to the config, seed, commit and versions that made it.

Layout of a run directory::

    config.json        the full configuration (what to rerun)
    meta.json          seed, git commit, package versions, command line, machine, start time, resumes
    data.json          the data it learns from: absolute paths, file names and sizes, SHA-256 of the crops
    metrics.csv        one row per iteration, appended as it happens (whole rows)
    evaluations.csv    one row per evaluation
    checkpoints/       checkpoints, written atomically (temp file + rename)
    figures/           plots
    ...                anything else a job writes (summary.json, regularizer.json, report.md)

Writes never go through a half-written file: a crash or a bad input leaves what was written before
intact. Files are created with the permissions the umask allows (``0o666 & ~umask``). Every CSV
file is read back with :func:`bilevel.tables.read_table`.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .io import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

TRACKED_PACKAGES = ("torch", "numpy", "scipy", "sympy", "scikit-image", "matplotlib", "isgd-toolkit")


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current commit of the source tree (with ``-dirty`` if it has changes), or ``None``."""
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
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str | None:
    """The CPU's model name (Linux: ``model name`` of ``cpuinfo``), or ``None`` where it is not known.
    Timings from different machines are only comparable when this says they ran on the same kind."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model"):
                    return value.strip() or None
    except OSError:
        return None
    return None


def machine_description() -> dict[str, Any]:
    desc: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpu_model": cpu_model(), "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")  # described when the job uses it; never imported here
    if torch is not None:
        desc["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            desc["cuda_device"] = torch.cuda.get_device_name(0)
    return desc


@dataclass
class RunDirectory:
    """A run directory (see the module docstring). Create with :meth:`create` or :meth:`open`."""

    path: Path

    @classmethod
    def create(cls, path: str | os.PathLike, config: dict, seed: int, *, exist_ok: bool = False,
               argv: list[str] | None = None, defaults: dict | None = None) -> "RunDirectory":
        """Create ``path`` and write ``config.json`` and ``meta.json``.

        Refuses to reuse a directory that already holds a ``config.json`` unless ``exist_ok``
        (then the stored config must equal ``config``: resume the run, don't mix two). A key of
        ``config`` missing from the stored config (a run written before the option existed)
        counts as equal when its value is the one in ``defaults``.
        """
        path = Path(path)
        cfg_file = path / "config.json"
        if cfg_file.exists():
            if not exist_ok:
                raise ValueError(f"run directory {path} already holds a run; choose another --out or pass --resume")
            stored = json.loads(cfg_file.read_text())
            for key, value in (defaults or {}).items():
                if key in config and key not in stored:
                    stored[key] = value
            if _normalize(stored) != _normalize(config):
                diff = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
                raise ValueError(f"run directory {path} holds a run with a different config (keys {diff}); "
                                 "use another --out")
            return cls(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cfg_file, config)
        write_json_atomic(path / "meta.json", {
            "seed": seed,
            "git_commit": git_commit(),
            "versions": package_versions(),
            "argv": list(sys.argv if argv is None else argv),
            "machine": machine_description(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDirectory":
        path = Path(path)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
        return cls(path)

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    @property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text())

    def file(self, *parts: str) -> Path:
        p = self.path.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        return write_json_atomic(self.file(name), obj)

    def write_text(self, name: str, text: str) -> Path:
        return write_text_atomic(self.file(name), text)

    def read_json(self, name: str) -> Any:
        """A JSON file of the run directory, ``None`` if it does not exist."""
        p = self.path / name
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{p} is not valid JSON ({exc}); the run directory is damaged") from None

    def write_csv(self, name: str, rows: list[dict]) -> Path:
        """Write ``rows`` (dicts; missing keys become empty cells) as CSV, atomically."""
        from .tables import write_table

        return write_table(self.file(name), rows)

    def read_csv(self, name: str):
        """A CSV file of the run directory as a ``pandas.DataFrame`` (empty if it does not exist)."""
        from .tables import read_table

        p = self.path / name
        if not p.exists():
            import pandas as pd

            return pd.DataFrame()
        return read_table(p)


def check_writable_directory(path: str | os.PathLike, what: str = "the output directory") -> None:
    """Refuse, before anything is computed or written, an output directory that is a file, lies
    below a file, or cannot be written (by permissions; a read-only file system shows only when
    writing, with its own one-line error)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file, not a directory; choose a directory")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"{what} {path} lies below {probe}, which is a file; choose a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} {path} cannot be written ({probe} is read-only for this user); choose a "
                              "writable location")


def check_writable_file(path: str | os.PathLike, what: str = "the output file") -> None:
    """Refuse, before anything is computed, an output file that is a directory or cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a directory; name a file (e.g. {path / 'rows.json'})")
    check_writable_directory(path.parent if str(path.parent) else Path("."), f"the folder of {what}")


def data_fingerprint(source: str, split: str, size: int, count: int | None, sha256: str | None,
                     n_crops: int) -> dict[str, Any]:
    """What a run learns from: the source as given, its kind, its absolute path and ``load_as`` (a
    source string that reads the same images from any working directory), the image files with
    their sizes, and the number and SHA-256 of the crops actually used."""
    from .datasets import IMAGE_EXTENSIONS, PETS_EXTENSIONS, describe_source, image_files, pets_folder

    rec = describe_source(source, size, count, split)
    kind, path = rec["kind"], rec.get("path")
    rec["load_as"] = "embedded" if kind == "embedded" else f"{kind}:{path}"
    if kind == "folder":
        files = image_files(path, IMAGE_EXTENSIONS)
    elif kind == "pets":
        files = image_files(pets_folder(path), PETS_EXTENSIONS)
    elif kind == "stl10":
        files = [Path(rec["file"])]
    else:
        files = []
        rec["versions"] = package_versions(("scikit-image",))
    rec["files"] = [[f.name, f.stat().st_size] for f in files]
    rec["n_crops"] = int(n_crops)
    rec["sha256"] = sha256
    return rec


def _normalize(cfg: Any) -> Any:
    return json.loads(json.dumps(cfg, sort_keys=True, default=str))
