"""Quality: learned regularizers against the denoisers a user would pick instead, on held-out photographs.

Compared on test crops (default: 64 McMaster 96x96 crops) and on the full test photographs (the 18
McMaster images), Gaussian noise sigma = 25/255 fixed by the seed (never seen in training):

* ``noisy``: the measurement itself;
* ``tv``: smoothed anisotropic total variation, ``R(x) = lambda sum_{c,p} |D_h x_c|_nu + |D_v x_c|_nu``
  (``nu = 1e-2``), its one weight tuned on the training crops (golden-section search in
  ``log lambda``, mean PSNR);
* ``foe``: the paper's Field of Experts learned with ISGD (``isgd train``) on training crops of
  CBSD68 (``benchmarks/configs/quality_foe.json``);
* ``ridge``: the weakly convex ridge family (:mod:`bilevel.ridge`) learned with ISGD on CBSD68 crops
  (``benchmarks/configs/quality_ridge.json``), with its certified lower-level modulus;
* ``cbm3d``: CBM3D (the ``bm3d`` package, an optional extra: ``pip install isgd-toolkit[bench]``;
  skipped with a note when it is not installed).

The variational denoisers are solved to a certified accuracy (``--eval-eps`` on crops; on full
images the same per-pixel accuracy, ``eps sqrt(n_full / n_crop)``) in ``--eval-dtype`` (float64 by
default: float32 cannot certify much below 1e-3); images solved without the certificate are counted
(``uncertified`` of every set) and logged. Outputs are clipped to
``[0, 1]`` before the metrics, as for any saved image. PSNR and SSIM
(``skimage.metrics.structural_similarity``, 7x7 windows, ``data_range = 1``) per image, their
means, and paired comparisons of every pair of methods: mean difference, its standard error and a
95 % Student-t interval, per crop and clustered by photograph (crops of one photograph are not
independent). Training runs resume (``benchmarks/results/runs/``, or ``--foe-run`` / ``--ridge-run``
for runs trained beforehand with the same config), CBM3D outputs are cached there.

Writes ``benchmarks/results/quality.json`` (with per-image tables), ``quality_ridge_theta.json``
(the learned parameters with the family's description) and the figure
``quality_ridge_filters.png`` (learned filters and potentials); with ``--out DIR/NAME.json`` the
last two are ``DIR/NAME_theta.json`` and ``DIR/NAME_filters.png`` (``NAME_ridge_...`` when ``NAME``
does not name the ridge family), so several runs can sit side by side. Usage::

    python benchmarks/bench_quality.py --train-data ../shared/data/CBSD68 --test-data ../shared/data/McMaster
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import RESULTS, portable_path, save_result, shared_data

from bilevel.data import DENOISING_SIGMA, make_measurements, psnr
from bilevel.datasets import describe_source, image_files, load_crops, load_image
from bilevel.foe import FieldOfExperts, difference_kernels
from bilevel.io import write_json_atomic
from bilevel.operators import Identity
from bilevel.filters import draw_ridge
from bilevel.plots import pyplot, save_figure
from bilevel.problem import LowerLevelProblem
from bilevel.ridge import filter_activity
from bilevel.regularizer import regularizer_from_description
from bilevel.solvers import solve_lower_mixed
from bilevel.train import TrainConfig, train

log = logging.getLogger("bench_quality")

TV_NU = 1e-2
METHODS = ("noisy", "tv", "foe", "ridge", "cbm3d")

#: The training runs (TrainConfig keys without the data paths, which come from the command line):
#: the FoE of the earlier quality runs (ISGD, 3e5 computations on 128 CBSD68 crops) and the weakly
#: convex ridge family. ``--foe-config`` / ``--ridge-config`` replace these files.
#: The training configs of the learned methods (shipped with the package).
CONFIGS = {"foe": Path(__file__).resolve().parent / "configs" / "quality_foe.json",
           "ridge": Path(__file__).resolve().parent / "configs" / "quality_ridge.json"}


# -- TV ---------------------------------------------------------------------------------------------

def tv_problem() -> tuple[LowerLevelProblem, FieldOfExperts]:
    fam = FieldOfExperts(num_experts=6, kernel_size=3)
    return LowerLevelProblem(Identity(), fam, 0.0), fam


def tv_theta(fam: FieldOfExperts, lam: float, dtype) -> torch.Tensor:
    ker = difference_kernels(6, 3, 3)  # unit-norm forward differences per channel: |D x| / sqrt(2)
    return fam.pack(math.log(lam * math.sqrt(2.0)), torch.zeros(6), torch.tensor([math.log(TV_NU)]), ker).to(dtype)


def denoise(problem: LowerLevelProblem, theta: torch.Tensor, y: torch.Tensor, eps: float,
            chunk: int = 16) -> tuple[torch.Tensor, int]:
    """Certified lower-level solutions (``||x - x^|| <= eps`` per image; in float64 started from a float32
    solve, :func:`bilevel.solvers.solve_lower_mixed`), in chunks, and the number of
    images whose solve stopped *without* the certificate (iteration cap or the precision floor of the
    dtype: float32 cannot certify much below about 1e-3 on 96x96 crops)."""
    parts = [solve_lower_mixed(problem, theta, y[i:i + chunk], eps) for i in range(0, y.shape[0], chunk)]
    return torch.cat([r.x for r in parts]), int(sum(int((~r.converged).sum()) for r in parts))


def mean_psnr(problem, theta, y, x_star, eps=1e-3, chunk=32) -> float:
    return float(psnr(denoise(problem, theta, y, eps, chunk)[0].clamp(0, 1), x_star).mean())


def tune_tv(y, x_star, dtype, lo=1e-3, hi=1.0, iters=14) -> tuple[float, float, list]:
    """Golden-section search of log(lambda) for the best mean PSNR (unimodal in practice)."""
    problem, fam = tv_problem()
    trace = []

    def score(loglam):
        p = mean_psnr(problem, tv_theta(fam, math.exp(loglam), dtype), y, x_star)
        trace.append({"lambda": math.exp(loglam), "psnr": p})
        return p

    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = score(c), score(d)
    for _ in range(iters):
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = score(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = score(d)
    best = max(trace, key=lambda r: r["psnr"])
    return best["lambda"], best["psnr"], trace


# -- CBM3D --------------------------------------------------------------------------------------------

def cbm3d_available() -> bool:
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return False
    return True


def cbm3d(y: torch.Tensor, sigma: float, cache: Path) -> tuple[torch.Tensor, float]:
    """CBM3D (``bm3d.bm3d_rgb``, its default profile and opponent colour space) of every image of ``y``;
    outputs are cached in ``cache`` (``.npy`` per image, keyed by shape and sigma) and reused.
    Returns the outputs and the seconds spent computing (cached images cost nothing)."""
    import bm3d

    cache.mkdir(parents=True, exist_ok=True)
    out, seconds = [], 0.0
    for i in range(y.shape[0]):
        z = y[i].permute(1, 2, 0).double().numpy()
        key = cache / f"{i:03d}-{z.shape[0]}x{z.shape[1]}-s{sigma:.6f}-{float(np.abs(z).sum()):.6e}.npy"
        if key.exists():
            d = np.load(key)
        else:
            t0 = time.perf_counter()
            d = np.asarray(bm3d.bm3d_rgb(z, sigma), dtype=np.float64)
            seconds += time.perf_counter() - t0
            tmp = key.with_suffix(".tmp.npy")
            np.save(tmp, d)
            tmp.replace(key)
        out.append(torch.from_numpy(d).permute(2, 0, 1))
    return torch.stack(out).to(y.dtype), seconds


# -- metrics and paired comparisons ----------------------------------------------------------------

def ssim(x: torch.Tensor, x_star: torch.Tensor) -> np.ndarray:
    """``skimage.metrics.structural_similarity`` per image (channels last, ``data_range = 1``)."""
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(a.permute(1, 2, 0).double().numpy(), b.permute(1, 2, 0).double().numpy(),
                                           channel_axis=-1, data_range=1.0) for a, b in zip(x, x_star)])


def paired(a: np.ndarray, b: np.ndarray, groups: np.ndarray | None = None) -> dict:
    """Mean of ``a - b`` with its standard error, a 95 % Student-t interval and wins; with ``groups``
    the differences are first averaged per group (clustered: one value per photograph)."""
    from scipy import stats

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if groups is not None:
        d = np.array([d[groups == g].mean() for g in np.unique(groups)])
    n = d.size
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * se) if n > 1 else float("nan")
    return {"n": int(n), "mean_difference": mean, "standard_error": se, "ci95": [mean - half, mean + half],
            "wins": int((d > 0).sum()), "losses": int((d < 0).sum())}


#: Order of the paired comparisons: each difference is "earlier in this list minus later".
PAIR_ORDER = ("ridge", "cbm3d", "foe", "tv", "noisy")


def comparisons(table: dict[str, dict[str, np.ndarray]], groups: np.ndarray | None) -> dict:
    """Paired comparisons ``a - b`` of every pair of methods (``a`` before ``b`` in ``PAIR_ORDER``)."""
    names = [m for m in PAIR_ORDER if m in table]
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            key = f"{a} - {b}"
            out[key] = {}
            for metric in ("psnr", "ssim"):
                out[key][metric] = paired(table[a][metric], table[b][metric])
                if groups is not None:
                    out[key][metric + "_by_photograph"] = paired(table[a][metric], table[b][metric], groups)
    return out


# -- data -------------------------------------------------------------------------------------------

def ridge_artifact(out: Path, suffix: str) -> Path:
    """Where the ridge run's parameters (``theta.json``) or figure (``filters.png``) of the result ``out`` go:
    ``quality_ridge_theta.json`` beside ``quality.json``, ``NAME_theta.json`` beside ``NAME.json`` when ``NAME``
    names the ridge family (``quality_ridge_2e5.json``), else ``NAME_ridge_theta.json``."""
    stem = out.stem if "ridge" in out.stem else f"{out.stem}_ridge"
    return out.parent / f"{stem}_{suffix}"


def crop_sources(folder: str, size: int, count: int) -> np.ndarray:
    """Photograph index of each crop of :func:`bilevel.datasets.folder_crops` (its round-robin order)."""
    counts = []
    for f in image_files(folder):
        img = load_image(f)
        counts.append((img.shape[0] // size) * (img.shape[1] // size))
    order = [i for k in range(max(counts)) for i, n in enumerate(counts) if k < n]
    return np.array(order[:count])


def full_images(folder: str) -> tuple[list[str], list[torch.Tensor]]:
    files = image_files(folder)
    return [f.name for f in files], [torch.from_numpy(load_image(f)).permute(2, 0, 1) for f in files]


# -- training -----------------------------------------------------------------------------------------

def trained(cfg: TrainConfig, run_dir: Path) -> tuple[torch.Tensor, dict]:
    """Train (or resume, or reuse a finished run in) ``run_dir``; returns ``theta`` and the run's summary."""
    res = train(cfg, run_dir, resume=True)
    if res.diverged:
        raise RuntimeError(f"training in {run_dir} diverged ({res.stop_reason}); lower the step size")
    return res.theta.detach().cpu(), res.summary


# -- figure --------------------------------------------------------------------------------------------

# -- main ----------------------------------------------------------------------------------------------

def _summary(values: np.ndarray) -> dict:
    n = values.size
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if n > 1 else 0.0,
            "standard_error": float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0}


def crop_set_result(table: dict[str, dict[str, np.ndarray]], sources: np.ndarray, size: int, seconds: dict) -> dict:
    """The stored comparison on one set of crops: means, per-crop rows (with the photograph of each crop)
    and paired differences clustered by photograph."""
    count = len(sources)
    return {
        "count": count, "size": size,
        "mean": {m: {k: _summary(v) for k, v in t.items()} for m, t in table.items()},
        "per_image": [{"crop": i, "photograph": int(sources[i]), **{f"{m}_{k}": float(t[k][i]) for m, t in table.items() for k in t}}
                      for i in range(count)],
        "paired": comparisons(table, sources), "seconds": seconds,
    }


def evaluate_set(name: str, x_star: torch.Tensor, y: torch.Tensor, solvers: dict, eps: float, chunk: int,
                 cache: Path, use_cbm3d: bool, uncertified: dict | None = None) -> tuple[dict, dict]:
    """Every method on one set: per-image PSNR/SSIM arrays and the seconds each method spent. The
    variational methods are solved in the dtype of their ``theta`` (``y`` is cast to it); the number of
    images solved without the certificate is added to ``uncertified[method]``."""
    table, seconds = {}, {}
    outputs = {"noisy": y}
    for label, (problem, theta) in solvers.items():
        t0 = time.perf_counter()
        outputs[label], missed = denoise(problem, theta, y.to(theta.dtype), eps, chunk)
        seconds[label] = time.perf_counter() - t0
        if uncertified is not None:
            uncertified[label] = uncertified.get(label, 0) + missed
        if missed:
            log.warning("%s, %s: %d of %d images not certified to eps = %.3g (use --eval-dtype float64 or a larger "
                        "--eval-eps)", name, label, missed, y.shape[0], eps)
        log.info("%s, %s: %.1f s", name, label, seconds[label])
    if use_cbm3d:
        outputs["cbm3d"], seconds["cbm3d"] = cbm3d(y, DENOISING_SIGMA, cache / f"cbm3d-{name}")
        log.info("%s, cbm3d: %.1f s (uncached images)", name, seconds["cbm3d"])
    for label, out in outputs.items():
        out = out.clamp(0, 1)
        table[label] = {"psnr": psnr(out.double(), x_star.double()).numpy(), "ssim": ssim(out, x_star)}
        log.info("%s, %s: PSNR %.2f dB, SSIM %.4f", name, label, table[label]["psnr"].mean(), table[label]["ssim"].mean())
    return table, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-data", default=shared_data("CBSD68"),
                    help="training photographs (folder; default: ../shared/data/CBSD68)")
    ap.add_argument("--test-data", default=shared_data("McMaster"),
                    help="test photographs (folder; default: ../shared/data/McMaster)")
    ap.add_argument("--test-count", type=int, default=64, help="test crops (96x96)")
    ap.add_argument("--crop", type=int, default=96, help="side of the test crops and of the TV tuning crops")
    ap.add_argument("--tv-count", type=int, default=128, help="training crops on which TV's weight is tuned")
    ap.add_argument("--foe-config", metavar="FILE", default=str(CONFIGS["foe"]),
                    help="JSON of TrainConfig keys of the FoE run (default: benchmarks/configs/quality_foe.json)")
    ap.add_argument("--ridge-config", metavar="FILE", default=str(CONFIGS["ridge"]),
                    help="JSON of TrainConfig keys of the ridge run (default: benchmarks/configs/quality_ridge.json)")
    ap.add_argument("--foe-run", metavar="DIR", help="run directory of the FoE (trained there, resumed or reused; "
                                                     "default: benchmarks/results/runs/quality-foe-...)")
    ap.add_argument("--ridge-run", metavar="DIR", help="run directory of the ridge family (e.g. one trained beforehand "
                                                       "with `isgd train --config ... --out DIR`: resumed or reused)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods to compare")
    ap.add_argument("--train-eval-count", type=int, default=0, metavar="N",
                    help="also compare every method on the first N crops of the training photographs (the crops the "
                         "learned methods start their training sets with; fresh noise): tells a gap of the model "
                         "from a gap between the training and test photographs (default: 0, none)")
    ap.add_argument("--no-full", action="store_true", help="skip the full test photographs (crops only)")
    ap.add_argument("--full-count", type=int, default=None,
                    help="evaluate only the first N full test photographs (file-name order; default: all)")
    ap.add_argument("--draw-only", action="store_true",
                    help="redraw the ridge figure (quality_ridge_filters.png for --out quality.json) from the stored "
                         "parameters next to --out (quality_ridge_theta.json) and stop")
    ap.add_argument("--train-only", action="store_true",
                    help="only train (or resume) the learned methods among --methods and stop; a later call with the "
                         "same --foe-run/--ridge-run reuses them")
    ap.add_argument("--eval-eps", type=float, default=1e-3,
                    help="certified accuracy of the variational denoisers on crops (full images: same per pixel)")
    ap.add_argument("--eval-dtype", choices=("float64", "float32"), default="float64",
                    help="precision of the variational denoisers' certified solves (training keeps its own); float32 "
                         "hits its precision floor near eps = 1e-3 on 96x96 crops, so its solves run to the iteration "
                         "cap without the certificate (default: float64; the noise is drawn in float32 either way)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(RESULTS / "quality.json"))
    args = ap.parse_args(argv)
    if args.train_eval_count < 0:
        ap.error(f"--train-eval-count must be >= 0, got {args.train_eval_count}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dtype = torch.float32  # of the measurements (the noise), as before
    eval_dtype = getattr(torch, args.eval_dtype)
    out = Path(args.out).resolve()
    runs = out.parent / "runs"
    if args.draw_only:
        stored = ridge_artifact(out, "theta.json")
        if not stored.exists():
            raise FileNotFoundError(f"{stored} does not exist: run the benchmark with the ridge method first")
        data = json.loads(stored.read_text())
        family = regularizer_from_description(data["regularizer"])
        draw_ridge(family, torch.tensor(data["theta"], dtype=torch.float64), ridge_artifact(out, "filters.png"),
                   data.get("title", "weakly convex ridge regularizer learned by ISGD"))
        return 0
    use_cbm3d = "cbm3d" in args.methods
    if use_cbm3d and not cbm3d_available():
        log.warning("the bm3d package is not installed: CBM3D is skipped (pip install isgd-toolkit[bench] or bm3d)")
        use_cbm3d = False

    test_x = load_crops(args.test_data, args.crop, args.test_count, split="test")
    sources = crop_sources(args.test_data, args.crop, args.test_count)
    te = make_measurements(Identity(), test_x.to(dtype), DENOISING_SIGMA, 1)
    result: dict = {"benchmark": "quality", "sigma": DENOISING_SIGMA, "methods": [], "clipped_to_unit_range": True,
                    "test_data": {**describe_source(args.test_data, args.crop, args.test_count, split="test"),
                                  "path": portable_path(args.test_data), "source": portable_path(args.test_data)},
                    "noise_seeds": {"train": 0, "test_crops": 1, "test_full": 2, "train_crops_evaluation": 3}, "eval_eps": args.eval_eps,
                    "eval_dtype": args.eval_dtype}
    solvers: dict[str, tuple[LowerLevelProblem, torch.Tensor]] = {}

    if "tv" in args.methods and not args.train_only:
        tv_x = load_crops(args.train_data, args.crop, args.tv_count)
        tr = make_measurements(Identity(), tv_x.to(dtype), DENOISING_SIGMA, 0)
        lam, tv_train, trace = tune_tv(tr.y.to(eval_dtype), tr.x_star.to(eval_dtype), eval_dtype)
        tvp, tvf = tv_problem()
        solvers["tv"] = (tvp, tv_theta(tvf, lam, eval_dtype))
        result["tv"] = {"lambda": lam, "nu": TV_NU, "train_psnr": tv_train, "search": trace, "tuning_crops": args.tv_count}
        log.info("smoothed TV: lambda %.4g (train PSNR %.2f)", lam, tv_train)

    for label, cfg_file, given_dir in (("foe", args.foe_config, args.foe_run), ("ridge", args.ridge_config, args.ridge_run)):
        if label not in args.methods:
            continue
        path = Path(cfg_file)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} of the {label} run does not exist")
        options = json.loads(path.read_text())
        cfg = TrainConfig(**{"task": "denoising", "method": "isgd", "test_count": args.test_count,
                             "eval_every": max(1, options.get("budget", 20000) // 4), "progress": False, **options,
                             "data": os.path.abspath(args.train_data), "test_data": os.path.abspath(args.test_data),
                             "device": args.device})
        tag = f"{options.get('budget', '')}-{path.stem}"
        run_dir = Path(given_dir) if given_dir else runs / f"quality-{label}-{tag}"
        t0 = time.perf_counter()
        theta, summary = trained(cfg, run_dir)
        if args.train_only:
            log.info("%s trained in %s (%d computations, %.0f s of algorithm time)", label, run_dir,
                     summary["computations"], summary["algorithm_wall_time"])
            continue
        problem = LowerLevelProblem(Identity(), regularizer_from_description(summary["problem"]["regularizer"]), 0.0)
        theta = theta.to(eval_dtype)
        solvers[label] = (problem, theta)
        entry = {"config": {**cfg.as_dict(), "data": portable_path(cfg.data), "test_data": portable_path(cfg.test_data)},
                 "run_dir": portable_path(str(run_dir)), "stop": summary["stop_reason"],
                 "computations": summary["computations"], "algorithm_wall_time_s": summary["algorithm_wall_time"],
                 "regularizer": summary["problem"]["regularizer"], "session_seconds_this_call": time.perf_counter() - t0}
        bound = problem.bind(theta, te.y[:1].to(eval_dtype))
        entry["certified_modulus_96x96"] = bound.modulus
        entry["certified_smoothness_96x96"] = bound.smoothness
        if label == "ridge":
            R = bound.reg
            entry["negative_curvature_bound"] = R.negative_curvature_bound()
            entry["prescribed_weak_convexity"] = problem.regularizer.weak_convexity
            entry["filter_activity"] = filter_activity(problem.regularizer, theta).as_dict()
            title = f"weakly convex ridge regularizer learned by ISGD ({summary['computations']} computations)"
            write_json_atomic(ridge_artifact(out, "theta.json"),
                              {"regularizer": problem.regularizer.describe(), "theta": theta.double().tolist(),
                               "certified_modulus": bound.modulus, "run_config": entry["config"], "title": title})
            fig = draw_ridge(problem.regularizer, theta, ridge_artifact(out, "filters.png"), title)
            entry["figure"] = portable_path(str(fig))
        result[label] = entry

    if args.train_only:
        return 0
    missed: dict[str, int] = {}
    table, seconds = evaluate_set("crops", te.x_star, te.y, solvers, args.eval_eps, 16, runs, use_cbm3d, missed)
    result["methods"] = list(table)
    result["crops"] = {**crop_set_result(table, sources, args.crop, seconds), "uncertified": missed}
    if args.train_eval_count:
        tr_x = load_crops(args.train_data, args.crop, args.train_eval_count)
        tr_sources = crop_sources(args.train_data, args.crop, args.train_eval_count)
        tr = make_measurements(Identity(), tr_x.to(dtype), DENOISING_SIGMA, 3)
        missed = {}
        t, s = evaluate_set("train-crops", tr.x_star, tr.y, solvers, args.eval_eps, 16, runs, use_cbm3d, missed)
        result["train_crops"] = {**crop_set_result(t, tr_sources, args.crop, s), "noise_seed": 3, "uncertified": missed,
                                 "data": portable_path(args.train_data)}
    if not args.no_full:
        names, images = full_images(args.test_data)
        if args.full_count is not None:
            if args.full_count < 1:
                raise ValueError(f"--full-count must be >= 1, got {args.full_count}")
            names, images = names[:args.full_count], images[:args.full_count]
        full_table: dict[str, dict[str, list]] = {}
        full_seconds: dict[str, float] = {}
        missed = {}
        n_crop = 3 * args.crop**2
        for idx, (fname, img) in enumerate(zip(names, images)):
            meas = make_measurements(Identity(), img[None].to(dtype), DENOISING_SIGMA, 2 + idx)
            eps = args.eval_eps * math.sqrt(img.numel() / n_crop)
            t, s = evaluate_set(f"full-{fname}", meas.x_star, meas.y, solvers, eps, 1, runs / "cbm3d-full" / fname,
                                use_cbm3d, missed)
            for m in t:
                for k in t[m]:
                    full_table.setdefault(m, {}).setdefault(k, []).append(float(t[m][k][0]))
            for m, v in s.items():
                full_seconds[m] = full_seconds.get(m, 0.0) + v
        ft = {m: {k: np.array(v) for k, v in d.items()} for m, d in full_table.items()}
        result["full"] = {
            "count": len(names), "noise_seed": "2 + image index",
            "mean": {m: {k: _summary(v) for k, v in t.items()} for m, t in ft.items()},
            "per_image": [{"image": n, **{f"{m}_{k}": float(ft[m][k][i]) for m in ft for k in ft[m]}}
                          for i, n in enumerate(names)],
            "paired": comparisons(ft, None), "seconds": full_seconds, "uncertified": missed,
        }
    if "ridge" in result and "cbm3d" in result["methods"]:
        mp = result["crops"]["mean"]
        result["ridge_beats_cbm3d_on_crops"] = mp["ridge"]["psnr"]["mean"] > mp["cbm3d"]["psnr"]["mean"]
        if "foe" in mp:
            result["ridge_minus_foe_psnr_on_crops"] = mp["ridge"]["psnr"]["mean"] - mp["foe"]["psnr"]["mean"]
    if not use_cbm3d and "cbm3d" in args.methods:
        result["cbm3d_note"] = "bm3d not installed: CBM3D skipped"
    save_result(result, args.out, "quality.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
