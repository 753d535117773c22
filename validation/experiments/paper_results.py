r"""Stored results of the paper's figures: readers, and verdicts computed from the stored numbers.

A results directory (written by :mod:`validation.experiments.figures`, read by the scripts in ``paper_figures/``)::

    experiments.json          the scale, the data splits and every experiment: name, label, figures, role, TrainConfig
    runs/<name>/              one training run per experiment: config.json, meta.json, summary.json,
                              evaluations.csv, metrics.csv (possibly thinned for plotting), stats.json
                              (statistics of the full records), job.json (CPU and wall time of the job)
    artifacts/fig3.json/.npz  Fig. 3: a training image denoised at the computation milestones, every seed
    artifacts/fig5.json/.npz  Fig. 5: a test image deblurred by the learned regularizers, and the PSNR of every
                              held-out test image
    bound/bound.json, ...     the FoE bound check (validation.experiments.foe_bound)
    figures/*.png, figures.md, verdicts.json, headline.csv, paper_comparison.csv

Nothing here trains or solves anything: every function only reads files. The verdicts compare the
paper's claims (Section 3, Figs. 1-5; Theorem 1) with the stored numbers. Every comparison between
methods is a paired difference over the seeds that both runs share (the seed fixes the noise
realization and the sampler; the initialization is the same documented start for every seed, so the
intervals do not cover other starting points) or, for deblurring, over the held-out test images,
with a Student-t interval and the rules of :mod:`validation.experiments.intervals`: a claim is
"supported" only when its interval says so, "not supported" when the interval contradicts it, and
"inconclusive at this scale" otherwise (in particular with a single seed).
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from bilevel.plots import pyplot  # the figure scripts draw with it (re-exported)
from bilevel.tables import read_table, records

from .intervals import (
    CONFIDENCE,
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Interval,
    combine,
    exceeds,
    margin_note,
    mean_interval,
    not_worse,
    paired_interval,
)

log = logging.getLogger(__name__)

__all__ = [
    "COMPARABLE_DB",
    "COMPARABLE_REL",
    "CONFIDENCE",
    "FIGURES",
    "INCONCLUSIVE",
    "MILESTONE_SLACK",
    "NEIGHBOURHOOD_REL",
    "NOT_SUPPORTED",
    "PAPER_FIG3_PSNR",
    "PAPER_FIG5_PSNR",
    "PSNR_MARGIN_DB",
    "SUPPORTED",
    "FigureInfo",
    "StoredRun",
    "Verdict",
    "all_verdicts",
    "figure_main",
    "first_reach",
    "load_artifact",
    "load_bound",
    "load_plan",
    "load_runs",
    "oscillation",
    "paper_comparison",
    "pyplot",
    "run_statistics",
    "value_at",
    "value_by",
]

NEIGHBOURHOOD_REL = 0.05
"""A run is in the neighbourhood of the minimum once its training loss (evaluated) is within this
fraction of the total decrease (initial loss minus the lowest loss any run of the same seed reaches)
above that lowest loss."""

COMPARABLE_REL = 0.05
"""Two final training losses are comparable when they differ by at most this relative amount."""

PSNR_MARGIN_DB = 0.1
"""A PSNR is higher than another only when it exceeds it by at least this many dB on average."""

COMPARABLE_DB = 0.25
"""Two PSNRs are comparable when they differ by at most this many dB."""

MILESTONE_SLACK = 0.05
"""Evaluations happen at the end of the iteration that crosses a multiple of ``eval_every``; the value
of a run at a milestone of ``M`` computations is its last evaluation made by ``M (1 + slack)``
computations (one ISGD iteration is 1-3 % of 1e4 computations; one MAID iteration is several times
that, so MAID is read at the parameters it had before the milestone)."""

#: The paper's Fig. 3 (training image, PSNR in dB at 1e4, 5e4, 1e5, 2e5 computations; STL-10, the authors' code).
PAPER_FIG3_PSNR = {"isgd": (23.90, 28.10, 31.18, 31.35), "maid": (20.78, 21.20, 22.89, 29.97)}
#: The paper's Fig. 5 (one deblurred test image, PSNR in dB; Oxford-IIIT Pet, the authors' code).
PAPER_FIG5_PSNR = {"blurry": 24.78, "maid": 27.06, "isgd": 27.86}


@dataclass(frozen=True)
class FigureInfo:
    """A figure of the reproduction: its file stem, title, what it shows and the paper's claims."""

    key: str
    stem: str
    title: str
    shows: str


FIGURES: dict[str, FigureInfo] = {
    "fig1": FigureInfo("fig1", "fig1_isgd_steps", "Fig. 1: ISGD step sizes",
                       "Loss per mini-batch versus computations (lower-level, CG and certification iterations) for ISGD with a constant "
                       "step (left) and the decreasing step alpha0/sqrt(k+1) (right), for each alpha0 (first seed)."),
    "fig2": FigureInfo("fig2", "fig2_isgd_vs_maid", "Fig. 2: ISGD versus MAID",
                       "Left: loss per mini-batch of ISGD variants and upper-level loss of MAID versus computations; "
                       "right: average training PSNR (evaluated at certified accuracy) versus computations, mean over "
                       "seeds with the range of the seeds shaded."),
    "fig3": FigureInfo("fig3", "fig3_denoised_images", "Fig. 3: a denoised training image",
                       "One training image denoised with the regularizer each method had learned after the "
                       "computation milestones (rows: best constant-step ISGD, best decreasing-step ISGD, MAID), "
                       "first seed; the PSNR of every seed is in artifacts/fig3.json."),
    "fig4": FigureInfo("fig4", "fig4_deblurring_psnr", "Fig. 4: deblurring, test PSNR",
                       "Average test PSNR of deblurring versus computations (one evaluation per ISGD epoch and about "
                       "one per MAID iteration), ISGD (decreasing step, more training images) versus MAID."),
    "fig5": FigureInfo("fig5", "fig5_deblurred_images", "Fig. 5: a deblurred test image",
                       "Ground truth, blurry measurement, and the reconstructions with the regularizers learned by "
                       "MAID and ISGD, with PSNR."),
    "bound": FigureInfo("bound", "fig_bound_vs_observed", "Theorem 1 versus observed (FoE denoising)",
                        "Observed min_{t<T} E||grad f(theta_t)||^2 (mean over seeds, intervals) and Theorem 1's right "
                        "side as printed, by its source route, and [5, Thm 3] with fitted (b, c), versus T (log scale)."),
    "constants": FigureInfo("constants", "fig_fitted_constants", "Fitted constants of the FoE problem",
                            "Left: E||grad f_v||^2 at every analysed iterate against the fitted 2A f + B ||grad f||^2 + C "
                            "(and E||z_v||^2 against its fit); right: the table of fitted constants."),
}


@dataclass(frozen=True)
class Verdict:
    """A claim of the paper against this reproduction's stored numbers.

    ``scale`` and ``seeds`` say what the verdict rests on; ``intervals`` are the texts of the intervals
    that decided it (``"0.42 [0.11, 0.73] dB (95 % paired Student-t interval over seeds 1, 2, 3)"``).
    """

    figure: str
    claim: str
    finding: str
    status: str
    numbers: dict = field(default_factory=dict)
    scale: str = ""
    seeds: tuple = ()
    intervals: tuple = ()

    def evidence(self) -> str:
        """Scale, seeds and intervals in one line (figures.md, README)."""
        seeds = ", ".join(str(s) for s in self.seeds) if self.seeds else "none"
        ivs = "; ".join(self.intervals) if self.intervals else "no interval"
        return f"scale {self.scale or '?'}; seeds {seeds}; {ivs}"


# ----------------------------------------------------------------------------------------------
# readers



def compact_law_name(name: str) -> str:
    """A sampling law's stored name with a list of equal probabilities written ``[x]*m`` (older
    records spell out all m entries: ``WithReplacement(q=[0.015625, ..., 0.015625], tau=8)``)."""
    def shorten(match: re.Match) -> str:
        items = [v.strip() for v in match.group(1).split(",")]
        return f"[{items[0]}]*{len(items)}" if len(items) > 1 and len(set(items)) == 1 else match.group(0)
    return re.sub(r"\[([^\[\]]*)\]", shorten, name)

def read_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV file as dicts of numbers (``[]`` if the file does not exist; empty cells left out),
    read with the toolkit's one table reader (:func:`bilevel.tables.read_table`)."""
    if not path.exists():
        return []
    return records(read_table(path))


def load_plan(results_dir: str | Path) -> dict:
    """``experiments.json`` of a results directory."""
    path = Path(results_dir) / "experiments.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {results_dir} is not a results directory of `isgd figures` "
                                "(run `isgd figures --quick --out DIR` first)")
    return json.loads(path.read_text())


def oscillation_of(batch_loss: Sequence[float]) -> float:
    """Standard deviation of the iteration-to-iteration change of log(batch loss) over the second half
    of the iterations (``nan`` with fewer than 4 iterations there)."""
    loss = np.asarray([v for v in batch_loss if isinstance(v, (int, float)) and v > 0], dtype=float)
    half = loss[loss.size // 2:]
    if half.size < 4:
        return math.nan
    return float(np.std(np.diff(np.log(half)), ddof=1))


def loss_rise(train_loss: Sequence[float]) -> float:
    """Sum of the increases of log(training loss) between consecutive evaluations (0 for a monotone decrease)."""
    v = np.asarray([x for x in train_loss if isinstance(x, (int, float)) and x > 0], dtype=float)
    if v.size < 2:
        return math.nan
    return float(np.maximum(np.diff(np.log(v)), 0.0).sum())


def run_statistics(records: list[dict], evaluations: list[dict]) -> dict[str, Any]:
    """Statistics of a run that need its full records (``stats.json``; stored beside thinned metrics)."""
    batch = [r.get("batch_loss") for r in records]
    comps = [r["computations"] for r in records if isinstance(r.get("computations"), (int, float))]
    per_iter = np.diff([0.0] + comps) if comps else np.zeros(0)
    return {
        "records": len(records),
        "oscillation": oscillation_of(batch),
        "loss_rise": loss_rise([e.get("train_loss") for e in evaluations]),
        "max_computations_per_iteration": float(per_iter.max()) if per_iter.size else math.nan,
        "median_computations_per_iteration": float(np.median(per_iter)) if per_iter.size else math.nan,
    }


@dataclass
class StoredRun:
    """A stored training run with its role in the figures (``spec``: task, method, step, alpha0, seed, ...)."""

    name: str
    label: str
    figures: list[str]
    spec: dict
    path: Path
    records: list[dict]
    evaluations: list[dict]
    summary: dict | None
    stored_stats: dict | None = None

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def diverged(self) -> bool:
        return bool(self.summary and self.summary.get("diverged"))

    @property
    def seed(self) -> int:
        return int(self.spec.get("seed", 0))

    @property
    def config_key(self) -> tuple:
        """What identifies a configuration across seeds."""
        s = self.spec
        return (s.get("task"), s.get("method"), s.get("step"), s.get("alpha0"), s.get("maid_error"), s.get("train_count"))

    @property
    def stats(self) -> dict:
        """``stats.json`` if stored (computed from the full records), else computed from the records here."""
        if self.stored_stats is not None:
            return self.stored_stats
        return run_statistics(self.records, self.evaluations)

    def series(self, key: str, table: str = "records") -> tuple[np.ndarray, np.ndarray]:
        """``(computations, values)`` of a column of ``metrics.csv`` (``records``) or ``evaluations.csv``."""
        rows = self.records if table == "records" else self.evaluations
        pairs = [(r["computations"], r[key]) for r in rows if isinstance(r.get(key), (int, float))
                 and isinstance(r.get("computations"), (int, float))]
        if not pairs:
            return np.zeros(0), np.zeros(0)
        c, v = zip(*pairs)
        return np.asarray(c, dtype=float), np.asarray(v, dtype=float)

    def final(self, key: str) -> float:
        """Last evaluation's ``key`` (``nan`` without evaluations)."""
        _, v = self.series(key, "evaluations")
        return float(v[-1]) if v.size else math.nan

    def at(self, key: str, computations: float) -> float:
        """Evaluation ``key`` at a milestone (:func:`value_by`)."""
        return value_by(*self.series(key, "evaluations"), computations)


def load_runs(results_dir: str | Path, figure: str | None = None) -> list[StoredRun]:
    """The stored runs of the plan (of ``figure`` if given) that have metrics, in plan order."""
    root = Path(results_dir)
    out = []
    for e in load_plan(root)["experiments"]:
        if figure is not None and figure not in e["figures"]:
            continue
        path = root / "runs" / e["name"]
        if not (path / "metrics.csv").exists():
            log.debug("no stored results for %s", e["name"])
            continue
        summary_path, stats_path = path / "summary.json", path / "stats.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
        stats = _restore_inf(json.loads(stats_path.read_text())) if stats_path.exists() else None
        out.append(StoredRun(e["name"], e["label"], list(e["figures"]), dict(e["spec"]), path,
                             read_rows(path / "metrics.csv"), read_rows(path / "evaluations.csv"), summary, stats))
    return out


def load_artifact(results_dir: str | Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``artifacts/<name>.json`` and the arrays of ``artifacts/<name>.npz``."""
    base = Path(results_dir) / "artifacts"
    meta_path, arr_path = base / f"{name}.json", base / f"{name}.npz"
    if not meta_path.exists() or not arr_path.exists():
        raise FileNotFoundError(f"{meta_path} (and .npz) not found; run `isgd figures` without --draw-only to compute it")
    with np.load(arr_path) as z:
        arrays = {k: z[k] for k in z.files}
    return _restore_inf(json.loads(meta_path.read_text())), arrays


def _restore_inf(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _restore_inf(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_restore_inf(v) for v in obj]
    if obj == "inf":
        return math.inf
    if obj == "-inf":
        return -math.inf
    if obj is None:
        return None
    return obj


def load_bound(results_dir: str | Path) -> dict:
    """``bound/bound.json`` (``"inf"`` strings back to ``inf``)."""
    path = Path(results_dir) / "bound" / "bound.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `isgd figures --only bound` (without --draw-only) first")
    return _restore_inf(json.loads(path.read_text()))


# ----------------------------------------------------------------------------------------------
# measurements on stored series


def value_at(c: np.ndarray, v: np.ndarray, at: float) -> float:
    """Linear interpolation of a series at computations ``at`` (``nan`` outside the stored range)."""
    if c.size == 0 or at < c[0] or at > c[-1]:
        return math.nan
    return float(np.interp(at, c, v))


def value_by(c: np.ndarray, v: np.ndarray, at: float, slack: float = MILESTONE_SLACK) -> float:
    """The last value recorded by ``at (1 + slack)`` computations (``nan`` before the first record or
    when the series ends before ``at``)."""
    if c.size == 0 or c[-1] < at:
        return math.nan
    idx = np.nonzero(c <= at * (1.0 + slack))[0]
    return float(v[idx[-1]]) if idx.size else math.nan


def oscillation(run: StoredRun) -> float:
    """:func:`oscillation_of` the run's batch losses (from ``stats.json`` when stored)."""
    value = run.stats.get("oscillation")
    return math.nan if value is None else float(value)


def first_reach(run: StoredRun, level: float) -> float:
    """First computations at which the evaluated training loss is at most ``level`` (``inf`` if never)."""
    c, v = run.series("train_loss", "evaluations")
    hit = np.nonzero(v <= level)[0]
    return float(c[hit[0]]) if hit.size else math.inf


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if math.isnan(x):
            return "n/a"
        if math.isinf(x):
            return "inf"
    return f"{x:.{digits}g}"


def _alpha(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")


def _seeds_text(seeds: Iterable[int]) -> str:
    s = sorted(set(int(x) for x in seeds))
    return ("seed " if len(s) == 1 else "seeds ") + ", ".join(str(x) for x in s) if s else "no seeds"


# ----------------------------------------------------------------------------------------------
# grouping runs by configuration over seeds


@dataclass
class Config:
    """The runs of one configuration, by seed."""

    key: tuple
    label: str
    spec: dict
    runs: dict[int, StoredRun]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def ok(self) -> dict[int, StoredRun]:
        """Finished, non-diverged runs with evaluations."""
        return {s: r for s, r in self.runs.items() if r.finished and not r.diverged and r.evaluations}

    @property
    def any_diverged(self) -> bool:
        return any(r.diverged for r in self.runs.values())

    def mean(self, fn: Callable[[StoredRun], float]) -> float:
        vals = [fn(r) for r in self.ok().values()]
        vals = [v for v in vals if math.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan


def _label_without_seed(label: str) -> str:
    return label.split(", seed ")[0]


def group(runs: Iterable[StoredRun]) -> list[Config]:
    """Runs grouped by configuration (order of first appearance)."""
    out: dict[tuple, Config] = {}
    for r in runs:
        c = out.setdefault(r.config_key, Config(r.config_key, _label_without_seed(r.label),
                                                {k: v for k, v in r.spec.items() if k != "seed"}, {}))
        c.runs[r.seed] = r
    return list(out.values())


def paired(a: Config, b: Config, fn: Callable[[StoredRun], float], over: str = "seeds") -> tuple[Interval, list[int]]:
    """Paired interval of ``fn(a_s) - fn(b_s)`` over the seeds where both runs are usable and finite."""
    ra, rb = a.ok(), b.ok()
    seeds = [s for s in sorted(set(ra) & set(rb)) if math.isfinite(fn(ra[s])) and math.isfinite(fn(rb[s]))]
    iv = paired_interval([fn(ra[s]) for s in seeds], [fn(rb[s]) for s in seeds], _seeds_text(seeds))
    return iv, seeds


def _best(configs: Sequence[Config], fn: Callable[[StoredRun], float], lower: bool) -> Config | None:
    """The configuration with the best mean of ``fn`` over its seeds (configurations with a diverged
    seed are left out)."""
    cands = [c for c in configs if not c.any_diverged and c.ok() and math.isfinite(c.mean(fn))]
    if not cands:
        return None
    return (min if lower else max)(cands, key=lambda c: c.mean(fn))


def _plan_scale(results_dir: str | Path) -> tuple[str, dict]:
    plan = load_plan(results_dir)
    return plan["scale"].get("name", "?"), plan["scale"]


def _rise(r: StoredRun) -> float:
    value = r.stats.get("loss_rise")
    return math.nan if value is None else float(value)


def _train_loss(r: StoredRun) -> float:
    return r.final("train_loss")


def _train_psnr(r: StoredRun) -> float:
    return r.final("train_psnr")


# ----------------------------------------------------------------------------------------------
# verdicts


def verdicts_fig1(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    runs = [r for r in load_runs(results_dir, "fig1") if r.spec.get("method") == "isgd"]
    if not runs:
        return [Verdict("fig1", "Fig. 1", "no stored runs", INCONCLUSIVE, scale=scale)]
    configs = group(runs)
    by = {(c.spec["step"], c.spec["alpha0"]): c for c in configs}
    alphas = sorted({c.spec["alpha0"] for c in configs})
    all_seeds = sorted({r.seed for r in runs})
    out = []
    # (1) stability: oscillation of the batch loss, constant minus decreasing, paired over seeds, per alpha0
    statuses, parts, ivs, numbers = [], [], [], {}
    for a in alphas:
        const, dec = by.get(("constant", a)), by.get(("inverse_sqrt", a))
        if const is None or dec is None:
            continue
        seeds = sorted(set(const.runs) & set(dec.runs))
        div_c = [s for s in seeds if const.runs[s].diverged]
        div_d = [s for s in seeds if dec.runs[s].diverged]
        iv, used = paired(const, dec, oscillation)
        status = exceeds(iv, 0.0)
        if div_d and not div_c:
            status = NOT_SUPPORTED
        elif div_c and not div_d:
            status = SUPPORTED if (len(div_c) == len(seeds) and len(seeds) >= 2) or status == SUPPORTED else INCONCLUSIVE
        elif div_c and div_d:
            status = INCONCLUSIVE
        statuses.append(status)
        rise_c, rise_d = const.mean(_rise), dec.mean(_rise)
        text = (f"alpha0 = {_alpha(a)}: oscillation constant minus decreasing {iv.text(3)}"
                + (f"; constant diverged in {_seeds_text(div_c)}" if div_c else "")
                + (f"; decreasing diverged in {_seeds_text(div_d)}" if div_d else "")
                + f"; rise of the log training loss {_fmt(rise_c, 3)} (constant) vs {_fmt(rise_d, 3)} (decreasing) -> {status}")
        parts.append(text)
        ivs.append(f"alpha0 = {_alpha(a)}: {iv.text(3)}")
        numbers[_alpha(a)] = {"interval": iv.as_dict(), "status": status, "diverged_constant": div_c,
                              "diverged_decreasing": div_d}
    out.append(Verdict(
        "fig1", "Fig. 1 caption: the decreasing step size variant exhibits more stability.",
        "Oscillation = standard deviation of the change of log(batch loss) per iteration over the second half of a "
        "run (both schedules see the same batches in the same order for a seed); a diverged run counts as the less "
        "stable one. Supported only if the decreasing step is steadier at every alpha0. " + "; ".join(parts) + ".",
        combine(statuses), numbers, scale, tuple(all_seeds), tuple(ivs)))
    # (2) a small constant step achieves comparable performance (final training loss)
    const = [c for c in configs if c.spec["step"] == "constant" and c.spec["alpha0"] < alphas[-1]]
    dec = [c for c in configs if c.spec["step"] == "inverse_sqrt"]
    bc, bd = _best(const, _train_loss, lower=True), _best(dec, _train_loss, lower=True)
    claim2 = "Fig. 1 caption: a fixed small step size achieves comparable performance (to the decreasing step)."
    if bc is None or bd is None:
        out.append(Verdict("fig1", claim2, "not enough finished, non-diverged runs of both schedules", INCONCLUSIVE,
                           scale=scale, seeds=tuple(all_seeds)))
    else:
        iv, used = paired(bd, bc, lambda r: 1.0, "seeds")  # seeds usable in both
        rel = [(bd.ok()[s].final("train_loss") - bc.ok()[s].final("train_loss")) / bd.ok()[s].final("train_loss")
               for s in used]
        iv = mean_interval(rel, _seeds_text(used))
        status = not_worse(iv, COMPARABLE_REL)
        out.append(Verdict(
            "fig1", claim2,
            f"Best small constant step (alpha0 below the largest, {_alpha(alphas[-1])}; best = lowest mean final training "
            f"loss over seeds): {bc.label}, mean final training loss {_fmt(bc.mean(_train_loss))}; best decreasing step: "
            f"{bd.label}, {_fmt(bd.mean(_train_loss))}. Relative advantage of the constant step (decreasing minus "
            f"constant, over decreasing): {iv.text(3)}; comparable means at most {100 * COMPARABLE_REL:g} % worse, i.e. "
            f"the interval's lower end at least -{COMPARABLE_REL:g}. Final training PSNR: {_fmt(bc.mean(_train_psnr))} "
            f"vs {_fmt(bd.mean(_train_psnr))} dB. The best configurations are chosen on the same seeds.",
            status, {"constant": bc.label, "decreasing": bd.label, "interval": iv.as_dict()}, scale, tuple(used),
            (iv.text(3),)))
    # (3) larger decreasing steps beat the smallest step in the long run
    claim3 = ("Section 3.1: smaller step sizes give stable initial decreases but limited long-term progress; larger "
              "step sizes, especially with decreasing schedules, improve long-term performance.")
    smallest = [c for c in configs if c.spec["alpha0"] == alphas[0]]
    larger_dec = [c for c in dec if c.spec["alpha0"] > alphas[0]]
    bs, bl = _best(smallest, _train_loss, True), _best(larger_dec, _train_loss, True)
    if bs is None or bl is None:
        out.append(Verdict("fig1", claim3, "not enough finished, non-diverged runs", INCONCLUSIVE, scale=scale,
                           seeds=tuple(all_seeds)))
    else:
        _, used = paired(bs, bl, lambda r: 1.0)
        rel = [(bs.ok()[s].final("train_loss") - bl.ok()[s].final("train_loss")) / bs.ok()[s].final("train_loss")
               for s in used]
        iv = mean_interval(rel, _seeds_text(used))
        final_losses = "; ".join(f"{c.label} {_fmt(c.mean(_train_loss))}" + (" (diverged)" if c.any_diverged else "")
                                 for c in configs)
        out.append(Verdict(
            "fig1", claim3,
            f"Best with the smallest alpha0 = {_alpha(alphas[0])}: {bs.label}, mean final training loss "
            f"{_fmt(bs.mean(_train_loss))}; best decreasing step with a larger alpha0: {bl.label}, "
            f"{_fmt(bl.mean(_train_loss))}. Relative improvement of the latter: {iv.text(3)} (supported: interval above "
            f"0). Mean final training losses: {final_losses}.",
            exceeds(iv, 0.0), {"smallest": bs.label, "larger_decreasing": bl.label, "interval": iv.as_dict()}, scale,
            tuple(used), (iv.text(3),)))
    return out


def _fig2_configs(results_dir: str | Path) -> tuple[list[Config], list[Config]]:
    configs = group(load_runs(results_dir, "fig2"))
    return [c for c in configs if c.spec.get("method") == "isgd"], [c for c in configs if c.spec.get("method") == "maid"]


def _maid_name(c: Config) -> str:
    return f"MAID ({c.spec.get('maid_error') or 'certified'} error)"


def verdicts_fig2(results_dir: str | Path) -> list[Verdict]:
    scale, sc = _plan_scale(results_dir)
    milestone = float(sc["claim_computations"])
    paper = sc.get("paper_claim_computations", 200_000)
    milestones = [float(m) for m in sc.get("milestones", [milestone]) if m <= milestone]
    isgd, maids = _fig2_configs(results_dir)
    if not isgd or not maids:
        return [Verdict("fig2", "Fig. 2", "ISGD or MAID runs missing", INCONCLUSIVE, scale=scale)]
    all_seeds = sorted({s for c in isgd + maids for s in c.runs})
    out = []
    # (1) neighbourhood of the minimum reached faster, per seed level
    levels, unsettled = {}, []
    for s in all_seeds:
        runs = [c.ok()[s] for c in isgd + maids if s in c.ok()]
        if not runs:
            continue
        lowest = min(float(np.min(r.series("train_loss", "evaluations")[1])) for r in runs)
        initial = max(float(r.series("train_loss", "evaluations")[1][0]) for r in runs)
        levels[s] = lowest + NEIGHBOURHOOD_REL * (initial - lowest)
        leader = min(runs, key=lambda r: float(np.min(r.series("train_loss", "evaluations")[1])))
        tail = leader.series("train_loss", "evaluations")[1][-2:]
        if tail.size == 2 and float(tail[0] - tail[1]) > NEIGHBOURHOOD_REL * (initial - lowest):
            unsettled.append(s)

    def reach(r: StoredRun) -> float:
        t = first_reach(r, levels.get(r.seed, -math.inf))
        return t if math.isfinite(t) else float(r.summary.get("computations", math.nan) if r.summary else math.nan)

    for m in maids:
        statuses, parts, ivs = [], [], []
        for v in isgd:
            iv, used = paired(m, v, reach)
            censored = [s for s in used if not math.isfinite(first_reach(v.ok()[s], levels[s]))
                        or first_reach(v.ok()[s], levels[s]) > milestone]
            st = exceeds(iv, 0.0)
            if st == SUPPORTED and censored:
                st = INCONCLUSIVE
            statuses.append(st)
            parts.append(f"{v.label}: MAID minus ISGD {iv.text(4)}"
                         + (f" (ISGD not there within {milestone:.0f} computations in {_seeds_text(censored)})"
                            if censored else "") + f" -> {st}")
            ivs.append(f"{v.label}: {iv.text(3)}")
        n_sup, n_not = statuses.count(SUPPORTED), statuses.count(NOT_SUPPORTED)
        status = SUPPORTED if 2 * n_sup > len(statuses) else (NOT_SUPPORTED if 2 * n_not >= len(statuses) else INCONCLUSIVE)
        note = ""
        if unsettled:
            status = INCONCLUSIVE
            note = (f" No run has settled for {_seeds_text(unsettled)}: the lowest loss still drops by more than "
                    f"{100 * NEIGHBOURHOOD_REL:g} % of the total decrease over its last evaluation interval, so the "
                    "minimum's neighbourhood is not identified at this budget.")
        out.append(Verdict(
            "fig2", f"Section 3.1: ISGD variants reached a neighbourhood of the minimum faster than {_maid_name(m)} within "
                    f"{paper:.0e} computations ({milestone:.0f} at this scale).",
            f"Neighbourhood, per seed: evaluated training loss within {100 * NEIGHBOURHOOD_REL:g} % of the total decrease "
            f"above the lowest loss any run of that seed reaches. Computations to get there (a run that never does "
            f"counts with its final computations, which understates MAID's time and overstates nothing in ISGD's "
            f"favour): {'; '.join(parts)}. Supported when more than half of the {len(isgd)} variants are faster with "
            f"intervals above 0 (the paper: all but one)." + note,
            status, {"variants": statuses}, scale, tuple(all_seeds), tuple(ivs)))
    # (2) higher training PSNR up to the claim milestone
    best = _best(isgd, lambda r: r.at("train_psnr", milestone), lower=False)
    for m in maids:
        if best is None:
            out.append(Verdict("fig2", "Section 3.1: ISGD achieved significantly higher training PSNR than MAID",
                               "no usable ISGD runs", INCONCLUSIVE, scale=scale))
            continue
        statuses, parts, ivs = [], [], []
        for ms in milestones:
            iv, used = paired(best, m, lambda r, ms=ms: r.at("train_psnr", ms))
            st = exceeds(iv, PSNR_MARGIN_DB)
            statuses.append(st)
            parts.append(f"{ms:.0f}: {iv.text(3, 'dB')} -> {st}")
            ivs.append(f"{ms:.0f}: {iv.text(3, 'dB')}")
        out.append(Verdict(
            "fig2", f"Section 3.1: up to {paper:.0e} computations ISGD achieved significantly higher training PSNR than "
                    f"{_maid_name(m)}.",
            f"Best ISGD variant (highest mean training PSNR at {milestone:.0f} computations, chosen on the same seeds): "
            f"{best.label}. Training PSNR difference ISGD minus MAID at each milestone up to {milestone:.0f} "
            f"(the last evaluation made by the milestone + {100 * MILESTONE_SLACK:g} %): {'; '.join(parts)}. "
            f"Supported only if the interval is above 0 with a mean of at least {PSNR_MARGIN_DB} dB at every milestone.",
            combine(statuses), {"best": best.label, "milestones": milestones, "statuses": statuses}, scale,
            tuple(all_seeds), tuple(ivs)))
    # (3) MAID comparable to the best ISGD variant by the end
    best_end = _best(isgd, _train_psnr, lower=False)
    for m in maids:
        if best_end is None:
            continue
        iv, used = paired(m, best_end, _train_psnr)
        out.append(Verdict(
            "fig2", f"Section 3.1: {_maid_name(m)}'s adaptivity lets it perform comparably to the best ISGD variant by "
                    "the end.",
            f"Final training PSNR (end of the budget): {_maid_name(m)} {_fmt(m.mean(_train_psnr))} dB, best ISGD "
            f"({best_end.label}, chosen on the same seeds) {_fmt(best_end.mean(_train_psnr))} dB; MAID minus ISGD "
            f"{iv.text(3, 'dB')} (comparable or better: the interval's lower end at least -{COMPARABLE_DB} dB).",
            not_worse(iv, COMPARABLE_DB), {"interval": iv.as_dict()}, scale, tuple(used), (iv.text(3, "dB"),)))
    return out


def _fig3_seeds(row: dict) -> dict[int, list[float]]:
    return {int(k): [float(x) for x in v] for k, v in row.get("psnr_by_seed", {}).items()}


def verdicts_fig3(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    try:
        meta, _ = load_artifact(results_dir, "fig3")
    except FileNotFoundError as exc:
        return [Verdict("fig3", "Fig. 3", str(exc), INCONCLUSIVE, scale=scale)]
    claim_at = float(meta["claim_computations"])
    rows = meta["rows"]
    maids = [r for r in rows if r["method"] == "maid"]
    isgd = [r for r in rows if r["method"] == "isgd"]
    if not maids or not isgd:
        return [Verdict("fig3", "Fig. 3", "ISGD or MAID row missing", INCONCLUSIVE, scale=scale)]
    statuses, parts, ivs, seeds_all = [], [], [], set()
    for k, ms in enumerate(meta["milestones"]):
        if ms >= claim_at:
            continue
        for m in maids:
            pm = _fig3_seeds(m)
            for r in isgd:
                pi = _fig3_seeds(r)
                used = sorted(set(pi) & set(pm))
                seeds_all |= set(used)
                iv = paired_interval([pi[s][k] for s in used], [pm[s][k] for s in used], _seeds_text(used))
                st = exceeds(iv, PSNR_MARGIN_DB)
                statuses.append(st)
                parts.append(f"{ms}: {r['label']} minus {m['label']} {iv.text(3, 'dB')} -> {st}")
                ivs.append(f"{ms}, {r['label']} - {m['label']}: {iv.text(3, 'dB')}")
    return [Verdict(
        "fig3", f"Section 3.1: before {meta['paper_claim_computations']:.0e} computations ({claim_at:.0f} at this scale) "
                "ISGD achieves a higher PSNR than MAID on the training image.",
        f"PSNR of training image {meta['image_index']} (the same crop for every seed, each seed with its own noise) "
        f"denoised with the parameters each run had by the milestone: " + "; ".join(parts)
        + f". Supported only if every ISGD row beats every MAID row by an interval above 0 (mean at least "
          f"{PSNR_MARGIN_DB} dB) at every milestone before {claim_at:.0f}.",
        combine(statuses), {"statuses": statuses}, scale, tuple(sorted(seeds_all)), tuple(ivs))]


def _per_image(meta: dict, run: str) -> list[float]:
    return [float(x) for x in meta.get("per_image", {}).get(run, [])]


def verdicts_fig4(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    runs = load_runs(results_dir, "fig4")
    isgd = [r for r in runs if r.spec.get("method") == "isgd"]
    maids = [r for r in runs if r.spec.get("method") == "maid"]
    if not isgd or not maids:
        return [Verdict("fig4", "Fig. 4", "ISGD or MAID deblurring runs missing", INCONCLUSIVE, scale=scale)]
    try:
        meta, _ = load_artifact(results_dir, "fig5")
    except FileNotFoundError:
        meta = {}
    ri = isgd[0]
    ci, vi = ri.series("test_psnr", "evaluations")
    out = []
    for m in maids:
        cm, vm = m.series("test_psnr", "evaluations")
        pts = [(c, value_by(ci, vi, c), v) for c, v in zip(cm, vm) if c > 0 and math.isfinite(value_by(ci, vi, c))]
        above = sum(1 for _, a, b in pts if a > b)
        a, b = _per_image(meta, ri.name), _per_image(meta, m.name)
        n_img = len(a) if len(a) == len(b) else 0
        iv = paired_interval(a[:n_img], b[:n_img], f"{n_img} held-out test images")
        status = exceeds(iv, PSNR_MARGIN_DB)
        if status == SUPPORTED and pts and above < len(pts):
            status = INCONCLUSIVE
        out.append(Verdict(
            "fig4", f"Section 3.2: ISGD (decreasing step, m = {ri.spec.get('train_count')}) generalizes better than "
                    f"{m.label}: higher average test PSNR after each epoch.",
            f"Final test PSNR per held-out image, ISGD minus MAID: {iv.text(3, 'dB')} (one training run per method: the "
            f"interval is over test images and does not include the variation between training runs). Average test PSNR "
            f"at the end: ISGD {_fmt(ri.final('test_psnr'))} dB, MAID {_fmt(m.final('test_psnr'))} dB. At MAID's "
            f"{len(pts)} evaluations after the start, ISGD's test PSNR (its last evaluation by then) is higher {above} "
            f"times. Supported only if the interval is above 0 (mean at least {PSNR_MARGIN_DB} dB) and ISGD is higher "
            "at every one of them." + margin_note(iv, PSNR_MARGIN_DB, " dB"),
            status, {"interval": iv.as_dict(), "above": above, "points": len(pts)}, scale,
            (int(ri.spec.get("seed", 0)),), (iv.text(3, "dB"),)))
    return out


def verdicts_fig5(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    try:
        meta, _ = load_artifact(results_dir, "fig5")
    except FileNotFoundError as exc:
        return [Verdict("fig5", "Fig. 5", str(exc), INCONCLUSIVE, scale=scale)]
    panels = {p["key"]: p for p in meta["panels"]}
    isgd = panels.get("isgd")
    maids = [p for p in meta["panels"] if p["key"].startswith("maid")]
    if isgd is None or not maids:
        return [Verdict("fig5", "Fig. 5", "ISGD or MAID reconstruction missing", INCONCLUSIVE, scale=scale)]
    out = []
    for m in maids:
        a, b = _per_image(meta, isgd.get("run", "")), _per_image(meta, m.get("run", ""))
        n_img = len(a) if len(a) == len(b) else 0
        iv = paired_interval(a[:n_img], b[:n_img], f"{n_img} held-out test images")
        out.append(Verdict(
            "fig5", f"Fig. 5: ISGD's learned regularizer deblurs test images to a higher PSNR than {m['label']}'s "
                    f"(the paper's image: ISGD {PAPER_FIG5_PSNR['isgd']} dB, MAID {PAPER_FIG5_PSNR['maid']} dB, blurry "
                    f"{PAPER_FIG5_PSNR['blurry']} dB).",
            f"Shown test image {meta['image_index']}: blurry {panels['blurry']['psnr']:.2f} dB, {m['label']} "
            f"{m['psnr']:.2f} dB, ISGD {isgd['psnr']:.2f} dB. Over every held-out test image, ISGD minus MAID: "
            f"{iv.text(3, 'dB')} (supported: interval above 0, mean at least {PSNR_MARGIN_DB} dB; one training run per "
            "method)." + margin_note(iv, PSNR_MARGIN_DB, " dB"),
            exceeds(iv, PSNR_MARGIN_DB), {"isgd": isgd["psnr"], "maid": m["psnr"], "interval": iv.as_dict()}, scale,
            tuple(meta.get("seeds", ())), (iv.text(3, "dB"),)))
    return out


def verdicts_bound(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    try:
        b = load_bound(results_dir)
    except FileNotFoundError as exc:
        return [Verdict("bound", "Theorem 1", str(exc), INCONCLUSIVE, scale=scale)]
    k, fin = b["constants"], b["final"]
    seeds = tuple(int(s) for s in b.get("seeds", ()))
    last = b["curve"][-1]
    conf = 100 * float(b.get("confidence", CONFIDENCE))
    obs_text = (f"observed min over t < {fin['T']} of the mean over {len(seeds)} seeds {_fmt(fin['observed'])}, "
                f"{conf:g} % simultaneous (Bonferroni) Student-t interval [{_fmt(last.get('simultaneous_low'))}, "
                f"{_fmt(last.get('simultaneous_high'))}]")
    out = []
    for key, name in (("printed", "Theorem 1 as printed"), ("source", "Theorem 1 by its source route ([5, Thm 3] + Prop. 1)"),
                      ("fitted", "[5, Theorem 3] with (b, c, A~, B~, C~) fitted to the inexact hypergradients")):
        rows = [r for r in b["curve"] if r.get(key) is not None]
        if not rows:
            out.append(Verdict("bound", name, "not defined (fitted b = 0)", INCONCLUSIVE, scale=scale, seeds=seeds,
                               intervals=(obs_text,)))
            continue
        ok_step = all(r[f"{key}_step_ok"] for r in rows)
        low = [r["simultaneous_low"] if r.get("simultaneous_low") is not None else r["observed"] for r in rows]
        violated = [r["T"] for r, lo in zip(rows, low) if r[key] < lo]
        below_mean = [r["T"] for r in rows if r[key] < r["observed"]]
        ratio = fin.get(f"ratio_{key}")
        ratios = [r[key] / r["observed"] for r in rows if r["observed"] > 0]
        finding = (f"At T = {fin['T']}: {obs_text}; bound {_fmt(fin[key])}, ratio bound/observed "
                   f"{_fmt(ratio)} (over all T: {_fmt(min(ratios)) if ratios else 'n/a'} to "
                   f"{_fmt(max(ratios)) if ratios else 'n/a'}). Step condition with these constants: "
                   f"{'met' if ok_step else 'NOT met'} (alpha L B = {_fmt(k['alpha_L_B'])}).")
        if key != "printed" and fin.get("printed") and fin.get(key) is not None:
            finding += (f" This route's bound is {fin[key]:.7g}, {(fin[key] - fin['printed']) / fin['printed']:+.2e} relative "
                        f"to the printed route's {fin['printed']:.7g}.")
        if violated:
            status = NOT_SUPPORTED
            finding += f" The bound is below the observed value's lower confidence end at T = {violated[:5]}."
        elif below_mean:
            status = INCONCLUSIVE
            finding += f" The bound is below the observed mean (within its interval) at T = {below_mean[:5]}."
        elif not ok_step:
            status = INCONCLUSIVE
            finding += " The theorem's hypothesis on the step fails, so it predicts nothing here (the formula still holds)."
        elif len(seeds) < 2:
            status = INCONCLUSIVE
            finding += " One seed: no interval on the observed value."
        else:
            status = SUPPORTED
            finding += " The bound holds at every T (an estimate: fitted constants, L a lower estimate)."
        out.append(Verdict("bound", f"{name}: min_t E||grad f(theta_t)||^2 <= right side for alpha <= c1/L.", finding,
                           status, {"ratio": ratio}, scale, seeds, (obs_text,)))
    return out


def verdicts_constants(results_dir: str | Path) -> list[Verdict]:
    scale, _ = _plan_scale(results_dir)
    try:
        b = load_bound(results_dir)
    except FileNotFoundError as exc:
        return [Verdict("constants", "Lemma 1 / Proposition 1", str(exc), INCONCLUSIVE, scale=scale)]
    k, e = b["constants"], b["errors"]
    seeds = tuple(int(s) for s in b.get("seeds", ()))
    fin = all(isinstance(k[n], (int, float)) and math.isfinite(k[n]) for n in ("A", "B", "C"))
    out = [Verdict(
        "constants", "Lemma 1: E||grad f_v||^2 <= 2A (f - f_inf) + B ||grad f||^2 + C with finite A, B, C >= 0.",
        f"Fitted on {len(b['points'])} iterates of {len(seeds)} seeds: A = {_fmt(k['A'])}, B = {_fmt(k['B'])}, "
        f"C = {_fmt(k['C'])} (exact second moments of {compact_law_name(b['law']['name'])}; f_lb = 0). A fit exists on any finite data, "
        "so this only shows the sizes.", SUPPORTED if fin else NOT_SUPPORTED, {"A": k["A"], "B": k["B"], "C": k["C"]},
        scale, seeds, ("a fit over every analysed iterate (no interval)",))]
    out.append(Verdict(
        "constants", "Proposition 1 (8): <grad f, E z_v> >= b ||grad f||^2 - c with b > 0 (b(zeta) = 1 - 1/(2 zeta)).",
        f"Fitted b = {_fmt(k['b_fit'])}, c = {_fmt(k['c_fit'])} at the run's eps = {_fmt(b['eps'])}; measured errors "
        f"||z_i - grad f_i||: mean {_fmt(e['mean'])}, max {_fmt(e['max'])}; certified a-posteriori bound up to "
        f"{_fmt(e['certified_max'])}; eps^2 = E||e_v||^2 <= {_fmt(k['eps2'])}; L >= {_fmt(k['L_lower_estimate'])} "
        f"(difference quotients); delta0 = {_fmt(k['delta0'])}.",
        SUPPORTED if k["b_fit"] > 0 else NOT_SUPPORTED, {"b": k["b_fit"], "c": k["c_fit"]}, scale, seeds,
        ("a fit over every analysed iterate (no interval)",)))
    return out


VERDICTS = {"fig1": verdicts_fig1, "fig2": verdicts_fig2, "fig3": verdicts_fig3, "fig4": verdicts_fig4,
            "fig5": verdicts_fig5, "bound": verdicts_bound, "constants": verdicts_constants}


def all_verdicts(results_dir: str | Path, figures: list[str] | None = None) -> dict[str, list[Verdict]]:
    """Verdicts of every figure (or of ``figures``), from the stored results only."""
    return {key: VERDICTS[key](results_dir) for key in (figures or list(VERDICTS))}


def verdict_rows(verdicts: dict[str, list[Verdict]]) -> list[dict[str, Any]]:
    """One flat row per verdict (``headline.csv``/``.json``)."""
    rows = []
    for key, vs in verdicts.items():
        for v in vs:
            rows.append({"figure": key, "claim": v.claim, "status": v.status, "scale": v.scale,
                         "seeds": " ".join(str(s) for s in v.seeds), "intervals": " | ".join(v.intervals),
                         "finding": v.finding})
    return rows


# ----------------------------------------------------------------------------------------------
# the paper's numbers beside ours


def paper_comparison(results_dir: str | Path) -> list[dict[str, Any]]:
    """The values the paper reports (Fig. 3's and Fig. 5's PSNRs) beside this reproduction's, one row each.

    Ours: Fig. 3 rows as mean over seeds with their t-interval; Fig. 5 as the shown image's PSNR and the
    mean over held-out test images with its t-interval.
    """
    rows: list[dict[str, Any]] = []
    try:
        meta3, _ = load_artifact(results_dir, "fig3")
    except FileNotFoundError:
        meta3 = None
    if meta3 is not None:
        for r in meta3["rows"]:
            paper = PAPER_FIG3_PSNR["maid" if r["method"] == "maid" else "isgd"]
            by_seed = _fig3_seeds(r)
            for k, ms in enumerate(meta3["milestones"]):
                if k >= len(paper):
                    break
                iv = mean_interval([v[k] for v in by_seed.values()], _seeds_text(by_seed))
                rows.append({"quantity": f"Fig. 3 training image PSNR after {meta3['paper_milestones'][k]:.0e} computations "
                                         f"({ms} here)",
                             "method": r["label"], "paper_db": paper[k], "ours_db": iv.mean,
                             "ours_low": iv.low if iv.defined else None, "ours_high": iv.high if iv.defined else None,
                             "ours_text": iv.text(4, "dB")})
    try:
        meta5, _ = load_artifact(results_dir, "fig5")
    except FileNotFoundError:
        meta5 = None
    if meta5 is not None:
        for p in meta5["panels"]:
            key = "isgd" if p["key"] == "isgd" else ("maid" if p["key"].startswith("maid") else p["key"])
            if key not in PAPER_FIG5_PSNR:
                continue
            run = p.get("run")
            per = meta5.get("per_image_blurry", []) if key == "blurry" else _per_image(meta5, run or "")
            iv = mean_interval(per, f"{len(per)} held-out test images")
            rows.append({"quantity": "Fig. 5 deblurred test image PSNR (ours: the shown image; interval: all held-out "
                                     "test images)", "method": p["label"], "paper_db": PAPER_FIG5_PSNR[key],
                         "ours_db": p["psnr"], "ours_low": iv.low if iv.defined else None,
                         "ours_high": iv.high if iv.defined else None,
                         "ours_text": f"{p['psnr']:.2f} dB (test-set mean {iv.text(4, 'dB')})"})
    return rows


# ----------------------------------------------------------------------------------------------
# shared by the figure scripts of paper_figures/


def figure_main(draw: Any, description: str | None, argv: list[str] | None = None) -> int:
    """Command line of a figure script: ``python paper_figures/<script>.py RESULTS_DIR [--out DIR]``.

    Draws from the results stored in ``RESULTS_DIR`` (written by ``isgd figures``) into ``--out``
    (default ``RESULTS_DIR/figures``); exit status 2 when the results are missing.
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="results directory of `isgd figures --out`")
    p.add_argument("--out", default=None, help="folder for the PNG files (default: RESULTS_DIR/figures)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        paths = draw(Path(args.results_dir), Path(args.out) if args.out else Path(args.results_dir) / "figures")
    except (FileNotFoundError, ValueError) as exc:
        log.error("error: %s", exc)
        return 2
    for path in paths:
        log.info("wrote %s", path)
    return 0


def verdicts_as_json(verdicts: dict[str, list[Verdict]]) -> dict[str, list[dict]]:
    """``verdicts.json``: every verdict with its fields."""
    return {k: [asdict(v) for v in vs] for k, vs in verdicts.items()}
