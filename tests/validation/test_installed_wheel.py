"""The toolkit as a researcher installs it: the built wheel in a fresh virtual environment that sees
only the wheel's declared dependencies (linked offline from this environment), never the source tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Every package of the source tree that the wheel must hold (tests stay out).
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")
RUNTIME = {"numpy", "scipy", "sympy", "torch", "scikit-image", "matplotlib", "tqdm", "pillow", "pandas", "hypothesis"}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (the checkout gets no build/ folder)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES + ["tests"]:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "results"))
    dist = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                        "-w", str(dist), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (whl,) = dist.glob("isgd_toolkit-*.whl")
    return whl


def _metadata(whl: Path):
    with zipfile.ZipFile(whl) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode())


def test_wheel_holds_every_package_and_declares_its_dependencies(wheel):
    assert {"benchmarks", "paper_figures", "bilevel", "theory", "validation"} <= set(PACKAGES)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            assert f.relative_to(ROOT).as_posix() in names, f"{f.relative_to(ROOT)} is not in the wheel"
    for f in (ROOT / "benchmarks" / "configs").glob("*.json"):  # the benchmarks' training configs
        assert f.relative_to(ROOT).as_posix() in names, f"{f.relative_to(ROOT)} is not in the wheel"
    assert not any(n.startswith("tests/") for n in names)
    assert "isgd = validation.cli:main" in entry_points
    meta = _metadata(wheel)
    required = {}
    for line in meta.get_all("Requires-Dist"):
        name, _, marker = line.partition(";")
        required.setdefault(marker.strip(), set()).add(_canonical(name.split(">")[0].split("=")[0].split("<")[0].strip()))
    assert RUNTIME <= required[""]
    assert "submitit" in required['extra == "dist"'] and "submitit" not in required[""]
    assert not {"torchvision", "deepinv"} & required[""]


def _closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The distributions (of this environment) that the requirements need, transitively; extras left out."""
    from packaging.requirements import Requirement

    todo = [Requirement(r) for r in requirements]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if _canonical(req.name) in found:
            continue
        dist = metadata.distribution(req.name)
        found[_canonical(req.name)] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return found


def _declared_site(whl: Path, folder: Path) -> Path:
    """A folder holding links to exactly the installed files of the wheel's declared dependencies."""
    folder.mkdir()
    requirements = [r for r in _metadata(whl).get_all("Requires-Dist") if "extra ==" not in r]
    for dist in _closure(requirements).values():
        tops = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] not in ("..", "__pycache__")}
        tops.add(Path(str(dist._path)).name)  # the .dist-info folder
        for top in tops:
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (folder / top).exists():
                (folder / top).symlink_to(target)
    return folder


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory):
    """A fresh virtual environment with the wheel installed (--no-deps) and the declared dependencies
    linked in; returns a function running a command there (from an empty working directory)."""
    root = tmp_path_factory.mktemp("fresh")
    env_dir = root / "env"
    venv.create(env_dir, with_pip=False, symlinks=True, clear=True)
    py = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    deps = _declared_site(wheel, root / "declared")
    (site / "declared_dependencies.pth").write_text(f"{deps}\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}", OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1",
               MPLBACKEND="Agg")

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], cwd=work, env=env, capture_output=True, text=True, timeout=timeout)

    run.site, run.work, run.bin = site, work, env_dir / "bin"
    return run


def test_fresh_environment_runs_isgd_from_the_wheel(fresh):
    version = fresh("isgd", "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"isgd {metadata.version('isgd-toolkit')}"
    helped = fresh("isgd", "--help")
    assert helped.returncode == 0
    for command in ("demo", "train", "verify", "figures", "bench", "runs", "denoise", "filters", "export", "sweep"):
        assert command in helped.stdout
    # every module imports from the installed packages alone (hypothesis, pandas: declared)
    probe = ("import importlib, json, pkgutil, sys\n"
             f"names = {PACKAGES!r}\n"
             "mods = {}\n"
             "for n in names:\n"
             "    pkg = importlib.import_module(n)\n"
             "    mods[n] = pkg.__file__\n"
             "    for m in pkgutil.walk_packages(pkg.__path__, n + '.'):\n"
             "        if not m.name.endswith('__main__'):\n"
             "            mods[m.name] = importlib.import_module(m.name).__file__\n"
             "print(json.dumps(mods))\n")
    r = fresh(fresh.bin / "python", "-c", probe)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)
    assert {"benchmarks.bench_core", "paper_figures.fig1_isgd_steps", "validation.engine.search"} <= set(files)
    assert all(Path(f).is_relative_to(fresh.site) for f in files.values()), files
    listed = fresh("isgd", "bench", "--list")
    assert listed.returncode == 0 and "core" in listed.stdout
    assert fresh("isgd", "bench", "core", "--help").returncode == 0
    assert "reference" in listed.stdout and "--processes" in fresh("isgd", "bench", "reference", "--help").stdout
    assert "rerun" in listed.stdout and "--data-dir" in fresh("isgd", "bench", "rerun", "--help").stdout
    # the [dist] extra is not installed: sweeps on processes say what to install
    (fresh.work / "s.json").write_text(json.dumps({"base": {"budget": 50}, "grid": {"seed": [0]}, "out": "sw"}))
    swept = fresh("isgd", "-q", "sweep", "s.json")
    assert swept.returncode == 2 and "pip install 'isgd-toolkit[dist]'" in swept.stderr
    assert "Traceback" not in swept.stderr and not (fresh.work / "sw").exists()


@pytest.mark.slow
def test_fresh_environment_commands_end_to_end(fresh, tmp_path):
    import numpy as np
    from PIL import Image

    from test_validation_figures import synthetic_results

    def ok(*args, timeout=900):
        r = fresh(*args, timeout=timeout)
        assert r.returncode == 0, (args, r.stderr[-3000:])
        assert "Traceback" not in r.stderr
        return r

    ok("isgd", "-q", "verify", "--quick", "--out", "verify")
    assert "Theorem 1" in (fresh.work / "verify" / "report.md").read_text()
    stored = synthetic_results(tmp_path / "figs")
    ok("isgd", "-q", "figures", "--scale", "tiny", "--draw-only", "--only", "fig1", "--out", stored)
    assert (stored / "figures" / "fig1_isgd_steps.png").stat().st_size > 1000
    assert "(not drawn" not in (stored / "figures.md").read_text().split("## Fig. 2")[0]
    # the estimate from a costs file: the wheel carries no committed benchmark results, so it says that the
    # idle hours are unknown instead of failing
    kinds = {k: {"units_per_computation": 1.0, "units_per_image_evaluation": 5.0, "runs": []}
             for k in ("denoising/isgd/float32", "denoising/maid/float32", "deblurring/isgd/float32",
                       "deblurring/maid/float64", "denoising/isgd/float64")}
    (fresh.work / "costs.json").write_text(json.dumps({"kinds": kinds, "reference_seconds_mean": 8e-3,
                                                       "bound_units_per_image_iterate": 10.0, "artifact_units": 0.0}))
    est = ok("isgd", "figures", "--scale", "tiny", "--estimate", "--costs", "costs.json", "--out", "est")
    assert "total:" in est.stdout and "no idle unit" in est.stdout
    assert json.loads((fresh.work / "est" / "estimate.json").read_text())["total_units"] > 0
    tiny = ["--crop", "24", "--train-count", "4", "--test-count", "1", "--batch-size", "2", "--budget", "150",
            "--eval-every", "150"]
    ok("isgd", "-q", "train", *tiny, "--out", "runs/a")
    ok("isgd", "-q", "train", *tiny, "--alpha0", "3e-3", "--out", "runs/b")
    ok("isgd", "runs", "runs", "--out", "cmp")
    assert (fresh.work / "cmp" / "psnr_vs_computations.png").exists()
    img = (np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)
    Image.fromarray(img).save(fresh.work / "photo.png")
    ok("isgd", "-q", "denoise", "photo.png", "--theta", "runs/a", "--sigma", "0.1", "--out", "restored")
    assert (fresh.work / "restored" / "photo_denoised.png").exists()
    ok("isgd", "-q", "filters", "runs/a/regularizer.json", "--out", "filters")
    assert (fresh.work / "filters" / "potentials.png").exists()
    ok("isgd", "-q", "train", *tiny, "--regularizer", "ridge", "--filters", "8", "--kernel-size", "3", "--atom-sign",
       "subtract", "--init-rest", "0.05", "--out", "ridge/r")
    assert json.loads((fresh.work / "ridge" / "r" / "config.json").read_text())["atom_sign"] == "subtract"
    ok("isgd", "-q", "filters", "ridge/r", "--out", "ridge-filters")
    assert (fresh.work / "ridge-filters" / "filters.png").stat().st_size > 1000
