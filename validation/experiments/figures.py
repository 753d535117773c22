r"""``isgd figures``: run the experiments behind the paper's figures, draw them, and judge its claims.

The paper's Section 3 (Figs. 1-5) and Theorem 1, at two scales:

* ``quick`` (CPU, embedded photographs, a few minutes on two cores): FoE denoising on 32 crops of
  48x48, budgets 1/50 of the full scale (Fig. 3's milestones 1e4, 5e4, 1e5, 2e5 become 200, 1000,
  2000, 4000 computations) and at most 800 iterations per run (a warm-started iteration with a tiny
  step costs only a few computations but a fixed time, so the smallest steps would otherwise take
  thousands of iterations); deblurring on 48x48 crops, ISGD on 24 crops and MAID on 4 (the paper's
  1/6); the bound check on 3 seeds of a 32x32, m = 8 problem in float64 (8e3 computations each).
* ``full`` (GPU, the paper's sizes): denoising on 1024 crops of 96x96 for 4e5 computations;
  deblurring on 256x256 crops, ISGD on 1536 crops (mini-batches of 32), MAID on the first 256 (as in
  the paper) and on the same 1536 (chunked evaluation keeps memory bounded); the bound check on 5
  seeds of a 96x96, m = 64 problem. Real photographs come from ``--data-dir`` (and
  ``--test-data-dir``); with fewer crops than asked, the counts are capped (logged and reported).
* ``tiny`` (a seconds-long smoke test of the whole pipeline, for the tests).

Step sizes are the paper's values (alpha0 in 1e-3 ... 1e-6 for Fig. 1; MAID alpha0 = 1e-3) on this
toolkit's loss ``g_i = ||x - x*_i||^2``, except deblurring ISGD: the paper's alpha0 = 1e-4 (decreasing
step) barely moves the regularizer on this loss (+0.03 dB test PSNR in 6e3 computations at the quick
scale), so ISGD deblurring uses alpha0 = 1e-3 (1e-2 already oscillates). MAID's deblurring runs are in
float64: its certified acceptance test needs accuracies near 1e-6 with the deblurring modulus
``mu = 1e-2``, below the float32 precision floor (in float32 MAID stops at its first iteration).

Flow: the experiment set of a scale (:func:`experiment_set`) -> training runs into
``OUT/runs/<name>`` (finished runs are skipped, unfinished ones resume) -> artifacts (Fig. 3's
images at the milestones, Fig. 5's reconstructions) -> the FoE bound check
(:func:`validation.experiments.foe_bound.analyze_runs`) -> every figure script of ``paper_figures/`` draws from
the stored results -> ``figures.md`` with the paper's claims and computed verdicts
(:mod:`validation.experiments.paper_results`).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import numpy as np
import torch

from bilevel.data import embedded_crops, psnr
from bilevel.io import write_bytes_atomic, write_json_atomic
from bilevel.main_job import format_maid_breakdown, maid_breakdown
from bilevel.rundir import RunDirectory
from bilevel.runner import load_iterates
from bilevel.solvers import solve_lower
from bilevel.train import TrainConfig, load_data, resolve_device, train

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
#: The figure scripts (in ``paper_figures/`` of the source tree).
FIGURE_SCRIPTS = {k: f"{pr.FIGURES[k].stem}.py" for k in FIGURE_KEYS}
#: Accuracy of the reconstructions shown in Figs. 3 and 5 (float64).
IMAGE_EPS = 1e-3


@dataclass(frozen=True)
class Scale:
    """Sizes and budgets of one scale (see the module docstring).

    ``factor`` is the ratio of this scale's denoising budget to the full one; Fig. 3's milestones and
    the "2e5 computations" of the claims are multiplied by it. ``denoise``, ``deblur`` and ``bound``
    are :class:`~bilevel.train.TrainConfig` fields shared by the runs of each group.
    ``max_iterations`` stops a training run after that many iterations even if its budget of
    computations is not spent (``None``: no cap).
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
#: MAID runs with each error oracle (``--maid-error``): the certified bound (the published algorithm)
#: and the estimate (as the paper's experiments effectively ran it); run-name suffixes.
MAID_ORACLES = (("certified", ""), ("estimated", "-estimated"))
_MAID_DEBLUR = dict(method="maid", alpha0=1e-3, dtype="float64")

SCALES: dict[str, Scale] = {
    "quick": Scale(
        name="quick",
        summary="CPU, embedded photographs: denoising on 32 crops of 48x48 (mini-batches of 4), 8e3 computations per "
                "run (1/50 of full), at most 800 iterations; deblurring on 48x48 crops, ISGD on 24 and MAID on 4, 6e3 "
                "computations; bound check on 3 seeds of a 32x32, m = 8 problem in float64",
        factor=1 / 50,
        denoise=dict(task="denoising", crop=48, train_count=32, test_count=4, batch_size=4, budget=8_000,
                     eval_every=2_000, iterates_every=1, checkpoint_every=100),
        alphas=PAPER_ALPHAS,
        maid=_MAID,
        deblur=dict(task="deblurring", crop=48, test_count=4, budget=6_000, eval_every=1_000, eval_eps=3e-2),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=24, batch_size=4),
        deblur_maid=(("MAID, m = 4 (1/6 of ISGD's, as in the paper)", dict(_MAID_DEBLUR, train_count=4)),),
        bound=dict(task="denoising", crop=32, train_count=8, test_count=1, batch_size=2, sampler="with_replacement",
                   step="constant", alpha0=1e-3, budget=8_000, eval_every=8_000, dtype="float64", iterates_every=4),
        bound_seeds=3,
        bound_iterates=15,
        max_iterations=800,
    ),
    "full": Scale(
        name="full",
        summary="GPU, the paper's sizes: denoising on 1024 crops of 96x96 (mini-batches of 8), 4e5 computations per "
                "run; deblurring on 256x256 crops, ISGD on 1536 (mini-batches of 32), MAID on the first 256 (as in the "
                "paper) and on the same 1536, 1.5e6 computations; bound check on 5 seeds of a 96x96, m = 64 problem",
        factor=1.0,
        denoise=dict(task="denoising", crop=96, train_count=1024, test_count=64, batch_size=8, budget=400_000,
                     eval_every=20_000, iterates_every=5, checkpoint_every=500, chunk_size=128),
        alphas=PAPER_ALPHAS,
        maid={**_MAID, "chunk_size": 128},
        deblur=dict(task="deblurring", crop=256, test_count=32, budget=1_500_000, eval_every=100_000, eval_eps=3e-2,
                    chunk_size=64),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=1536, batch_size=32),
        deblur_maid=(("MAID, m = 256 (as in the paper)", dict(_MAID_DEBLUR, train_count=256)),
                     ("MAID, m = 1536 (the same set as ISGD)", dict(_MAID_DEBLUR, train_count=1536))),
        bound=dict(task="denoising", crop=96, train_count=64, test_count=4, batch_size=8, sampler="with_replacement",
                   step="constant", alpha0=1e-4, budget=60_000, eval_every=60_000, dtype="float64", iterates_every=5),
        bound_seeds=5,
        bound_iterates=25,
        max_iterations=50_000,
    ),
    "tiny": Scale(
        name="tiny",
        summary="smoke test of the pipeline: 16x16 crops, 4 training images, 150 computations per run",
        factor=150 / 400_000,
        denoise=dict(task="denoising", crop=16, train_count=4, test_count=1, batch_size=2, budget=150, eval_every=50,
                     iterates_every=1),
        alphas=(1e-3, 1e-4),
        maid=_MAID,
        deblur=dict(task="deblurring", crop=16, test_count=1, budget=150, eval_every=50, eval_eps=3e-2),
        deblur_isgd=dict(method="isgd", step="inverse_sqrt", alpha0=1e-3, train_count=4, batch_size=2),
        deblur_maid=(("MAID, m = 2", dict(_MAID_DEBLUR, train_count=2)),),
        bound=dict(task="denoising", crop=16, train_count=4, test_count=1, batch_size=2, sampler="with_replacement",
                   step="constant", alpha0=1e-3, budget=150, eval_every=150, dtype="float64", iterates_every=1),
        bound_seeds=2,
        bound_iterates=6,
    ),
}


@dataclass(frozen=True)
class Experiment:
    """One training run of the figures: folder ``name``, legend ``label``, the figures that use it,
    its role ``spec`` (task, method, step, alpha0, train_count, ...) and its configuration."""

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


@functools.lru_cache(maxsize=64)
def _available(source: str, split: str, size: int) -> int:
    """Number of ``size`` crops a source holds for ``split``, without decoding the images: grid crops
    of every image of a folder (from the image headers), one per image for STL-10 and Oxford-IIIT Pet
    (an upper bound: their loaders say which images are unusable)."""
    if source == "embedded":
        return int(embedded_crops(split, size).shape[0])
    from PIL import Image

    from bilevel.datasets import describe_source, image_files, parse_source

    kind, path = parse_source(source)
    if kind == "folder":
        total = 0
        for f in image_files(path):
            with Image.open(f) as img:
                width, height = img.size
            total += (width // size) * (height // size)
        return total
    return int(describe_source(source, size, split=split)["n_images"])


def _cap(source: str, split: str, size: int, wanted: int, what: str, notes: list[str]) -> int:
    try:
        have = _available(source, split, size)
    except ValueError as exc:
        raise ValueError(f"cannot cut {size}x{size} {split} crops from {source}: {exc}") from None
    if have >= wanted:
        return wanted
    if have < 1:
        raise ValueError(f"{source} holds no {size}x{size} {split} crops; choose a folder with larger photographs")
    notes.append(f"{what}: {have} crops of {size}x{size} instead of {wanted} (all that {source} holds)")
    log.warning("%s: only %d %s crops of %dx%d in %s (asked for %d); using %d", what, have, split, size, size, source,
                wanted, have)
    return have


def experiment_set(scale: Scale, *, data_dir: str | None = None, test_data_dir: str | None = None,
                   device: str = "auto", seeds: int | None = None, notes: list[str] | None = None,
                   check_data: bool = True) -> list[Experiment]:
    """Every training run of the figures at ``scale`` (names are stable: reruns find stored runs).

    ``data_dir``/``test_data_dir`` are image sources (:func:`bilevel.datasets.load_crops`); without
    ``test_data_dir``, test crops come from the embedded test photographs. ``seeds`` overrides the
    number of bound-check runs. With ``check_data``, crop counts are capped at what the sources hold
    (each cap is appended to ``notes``).
    """
    notes = notes if notes is not None else []
    train_src = str(data_dir) if data_dir else "embedded"
    test_src = str(test_data_dir) if test_data_dir else ("embedded" if data_dir else None)
    data = {"data": train_src, "test_data": test_src, "device": device, "progress": True}
    n_seeds = scale.bound_seeds if seeds is None else seeds
    if n_seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {n_seeds}")

    def counts(base: dict, what: str) -> dict:
        if not check_data:
            return base
        out = dict(base)
        size = int(out["crop"])
        out["train_count"] = _cap(train_src, "train", size, int(out["train_count"]), f"{what} training set", notes)
        out["test_count"] = _cap(test_src or "embedded", "test", size, int(out["test_count"]), f"{what} test set", notes)
        return out

    den = counts(scale.denoise, "denoising")
    exps: list[Experiment] = []
    for step, step_name in (("constant", "constant step"), ("inverse_sqrt", "decreasing step")):
        for a in scale.alphas:
            figs = ("fig1", "fig3") + (("fig2",) if (step, a) in FIG2_VARIANTS else ())
            cfg = TrainConfig(**{**den, **data, "method": "isgd", "step": step, "alpha0": a})
            exps.append(Experiment(f"den-isgd-{step}-{a:g}", f"ISGD {step_name}, alpha0 = {_alpha_text(a)}", figs,
                                   {"task": "denoising", "method": "isgd", "step": step, "alpha0": a,
                                    "train_count": cfg.train_count}, cfg))
    for oracle, suffix in MAID_ORACLES:
        cfg = TrainConfig(**{**den, **data, **scale.maid, "maid_error": oracle})
        exps.append(Experiment(f"den-maid{suffix}", f"MAID ({oracle}), alpha0 = {_alpha_text(cfg.alpha0)}",
                               ("fig2", "fig3"), {"task": "denoising", "method": "maid", "alpha0": cfg.alpha0,
                                                  "train_count": cfg.train_count, "maid_error": oracle}, cfg))
    deb = dict(scale.deblur)
    wanted = int(scale.deblur_isgd["train_count"])
    isgd_changes = counts({**deb, **scale.deblur_isgd}, "deblurring (ISGD)")
    cfg = TrainConfig(**{**isgd_changes, **data})
    exps.append(Experiment(f"deb-isgd-{cfg.step}-{cfg.alpha0:g}",
                           f"ISGD decreasing step, alpha0 = {_alpha_text(cfg.alpha0)}, m = {cfg.train_count}",
                           ("fig4", "fig5"), {"task": "deblurring", "method": "isgd", "step": cfg.step,
                                              "alpha0": cfg.alpha0, "train_count": cfg.train_count}, cfg))
    have = cfg.train_count
    for label, changes in scale.deblur_maid:
        m = int(changes["train_count"])
        m = m if have >= wanted else max(1, have * m // wanted)  # keep the ratio when the data are capped
        if have < wanted:
            label = f"MAID, m = {m}"
        for oracle, suffix in MAID_ORACLES:
            mcfg = TrainConfig(**{**deb, **changes, **data, "train_count": m, "test_count": cfg.test_count,
                                  "maid_error": oracle})
            if any(e.name == f"deb-maid-m{m}{suffix}" for e in exps):  # capped data can merge the two MAID runs
                continue
            exps.append(Experiment(f"deb-maid-m{m}{suffix}", label.replace("MAID", f"MAID ({oracle})", 1),
                                   ("fig4", "fig5"), {"task": "deblurring", "method": "maid", "alpha0": mcfg.alpha0,
                                                      "train_count": m, "maid_error": oracle}, mcfg))
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


# ----------------------------------------------------------------------------------------------
# running


_RUNTIME_KEYS = ("device", "progress")


def _run_experiment(exp: Experiment, root: Path) -> str:
    """Train ``exp`` into ``root/runs/<name>`` unless a finished run with its configuration is stored."""
    path = root / "runs" / exp.name
    if (path / "summary.json").exists():
        stored = json.loads((path / "config.json").read_text())
        want = exp.config.as_dict()
        diff = sorted(k for k in want if k not in _RUNTIME_KEYS and stored.get(k) != want[k])
        if diff:
            raise ValueError(f"{path} holds a finished run with another configuration (keys {diff}); use another --out "
                             "or delete that run")
        log.info("%s: stored, skipped", exp.name)
        return "stored"
    log.info("%s: training (%s, budget %d computations)", exp.name, exp.label, exp.config.budget)
    res = train(exp.config, path, resume=True)
    return "diverged" if res.diverged else "trained"


def _energy(x: torch.Tensor) -> torch.Tensor:
    return x.diff(dim=-1).pow(2).flatten(1).mean(1) + x.diff(dim=-2).pow(2).flatten(1).mean(1)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    img = x.detach().cpu().double().clamp(0, 1).permute(1, 2, 0).numpy()
    return np.round(img * 255).astype(np.uint8)


def _reconstruct(problem, theta: torch.Tensor, y: torch.Tensor, x_star: torch.Tensor) -> tuple[torch.Tensor, float]:
    x = solve_lower(problem.bind(theta, y), IMAGE_EPS).x
    return x, float(psnr(x, x_star)[0])


def _save_artifact(root: Path, name: str, meta: dict, arrays: dict[str, np.ndarray]) -> Path:
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomic(root / "artifacts" / f"{name}.npz", buf.getvalue())
    return write_json_atomic(root / "artifacts" / f"{name}.json", meta)


def _best(runs: list[pr.StoredRun], step: str) -> pr.StoredRun | None:
    ok = [r for r in runs if r.spec.get("step") == step and r.finished and not r.diverged
          and math.isfinite(r.final("train_loss"))]
    return min(ok, key=lambda r: r.final("train_loss")) if ok else None


def make_fig3_artifact(root: Path, scale: Scale, device: str = "cpu") -> Path:
    """Fig. 3's images: the training crop with the most structure (largest mean squared finite
    difference) denoised with each row's parameters after each milestone (the last stored iterate
    with at most that many computations), at certified accuracy ``IMAGE_EPS`` in float64.

    Rows: the best constant-step and the best decreasing-step ISGD run of Fig. 1 (lowest final full
    training loss; the paper shows its best variants) and MAID.
    """
    runs = pr.load_runs(root, "fig3")
    isgd = [r for r in runs if r.spec.get("method") == "isgd"]
    rows = [r for r in (_best(isgd, "constant"), _best(isgd, "inverse_sqrt")) if r is not None]
    rows += [r for r in runs if r.spec.get("method") == "maid" and r.finished]
    if not rows:
        raise FileNotFoundError(f"no finished denoising runs under {root / 'runs'} for Fig. 3")
    dev = torch.device(device)
    cfg = TrainConfig.from_dict(json.loads((rows[0].path / "config.json").read_text()))
    problem, data, _ = load_data(cfg, dev, torch.float64)
    k = int(_energy(data.x_star).argmax())
    x_star, y = data.x_star[k:k + 1], data.y[k:k + 1]
    arrays = {"clean": _to_uint8(x_star[0]), "noisy": _to_uint8(y[0])}
    meta: dict[str, Any] = {"image_index": k, "milestones": list(scale.milestones),
                            "paper_milestones": list(PAPER_MILESTONES), "claim_computations": scale.claim_computations,
                            "paper_claim_computations": PAPER_CLAIM_COMPUTATIONS, "factor": scale.factor,
                            "noisy_psnr": float(psnr(y, x_star)[0]), "eps": IMAGE_EPS, "rows": []}
    for i, run in enumerate(rows):
        try:
            iterates = load_iterates(run.path)
        except FileNotFoundError:
            raise FileNotFoundError(f"{run.path} holds no iterates: Fig. 3 needs the iterates of {run.name} "
                                    "(iterates_every > 0)") from None
        panels = []
        for j, ms in enumerate(scale.milestones):
            before = [r for r in iterates if r["computations"] <= ms] or iterates[:1]
            rec = before[-1]
            x, value = _reconstruct(problem, rec["theta"].to(device=dev, dtype=torch.float64), y, x_star)
            arrays[f"row{i}_m{j}"] = _to_uint8(x[0])
            panels.append({"milestone": ms, "computations": int(rec["computations"]), "iteration": int(rec["iteration"]),
                           "psnr": value})
        meta["rows"].append({"name": run.name, "label": run.label, "method": run.spec["method"],
                             "step": run.spec.get("step"), "alpha0": run.spec.get("alpha0"), "panels": panels})
    return _save_artifact(root, "fig3", meta, arrays)


def make_fig5_artifact(root: Path, device: str = "cpu") -> Path:
    """Fig. 5's images: the deblurring test crop with the most structure, blurry, and reconstructed
    with the final parameters of every deblurring run (float64, certified accuracy ``IMAGE_EPS``)."""
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
    x_star, y = test.x_star[k:k + 1], test.y[k:k + 1]
    arrays = {"truth": _to_uint8(x_star[0]), "blurry": _to_uint8(y[0])}
    panels = [{"key": "truth", "label": "ground truth", "psnr": None},
              {"key": "blurry", "label": "blurry", "psnr": float(psnr(y, x_star)[0])}]
    for key, run in [(f"maid-{r.name}", r) for r in maids] + [("isgd", isgd[0])]:
        theta = torch.load(run.path / "theta_final.pt", map_location="cpu", weights_only=False)["theta"]
        x, value = _reconstruct(problem, theta.to(device=dev, dtype=torch.float64), y, x_star)
        arrays[key] = _to_uint8(x[0])
        panels.append({"key": key, "label": run.label, "psnr": value, "run": run.name})
    meta = {"image_index": k, "eps": IMAGE_EPS, "panels": panels}
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


def run_bound(root: Path, run_dirs: list[Path], scale: Scale, device: str = "cpu") -> FoEBoundResult:
    """The FoE bound check on the bound runs, written to ``root/bound`` (run paths relative to ``root``)."""
    result = analyze_runs(run_dirs, tight_accuracy=scale.tight_accuracy, max_iterates=scale.bound_iterates,
                          device=device)
    result.runs = _relative(run_dirs, root)
    write_bound_results(result, root / "bound")
    return result


# ----------------------------------------------------------------------------------------------
# drawing


def figure_scripts_dir() -> Path:
    """``paper_figures/`` of the source tree (next to the ``validation`` package)."""
    return Path(__file__).resolve().parents[2] / "paper_figures"


def load_figure_script(key: str) -> ModuleType:
    """The figure script of ``key`` (``fig1`` ... ``constants``) as a module with ``draw`` and ``main``."""
    if key not in FIGURE_SCRIPTS:
        raise ValueError(f"unknown figure {key!r}; use one of {FIGURE_KEYS}")
    path = figure_scripts_dir() / FIGURE_SCRIPTS[key]
    if not path.exists():
        raise FileNotFoundError(f"figure script {path} not found; the figures are drawn by the scripts in paper_figures/ "
                                "of a source checkout")
    spec = importlib.util.spec_from_file_location(f"paper_figures_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


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


def render_markdown(root: Path, scale: Scale, figures: dict[str, list[Path]], verdicts: dict[str, list[pr.Verdict]],
                    notes: list[str], seconds: float | None, device: str, data: str, test_data: str | None) -> str:
    ms = ", ".join(str(m) for m in scale.milestones)
    lines = [
        "# The paper's figures, reproduced",
        "",
        f"*Bilevel Learning with Inexact Stochastic Gradients*, Section 3 (Figs. 1-5) and Theorem 1. Scale "
        f"**{scale.name}**: {scale.summary}. Training data: {data}; test data: {test_data or 'embedded'}; device: "
        f"{device}." + (f" Generated in {seconds:.0f} s." if seconds is not None else ""),
        "",
        f"Computations (lower-level + CG iterations summed over images) are {scale.factor:.4g} times the paper's: Fig. 3's "
        f"milestones 1e4, 5e4, 1e5, 2e5 are {ms} here, and the claims' \"2e5 computations\" is "
        f"{scale.claim_computations}. Verdicts are computed from the stored results "
        f"(`validation.experiments.paper_results`): loss neighbourhood {100 * pr.NEIGHBOURHOOD_REL:g} % of the total decrease, "
        f"comparable losses {100 * pr.COMPARABLE_REL:g} %, PSNR margin {pr.PSNR_MARGIN_DB} dB, comparable PSNR "
        f"{pr.COMPARABLE_DB} dB.",
        "",
    ]
    for n in notes:
        lines.append(f"- Note: {n}")
    if notes:
        lines.append("")
    lines += ["| figure | claim | verdict |", "|---|---|---|"]
    for key, vs in verdicts.items():
        for v in vs:
            lines.append(f"| {pr.FIGURES[key].title} | {v.claim} | {v.status} |")
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
                      f"  **Verdict: {v.status}.**", ""]
    lines += _experiments_section(root)
    return "\n".join(lines) + "\n"


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
             "| run | figures | task | method | step | alpha0 | m | crop | batch | budget | dtype | iterations | "
             "computations | stop | final train PSNR | final test PSNR |",
             "|" + "---|" * 16]
    for e in plan["experiments"]:
        c, r = e["config"], stored.get(e["name"])
        s = (r.summary or {}) if r is not None else {}
        lines.append(
            f"| {e['name']} | {' '.join(e['figures'])} | {c['task']} | {c['method']} | "
            f"{c['step'] if c['method'] == 'isgd' else '-'} | {c['alpha0']:g} | {c['train_count']} | {c['crop']} | "
            f"{c['batch_size'] if c['method'] == 'isgd' else 'full'} | {c['budget']} | {c['dtype']} | "
            f"{s.get('iterations', '-')} | {s.get('computations', '-')} | {s.get('stop_reason', 'not run')} | "
            f"{_psnr_cell(r.final('train_psnr')) if r else '-'} | {_psnr_cell(r.final('test_psnr')) if r else '-'} |")
    lines.append("")
    maids = {name: maid_breakdown(r.records) for name, r in stored.items() if r.spec.get("method") == "maid"}
    maids = {k: v for k, v in maids.items() if v}
    if maids:
        lines += ["### MAID: steps and where its computations go", "", "```", format_maid_breakdown(maids), "```", ""]
    return lines


def _runs_table(root: Path) -> list[dict]:
    rows = []
    for r in pr.load_runs(root):
        s = r.summary or {}
        rows.append({"name": r.name, "label": r.label, "figures": " ".join(r.figures),
                     "status": "diverged" if r.diverged else ("finished" if r.finished else "unfinished"),
                     "iterations": s.get("iterations", ""), "computations": s.get("computations", ""),
                     "train_loss": r.final("train_loss"), "train_psnr": r.final("train_psnr"),
                     "test_psnr": r.final("test_psnr"), "algorithm_wall_time": s.get("algorithm_wall_time", ""),
                     "stop_reason": s.get("stop_reason", "")})
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


def _needed(exps: list[Experiment], keys: Sequence[str]) -> list[Experiment]:
    return [e for e in exps if set(e.figures) & set(keys)]


def run_figures(out: str | Path, scale: str | Scale = "quick", *, data_dir: str | None = None,
                test_data_dir: str | None = None, device: str = "auto", seeds: int | None = None,
                only: Sequence[str] | None = None, draw_only: bool = False) -> FiguresResult:
    """Run the experiments of ``only`` (default: every figure) that are not stored, the artifacts and
    the bound check, draw every figure and write ``figures.md`` into the run directory ``out``."""
    sc = SCALES[scale] if isinstance(scale, str) else scale
    if isinstance(scale, str) and scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; use one of {sorted(SCALES)}")
    keys = list(only) if only else list(FIGURE_KEYS)
    unknown = [k for k in keys if k not in FIGURE_KEYS]
    if unknown:
        raise ValueError(f"unknown figures {unknown}; use some of {FIGURE_KEYS}")
    keys = [k for k in FIGURE_KEYS if k in keys]
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    root = Path(out)
    job = {"job": "figures", "scale": sc.name, "data_dir": data_dir, "test_data_dir": test_data_dir}
    run_dir = RunDirectory.create(root, job, seed=0, exist_ok=True)
    notes: list[str] = []
    status: dict[str, str] = {}
    plan_path = root / "experiments.json"
    if draw_only:
        if not plan_path.exists():
            raise FileNotFoundError(f"{plan_path} not found: nothing is stored in {root}; run without --draw-only first")
        stored = json.loads(plan_path.read_text())
        notes = list(stored.get("notes", []))
        device_name = stored.get("device", device)
    else:
        exps = experiment_set(sc, data_dir=data_dir, test_data_dir=test_data_dir, device=device, seeds=seeds,
                              notes=notes)
        device_name = str(resolve_device(device))
        if sc.name == "full" and device_name == "cpu":
            log.warning("the full scale on the CPU takes days; use --device cuda on a GPU machine (or --quick)")
        plan = {"scale": sc.describe(), "experiments": [e.as_dict() for e in exps], "notes": notes,
                "device": device_name}
        write_json_atomic(plan_path, plan)
        todo = _needed(exps, keys)
        t0 = time.perf_counter()
        from tqdm.auto import tqdm

        for exp in tqdm(todo, desc=f"figures ({sc.name})", unit="run", leave=False):
            status[exp.name] = _run_experiment(exp, root)
        timings["training"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if "fig3" in keys:
            make_fig3_artifact(root, sc, device_name)
        if "fig5" in keys:
            make_fig5_artifact(root, device_name)
        timings["artifacts"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if {"bound", "constants"} & set(keys):
            bound_dirs = [root / "runs" / e.name for e in exps if "bound" in e.figures]
            if _bound_is_current(root, bound_dirs):
                log.info("bound check: stored, skipped")
            else:
                run_bound(root, bound_dirs, sc, device_name)
        timings["bound"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    figures = draw_figures(root, keys)
    timings["drawing"] = time.perf_counter() - t0
    for key in FIGURE_KEYS:  # figures drawn by earlier calls stay in figures.md
        png = root / "figures" / f"{pr.FIGURES[key].stem}.png"
        if key not in figures and png.exists():
            figures[key] = [png]
    figures = {k: figures[k] for k in FIGURE_KEYS if k in figures}
    verdicts = pr.all_verdicts(root, list(figures))
    timings["total"] = time.perf_counter() - t_start
    cfg = run_dir.config
    text = render_markdown(root, sc, figures, verdicts, notes, None if draw_only else timings["total"], device_name,
                           cfg.get("data_dir") or "embedded", cfg.get("test_data_dir"))
    md = run_dir.write_text("figures.md", text)
    run_dir.write_csv("results.csv", _runs_table(root))
    run_dir.write_json("verdicts.json", {k: [asdict(v) for v in vs] for k, vs in verdicts.items()})
    if not draw_only:
        run_dir.write_json("timing.json", timings)
    log.info("figures.md: %s (%.0f s)", md, timings["total"])
    return FiguresResult(root, sc.name, figures, verdicts, md, status, timings)


# ----------------------------------------------------------------------------------------------
# command line


def add_figures_arguments(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick",
                      help="CPU scale on the embedded photographs, a few minutes on two cores (the default)")
    size.add_argument("--full", dest="scale", action="store_const", const="full",
                      help="the paper's sizes (1024 crops of 96x96 for denoising, 1536 of 256x256 for deblurring); "
                           "meant for a GPU (--device cuda) and a --data-dir of real photographs")
    size.add_argument("--scale", dest="scale", choices=sorted(SCALES),
                      help="choose the scale by name (tiny: a seconds-long smoke test of the pipeline)")
    p.set_defaults(scale="quick")
    p.add_argument("--out", default=None, help="run directory of the figures (default: runs/figures-<scale>)")
    p.add_argument("--data-dir", default=None, metavar="PATH",
                   help="training photographs: a folder of images, stl10:PATH or pets:PATH (default: embedded)")
    p.add_argument("--test-data-dir", default=None, metavar="PATH",
                   help="test photographs (default: the embedded test photographs)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if available), cpu, cuda (default: auto)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds of the bound check's runs (default: 3 quick, 5 full)")
    p.add_argument("--only", nargs="+", choices=FIGURE_KEYS, default=None, metavar="FIG",
                   help=f"only these figures (and the experiments they need): {', '.join(FIGURE_KEYS)}")
    p.add_argument("--draw-only", action="store_true",
                   help="run no experiment: draw and judge from the results stored in --out")


def run_figures_command(args: argparse.Namespace) -> int:
    out = args.out or f"runs/figures-{args.scale}"
    res = run_figures(out, args.scale, data_dir=args.data_dir, test_data_dir=args.test_data_dir, device=args.device,
                      seeds=args.seeds, only=args.only, draw_only=args.draw_only)
    for key, vs in res.verdicts.items():
        for v in vs:
            log.info("%-9s %-26s %s", key, v.status, v.claim[:90])
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


def run_bound_command(args: argparse.Namespace) -> int:
    result = analyze_runs(args.runs, tight_accuracy=args.tight_accuracy, max_iterates=args.max_iterates,
                          device=args.device)
    root = Path(args.out)
    write_bound_results(result, root / "bound")
    figures = draw_figures(root, ("bound", "constants"))
    lines = ["# Theorem 1 versus observed on stored ISGD runs", "",
             "Runs: " + ", ".join(f"`{r}`" for r in result.runs) + ".", ""]
    for key in ("bound", "constants"):
        lines += [f"## {pr.FIGURES[key].title}", ""] + [f"![{p.stem}]({_rel(p, root)})" for p in figures[key]] + [""]
        for v in pr.VERDICTS[key](root):
            log.info("%s: %s", v.status, v.finding)
            lines += [f"- **Claim.** {v.claim}", f"  **Finding.** {v.finding}", f"  **Verdict: {v.status}.**", ""]
    write_bytes_atomic(root / "report.md", "\n".join(lines).encode())
    log.info("report: %s", root / "report.md")
    return 0
