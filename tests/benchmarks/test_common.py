"""Helpers shared by the benchmark scripts (paths stored in committed results)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.common import ROOT, portable_path


def test_portable_path_is_relative_to_the_repository() -> None:
    assert portable_path(str(ROOT.parent / "shared" / "data" / "CBSD68")) == os.path.join("..", "shared", "data", "CBSD68")
    assert portable_path("embedded") == "embedded"
    assert portable_path("stl10:/somewhere/stl10") == "stl10:/somewhere/stl10"
    # a run outside the repository and its sibling folders names no location of this machine
    far = ROOT.parent.parent / "elsewhere" / "runs" / "ridge"
    assert portable_path(str(far)) == "outside:ridge"


def test_portable_path_keeps_a_linked_folder_as_named(tmp_path: Path) -> None:
    """A data folder reached through a symbolic link is stored by the link's path, not its target's."""
    target = tmp_path / "elsewhere" / "photos"
    target.mkdir(parents=True)
    link = ROOT / f".tmp-link-{os.getpid()}"
    try:
        link.symlink_to(target, target_is_directory=True)
    except OSError as exc:  # pragma: no cover - file systems without symbolic links
        pytest.skip(f"cannot create a symbolic link here: {exc}")
    try:
        assert portable_path(str(link)) == link.name
        assert portable_path(str(link / "a.png")) == os.path.join(link.name, "a.png")
    finally:
        link.unlink()


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_committed_results_name_the_shared_photographs_beside_the_repository() -> None:
    """Every committed result names the photographs as ``../shared/data/<name>`` (the layout the README
    describes), never by an absolute path or a path through some other folder."""
    import json

    files = sorted((ROOT / "benchmarks" / "results").glob("*.json")) + sorted((ROOT / "results").rglob("*.json"))
    assert files, "no committed results found"
    bad = []
    for f in files:
        for s in _strings(json.loads(f.read_text())):
            i = s.find("shared/data/")
            if i >= 0 and not s.startswith("../shared/data/") and "://" not in s:
                bad.append(f"{f.relative_to(ROOT)}: {s[:120]}")
    assert not bad, "\n".join(bad[:20])


def test_committed_results_name_no_location_of_one_machine() -> None:
    """Committed results (benchmarks/results, results/) point to nothing outside the repository and its
    sibling folders: no absolute home or temporary paths, no relative path climbing past ``..``."""
    import re

    bad = re.compile(r'(?<![\w.])(/tmp/|/home/|/root/|/work/|/Users/|[A-Z]:\\\\)|"(\.\./){2,}')
    import subprocess

    folders = ("benchmarks/results", "results")
    listed = subprocess.run(["git", "ls-files", "--", *folders], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():  # what is committed, not ignored local runs
        candidates = [ROOT / line for line in listed.stdout.splitlines()]
    else:  # not a git checkout: every file, less the folders .gitignore keeps out
        ignored = [ROOT / "benchmarks" / "results" / name for name in ("runs", "tmp")]
        candidates = [p for folder in folders for p in (ROOT / folder).rglob("*")
                      if not any(p.is_relative_to(d) for d in ignored)]
    files = [p for p in candidates if p.suffix in (".json", ".csv", ".md") and p.is_file()]
    assert files
    offending = {str(p.relative_to(ROOT)): m.group(0) for p in files if (m := bad.search(p.read_text()))}
    assert not offending, offending
