r"""``isgd figures``: run the experiments behind the paper's figures, draw them, and judge its claims.

The paper's Section 3 (Figs. 1-5) and Theorem 1, at several scales:

* ``paper`` (the paper's sizes on a 2-core CPU, four to five hours; see :data:`SCALES` and README):
  denoising on every 96x96 crop of the training photographs (CBSD68: 1020 of the paper's 1024),
  sigma = 25/255, the paper's budget of 2e5 computations (Fig. 3's last milestone) for every run,
  Fig. 1's grid alpha0 in 1e-3 ... 1e-6 with the constant and the decreasing step, and MAID with both
  error oracles, every configuration on 3 seeds; test crops from McMaster. Deblurring on 256x256
  crops with a 7x7 Gaussian blur (sigma 2): ISGD on every training photograph, MAID (estimated
  oracle, float32) on 1/6 of them (the paper's ratio), tested on photographs held out by file (never
  used for training). The bound check on 5 seeds of a 96x96, m = 64 problem. Runs execute two at a time
  through the sweep machinery (:func:`bilevel.sweep.execute`, submitit's local executor), one torch
  thread each; every run is a run directory that resumes where it stopped.
* ``paper-sample``: the paper scale's sizes and data with tiny budgets (one run of each kind), to
  check the whole pipeline end to end and measure the per-computation costs behind the paper
  scale's time estimate (:mod:`validation.experiments.evidence`).
* ``quick`` (CPU, embedded photographs, a few minutes on two cores): FoE denoising on 32 crops of
  48x48, budgets 1/50 of the paper's (Fig. 3's milestones 1e4, 5e4, 1e5, 2e5 become 200, 1000,
  2000, 4000 computations) and at most 800 iterations per run; deblurring on 48x48 crops, ISGD on 24
  crops and MAID on 4 (the paper's 1/6); the bound check on 3 seeds of a 32x32, m = 8 problem in
  float64. One seed per configuration: every verdict that needs an interval is inconclusive.
* ``full`` (GPU): the paper scale's plan with the paper's larger budgets and data sets (1024
  denoising crops for 4e5 computations, 1536 deblurring crops for 1.5e6).
* ``tiny`` (a seconds-long smoke test of the whole pipeline, for the tests; two seeds).

Step sizes are the paper's values (alpha0 in 1e-3 ... 1e-6 for Fig. 1; MAID alpha0 = 1e-3) on this
toolkit's loss ``g_i = ||x - x*_i||^2``, except deblurring ISGD: the paper's alpha0 = 1e-4 (decreasing
step) barely moves the regularizer on this loss (+0.03 dB test PSNR in 6e3 computations at the quick
scale), so ISGD deblurring uses alpha0 = 1e-3 (1e-2 already oscillates). MAID's deblurring runs are in
float64: its acceptance test needs accuracies near 1e-6 with the deblurring modulus ``mu = 1e-2``,
below the float32 precision floor.

Flow: the experiment set of a scale (:func:`experiment_set`) -> training runs into
``OUT/runs/<name>`` (finished runs are skipped, unfinished ones resume; ``stats.json`` and ``job.json``
beside each) -> artifacts (Fig. 3's images at the milestones for every seed, Fig. 5's reconstructions
and every held-out test image's PSNR) -> the FoE bound check
(:func:`validation.experiments.foe_bound.analyze_runs`) -> every figure script of ``paper_figures/``
draws from the stored results -> ``figures.md`` with the paper's claims, computed verdicts with their
scale, seeds and intervals, and the paper's numbers beside ours -> optionally ``--export DIR``: the
small folder meant for committing (:func:`validation.experiments.evidence.export_results`).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import math
import os
import resource
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np
import torch

from bilevel.data import embedded_crops, psnr
from bilevel.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from bilevel.main_job import format_maid_breakdown, maid_breakdown
from bilevel.rundir import RunDirectory, git_commit
from bilevel.runner import load_iterates
from bilevel.solvers import solve_lower_mixed
from bilevel.train import TrainConfig, config_differences, load_data, resolve_device, train

from . import paper_results as pr
from .foe_bound import FoEBoundResult, analyze_runs, write_bound_results

log = logging.getLogger(__name__)

__all__ = [
    "Experiment",
    "FIGURE_KEYS",
    "FiguresResult",
    "PAPER_ALPHAS",
    "PAPER_MILESTONES",
    "SCALES",
    "Scale",
    "add_bound_arguments",
    "add_figures_arguments",
    "draw_figures",
    "experiment_set",
    "holdout_split",
    "load_figure_script",
    "run_bound_command",
    "run_figures",
    "run_figures_command",
]

#: The paper's Fig. 1 step sizes alpha0 (constant and decreasing alpha0/sqrt(k)).
PAPER_ALPHAS = (1e-3, 1e-4, 1e-5, 1e-6)
#: Fig. 3's computation milestones.
PAPER_MILESTONES = (10_000, 50_000, 100_000, 200_000)
#: "within 2 x 10^5 computations" (Section 3.1).
PAPER_CLAIM_COMPUTATIONS = 200_000
#: ISGD variants of Fig. 2 (the ones the text discusses): (step schedule, alpha0).
FIG2_VARIANTS = (("constant", 1e-4), ("constant", 1e-5), ("inverse_sqrt", 1e-3), ("inverse_sqrt", 1e-4))
#: Figure keys in drawing order (``--only``).
FIGURE_KEYS = ("fig1", "fig2", "fig3", "fig4", "fig5", "bound", "constants")
#: The figure scripts (modules of the :mod:`paper_figures` package).
FIGURE_SCRIPTS = {k: f"{pr.FIGURES[k].stem}.py" for k in FIGURE_KEYS}
#: Accuracy of the reconstructions shown in Figs. 3 and 5 (float64).
IMAGE_EPS = 1e-3
#: Seed of the split of a folder's photographs into deblurring training and held-out test images.
SPLIT_SEED = 0


@dataclass(frozen=True)
class Scale:
    """Sizes, budgets and seeds of one scale (see the module docstring).

    ``factor`` is the ratio of this scale's denoising budget to the paper's 2e5 computations of Fig.
    3; Fig. 3's milestones and the "2e5 computations" of the claims are multiplied by it. ``denoise``,
    ``deblur`` and ``bound`` are :class:`~bilevel.train.TrainConfig` fields shared by the runs of each
    group. ``seeds`` is the number of seeds of every denoising configuration (Figs. 1-3);
    ``maid_errors`` the MAID error oracles of Figs. 2-3. ``deblur_holdout`` > 0 holds that many
    photographs of the training folder out (by file) as the deblurring test set. ``max_iterations``
    stops a training run after that many iterations even if its budget is not spent. ``parallel``
    runs execute at a time (more than one: through the sweep machinery, with ``threads`` torch
    threads each). ``clean_tree``: refuse to run from a source tree with uncommitted changes (the
    results are meant for committing). ``needs_data``: the scale needs ``--data-dir`` and
    ``--test-data-dir`` (real photographs). ``prune_checkpoints``: delete the checkpoints of finished
    runs (hundreds of MB each). ``reference``: every run also measures the reference unit of the cost
    model (:func:`validation.experiments.evidence.reference_unit_seconds`, a few seconds) in its process.
    """

    name: str
    summary: str
    factor: float
    denoise: dict
    alphas: tuple[float, ...]
    maid: dict
    deblur: dict
    deblur_isgd: dict
    deblur_maid: tuple[tuple[str, dict], ...]
    bound: dict
    bound_seeds: int
    bound_iterates: int
    max_iterations: int | None = None
    tight_accuracy: float = 1e-6
    seeds: int = 1
    maid_errors: tuple[str, ...] = ("certified",)
    deblur_holdout: int = 0
    parallel: int = 1
    threads: int | None = None
    clean_tree: bool = False
    needs_data: bool = False
    prune_checkpoints: bool = False
    reference: bool = False

    @property
    def milestones(self) -> tuple[int, ...]:
        return tuple(max(1, int(round(m * self.factor))) for m in PAPER_MILESTONES)

    @property
    def claim_computations(self) -> int:
        return max(1, int(round(PAPER_CLAIM_COMPUTATIONS * self.factor)))

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(milestones=list(self.milestones), claim_computations=self.claim_computations,
                 paper_milestones=list(PAPER_MILESTONES), paper_claim_computations=PAPER_CLAIM_COMPUTATIONS,
                 eval_every=self.denoise.get("eval_every"))
        return d


_MAID = dict(method="maid", alpha0=1e-3, eps0=1e-1)
_MAID_DEBLUR = dict(method="maid", alpha0=1e-3, dtype="float64")
# At the paper's 256x256 deblurring crops a float64 MAID computation costs about 2.4x a float32 one
# (measured on this 2-core CPU: 1e5 computations would take 2.5 h per run). With the estimated
# oracle MAID keeps eps near its start (no gradient refused), where float32 follows the float64
# trajectory (same iterations, same accepted steps, measured on 128x128 crops), so the paper scale
# runs it in float32; its cost is the budget, whatever m, so one MAID run (the paper's 1/6) fits.
_MAID_DEBLUR_PAPER = dict(_MAID_DEBLUR, dtype="float32")
_BOTH = ("certified", "estimated")

# The paper scale (sized from measured costs; `isgd figures --scale paper --estimate` prints the plan's
# time per run): every denoising run 2e5 computations (the paper's Fig. 3 horizon and the "2e5" of its
# claims), mini-batches of 8, evaluations every 1e4 computations (Fig. 3's milestones) on the first 64
# training crops (64 of the 68 photographs appear among them; every method sees the same crops and
# noise) and 16 McMaster test crops, at certified accuracy 1e-2 (a PSNR error below 1e-3 dB); no
# certified bound for ISGD (logged only, 15-20 % of an iteration). Deblurring evaluations (a 256x256
# solve costs hundreds of iterations) every 2e4 computations on the held-out test photographs and 4
# training crops (the deblurring claims are about test PSNR).
_PAPER_DENOISE = dict(task="denoising", crop=96, train_count=1024, test_count=16, batch_size=8, budget=200_000,
                      eval_every=10_000, eval_train_count=64, eval_eps=1e-2, iterates_every=5, checkpoint_every=100,
                      chunk_size=64, certify=False)
_PAPER_DEBLUR = dict(task="deblurring", crop=256, test_count=32, budget=100_000, eval_every=20_000, eval_eps=3e-2,
                     eval_train_count=4, chunk_size=16, checkpoint_every=10, certify=False)
_PAPER_BOUND = dict(task="denoising", crop=96, train_count=64, test_count=4, batch_size=8, sampler="with_replacement",
                    step="constant", alpha0=1e-4, budget=20_000, eval_every=20_000, eval_eps=1e-2, dtype="float64",
                    iterates_every=5, certify=False)

SCALES: dict[str, Scale] = {
    "paper": Scale(
        name="paper",
        summary="the paper's sizes on a 2-core CPU: denoising on every 96x96 crop of the training photographs (up to "
                "1024), sigma 25/255, 2e5 computations per run, Fig. 1's grid (alpha0 1e-3 ... 1e-6, constant and "
                "decreasing step) and MAID with both error oracles, 3 seeds each; deblurring on 256x256 crops (7x7 "
                "blur, sigma 2), ISGD on every training photograph, MAID (estimated oracle, float32) on 1/6 of them "
                "as in the paper, 1e5 computations, "
                "test photographs held out by file; bound check on 5 seeds of a 96x96, m = 64 problem in float64",
        factor=1.0,
        denoise=_PAPER_DENOISE,
        alphas=PAPER_ALPHAS,
        maid={**_MAID, "iterates_every": 1, "checkpoint_every": 1},
        deblur=_PAPER_DEBLUR,
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=1536, batch_size=8),
        deblur_maid=(("1/6 of ISGD's images, as in the paper",
                      dict(_MAID_DEBLUR_PAPER, train_count=256, maid_error="estimated", checkpoint_every=1)),),
        bound=_PAPER_BOUND,
        bound_seeds=5,
        bound_iterates=10,
        max_iterations=4_000,
        seeds=3,
        maid_errors=_BOTH,
        deblur_holdout=12,
        parallel=2,
        threads=1,
        clean_tree=True,
        needs_data=True,
        prune_checkpoints=True,
        reference=True,
    ),
    "quick": Scale(
        name="quick",
        summary="CPU, embedded photographs: denoising on 32 crops of 48x48 (mini-batches of 4), 8e3 computations per "
                "run (1/50 of the paper's 4e5), at most 800 iterations, one seed; deblurring on 48x48 crops, ISGD on 24 "
                "and MAID on 4, 6e3 computations; bound check on 3 seeds of a 32x32, m = 8 problem in float64",
        factor=1 / 50,
        denoise=dict(task="denoising", crop=48, train_count=32, test_count=4, batch_size=4, budget=8_000,
                     eval_every=2_000, iterates_every=1, checkpoint_every=100),
        alphas=PAPER_ALPHAS,
        maid=_MAID,
        deblur=dict(task="deblurring", crop=48, test_count=4, budget=6_000, eval_every=1_000, eval_eps=3e-2),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=24, batch_size=4),
        deblur_maid=(("1/6 of ISGD's images, as in the paper", dict(_MAID_DEBLUR, train_count=4)),),
        bound=dict(task="denoising", crop=32, train_count=8, test_count=1, batch_size=2, sampler="with_replacement",
                   step="constant", alpha0=1e-3, budget=8_000, eval_every=8_000, dtype="float64", iterates_every=4),
        bound_seeds=3,
        bound_iterates=15,
        max_iterations=800,
        maid_errors=_BOTH,
    ),
    "full": Scale(
        name="full",
        summary="GPU, the paper's data sizes: denoising on 1024 crops of 96x96 (mini-batches of 8), 4e5 computations "
                "per run, 3 seeds; deblurring on 256x256 crops, ISGD on 1536 (mini-batches of 32), MAID on the first "
                "256 (as in the paper) and on the same 1536, 1.5e6 computations; bound check on 5 seeds of a 96x96, "
                "m = 64 problem",
        factor=1.0,
        denoise=dict(task="denoising", crop=96, train_count=1024, test_count=64, batch_size=8, budget=400_000,
                     eval_every=10_000, iterates_every=5, checkpoint_every=500, chunk_size=128),
        alphas=PAPER_ALPHAS,
        maid={**_MAID, "chunk_size": 128, "iterates_every": 1},
        deblur=dict(task="deblurring", crop=256, test_count=32, budget=1_500_000, eval_every=100_000, eval_eps=3e-2,
                    chunk_size=64),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=1536, batch_size=32),
        deblur_maid=(("1/6 of ISGD's images, as in the paper",
                      dict(_MAID_DEBLUR, train_count=256, maid_error="estimated")),
                     ("the same images as ISGD", dict(_MAID_DEBLUR, train_count=1536, maid_error="estimated"))),
        bound=dict(task="denoising", crop=96, train_count=64, test_count=4, batch_size=8, sampler="with_replacement",
                   step="constant", alpha0=1e-4, budget=60_000, eval_every=60_000, dtype="float64", iterates_every=5),
        bound_seeds=5,
        bound_iterates=25,
        max_iterations=50_000,
        seeds=3,
        maid_errors=_BOTH,
        needs_data=True,
    ),
    "tiny": Scale(
        name="tiny",
        summary="smoke test of the pipeline: 16x16 crops, 4 training images, 150 computations per run, 2 seeds",
        factor=150 / 200_000,
        denoise=dict(task="denoising", crop=16, train_count=4, test_count=1, batch_size=2, budget=150, eval_every=50,
                     iterates_every=1),
        alphas=(1e-3, 1e-4),
        maid=_MAID,
        deblur=dict(task="deblurring", crop=16, test_count=1, budget=150, eval_every=50, eval_eps=3e-2),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=4, batch_size=2),
        deblur_maid=(("", dict(_MAID_DEBLUR, train_count=2)),),
        bound=dict(task="denoising", crop=16, train_count=4, test_count=1, batch_size=2, sampler="with_replacement",
                   step="constant", alpha0=1e-3, budget=150, eval_every=150, dtype="float64", iterates_every=1),
        bound_seeds=2,
        bound_iterates=6,
        seeds=2,
    ),
}


def _sample_scale(paper: Scale) -> Scale:
    """The paper scale's sizes and data with tiny budgets: one run of each kind (see the module docstring)."""
    den = {**paper.denoise, "budget": 6_000, "eval_every": 3_000, "checkpoint_every": 10}
    deb = {**paper.deblur, "budget": 3_000, "eval_every": 1_500, "checkpoint_every": 5}
    return replace(
        paper, name="paper-sample",
        summary="the paper scale's sizes and data with tiny budgets (6e3 computations per denoising run, 3e3 per "
                "deblurring run, 2e3 per bound-check run), one run of each kind: checks the pipeline end to end and "
                "measures the per-computation costs behind the paper scale's time estimate",
        factor=6_000 / PAPER_CLAIM_COMPUTATIONS, denoise=den, alphas=(1e-3, 1e-6), deblur=deb,
        deblur_maid=paper.deblur_maid[:1], maid_errors=paper.maid_errors[:1],
        bound={**paper.bound, "budget": 2_000, "eval_every": 2_000}, bound_seeds=1, bound_iterates=3,
        max_iterations=None, seeds=1, clean_tree=False, prune_checkpoints=False)


SCALES["paper-sample"] = _sample_scale(SCALES["paper"])


@dataclass(frozen=True)
class Experiment:
    """One training run of the figures: folder ``name``, legend ``label``, the figures that use it,
    its role ``spec`` (task, method, step, alpha0, train_count, seed, maid_error) and its configuration."""

    name: str
    label: str
    figures: tuple[str, ...]
    spec: dict
    config: TrainConfig

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "figures": list(self.figures), "spec": self.spec,
                "config": self.config.as_dict()}


def _alpha_text(a: float) -> str:
    return f"{a:.0e}".replace("e-0", "e-")


def _crops_in_files(files: Sequence[Path], size: int) -> int:
    """Number of ``size`` grid crops of image files, from their headers."""
    from PIL import Image

    total = 0
    for f in files:
        with Image.open(f) as img:
            width, height = img.size
        total += (width // size) * (height // size)
    return total


@functools.lru_cache(maxsize=64)
def _available(source: str, split: str, size: int) -> int:
    """Number of ``size`` crops a source holds for ``split``, without decoding the images: grid crops
    of every image of a folder or list (from the image headers), one per image for STL-10 and
    Oxford-IIIT Pet (an upper bound: their loaders say which images are unusable)."""
    if source == "embedded":
        return int(embedded_crops(split, size).shape[0])
    from bilevel.datasets import describe_source, image_files, parse_source, read_image_list

    kind, path = parse_source(source)
    if kind == "folder":
        return _crops_in_files(image_files(path), size)
    if kind == "list":
        return _crops_in_files(read_image_list(path), size)
    return int(describe_source(source, size, split=split)["n_images"])


def _cap(source: str, split: str, size: int, wanted: int, what: str, notes: list[str],
         known: dict[str, int] | None = None) -> int:
    """``wanted``, or the number of crops ``source`` holds if fewer (noted); ``known`` gives the counts
    of sources that do not exist yet (the list files of a split)."""
    try:
        have = (known or {}).get(source)
        have = _available(source, split, size) if have is None else have
    except ValueError as exc:
        raise ValueError(f"cannot cut {size}x{size} {split} crops from {source}: {exc}") from None
    if have >= wanted:
        return wanted
    if have < 1:
        raise ValueError(f"{source} holds no {size}x{size} {split} crops; choose a folder with larger photographs")
    notes.append(f"{what}: {have} crops of {size}x{size} instead of {wanted} (all that {_short(source)} holds)")
    log.info("%s: only %d %s crops of %dx%d in %s (asked for %d); using %d", what, have, split, size, size, source,
             wanted, have)
    return have


def _short(source: str) -> str:
    """A source without machine-specific folders: the folder's or list's name."""
    if source == "embedded":
        return source
    kind, _, rest = source.partition(":")
    if kind == "list" and rest:
        return f"list:{Path(rest).name}"
    return Path(source).name or source


def holdout_split(files: Sequence[str], n_test: int, seed: int = SPLIT_SEED) -> tuple[list[str], list[str]]:
    """Split image file names (sorted by name) into ``(train, test)``: ``n_test`` files drawn with
    :func:`bilevel.datasets.split_indices` (``numpy.random.default_rng(seed)``), both lists in name order.
    The same names and seed always give the same split."""
    from bilevel.datasets import split_indices

    names = sorted(files)
    if len(set(names)) != len(names):
        raise ValueError("file names must be distinct to split by file")
    if not 0 < n_test < len(names):
        raise ValueError(f"cannot hold out {n_test} of {len(names)} photographs; hold out at least one and keep at "
                         "least one for training")
    train_idx, test_idx = split_indices(len(names), n_test, seed)
    return [names[i] for i in train_idx], [names[i] for i in test_idx]


@dataclass(frozen=True)
class Split:
    """The deblurring split of a folder by file: the files, the seed, and the list files the runs read."""

    folder: str
    seed: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    train_list: str
    test_list: str

    def describe(self) -> dict[str, Any]:
        return {"folder": _short(self.folder), "seed": self.seed, "train": list(self.train), "test": list(self.test),
                "train_list": Path(self.train_list).name, "test_list": Path(self.test_list).name,
                "rule": "bilevel.datasets.split_indices over the file names in name order"}

    def write(self) -> None:
        """Write the two list files (absolute paths, one per line), atomically."""
        base = Path(self.folder).expanduser().resolve()
        for names, path in ((self.train, self.train_list), (self.test, self.test_list)):
            write_text_atomic(Path(path), "".join(f"{base / n}\n" for n in names))


def deblurring_split(data_dir: str, n_test: int, split_dir: Path, seed: int = SPLIT_SEED) -> Split:
    """The held-out split of the photographs of folder ``data_dir`` (:func:`holdout_split`)."""
    from bilevel.datasets import image_files

    files = image_files(data_dir)
    train, test = holdout_split([f.name for f in files], n_test, seed)
    split_dir = Path(split_dir).resolve()
    return Split(str(data_dir), seed, tuple(train), tuple(test), str(split_dir / "deblurring-train.txt"),
                 str(split_dir / "deblurring-test.txt"))


def experiment_set(scale: Scale, *, data_dir: str | None = None, test_data_dir: str | None = None,
                   device: str = "auto", seeds: int | None = None, notes: list[str] | None = None,
                   check_data: bool = True, split_dir: str | Path | None = None,
                   splits: dict | None = None) -> list[Experiment]:
    """Every training run of the figures at ``scale`` (names are stable: reruns find stored runs).

    ``data_dir``/``test_data_dir`` are image sources (:func:`bilevel.datasets.load_crops`); without
    ``test_data_dir``, test crops come from the embedded test photographs. ``seeds`` overrides the
    number of bound-check runs. With ``check_data``, crop counts are capped at what the sources hold
    (each cap is appended to ``notes``). With ``scale.deblur_holdout`` and a folder ``data_dir``, the
    deblurring runs train on the folder's photographs minus ``deblur_holdout`` held out by file and
    test on those (list files in ``split_dir``); the :class:`Split` is stored in ``splits["deblurring"]``.
    """
    notes = notes if notes is not None else []
    splits = splits if splits is not None else {}
    train_src = str(data_dir) if data_dir else "embedded"
    test_src = str(test_data_dir) if test_data_dir else ("embedded" if data_dir else None)
    data = {"data": train_src, "test_data": test_src, "device": device}
    n_seeds = scale.bound_seeds if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {n_seeds}")

    known: dict[str, int] = {}

    def counts(base: dict, what: str, train: str = train_src, test: str | None = test_src) -> dict:
        if not check_data:
            return base
        out = dict(base)
        size = int(out["crop"])
        out["train_count"] = _cap(train, "train", size, int(out["train_count"]), f"{what} training set", notes, known)
        out["test_count"] = _cap(test or "embedded", "test", size, int(out["test_count"]), f"{what} test set", notes,
                                 known)
        return out

    den = counts(scale.denoise, "denoising")
    exps: list[Experiment] = []
    for seed in range(scale.seeds):
        for step, step_name in (("constant", "constant step"), ("inverse_sqrt", "decreasing step")):
            for a in scale.alphas:
                figs = ("fig1", "fig3") + (("fig2",) if (step, a) in FIG2_VARIANTS else ())
                cfg = TrainConfig(**{**den, **data, "method": "isgd", "step": step, "alpha0": a, "seed": seed})
                exps.append(Experiment(f"den-isgd-{step}-{a:g}-s{seed}",
                                       f"ISGD {step_name}, alpha0 = {_alpha_text(a)}, seed {seed}", figs,
                                       {"task": "denoising", "method": "isgd", "step": step, "alpha0": a,
                                        "train_count": cfg.train_count, "seed": seed}, cfg))
        for oracle in scale.maid_errors:
            cfg = TrainConfig(**{**den, **data, **scale.maid, "maid_error": oracle, "seed": seed})
            exps.append(Experiment(f"den-maid-{oracle}-s{seed}",
                                   f"MAID ({oracle} error), alpha0 = {_alpha_text(cfg.alpha0)}, seed {seed}",
                                   ("fig2", "fig3"), {"task": "denoising", "method": "maid", "alpha0": cfg.alpha0,
                                                      "train_count": cfg.train_count, "seed": seed,
                                                      "maid_error": oracle}, cfg))
    deb_data = dict(data)
    deb_train, deb_test = train_src, test_src
    if scale.deblur_holdout:
        from bilevel.datasets import parse_source

        if data_dir and parse_source(str(data_dir))[0] == "folder" and check_data:
            split = deblurring_split(str(data_dir), scale.deblur_holdout, Path(split_dir or "splits"))
            splits["deblurring"] = split
            deb_train, deb_test = f"list:{split.train_list}", f"list:{split.test_list}"
            base = Path(str(data_dir)).expanduser()
            size = int(scale.deblur["crop"])
            known[deb_train] = _crops_in_files([base / n for n in split.train], size)
            known[deb_test] = _crops_in_files([base / n for n in split.test], size)
            deb_data.update(data=deb_train, test_data=deb_test)
            notes.append(f"deblurring: {len(split.train)} photographs of {_short(str(data_dir))} for training, "
                         f"{len(split.test)} held out by file for testing (split seed {split.seed}; the files are "
                         "listed in experiments.json)")
        elif check_data:
            raise ValueError(f"the {scale.name} scale holds deblurring test photographs out of the training folder: "
                             "pass --data-dir FOLDER (a folder of photographs, e.g. CBSD68)")
    deb = dict(scale.deblur)
    wanted = int(scale.deblur_isgd["train_count"])

    def deb_counts(base: dict, what: str) -> dict:
        return counts(base, what, deb_train, deb_test)

    cfg = TrainConfig(**{**deb_counts({**deb, **scale.deblur_isgd}, "deblurring (ISGD)"), **deb_data})
    exps.append(Experiment(f"deb-isgd-{cfg.step}-{cfg.alpha0:g}",
                           f"ISGD decreasing step, alpha0 = {_alpha_text(cfg.alpha0)}, m = {cfg.train_count}",
                           ("fig4", "fig5"), {"task": "deblurring", "method": "isgd", "step": cfg.step,
                                              "alpha0": cfg.alpha0, "train_count": cfg.train_count, "seed": cfg.seed},
                           cfg))
    have = cfg.train_count
    for note, changes in scale.deblur_maid:  # (what the training set is, configuration changes)
        m = int(changes["train_count"])
        m = m if have >= wanted else max(1, have * m // wanted)  # keep the ratio when the data are capped
        oracles = (changes["maid_error"],) if "maid_error" in changes else scale.maid_errors
        for oracle in oracles:
            mcfg = TrainConfig(**{**deb, **changes, **deb_data, "train_count": m, "test_count": cfg.test_count,
                                  "maid_error": oracle})
            label = f"MAID ({oracle} error), m = {m}" + (f": {note}" if note else "")
            name = f"deb-maid-{oracle}-m{m}"
            if any(e.name == name for e in exps):  # capped data can merge two MAID runs
                continue
            exps.append(Experiment(name, label, ("fig4", "fig5"),
                                   {"task": "deblurring", "method": "maid", "alpha0": mcfg.alpha0, "train_count": m,
                                    "seed": mcfg.seed, "maid_error": oracle}, mcfg))
    bnd = counts(scale.bound, "bound check")
    for s in range(n_seeds):
        bcfg = TrainConfig(**{**bnd, **data, "seed": s})
        exps.append(Experiment(f"bound-seed{s}", f"ISGD constant step (bound check), seed {s}", ("bound", "constants"),
                               {"task": "denoising", "method": "isgd", "step": "constant", "alpha0": bcfg.alpha0,
                                "train_count": bcfg.train_count, "seed": s}, bcfg))
    if scale.max_iterations is not None:
        exps = [replace(e, config=replace(e.config, max_iterations=scale.max_iterations)) for e in exps]
    names = [e.name for e in exps]
    if len(set(names)) != len(names):
        raise ValueError(f"two experiments share a name: {names}")
    return exps


def sample_experiments(exps: Sequence[Experiment]) -> list[Experiment]:
    """The runs of a ``paper-sample`` plan: its experiment set is already one of each kind."""
    return list(exps)


# ----------------------------------------------------------------------------------------------
# running


_RUNTIME_KEYS = ("device", "progress")


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished child processes (worker processes of the
    bound check's analysis; differences of two readings are what a phase spent)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


class RunLocked(RuntimeError):
    """Another process trains the same run directory."""


def _lock(path: Path):
    """An exclusive lock on ``path`` held until the returned file is closed (or the process dies);
    ``None`` where file locks are not available."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RunLocked(f"{path.parent.parent / path.stem} is being trained by another process (lock {path}); wait "
                        "for it or stop it, then run again") from None
    return fh


def train_job(config: dict, out: str, threads: int | None = None, reference: bool = False) -> dict:
    """One run of the figures (the job the sweep machinery executes): take the run's lock, train or
    resume it with ``threads`` torch threads, and write ``job.json`` (CPU and wall seconds of this
    session plus the recorded earlier ones, threads, load, ``unrecorded_sessions`` where an earlier
    session was killed before it could write its own; with ``reference`` the CPU seconds of the cost model's reference unit
    measured right after the run in the same process) and ``stats.json``
    (:func:`paper_results.run_statistics`) beside it."""
    path = Path(out)
    lock = _lock(path.parent / ".locks" / f"{path.name}.lock")
    try:
        if threads is not None:
            torch.set_num_threads(int(threads))
        cfg = TrainConfig.from_dict(config)
        previous = path / "job.json"
        # progress without a job.json: an earlier session was killed before it could account for itself
        unrecorded = not previous.exists() and (path / "metrics.csv").exists()
        c0, w0 = _cpu_seconds(), time.perf_counter()
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        res = train(cfg, path, resume=True)
        job = {"cpu_seconds": _cpu_seconds() - c0, "wall_seconds": time.perf_counter() - w0,
               "torch_threads": torch.get_num_threads(), "load_at_start": load0,
               "load_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
               "computations": res.summary.get("computations"), "iterations": res.summary.get("iterations"),
               "evaluations": len(res.evaluations),
               "eval_seconds": float(sum(e.get("eval_seconds", 0.0) for e in res.evaluations)),
               "algorithm_wall_time": res.summary.get("algorithm_wall_time")}
        if reference:
            from .evidence import reference_unit_seconds

            job["reference_seconds"] = reference_unit_seconds()
        if previous.exists():  # a resumed run: add the earlier sessions
            old = json.loads(previous.read_text())
            for k in ("cpu_seconds", "wall_seconds"):
                job[k] += float(old.get(k, 0.0))
            job["sessions"] = int(old.get("sessions", 1)) + 1
            unrecorded = unrecorded or bool(old.get("unrecorded_sessions"))
        if unrecorded:
            job["unrecorded_sessions"] = True
        write_json_atomic(previous, job)
        write_stats(path)
        return res.summary
    finally:
        if lock is not None:
            lock.close()


def write_stats(run_path: Path) -> Path:
    """``stats.json`` of a run from its full records (:func:`paper_results.run_statistics`)."""
    stats = pr.run_statistics(pr.read_rows(run_path / "metrics.csv"), pr.read_rows(run_path / "evaluations.csv"))
    return write_json_atomic(run_path / "stats.json", _json_ready(stats))


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def _check_stored(exp: Experiment, root: Path) -> bool:
    """Whether ``exp`` is finished in ``root/runs``; a finished run with another configuration is an error."""
    path = root / "runs" / exp.name
    if not (path / "summary.json").exists():
        return False
    stored = json.loads((path / "config.json").read_text())
    diff = sorted(config_differences(stored, exp.config, ignore=_RUNTIME_KEYS))
    if diff:
        raise ValueError(f"{path} holds a finished run with another configuration (keys {diff}); use another --out "
                         "or delete that run")
    if not (path / "stats.json").exists():
        write_stats(path)
    return True


def run_experiments(todo: Sequence[Experiment], root: Path, parallel: int = 1, threads: int | None = None,
                    reference: bool = False) -> dict[str, str]:
    """Train every experiment of ``todo`` into ``root/runs/<name>``: in this process one after the
    other (``parallel == 1``), else through :func:`bilevel.sweep.execute` (submitit's local executor,
    ``parallel`` processes with ``threads`` torch threads each, longest runs first). Returns the status
    per run; a failed run does not stop the others (its error is logged, a rerun resumes it)."""
    status: dict[str, str] = {}
    if not todo:
        return status
    if parallel <= 1:
        from tqdm.auto import tqdm

        for exp in tqdm(todo, desc="figures runs", unit="run", leave=False, disable=None):
            log.info("%s: training (%s, budget %d computations)", exp.name, exp.label, exp.config.budget)
            summary = train_job(exp.config.as_dict(), str(root / "runs" / exp.name), threads, reference)
            status[exp.name] = "diverged" if summary.get("diverged") else "trained"
        return status
    from bilevel.sweep import SweepRun, execute

    order = sorted(todo, key=lambda e: -_relative_cost(e.config))
    runs = [SweepRun(e.name, dict(e.spec), replace(e.config, progress=False)) for e in order]
    log.info("running %d runs, %d at a time (%s torch thread(s) each), through the local executor", len(runs),
             parallel, threads or "default")
    failures = dict(execute(runs, root, "local", parallel, {"timeout_min": 24 * 60},
                            job=functools.partial(train_job, threads=threads, reference=reference)))
    for e in todo:
        status[e.name] = f"failed: {failures[e.name]}" if e.name in failures else "trained"
    return status


def _relative_cost(cfg: TrainConfig) -> float:
    """A rough relative cost of a run (pixels x budget, float64 twice), to start the longest first."""
    side = cfg.crop_size
    return side * side * cfg.budget * (2.0 if cfg.dtype == "float64" else 1.0)


def prune_checkpoints(root: Path, exps: Sequence[Experiment]) -> int:
    """Delete ``checkpoints/`` of finished runs (a finished run is never resumed); returns bytes freed."""
    freed = 0
    for e in exps:
        path = root / "runs" / e.name
        ck = path / "checkpoints"
        if (path / "summary.json").exists() and ck.is_dir():
            for f in ck.iterdir():
                freed += f.stat().st_size
                f.unlink()
            ck.rmdir()
    return freed


def _energy(x: torch.Tensor) -> torch.Tensor:
    return x.diff(dim=-1).pow(2).flatten(1).mean(1) + x.diff(dim=-2).pow(2).flatten(1).mean(1)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    img = x.detach().cpu().double().clamp(0, 1).permute(1, 2, 0).numpy()
    return np.round(img * 255).astype(np.uint8)


def _reconstruct(problem, theta: torch.Tensor, y: torch.Tensor, x_star: torch.Tensor,
                 eps: float = IMAGE_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstructions of ``y`` ``(B, C, H, W)`` at certified accuracy ``eps`` and their PSNR ``(B,)``."""
    x = solve_lower_mixed(problem, theta, y, eps).x  # float32 first when theta is float64: same certificate
    return x, psnr(x, x_star)


def _save_artifact(root: Path, name: str, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(root / "artifacts" / f"{name}.npz", buf.getvalue())
    return write_json_atomic(root / "artifacts" / f"{name}.json", _json_ready(meta))


def make_fig3_artifact(root: Path, scale: Scale, device: str = "cpu") -> Path:
    """Fig. 3's images: the training crop with the most structure (largest mean squared finite
    difference) denoised with each row's parameters after each milestone (the last stored iterate
    with at most that many computations), at certified accuracy ``IMAGE_EPS`` in float64, for every
    seed (each seed has its own noise realization of the crop); the images of the first seed.

    Rows: the best constant-step and the best decreasing-step ISGD configuration of Fig. 1 (lowest
    mean final training loss over seeds; the paper shows its best variants) and MAID (each oracle).
    """
    runs = pr.load_runs(root, "fig3")
    configs = pr.group(runs)
    isgd = [c for c in configs if c.spec.get("method") == "isgd"]
    rows = [c for c in (pr._best([c for c in isgd if c.spec.get("step") == "constant"], pr._train_loss, True),
                        pr._best([c for c in isgd if c.spec.get("step") == "inverse_sqrt"], pr._train_loss, True))
            if c is not None]
    rows += [c for c in configs if c.spec.get("method") == "maid" and c.ok()]
    if not rows:
        raise FileNotFoundError(f"no finished denoising runs under {root / 'runs'} for Fig. 3")
    seeds = sorted(set.intersection(*(set(c.ok()) for c in rows)))
    if not seeds:
        raise FileNotFoundError("Fig. 3 needs the rows' runs of at least one common seed")
    dev = torch.device(device)
    meta: dict[str, Any] = {"milestones": list(scale.milestones), "paper_milestones": list(PAPER_MILESTONES),
                            "claim_computations": scale.claim_computations,
                            "paper_claim_computations": PAPER_CLAIM_COMPUTATIONS, "factor": scale.factor,
                            "eps": IMAGE_EPS, "seeds": seeds, "shown_seed": seeds[0], "rows": [], "noisy_by_seed": {}}
    arrays: dict[str, np.ndarray] = {}
    row_meta = [{"name": c.ok()[seeds[0]].name, "label": c.label, "method": c.spec["method"], "step": c.spec.get("step"),
                 "alpha0": c.spec.get("alpha0"), "maid_error": c.spec.get("maid_error"), "panels": [],
                 "psnr_by_seed": {}, "runs": {str(s): c.ok()[s].name for s in seeds}} for c in rows]
    k = None
    for seed in seeds:
        cfg = TrainConfig.from_dict(json.loads((rows[0].ok()[seed].path / "config.json").read_text()))
        problem, data, _ = load_data(cfg, dev, torch.float64)
        if k is None:
            k = int(_energy(data.x_star).argmax())
            meta["image_index"] = k
        x_star, y = data.x_star[k:k + 1], data.y[k:k + 1]
        meta["noisy_by_seed"][str(seed)] = float(psnr(y, x_star)[0])
        if seed == seeds[0]:
            arrays.update(clean=_to_uint8(x_star[0]), noisy=_to_uint8(y[0]))
            meta["noisy_psnr"] = meta["noisy_by_seed"][str(seed)]
        for i, c in enumerate(rows):
            run = c.ok()[seed]
            try:
                iterates = load_iterates(run.path)
            except FileNotFoundError:
                raise FileNotFoundError(f"{run.path} holds no iterates: Fig. 3 needs the iterates of {run.name} "
                                        "(iterates_every > 0)") from None
            values = []
            for j, ms in enumerate(scale.milestones):
                before = [r for r in iterates if r["computations"] <= ms] or iterates[:1]
                rec = before[-1]
                x, value = _reconstruct(problem, rec["theta"].to(device=dev, dtype=torch.float64), y, x_star)
                values.append(float(value[0]))
                if seed == seeds[0]:
                    arrays[f"row{i}_m{j}"] = _to_uint8(x[0])
                    row_meta[i]["panels"].append({"milestone": ms, "computations": int(rec["computations"]),
                                                  "iteration": int(rec["iteration"]), "psnr": values[-1]})
            row_meta[i]["psnr_by_seed"][str(seed)] = values
    meta["rows"] = row_meta
    return _save_artifact(root, "fig3", meta, arrays)


def make_fig5_artifact(root: Path, device: str = "cpu") -> Path:
    """Fig. 5's images and the deblurring test table: every held-out test image reconstructed with the
    final parameters of every deblurring run (float64, at the runs' evaluation accuracy ``eval_eps``,
    the accuracy of Fig. 4's test PSNRs: a certified distance of 3e-2 on a 256x256 colour image moves
    the PSNR by less than 1e-3 dB), its PSNR per image (``per_image[run]``, and ``per_image_blurry``),
    and the images of the test crop with the most structure (ground truth, blurry, each run)."""
    runs = [r for r in pr.load_runs(root, "fig5") if r.finished]
    isgd = [r for r in runs if r.spec.get("method") == "isgd"]
    maids = [r for r in runs if r.spec.get("method") == "maid"]
    if not isgd or not maids:
        raise FileNotFoundError(f"Fig. 5 needs finished ISGD and MAID deblurring runs under {root / 'runs'}")
    dev = torch.device(device)
    cfg = TrainConfig.from_dict(json.loads((isgd[0].path / "config.json").read_text()))
    problem, _, test = load_data(cfg, dev, torch.float64)
    if test is None:
        raise ValueError("the deblurring runs have no test images; pass --test-data-dir")
    k = int(_energy(test.x_star).argmax())
    blurry = psnr(test.y, test.x_star)
    arrays = {"truth": _to_uint8(test.x_star[k]), "blurry": _to_uint8(test.y[k])}
    panels = [{"key": "truth", "label": "ground truth", "psnr": None},
              {"key": "blurry", "label": "blurry", "psnr": float(blurry[k])}]
    per_image: dict[str, list[float]] = {}
    for key, run in [(f"maid-{r.name}", r) for r in maids] + [("isgd", isgd[0])]:
        theta = torch.load(run.path / "theta_final.pt", map_location="cpu", weights_only=False)["theta"]
        theta = theta.to(device=dev, dtype=torch.float64)
        values = []
        for lo in range(0, test.m, cfg.chunk_size):
            sl = slice(lo, lo + cfg.chunk_size)
            x, v = _reconstruct(problem, theta, test.y[sl], test.x_star[sl], cfg.eval_eps)
            values += [float(p) for p in v]
            if lo <= k < lo + cfg.chunk_size:
                arrays[key] = _to_uint8(x[k - lo])
        per_image[run.name] = values
        panels.append({"key": key, "label": run.label, "psnr": values[k], "run": run.name})
    meta = {"image_index": k, "eps": cfg.eval_eps, "panels": panels, "per_image": per_image,
            "per_image_blurry": [float(p) for p in blurry], "test_images": test.m,
            "seeds": sorted({int(r.spec.get("seed", 0)) for r in isgd + maids})}
    return _save_artifact(root, "fig5", meta, arrays)


def _relative(paths: Sequence[Path], root: Path) -> list[str]:
    return [Path(os.path.relpath(p, root)).as_posix() for p in paths]


def _bound_is_current(root: Path, run_dirs: list[Path]) -> bool:
    """Whether ``bound/bound.json`` was computed from exactly these (finished) runs."""
    path = root / "bound" / "bound.json"
    if not path.exists():
        return False
    stored = json.loads(path.read_text())
    return sorted(stored.get("runs", [])) == sorted(_relative(run_dirs, root))


def run_bound(root: Path, run_dirs: list[Path], scale: Scale, device: str = "cpu",
              workers: int = 1) -> FoEBoundResult:
    """The FoE bound check on the bound runs, written to ``root/bound`` (run paths relative to ``root``).
    On the CPU, ``workers`` runs are analysed at a time, each in its own single-threaded process."""
    t0, c0 = time.perf_counter(), _cpu_seconds()
    workers = _bound_workers(workers, device, len(run_dirs))
    result = analyze_runs(run_dirs, tight_accuracy=scale.tight_accuracy, max_iterates=scale.bound_iterates,
                          device=device, workers=workers)
    result.runs = _relative(run_dirs, root)
    write_bound_results(result, root / "bound")
    _write_bound_job(root / "bound", result, t0, c0, workers)
    return result


def _bound_workers(workers: int, device: str, runs: int) -> int:
    """Worker processes of a bound analysis: ``workers`` on the CPU (at most one per run), one on a GPU."""
    return min(workers, runs) if torch.device(device).type == "cpu" else 1


def _write_bound_job(folder: Path, result: FoEBoundResult, t0: float, c0: float, workers: int) -> None:
    """``folder/job.json``: the CPU and wall seconds of a bound analysis started at ``perf_counter() == t0``
    and ``_cpu_seconds() == c0`` (worker processes included), with its size."""
    write_json_atomic(folder / "job.json", {"cpu_seconds": _cpu_seconds() - c0, "wall_seconds": time.perf_counter() - t0,
                                            "torch_threads": torch.get_num_threads(), "workers": workers,
                                            "iterates": len(result.points), "seeds": len(result.seeds),
                                            "m": result.m})


# ----------------------------------------------------------------------------------------------
# drawing


def load_figure_script(key: str) -> ModuleType:
    """The figure module of ``key`` (``fig1`` ... ``constants``) from the :mod:`paper_figures`
    package, with ``draw`` and ``main``."""
    if key not in FIGURE_SCRIPTS:
        raise ValueError(f"unknown figure {key!r}; use one of {FIGURE_KEYS}")
    return importlib.import_module(f"paper_figures.{Path(FIGURE_SCRIPTS[key]).stem}")


def draw_figures(root: Path, keys: Sequence[str] = FIGURE_KEYS) -> dict[str, list[Path]]:
    """Call every figure script's ``draw(root, root / "figures")``; a figure whose results are not
    stored is left out with a warning."""
    out: dict[str, list[Path]] = {}
    for key in keys:
        try:
            out[key] = list(load_figure_script(key).draw(root, root / "figures"))
            log.info("%s: %s", key, ", ".join(p.name for p in out[key]))
        except FileNotFoundError as exc:
            log.warning("%s not drawn: %s", key, exc)
            out[key] = []
    return out


# ----------------------------------------------------------------------------------------------
# figures.md


def _rel(p: Path, root: Path) -> str:
    return p.relative_to(root).as_posix()


#: What differs between this reproduction and the paper's experiments (figures.md, README).
DIFFERENCES = (
    "Data: the paper trains denoising on 1024 STL-10 images of 96x96 and deblurring on 1536 Oxford-IIIT Pet "
    "images of 256x256 (32 test images); here denoising uses the 96x96 crops of the training photographs "
    "(CBSD68: 1020 crops of 68 photographs, so neighbouring crops share a photograph) tested on McMaster "
    "crops, and deblurring uses one 256x256 crop per photograph (CBSD68: 56 for training, 12 held out "
    "by file for testing). PSNRs depend on image content, so absolute values are not comparable across "
    "data sets; only the comparisons between methods are.",
    "Noise: the same sigma = 25/255 for denoising and a 7x7 Gaussian blur with sigma 2 plus noise 5/255 for "
    "deblurring, as the paper's text states (the authors' code used a 5x5 blur with sigma 1).",
    "Loss scaling: here g_i(x) = ||x - x*_i||^2 and h_i(x) = 1/2 ||A x - y_i||^2 + R_theta(x), with nothing "
    "depending on the mini-batch size; the authors' code divides the data term by the batch size, which "
    "changes the regularization strength and the scale of the hypergradient, so the same alpha0 is a "
    "different step here (for deblurring ISGD the paper's alpha0 = 1e-4 barely moves; 1e-3 is used).",
    "MAID: here MAID follows the published algorithm (certified acceptance, backtracking, step and accuracy "
    "adapted after success and failure); the authors' code never changes MAID's step size (it writes "
    "self.lr while torch.optim.SGD reads the parameter group). Two error oracles: the certified "
    "a-posteriori bound and an estimate of the actual error (as the paper's experiments effectively used). "
    "MAID evaluates the full training set in chunks, so it can use the same data set as ISGD; the paper "
    "gave it 6x fewer deblurring images for GPU memory (here both: 1/6 and all).",
)


def differences(scale: Scale) -> list[str]:
    """:data:`DIFFERENCES` and the budgets and evaluations of ``scale``."""
    den, deb = scale.denoise, scale.deblur
    n_eval = den.get("eval_train_count")
    return list(DIFFERENCES) + [
        f"Budgets: every denoising run stops at {_sci(den['budget'])} computations (the paper's Fig. 3 horizon is 2e5; "
        "its curves run further), so \"by the end\" means at that budget here; deblurring runs stop at "
        f"{_sci(deb['budget'])}. Training PSNR is evaluated "
        + (f"on the first {n_eval} training crops" if n_eval else "on the whole training set")
        + f" every {_sci(den['eval_every'])} computations, not once per epoch."]


def _sci(x: float) -> str:
    """``2e5`` for 200000 (``150`` for 150)."""
    text = f"{x:.0e}".replace("e+0", "e").replace("e+", "e")
    return text if x >= 1e4 and float(text) == x else f"{x:g}"


def render_markdown(root: Path, scale: Scale, figures: dict[str, list[Path]], verdicts: dict[str, list[pr.Verdict]],
                    notes: list[str], seconds: float | None, device: str, data: str, test_data: str | None,
                    provenance: dict | None = None) -> str:
    ms = ", ".join(str(m) for m in scale.milestones)
    prov = provenance or {}
    lines = [
        "# The paper's figures, reproduced",
        "",
        f"*Bilevel Learning with Inexact Stochastic Gradients*, Section 3 (Figs. 1-5) and Theorem 1. Scale "
        f"**{scale.name}**: {scale.summary}. Training data: {_short(data)}; test data: "
        f"{_short(test_data) if test_data else 'embedded'}; device: {device}."
        + (f" Generated in {seconds:.0f} s." if seconds is not None else ""),
        "",
    ]
    if prov:
        commits = prov.get("commits", [])
        lines += [f"Results made at commit{'s' if len(commits) != 1 else ''} {', '.join(f'`{c}`' for c in commits) or 'unknown'}"
                  + (f" on {prov['machine']}" if prov.get("machine") else "")
                  + (f", {prov['cpu_hours']:.2f} CPU hours over {prov['runs']} runs" if prov.get("cpu_hours") else "")
                  + "."]
        if prov.get("dirty") or not commits:
            lines += ["", "> **WARNING: these results were made from a source tree with uncommitted changes (or an "
                          "unknown commit); they cannot be traced to a commit. Do not cite them.**"]
        elif len(commits) > 1:
            lines += ["", "> **Note: the runs were made at several commits (a run resumed after a new commit); the "
                          "code of each run is in its meta.json.**"]
        lines.append("")
    lines += [
        f"Computations (lower-level + CG iterations summed over images) are {scale.factor:.4g} times the paper's "
        f"at Fig. 3's horizon: its milestones 1e4, 5e4, 1e5, 2e5 are {ms} here, and the claims' \"2e5 "
        f"computations\" is {scale.claim_computations}. Verdicts are computed from the stored results "
        f"(`validation.experiments.paper_results`): every comparison is a paired difference over the seeds both runs "
        f"share (or, for deblurring, over held-out test images) with a {100 * pr.CONFIDENCE:g} % Student-t interval "
        f"(a seed sets the noise realization and the mini-batch order; every run starts from the same documented "
        f"initialization, so the intervals cover noise and sampling, not other starting points); "
        f"**supported** only when the interval says so (above 0 with a mean of at least the margin: {pr.PSNR_MARGIN_DB} "
        f"dB for PSNR; comparable: within {pr.COMPARABLE_DB} dB or {100 * pr.COMPARABLE_REL:g} % of the loss), **not "
        f"supported** when it contradicts the claim, **inconclusive** otherwise (always with one seed). Loss "
        f"neighbourhood: {100 * pr.NEIGHBOURHOOD_REL:g} % of the total decrease.",
        "",
    ]
    for n in notes:
        lines.append(f"- Note: {n}")
    if notes:
        lines.append("")
    lines += ["| figure | claim | verdict | scale, seeds, intervals |", "|---|---|---|---|"]
    for key, vs in verdicts.items():
        for v in vs:
            lines.append(f"| {pr.FIGURES[key].title} | {v.claim} | {v.status} | {v.evidence()} |")
    lines.append("")
    for key, vs in verdicts.items():
        info = pr.FIGURES[key]
        lines += [f"## {info.title}", ""]
        for p in figures.get(key, []):
            lines.append(f"![{info.stem}]({_rel(p, root)})")
        if not figures.get(key):
            lines.append("_(not drawn: its results are not stored)_")
        lines += ["", f"**What it shows.** {info.shows}", ""]
        for v in vs:
            lines += [f"- **Paper's claim.** {v.claim}", f"  **This reproduction.** {v.finding}",
                      f"  **Verdict: {v.status}** ({v.evidence()}).", ""]
    lines += _comparison_section(root)
    lines += ["## What differs from the paper's experiments", ""] + [f"- {d}" for d in differences(scale)] + [""]
    lines += _experiments_section(root)
    return "\n".join(lines) + "\n"


def _comparison_section(root: Path) -> list[str]:
    rows = pr.paper_comparison(root)
    if not rows:
        return []
    lines = ["## The paper's numbers beside ours", "",
             "The paper's values are read off its Figs. 3 and 5 (STL-10 and Oxford-IIIT Pet, the authors' code); "
             "ours are the same quantities on this reproduction's data (see the differences below), with the "
             "intervals over seeds (Fig. 3) or held-out test images (Fig. 5).", "",
             "| quantity | method | paper (dB) | this reproduction |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['quantity']} | {r['method']} | {r['paper_db']:.2f} | {r['ours_text']} |")
    return lines + [""]


def _psnr_cell(v: float) -> str:
    return f"{v:.2f}" if isinstance(v, float) and math.isfinite(v) else "-"


def _experiments_section(root: Path) -> list[str]:
    """The stored runs: their settings and how they ended (from experiments.json and the run directories)."""
    try:
        plan = pr.load_plan(root)
    except FileNotFoundError:
        return []
    stored = {r.name: r for r in pr.load_runs(root)}
    lines = ["## Experiments", "",
             "| run | figures | task | method | step | alpha0 | seed | m | crop | batch | budget | dtype | iterations | "
             "computations | stop | final train PSNR | final test PSNR |",
             "|" + "---|" * 17]
    for e in plan["experiments"]:
        c, r = e["config"], stored.get(e["name"])
        s = (r.summary or {}) if r is not None else {}
        method = c["method"] + (f" ({c.get('maid_error', 'certified')})" if c["method"] == "maid" else "")
        lines.append(
            f"| {e['name']} | {' '.join(e['figures'])} | {c['task']} | {method} | "
            f"{c['step'] if c['method'] == 'isgd' else '-'} | {c['alpha0']:g} | {c['seed']} | {c['train_count']} | "
            f"{c['crop']} | {c['batch_size'] if c['method'] == 'isgd' else 'full'} | {c['budget']} | {c['dtype']} | "
            f"{s.get('iterations', '-')} | {s.get('computations', '-')} | {s.get('stop_reason', 'not run')} | "
            f"{_psnr_cell(r.final('train_psnr')) if r else '-'} | {_psnr_cell(r.final('test_psnr')) if r else '-'} |")
    splits = plan.get("splits", {})
    if "deblurring" in splits:
        sp = splits["deblurring"]
        lines += ["", f"Deblurring split of {sp['folder']} by file (seed {sp['seed']}): training "
                      f"{', '.join(sp['train'])}; held out for testing {', '.join(sp['test'])}."]
    lines.append("")
    maids = {name: maid_breakdown(r.records) for name, r in stored.items() if r.spec.get("method") == "maid"}
    maids = {k: v for k, v in maids.items() if v}
    if maids:
        lines += ["### MAID: steps and where its computations go", "", "```", format_maid_breakdown(maids), "```", ""]
    return lines


def runs_table(root: Path) -> list[dict]:
    rows = []
    for r in pr.load_runs(root):
        s = r.summary or {}
        rows.append({"name": r.name, "label": r.label, "figures": " ".join(r.figures), "seed": r.seed,
                     "status": "diverged" if r.diverged else ("finished" if r.finished else "unfinished"),
                     "iterations": s.get("iterations", ""), "computations": s.get("computations", ""),
                     "train_loss": r.final("train_loss"), "train_psnr": r.final("train_psnr"),
                     "test_psnr": r.final("test_psnr"), "oscillation": pr.oscillation(r),
                     "algorithm_wall_time": s.get("algorithm_wall_time", ""), "stop_reason": s.get("stop_reason", "")})
    return rows


# ----------------------------------------------------------------------------------------------
# the job


@dataclass
class FiguresResult:
    """What :func:`run_figures` wrote: the figures per key, the verdicts, ``figures.md`` and timings."""

    out: Path
    scale: str
    figures: dict[str, list[Path]]
    verdicts: dict[str, list[pr.Verdict]]
    markdown_path: Path
    run_status: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    export: Path | None = None


def _needed(exps: list[Experiment], keys: Sequence[str]) -> list[Experiment]:
    return [e for e in exps if set(e.figures) & set(keys)]


class DirtyTree(ValueError):
    """Results meant for committing would be made from a source tree with uncommitted changes."""


def check_clean_tree(scale: Scale, allow_dirty: bool) -> str | None:
    """The source tree's commit; at a scale meant for committing (``clean_tree``), refuse a tree with
    uncommitted changes (or no known commit) unless ``allow_dirty`` (then warn loudly)."""
    commit = git_commit()
    if scale.clean_tree and (commit is None or commit.endswith("-dirty")):
        what = "has uncommitted changes" if commit else "is not a git checkout (the commit is unknown)"
        msg = (f"the source tree {what}: results of the {scale.name} scale are meant for committing and must record a "
               "clean commit. Commit (or stash) the changes and run again from the clean commit; --allow-dirty runs "
               "anyway and marks every result as untraceable")
        if not allow_dirty:
            raise DirtyTree(msg)
        log.warning("!!! %s (running anyway: --allow-dirty) !!!", msg)
    return commit


def _maid_oracles_missing() -> bool:
    """Whether MAID's error oracle is only a configuration field in this build: true when building the
    method (:func:`bilevel.train.build_method`) never reads ``maid_error``."""
    import inspect

    import bilevel.train as bt

    return "maid_error" not in inspect.getsource(bt.build_method)


def run_figures(out: str | Path, scale: str | Scale = "quick", *, data_dir: str | None = None,
                test_data_dir: str | None = None, device: str = "auto", seeds: int | None = None,
                only: Sequence[str] | None = None, draw_only: bool = False, parallel: int | None = None,
                threads: int | None = None, export: str | Path | None = None, allow_dirty: bool = False) -> FiguresResult:
    """Run the experiments of ``only`` (default: every figure) that are not stored, the artifacts and
    the bound check, draw every figure and write ``figures.md`` into the run directory ``out``; with
    ``export``, write the small folder meant for committing there and draw it too."""
    if isinstance(scale, str) and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {sorted(SCALES)}")
    sc = SCALES[scale] if isinstance(scale, str) else scale
    keys = list(only) if only else list(FIGURE_KEYS)
    unknown = [k for k in keys if k not in FIGURE_KEYS]
    if unknown:
        raise ValueError(f"unknown figures {unknown}; use some of {FIGURE_KEYS}")
    keys = [k for k in FIGURE_KEYS if k in keys]
    parallel = sc.parallel if parallel is None else parallel
    threads = sc.threads if threads is None else threads
    if parallel < 1:
        raise ValueError(f"--max-parallel must be >= 1, got {parallel}")
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    root = Path(out)
    notes: list[str] = []
    status: dict[str, str] = {}
    plan_path = root / "experiments.json"
    if draw_only:
        if not plan_path.exists():
            raise FileNotFoundError(f"{plan_path} not found: nothing is stored in {root}; run without --draw-only first")
        stored = json.loads(plan_path.read_text())
        notes = list(stored.get("notes", []))
        device_name = stored.get("device", device)
        run_dir = RunDirectory.open(root) if (root / "config.json").exists() else RunDirectory.create(
            root, {"job": "figures", "scale": sc.name}, seed=0, exist_ok=True)
    else:
        if sc.needs_data and not (data_dir and test_data_dir):
            raise ValueError(f"the {sc.name} scale trains on real photographs: pass --data-dir FOLDER (e.g. CBSD68) and "
                             "--test-data-dir FOLDER (e.g. McMaster)")
        check_clean_tree(sc, allow_dirty)
        if sc.clean_tree and _maid_oracles_missing():
            msg = ("MAID's error oracle (maid_error = certified / estimated) is only a placeholder configuration field "
                   "in this build: both MAID runs would be the same algorithm")
            if not allow_dirty:
                raise ValueError(msg + "; build from a version with both oracles implemented")
            log.warning("!!! %s !!!", msg)
        job = {"job": "figures", "scale": sc.name, "data_dir": data_dir, "test_data_dir": test_data_dir}
        run_dir = RunDirectory.create(root, job, seed=0, exist_ok=True)
        splits: dict = {}
        exps = experiment_set(sc, data_dir=data_dir, test_data_dir=test_data_dir, device=device, seeds=seeds,
                              notes=notes, split_dir=root / "splits", splits=splits)
        for sp in splits.values():
            sp.write()
        device_name = str(resolve_device(device))
        if sc.name == "full" and device_name == "cpu":
            log.warning("the full scale on the CPU takes days; use --device cuda on a GPU machine (or --scale paper)")
        if sc.clean_tree and _maid_oracles_missing():
            notes.append("MAID's two error oracles are the same algorithm in this build (placeholder field)")
        plan = {"scale": sc.describe(), "experiments": [e.as_dict() for e in exps], "notes": notes,
                "device": device_name, "splits": {k: v.describe() for k, v in splits.items()},
                "execution": {"parallel": parallel, "threads": threads}}
        write_json_atomic(plan_path, plan)
        todo = [e for e in _needed(exps, keys) if not _check_stored(e, root)]
        log.info("%s scale: %d runs in the plan, %d to train", sc.name, len(_needed(exps, keys)), len(todo))
        t0 = time.perf_counter()
        status = run_experiments(todo, root, parallel, threads, sc.reference)
        timings["training"] = time.perf_counter() - t0
        failed = {k: v for k, v in status.items() if v.startswith("failed")}
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(todo)} runs failed ({', '.join(sorted(failed))}); their errors are "
                               f"logged above and in {root / 'submitit'}; run the same command again to resume them")
        if sc.prune_checkpoints:
            freed = prune_checkpoints(root, exps)
            if freed:
                log.info("deleted the checkpoints of finished runs (%.1f GB)", freed / 1e9)
        t0, c0 = time.perf_counter(), _cpu_seconds()
        if "fig3" in keys:
            make_fig3_artifact(root, sc, device_name)
        if {"fig4", "fig5"} & set(keys):
            make_fig5_artifact(root, device_name)
        timings["artifacts"], timings["artifacts_cpu"] = time.perf_counter() - t0, _cpu_seconds() - c0
        t0 = time.perf_counter()
        if {"bound", "constants"} & set(keys):
            bound_dirs = [root / "runs" / e.name for e in exps if "bound" in e.figures]
            if _bound_is_current(root, bound_dirs):
                log.info("bound check: stored, skipped")
            else:
                run_bound(root, bound_dirs, sc, device_name, workers=parallel)
        timings["bound"] = time.perf_counter() - t0
    from .evidence import provenance

    t0 = time.perf_counter()
    result = _draw_and_write(root, sc, keys, notes, device_name, run_dir, None if draw_only else timings,
                             provenance(root), status, t_start)
    timings["drawing"] = time.perf_counter() - t0
    if export is not None:
        from .evidence import export_results

        result.export = export_results(root, export, allow_dirty=allow_dirty)
    return result


def _draw_and_write(root: Path, sc: Scale, keys: Sequence[str], notes: list[str], device_name: str,
                    run_dir: RunDirectory, timings: dict | None, prov: dict, status: dict, t_start: float) -> FiguresResult:
    figures = draw_figures(root, keys)
    for key in FIGURE_KEYS:  # figures drawn by earlier calls stay in figures.md
        png = root / "figures" / f"{pr.FIGURES[key].stem}.png"
        if key not in figures and png.exists():
            figures[key] = [png]
    figures = {k: figures[k] for k in FIGURE_KEYS if k in figures}
    verdicts = pr.all_verdicts(root, list(figures))
    total = time.perf_counter() - t_start
    cfg = run_dir.config
    text = render_markdown(root, sc, figures, verdicts, notes, None if timings is None else total, device_name,
                           cfg.get("data_dir") or "embedded", cfg.get("test_data_dir"), prov)
    md = run_dir.write_text("figures.md", text)
    run_dir.write_csv("results.csv", runs_table(root))
    run_dir.write_json("verdicts.json", _json_ready(pr.verdicts_as_json(verdicts)))
    rows = pr.verdict_rows(verdicts)
    run_dir.write_csv("headline.csv", rows)
    comparison = pr.paper_comparison(root)
    if comparison:
        run_dir.write_csv("paper_comparison.csv", comparison)
    if timings is not None:
        timings["total"] = total
        run_dir.write_json("timing.json", timings)
    log.info("figures.md: %s (%.0f s)", md, total)
    return FiguresResult(root, sc.name, figures, verdicts, md, status, timings or {})


# ----------------------------------------------------------------------------------------------
# command line


def add_figures_arguments(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick",
                      help="CPU scale on the embedded photographs, a few minutes on two cores (the default)")
    size.add_argument("--full", dest="scale", action="store_const", const="full",
                      help="the paper's data sizes with its larger budgets (1024 crops of 96x96 for 4e5 computations, "
                           "1536 of 256x256); meant for a GPU (--device cuda) and a --data-dir of real photographs")
    size.add_argument("--scale", dest="scale", choices=sorted(SCALES),
                      help="choose the scale by name: paper (the paper's sizes on a 2-core CPU in about four hours, with "
                           "seeds; needs --data-dir and --test-data-dir and a clean source tree), paper-sample (the "
                           "same with tiny budgets: checks the pipeline and measures costs), quick, full, tiny (a "
                           "seconds-long smoke test)")
    p.set_defaults(scale="quick")
    p.add_argument("--out", default=None, help="run directory of the figures (default: runs/figures-<scale>)")
    p.add_argument("--data-dir", default=None, metavar="PATH",
                   help="training photographs: a folder of images, stl10:PATH or pets:PATH (default: embedded)")
    p.add_argument("--test-data-dir", default=None, metavar="PATH",
                   help="test photographs (default: the embedded test photographs)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if available), cpu, cuda (default: auto)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds of the bound check's runs (default: the scale's, 5 at the paper scale)")
    p.add_argument("--only", nargs="+", choices=FIGURE_KEYS, default=None, metavar="FIG",
                   help=f"only these figures (and the experiments they need): {', '.join(FIGURE_KEYS)}")
    p.add_argument("--draw-only", action="store_true",
                   help="run no experiment: draw and judge from the results stored in --out (seconds)")
    p.add_argument("--max-parallel", type=int, default=None, metavar="N",
                   help="training runs at a time; more than one runs them as local processes through the sweep "
                        "machinery (submitit) (default: the scale's, 2 at the paper scale, else 1 in this process)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads per training run (default: the scale's, 1 at the paper scale, else torch's)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="also write the small folder meant for committing (figures, figures.md, tables, thinned "
                        "metrics, no checkpoints or iterates) to DIR, e.g. results/paper; `isgd figures --draw-only "
                        "--out DIR` redraws it")
    p.add_argument("--allow-dirty", action="store_true",
                   help="run (or export) a scale meant for committing from a source tree with uncommitted changes; "
                        "the results are then marked untraceable")
    p.add_argument("--estimate", action="store_true",
                   help="train nothing: print the plan of the scale with the estimated time of every run (from the "
                        "costs measured by --scale paper-sample, see --costs) and write it to OUT/estimate.json")
    p.add_argument("--calibrate", action="store_true",
                   help="with --estimate: first measure the reference unit on this machine (about half a minute, one "
                        "thread, at its present load) and also give the remaining time in hours here, with "
                        "--max-parallel runs at a time (default: the scale's); runs already finished in --out are "
                        "always left out of the remaining time")
    p.add_argument("--costs", default=None, metavar="FILE",
                   help="measured costs for --estimate (default: benchmarks/results/paper_costs_cpu.json of the source "
                        "tree)")
    p.add_argument("--measure-costs", default=None, metavar="FILE",
                   help="after the runs, write the per-computation costs measured in --out to FILE (use with "
                        "--scale paper-sample)")
    p.add_argument("--readme-table", action="store_true",
                   help="print the Markdown verdict table of the results in --out (for README) and exit")
    p.add_argument("--readme", default=None, metavar="FILE",
                   help="with --readme-table: replace the table between the paper-evidence markers of FILE")


def run_figures_command(args: argparse.Namespace) -> int:
    out = args.out or f"runs/figures-{args.scale}"
    if args.readme_table:
        from .evidence import readme_table, update_readme

        table = readme_table(out)
        if args.readme:
            update_readme(args.readme, table)
            log.info("updated the verdict table in %s", args.readme)
        else:
            print(table)  # noqa: T201 (the command's output)
        return 0
    if args.calibrate and not args.estimate:
        raise ValueError("--calibrate only goes with --estimate (it measures the speed of this machine for the estimate)")
    if args.estimate:
        from .evidence import estimate_command

        return estimate_command(args.scale, out, args.data_dir, args.test_data_dir, args.costs, args.seeds,
                                calibrate=args.calibrate, parallel=args.max_parallel)
    res = run_figures(out, args.scale, data_dir=args.data_dir, test_data_dir=args.test_data_dir, device=args.device,
                      seeds=args.seeds, only=args.only, draw_only=args.draw_only, parallel=args.max_parallel,
                      threads=args.threads, export=args.export, allow_dirty=args.allow_dirty)
    for key, vs in res.verdicts.items():
        for v in vs:
            log.info("%-9s %-26s %s", key, v.status, v.claim[:90])
    if args.measure_costs:
        from .evidence import measure_costs

        path = measure_costs(out, args.measure_costs)
        log.info("measured costs: %s", path)
    if res.export is not None:
        log.info("exported to %s", res.export)
    return 0


def add_bound_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="ISGD run directories of one configuration (constant step and accuracy), one per seed, each "
                        "with stored iterates (isgd train --iterates-every K)")
    p.add_argument("--out", required=True, help="directory for bound/bound.json, the CSV tables and figures/")
    p.add_argument("--tight-accuracy", type=float, default=1e-6,
                   help="eps = delta of the reference hypergradients, in float64 (default: 1e-6)")
    p.add_argument("--max-iterates", type=int, default=25,
                   help="analyse at most this many stored iterates per run, evenly spread (default: 25)")
    p.add_argument("--device", default="cpu", help="torch device of the recomputation (default: cpu)")
    p.add_argument("--workers", type=int, default=1,
                   help="analyse this many runs at a time, each in its own single-threaded process (CPU; the "
                        "result is the same as with one; default: 1)")


def run_bound_command(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ValueError(f"--workers must be a positive number of processes, got {args.workers}")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    workers = _bound_workers(args.workers, args.device, len(args.runs))
    result = analyze_runs(args.runs, tight_accuracy=args.tight_accuracy, max_iterates=args.max_iterates,
                          device=args.device, workers=workers)
    root = Path(args.out)
    write_bound_results(result, root / "bound")
    _write_bound_job(root / "bound", result, t0, c0, workers)
    figures = draw_figures(root, ("bound", "constants"))
    lines = ["# Theorem 1 versus observed on stored ISGD runs", "",
             "Runs: " + ", ".join(f"`{r}`" for r in result.runs) + ".", ""]
    for key in ("bound", "constants"):
        lines += [f"## {pr.FIGURES[key].title}", ""] + [f"![{p.stem}]({_rel(p, root)})" for p in figures[key]] + [""]
        for v in _bound_verdicts(key, root):
            log.info("%s: %s", v.status, v.finding)
            lines += [f"- **Claim.** {v.claim}", f"  **Finding.** {v.finding}", f"  **Verdict: {v.status}.**", ""]
    write_bytes_atomic(root / "report.md", "\n".join(lines).encode())
    log.info("report: %s", root / "report.md")
    return 0


def _bound_verdicts(key: str, root: Path) -> list[pr.Verdict]:
    """Verdicts of ``isgd bound`` (a folder without experiments.json: scale unknown)."""
    if not (root / "experiments.json").exists():
        write_json_atomic(root / "experiments.json", {"scale": {"name": "stored runs"}, "experiments": []})
    return pr.VERDICTS[key](root)
