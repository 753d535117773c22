"""Learning regularizers (the FoE or a weakly convex ridge family): configuration, orchestration and
the ``train`` command.

``train(config, out)`` builds the data, the lower-level problem, the method (ISGD, MAID or IGD) and
the callbacks from a :class:`TrainConfig`, runs them in a run directory (see
:mod:`bilevel.rundir`) and returns a :class:`TrainResult`. ``resume=True`` continues a killed or
interrupted run from its last checkpoint, bit for bit on the CPU.

Runs are easy to trust:

* every option is checked against the type of its :class:`TrainConfig` field when the config is
  built (a JSON ``"false"`` is not a boolean; ``1e4`` is the integer 10000), with one message
  naming the option;
* a run directory knows its own config: ``isgd train --out RUN --resume`` reads it, refuses options
  that would change the run and accepts a larger ``budget`` or ``max_iterations`` (recorded in
  ``meta.json`` under ``resumes``);
* the data a run learns from are fingerprinted in ``data.json`` (absolute paths, file names and
  sizes, a SHA-256 of the crops); a resumed run reads the same paths and refuses changed data;
* a start that fails (missing data, a batch larger than the data set, an unwritable ``--out``)
  removes what it wrote;
* Ctrl-C stops after the current iteration, writes a checkpoint and raises
  :class:`TrainingInterrupted` (the command exits with status 130 and says how to resume).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import logging
import math
import resource
import shutil
import time
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .data import TASKS, embedded_crops, make_measurements
from .distributed import from_environment, local_device, shutdown
from .io import write_bytes_atomic
from .methods import ISGD, MAID, MAID_ERRORS, MAIDSettings, TrainingData
from .operators import make_operator
from .problem import LowerLevelProblem
from .regularizer import REGULARIZERS, Regularizer, regularizer_from_description
from .rundir import RunDirectory, check_writable_directory, data_fingerprint, git_commit
from .runner import (Checkpointer, Evaluator, IterateRecorder, MetricsWriter, ProgressBar, Run, Runner, load_checkpoint,
                     restore, stop_on_interrupt)
from .sampling import SAMPLERS, make_sampler
from .schedules import SCHEDULES, Schedule

log = logging.getLogger(__name__)

METHODS = ("isgd", "maid", "igd")
#: Options a resumed run may change: a larger value extends the run (recorded in ``meta.json``).
RESUME_CHANGEABLE = ("budget", "max_iterations")
#: Options that change how a run is shown, not what it computes (not stored, not compared).
DISPLAY_OPTIONS = ("progress",)


@dataclass
class TrainConfig:
    """Every option of a training run (the command line and config files map onto these fields)."""

    task: str = "denoising"
    method: str = "isgd"
    data: str = "embedded"
    test_data: str | None = None
    train_count: int | None = 48
    test_count: int | None = 6
    crop: int | None = None
    sigma: float | None = None
    mu: float | None = None
    seed: int = 0
    sampler_seed: int | None = None
    sampler: str = "tau_nice"
    reshuffle: bool = True
    batch_size: int = 8
    step: str = "constant"
    alpha0: float = 1e-3
    step_power: float = 0.5
    accuracy: str = "constant"
    eps0: float | None = None
    delta_ratio: float = 1.0
    accuracy_power: float = 1.0
    accuracy_rate: float = 0.9
    budget: int = 20000
    max_iterations: int | None = None
    eval_every: int = 5000
    eval_eps: float = 1e-3
    eval_train_count: int | None = None
    checkpoint_every: int = 25
    iterates_every: int = 0
    chunk_size: int = 64
    dtype: str = "float32"
    device: str = "auto"
    init_scale: float | None = None
    init_nu: float | None = None
    per_expert_smoothing: bool = False
    regularizer: str = "foe"
    filters: int | None = None
    kernel_size: int | None = None
    weak_convexity: float = 0.9
    atom: str = "cauchy"
    atom_sign: str = "add"
    kernel_scale: float = 1.0
    init_shape: float = 0.1
    init_budget: float = 0.3
    init_rest: float = 0.01
    certify: bool = True
    maid_rho: float = 0.5
    maid_shrink: float = 0.5
    maid_grow: float = 1.05
    maid_step_grow: float = 10.0 / 9.0
    maid_eta: float = 1e-4
    maid_lam: float = 1e-4
    maid_backtracks: int = 5
    maid_eps_min: float = 1e-7
    maid_error: str = "certified"
    allow_gray: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        hints = _field_types()
        for f in fields(self):
            setattr(self, f.name, check_option(f.name, getattr(self, f.name), hints[f.name]))
        self.validate()

    # -- derived values ---------------------------------------------------------------------
    @property
    def spec(self):
        return TASKS[self.task]

    @property
    def crop_size(self) -> int:
        return self.crop or self.spec.crop

    @property
    def noise(self) -> float:
        return self.spec.sigma if self.sigma is None else self.sigma

    @property
    def ridge(self) -> float:
        return self.spec.mu if self.mu is None else self.mu

    @property
    def accuracy0(self) -> float:
        return self.spec.eps if self.eps0 is None else self.eps0

    def validate(self) -> None:
        def positive(name: str) -> None:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive and finite, got {v!r}")

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; use one of {sorted(TASKS)}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {METHODS}")
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"unknown regularizer {self.regularizer!r}; use one of {REGULARIZERS}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; use one of {SAMPLERS}")
        if self.step not in SCHEDULES or self.accuracy not in SCHEDULES:
            raise ValueError(f"step and accuracy schedules must be one of {SCHEDULES}")
        for name in ("alpha0", "delta_ratio", "eval_eps", "budget", "eval_every",
                     "checkpoint_every", "chunk_size", "batch_size"):
            positive(name)
        if not isinstance(self.iterates_every, int) or self.iterates_every < 0:
            raise ValueError(f"iterates_every must be an integer >= 0, got {self.iterates_every!r}")
        for name in ("eps0", "sigma", "crop", "train_count", "test_count", "max_iterations", "filters", "kernel_size",
                     "init_shape", "init_scale", "init_nu", "init_rest", "kernel_scale", "eval_train_count"):
            if getattr(self, name) is not None:
                positive(name)
        if self.mu is not None and not (math.isfinite(self.mu) and self.mu >= 0):
            raise ValueError(f"mu must be >= 0, got {self.mu}")
        if not (isinstance(self.weak_convexity, (int, float)) and math.isfinite(self.weak_convexity) and self.weak_convexity >= 0):
            raise ValueError(f"weak_convexity must be a finite number >= 0, got {self.weak_convexity!r}")
        if not 0 < self.init_budget < 1:
            raise ValueError(f"init_budget must lie in (0, 1), got {self.init_budget!r}")
        if self.maid_error not in MAID_ERRORS:
            raise ValueError(f"unknown maid_error {self.maid_error!r}; use one of {MAID_ERRORS}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("budget", "eval_every", "checkpoint_every", "chunk_size", "batch_size", "seed"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def run_dict(self) -> dict:
        """What a run directory stores in ``config.json``: every option but the display ones."""
        return {k: v for k, v in self.as_dict().items() if k not in DISPLAY_OPTIONS}

    @classmethod
    def defaults(cls) -> dict:
        """The default value of every option that has one (used to resume runs stored before an
        option existed)."""
        return {f.name: f.default for f in fields(cls) if f.default is not dataclasses.MISSING}

    @classmethod
    def from_dict(cls, d: Any) -> "TrainConfig":
        """Build a config from a mapping of options (a JSON object); every value is checked against
        its field's type (:func:`check_option`)."""
        if not isinstance(d, dict):
            raise ValueError(f"a training config must be a JSON object of options (name: value), got "
                             f"{_json_kind(d)}; see `isgd train --help` for the options")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; see `isgd train --help` for the options")
        return cls(**d)


def _json_kind(value: Any) -> str:
    """How a JSON value is called in messages (``a list``, ``a string``, ...)."""
    for kind, name in ((bool, "a boolean"), (dict, "an object"), (list, "a list"), (str, "a string"),
                       (int, "an integer"), (float, "a number"), (type(None), "null")):
        if isinstance(value, kind):
            return f"{name} ({json.dumps(value)[:60]})"
    return type(value).__name__


@functools.lru_cache(maxsize=1)
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_option(name: str, value: Any, hint: Any, where: str | None = None) -> Any:
    """``value`` as the type ``hint`` of option ``name`` says, or a ``ValueError`` naming the option.

    Booleans must be booleans (the JSON string ``"false"`` is not one); integers may be written as
    integral numbers (``1e4`` is 10000, ``2.5`` is refused); numbers must be finite; ``None`` only
    where the option is optional.
    """
    args = typing.get_args(hint)
    optional = type(None) in args
    kind = next((a for a in args if a is not type(None)), hint) if args else hint
    where = where or f"option {name} ({_flag(name)})"
    quoted = " (a JSON string: write the value without quotes)" if isinstance(value, str) and kind is not str else ""
    if value is None:
        if optional:
            return None
        raise ValueError(f"{where} needs a value, got null")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where} must be true or false{quoted}, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError(f"{where} must be an integer (e.g. 20000 or 2e4){quoted}, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{where} must be a finite number, got {value!r}")
            return float(value)
        raise ValueError(f"{where} must be a number{quoted}, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value


def config_differences(stored: dict, cfg: TrainConfig, ignore: tuple[str, ...] = DISPLAY_OPTIONS) -> dict[str, tuple]:
    """``{option: (stored value, new value)}`` for every option of ``cfg`` that differs from a run's
    stored config, apart from ``ignore``. Both sides are read as a :class:`TrainConfig` (so a stored
    list equals a tuple, ``1`` equals ``1.0``); a key missing from ``stored`` (a run written before
    the option existed) counts as its default value. The one test of "same run configuration" that
    resuming (:func:`config_changes`) and reusing finished runs (``isgd figures``) share."""
    old = TrainConfig.from_dict({**TrainConfig.defaults(), **{k: v for k, v in stored.items() if k not in DISPLAY_OPTIONS}})
    out = {}
    for f in fields(TrainConfig):
        a, b = getattr(old, f.name), getattr(cfg, f.name)
        if f.name not in ignore and f.name not in DISPLAY_OPTIONS and a != b:
            out[f.name] = (a, b)
    return out


def config_changes(stored: dict, cfg: TrainConfig, where: str | Path = "the run directory") -> dict[str, tuple]:
    """``{option: (stored value, new value)}`` for the options of :data:`RESUME_CHANGEABLE` in which
    ``cfg`` differs from the stored config of a run; a difference in any other option (the display
    options aside) is a ``ValueError`` naming each of them (:func:`config_differences`)."""
    diff = config_differences(stored, cfg)
    changes = {k: v for k, v in diff.items() if k in RESUME_CHANGEABLE}
    refused = [f"{_flag(k)} (stored {a!r}, given {b!r})" for k, (a, b) in diff.items() if k not in RESUME_CHANGEABLE]
    if refused:
        raise ValueError(f"{where} holds a run with a different config: {', '.join(refused)}. A resumed run keeps "
                         f"its config (only {' and '.join(_flag(k) for k in RESUME_CHANGEABLE)} may grow); drop "
                         "those options or use another --out")
    return changes


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA device is available; use --device cpu")
    return dev


def _load_images(source: str, split: str, size: int, count: int | None, allow_gray: bool) -> torch.Tensor:
    if source == "embedded":
        return embedded_crops(split, size, count)
    from .datasets import load_crops, parse_source

    options = {"allow_gray": True} if allow_gray and parse_source(source)[0] == "folder" else {}
    return load_crops(source, size, count, split=split, **options)


def test_source(cfg: TrainConfig) -> str | None:
    """Where the test crops come from: ``test_data``, else the embedded test photographs when
    training on the embedded ones, else none."""
    return cfg.test_data or (cfg.data if cfg.data == "embedded" else None)


def _sources(cfg: TrainConfig) -> dict[str, str | None]:
    return {"train": cfg.data, "test": test_source(cfg)}


def load_images(cfg: TrainConfig, sources: dict[str, str | None] | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Ground-truth training and test crops ``(N, 3, H, W)`` float64 of a config.

    ``sources`` (``{"train": ..., "test": ...}``) replaces the config's data sources, e.g. by the
    absolute paths a run directory recorded in ``data.json``.
    """
    sources = sources or _sources(cfg)
    train_x = _load_images(sources["train"], "train", cfg.crop_size, cfg.train_count, cfg.allow_gray)
    test_src = sources.get("test")
    test_x = _load_images(test_src, "test", cfg.crop_size, cfg.test_count, cfg.allow_gray) if test_src else None
    return train_x, test_x


def build_problem(cfg: TrainConfig, train_x: torch.Tensor, test_x: torch.Tensor | None, device: torch.device,
                  dtype: torch.dtype) -> tuple[LowerLevelProblem, TrainingData, TrainingData | None]:
    """Operator, measurements (noise fixed by ``seed``) and the lower-level problem of given crops."""
    op = make_operator(cfg.spec.operator)
    if cfg.method == "isgd" and cfg.sampler in ("tau_nice", "independent") and cfg.batch_size > train_x.shape[0]:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the training set (m = {train_x.shape[0]}); "
                         "lower --batch-size or add images")

    def measure(x: torch.Tensor, seed: int) -> TrainingData:
        m = make_measurements(op, x, cfg.noise, seed)
        return TrainingData(m.x_star.to(device=device, dtype=dtype), m.y.to(device=device, dtype=dtype))

    train = measure(train_x, cfg.seed)
    test = measure(test_x, cfg.seed + 1) if test_x is not None else None
    return LowerLevelProblem(op, make_regularizer(cfg), cfg.ridge), train, test


def make_regularizer(cfg: TrainConfig) -> Regularizer:
    """The regularizer family of a run (through :func:`bilevel.regularizer.regularizer_from_description`)."""
    desc: dict[str, Any] = {"name": cfg.regularizer}
    if cfg.regularizer == "foe":
        desc["per_expert_smoothing"] = cfg.per_expert_smoothing
        if cfg.filters is not None:
            desc["num_experts"] = cfg.filters
    else:
        desc.update(weak_convexity=cfg.weak_convexity, atom=cfg.atom, kernel_scale=cfg.kernel_scale, atom_sign=cfg.atom_sign)
        if cfg.filters is not None:
            desc["num_filters"] = cfg.filters
    if cfg.kernel_size is not None:
        desc["kernel_size"] = cfg.kernel_size
    return regularizer_from_description(desc)


def initial_theta(cfg: TrainConfig, family: Regularizer, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The documented initialization of the run's family with the config's ``init_*`` options (``None``:
    the family's default)."""
    given = {k: v for k, v in (("scale", cfg.init_scale), ("nu", cfg.init_nu)) if v is not None}
    if cfg.regularizer == "ridge":
        given.update(shape=cfg.init_shape, budget=cfg.init_budget, rest=cfg.init_rest)
    return family.init_theta(dtype=dtype, device=device, **given)


def load_data(cfg: TrainConfig, device: torch.device, dtype: torch.dtype) -> tuple[LowerLevelProblem, TrainingData, TrainingData | None]:
    """Crops, operator, measurements (noise fixed by ``seed``) and the lower-level problem."""
    return build_problem(cfg, *load_images(cfg), device, dtype)


def crops_digest(x: torch.Tensor | None) -> str | None:
    """SHA-256 of crops as float64 (what a run learns from, whatever their source)."""
    if x is None:
        return None
    return hashlib.sha256(x.detach().cpu().to(torch.float64).contiguous().numpy().tobytes()).hexdigest()


def build_method(cfg: TrainConfig, problem: LowerLevelProblem, train: TrainingData, ctx=None):
    if cfg.method == "maid":
        settings = MAIDSettings(eps0=cfg.accuracy0, delta0=cfg.accuracy0 * cfg.delta_ratio, alpha0=cfg.alpha0,
                                rho=cfg.maid_rho, shrink=cfg.maid_shrink, grow=cfg.maid_grow,
                                step_grow=cfg.maid_step_grow, eta=cfg.maid_eta, lam=cfg.maid_lam,
                                backtracks=cfg.maid_backtracks, eps_min=cfg.maid_eps_min, error=cfg.maid_error)
        return MAID(problem, train, settings, cfg.chunk_size, ctx=ctx)
    sampler_name = "full" if cfg.method == "igd" else cfg.sampler
    sampler_seed = cfg.seed if cfg.sampler_seed is None else cfg.sampler_seed
    sampler = make_sampler(sampler_name, train.m, cfg.batch_size, sampler_seed, reshuffle=cfg.reshuffle)
    if cfg.method == "igd":
        step, accuracy = Schedule("constant", cfg.alpha0), Schedule("constant", cfg.accuracy0)
    else:
        step = Schedule(cfg.step, cfg.alpha0, power=cfg.step_power)
        accuracy = Schedule(cfg.accuracy, cfg.accuracy0, power=cfg.accuracy_power, rate=cfg.accuracy_rate)
    return ISGD(problem, train, sampler, step, accuracy, cfg.delta_ratio, cfg.chunk_size, ctx=ctx, certify=cfg.certify)


@dataclass
class TrainResult:
    run_dir: RunDirectory
    theta: torch.Tensor
    records: list[dict]
    evaluations: list[dict]
    stop_reason: str
    diverged: bool
    summary: dict = field(default_factory=dict)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run after a complete iteration; its checkpoint is written (the message says
    how to resume)."""


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, extra_callbacks: list | None = None) -> TrainResult:
    """Run (or resume) a training run into the run directory ``out``.

    With ``resume``, a run stored in ``out`` continues from its last checkpoint; ``cfg`` must equal
    its stored config except for a larger ``budget`` or ``max_iterations`` (see
    :func:`config_changes`). ``extra_callbacks`` run after the built-in ones (evaluation, progress,
    metrics, checkpoints). Ctrl-C raises :class:`TrainingInterrupted` after writing a checkpoint.
    """
    device = local_device(resolve_device(cfg.device))
    dtype = torch.float32 if cfg.dtype == "float32" else torch.float64
    owns_group = not torch.distributed.is_initialized()
    ctx = from_environment(device)
    try:
        return _train(cfg, Path(out), resume, extra_callbacks, device, dtype, ctx)
    finally:
        if ctx is not None and owns_group:
            shutdown()


def _stored_config(path: Path) -> dict | None:
    cfg_file = path / "config.json"
    if not cfg_file.exists():
        return None
    try:
        return json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{cfg_file} is not valid JSON ({exc}); the run directory is damaged: use another --out") from None


@dataclass(frozen=True)
class _Before:
    """What existed at ``path`` before a start: nothing (``created``: the topmost folder the start
    creates), a file (never touched), or a folder with the entries ``names``."""

    created: Path | None
    names: frozenset[str] = frozenset()

    @classmethod
    def look(cls, path: Path) -> "_Before":
        if path.exists():
            return cls(None, frozenset(p.name for p in path.iterdir()) if path.is_dir() else frozenset())
        top = path
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        return cls(top)

    def undo(self, path: Path) -> None:
        """Remove what a failed start wrote (and nothing else)."""
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            return
        for entry in path.iterdir() if path.is_dir() else []:
            if entry.name not in self.names:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _data_record(cfg: TrainConfig, sources: dict[str, str | None], train_x: torch.Tensor,
                 test_x: torch.Tensor | None) -> dict:
    rec = {"train": data_fingerprint(sources["train"], "train", cfg.crop_size, cfg.train_count,
                                     crops_digest(train_x), int(train_x.shape[0]))}
    src = sources.get("test")
    rec["test"] = None if src is None else data_fingerprint(src, "test", cfg.crop_size, cfg.test_count,
                                                             crops_digest(test_x), int(test_x.shape[0]))
    return rec


def _recorded_sources(record: dict | None) -> dict[str, str | None] | None:
    """The sources to read on resume: the absolute paths recorded when the run started."""
    if not record:
        return None
    return {split: (None if rec is None else rec.get("load_as", rec.get("source"))) for split, rec in
            (("train", record.get("train")), ("test", record.get("test")))}


def _check_same_data(record: dict, now: dict, path: Path) -> None:
    """Refuse to resume on images other than the ones the run started with (``data.json``)."""
    for split in ("train", "test"):
        was, is_ = record.get(split) or {}, now.get(split) or {}
        if was.get("sha256") != is_.get("sha256"):
            where = was.get("path") or was.get("source") or is_.get("source")
            raise ValueError(f"the {split} images of {path} (from {where}) differ from the ones the run started with "
                             f"(data.json: {was.get('n_crops', 0)} crops, SHA-256 {str(was.get('sha256'))[:12]}...; "
                             f"now {is_.get('n_crops', 0)} crops, {str(is_.get('sha256'))[:12]}...); restore those "
                             "images or start a new run with another --out")


def _train(cfg: TrainConfig, out: Path, resume: bool, extra_callbacks, device, dtype, ctx) -> TrainResult:
    is_main = ctx is None or ctx.is_main
    stored = _stored_config(out) if is_main or resume else None
    if stored is not None and not resume:
        raise ValueError(f"run directory {out} already holds a run; choose another --out or pass --resume")
    changes = config_changes(stored, cfg, out) if stored is not None else {}
    fresh = stored is None
    before = _Before.look(out) if is_main and fresh else None
    run: Run | None = None
    try:
        if is_main:
            check_writable_directory(out, "--out")
            if fresh:
                run_dir = RunDirectory.create(out, cfg.run_dict(), cfg.seed)
            else:
                run_dir = RunDirectory.open(out)
        if ctx is not None:
            ctx.barrier()  # the run directory exists (and was validated) before any rank reads it
            if not is_main:
                run_dir = RunDirectory.open(out)
                logging.getLogger("bilevel").setLevel(logging.WARNING)
        recorded = None if fresh else run_dir.read_json("data.json")
        sources = _recorded_sources(recorded) or _sources(cfg)
        train_x, test_x = load_images(cfg, sources)
        data_now = _data_record(cfg, sources, train_x, test_x)
        if recorded:
            _check_same_data(recorded, data_now, out)
        elif is_main:
            run_dir.write_json("data.json", data_now)
        problem, train_data, test_data = build_problem(cfg, train_x, test_x, device, dtype)
        method = build_method(cfg, problem, train_data, ctx)
        theta0 = initial_theta(cfg, problem.regularizer, dtype, device)
        run = Run(method, method.init(theta0), cfg.budget)
        n_eval = train_data.m if cfg.eval_train_count is None else min(cfg.eval_train_count, train_data.m)
        eval_train = (train_data if n_eval == train_data.m
                      else TrainingData(train_data.x_star[:n_eval], train_data.y[:n_eval]))
        evaluator = Evaluator(problem, eval_train, test_data, cfg.eval_every, cfg.eval_eps, cfg.chunk_size, ctx=ctx)
        progress = ProgressBar(f"{method.name} {cfg.task}", enabled=cfg.progress if is_main else False)
        stateful: list = [evaluator]
        if cfg.iterates_every:
            stateful.append(IterateRecorder(run_dir.path, cfg.iterates_every, write=is_main))
        checkpointer = Checkpointer(run_dir, cfg.checkpoint_every, stateful, is_main=is_main)
        metrics = MetricsWriter(run_dir, enabled=is_main)
        if not fresh and checkpointer.path.exists():
            restore(run, load_checkpoint(checkpointer.path), stateful, device)
            log.info("resuming %s at iteration %d (%d computations)", run_dir.path, run.state.iteration,
                     run.state.computations)
        elif not fresh:
            log.info("no checkpoint in %s yet: starting from the beginning", run_dir.path)
        if not fresh and is_main:
            _record_resume(run_dir, cfg, changes, run)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        runner = Runner([*stateful, progress, metrics, checkpointer, *(extra_callbacks or [])],
                        max_iterations=cfg.max_iterations)
        with stop_on_interrupt(run, enabled=ctx is None):
            runner.run(run)
    except BaseException:
        if before is not None and (run is None or not run.started):
            before.undo(out)
        raise
    seconds = time.perf_counter() - t0
    if run.interrupted:
        raise TrainingInterrupted(
            f"interrupted at iteration {run.state.iteration} ({run.state.computations} computations): checkpoint "
            f"written to {checkpointer.path}; continue with: isgd train --out {out} --resume")
    import io

    if is_main:
        buf = io.BytesIO()
        torch.save({"theta": run.state.theta.detach().cpu(), "regularizer": problem.regularizer.describe()}, buf)
        write_bytes_atomic(run_dir.path / "theta_final.pt", buf.getvalue())
    last_eval = run.evaluations[-1] if run.evaluations else {}
    summary = {
        "method": method.name,
        "stop_reason": run.stop_reason,
        "diverged": run.diverged,
        "iterations": run.state.iteration,
        "computations": run.state.computations,
        "cost": run.state.cost.as_dict(),
        "algorithm_wall_time": run.state.wall_time,
        "session_seconds": seconds,
        "peak_memory_bytes": _peak_memory(device),
        "device": str(device),
        "final": last_eval,
        "problem": problem.describe(),
        "m": train_data.m,
        "world_size": 1 if ctx is None else ctx.world_size,
    }
    if is_main:
        run_dir.write_json("summary.json", summary)
        from .export import export_regularizer

        export_regularizer(run_dir.path)
    if run.diverged:
        log.error("run stopped: %s", run.stop_reason)
    else:
        log.info("%s finished (%s): %d iterations, %d computations, train PSNR %.2f dB%s", method.name, run.stop_reason,
                 run.state.iteration, run.state.computations, last_eval.get("train_psnr", float("nan")),
                 f", test PSNR {last_eval['test_psnr']:.2f} dB" if "test_psnr" in last_eval else "")
    return TrainResult(run_dir, run.state.theta, run.records, run.evaluations, run.stop_reason or "", run.diverged, summary)


def _record_resume(run_dir: RunDirectory, cfg: TrainConfig, changes: dict[str, tuple], run: Run) -> None:
    """Append this resume to ``meta.json`` (``resumes``: time, iteration, command line, the source commit
    of this session, changed options) and store the changed options in ``config.json``."""
    import sys

    meta = run_dir.meta
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "iteration": run.state.iteration,
             "computations": run.state.computations, "argv": list(sys.argv), "git_commit": git_commit(),
             "changes": {k: {"stored": a, "now": b} for k, (a, b) in changes.items()}}
    meta.setdefault("resumes", []).append(entry)
    run_dir.write_json("meta.json", meta)
    if changes:
        run_dir.write_json("config.json", cfg.run_dict())
        log.info("resumed with %s", ", ".join(f"{_flag(k)} {a} -> {b}" for k, (a, b) in changes.items()))


# -- command line ------------------------------------------------------------------------------

_HELP = {
    "task": "problem: denoising (96x96 crops, sigma 25/255) or deblurring (256x256 crops, 7x7 blur sigma 2)",
    "method": "upper-level method: isgd (Algorithm 1), maid (adaptive deterministic baseline) or igd (full-batch, fixed step)",
    "data": "training images: 'embedded', a folder of images, 'stl10:PATH', 'pets:PATH' (see bilevel.datasets)",
    "test_data": "test images (default: the embedded test photographs when --data embedded, else none)",
    "train_count": "number of training crops m",
    "test_count": "number of test crops",
    "crop": "crop size in pixels (default: the task's, 96 or 256)",
    "sigma": "noise standard deviation (default: the task's, 25/255 or 5/255)",
    "mu": "ridge mu of the lower level (default: the task's, 0 or 1e-2)",
    "seed": "seed of the noise realization, the initialization and (unless --sampler-seed) the sampler",
    "sampler_seed": "seed of the mini-batch sampler alone (default: --seed); vary it to average over sampling on one problem",
    "reshuffle": "tau_nice: cut a fresh permutation per epoch (default); --no-reshuffle draws independent batches, as Theorem 1 assumes",
    "max_iterations": "stop after this many upper-level iterations even if budget is left (default: no limit)",
    "certify": "log a certified error bound with every ISGD hypergradient (the direct bound: no extra solve, but its "
               "local constants add about 15-20 %% to an iteration's wall time, not to its computations; "
               "--no-certify for speed runs); MAID always certifies with its --maid-error oracle",
    "sampler": f"sampling of mini-batches: {', '.join(SAMPLERS)}",
    "batch_size": "mini-batch size tau (expected size for 'independent')",
    "step": f"step-size schedule: {', '.join(SCHEDULES)}",
    "alpha0": "initial step size alpha_0 (MAID: its initial step)",
    "step_power": "power q of the polynomial step schedule alpha_0/(k+1)^q",
    "accuracy": f"accuracy schedule of eps_k (delta_k = delta_ratio eps_k): {', '.join(SCHEDULES)}",
    "eps0": "initial certified lower-level accuracy eps_0 (default: the task's; MAID: its starting accuracy)",
    "delta_ratio": "delta_k / eps_k for the CG residual tolerance",
    "accuracy_power": "power p of the polynomial accuracy schedule eps_0/(k+1)^p",
    "accuracy_rate": "rate rho of the geometric accuracy schedule eps_0 rho^k",
    "budget": "budget in computations (lower-level + CG iterations summed over images)",
    "eval_every": "evaluate full training loss/PSNR and test PSNR every this many computations",
    "eval_eps": "certified accuracy of the evaluations",
    "eval_train_count": "evaluate the training loss and PSNR on the first N training crops only (default: all of them)",
    "checkpoint_every": "write a checkpoint every this many iterations",
    "iterates_every": "store theta every this many iterations in iterates.pt (0: off)",
    "chunk_size": "images solved at once (bounds memory of full-batch evaluations)",
    "dtype": "float32 or float64",
    "device": "torch device: auto (cuda if available), cpu, cuda, cuda:1, ...",
    "init_scale": "initial regularization scale (FoE: e^{theta_0}, default 0.02; ridge: norm of the "
                  "first-difference filters, default 0.1)",
    "init_nu": "initial smoothing parameter nu (FoE default 0.05; ridge: nu_j in units of the TV filters' norm, default 0.01)",
    "per_expert_smoothing": "FoE: one smoothing parameter per expert (d = 1491) instead of a shared one (d = 1482)",
    "regularizer": f"regularizer family: {', '.join(REGULARIZERS)} (foe: the paper's Field of Experts; ridge: weakly "
                   "convex ridge regularizer with learned potentials and a certified curvature bound, bilevel.ridge)",
    "filters": "number of filters J (default: the family's, FoE 10, ridge 48)",
    "kernel_size": "filter size k, odd (default: 7)",
    "weak_convexity": "ridge: prescribed bound rho_max on the certified negative curvature of R; the lower-level "
                      "modulus is lambda_min(A^T A) + mu - tau rho_max > 0 (must stay below the data term's modulus)",
    "atom": "ridge: weakly convex atom of the potentials, cauchy (log(1 + v^2)/2) or welsch ((1 - exp(-v^2))/2)",
    "atom_sign": "ridge: add the atom to the smoothed absolute value (+ rho_j/kappa s_j^2 phi: more penalty "
                 "everywhere, the default) or subtract it (- rho_j s_j^2 phi: less penalty on large responses, "
                 "edge-preserving); either way psi_j'' >= -rho_j",
    "kernel_scale": "ridge: the filters are kernel_scale times their block of theta (a diagonal preconditioner: "
                    "a step alpha moves the filters by alpha kernel_scale^2 and the potentials by alpha)",
    "init_shape": "ridge: initial scale s_j of the weakly convex atom, in units of the TV filters' norm",
    "init_budget": "ridge: initial fraction tau of the prescribed weak convexity in use, in (0, 1)",
    "init_rest": "ridge: initial norm of the filters beyond the 2C first differences, relative to theirs "
                 "(default 0.01: nearly inactive)",
    "maid_rho": "MAID backtracking factor",
    "maid_shrink": "MAID accuracy factor after a failure",
    "maid_grow": "MAID accuracy factor after a success",
    "maid_step_grow": "MAID step factor after a success",
    "maid_eta": "MAID acceptance: error bound <= (1 - eta) ||gradient||",
    "maid_lam": "MAID sufficient-decrease constant lambda",
    "maid_backtracks": "MAID initial number of backtracking trials J",
    "maid_eps_min": "MAID stops when its accuracy would fall below this",
    "maid_error": "MAID's acceptance oracle: certified (the certified error bound, -d is a guaranteed descent direction) or "
                  "estimated (the error estimate, as the published experiments; no guarantee)",
    "allow_gray": "accept grayscale images in --data/--test-data folders (their grey channel is replicated into RGB)",
    "progress": "progress bar: --progress always, --no-progress never; by default only on a terminal (plain log lines "
                "otherwise). Not part of the run's config",
}


def _option_parser(name: str, hint: Any):
    """An argparse ``type`` for option ``name``: the text parsed as the option's field type says
    (integers may be written ``2e4``), with one message naming the flag."""
    args = typing.get_args(hint)
    kind = next((a for a in args if a is not type(None)), hint) if args else hint

    def parse(text: str):
        value: Any = text
        if kind in (int, float):
            try:
                value = int(text) if kind is int else float(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    what = "an integer (e.g. 20000 or 2e4)" if kind is int else "a number"
                    raise argparse.ArgumentTypeError(f"{_flag(name)} must be {what}, got {text!r}") from None
        try:
            return check_option(name, value, hint, where="the value")
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.__name__ if isinstance(kind, type) else "value"
    return parse


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="JSON file of options (keys as below, with underscores); "
                                                     "options given on the command line override it")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<method>-<task>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint with its stored config (no other option "
                        "needed; options that would change the run are refused, a larger --budget or "
                        "--max-iterations extends it)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (launches torchrun; gloo on CPU, NCCL on GPUs). "
                        "Ranks split every mini-batch and all-reduce the hypergradient; results equal one process "
                        "up to floating-point reduction order (default: 1)")
    p.add_argument("--fail-at-iteration", type=int, default=None, metavar="K",
                   help="fault injection for testing: raise an error on rank --fail-rank after iteration K")
    p.add_argument("--fail-rank", type=int, default=0, metavar="R", help="rank that --fail-at-iteration fails (default: 0)")
    defaults = TrainConfig()
    hints = _field_types()
    for f in fields(TrainConfig):
        default = getattr(defaults, f.name)
        shown = "only on a terminal" if f.name == "progress" else default
        if "default" in _HELP[f.name]:  # the help says what the default is (or what None stands for)
            help_text = _HELP[f.name]
        else:
            help_text = f"{_HELP[f.name]} (default: {shown})"
        if bool in (typing.get_args(hints[f.name]) or (hints[f.name],)):
            p.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
            continue
        choices = {"task": sorted(TASKS), "method": METHODS, "sampler": SAMPLERS, "step": SCHEDULES,
                   "accuracy": SCHEDULES, "dtype": ["float32", "float64"], "regularizer": REGULARIZERS,
                   "atom": ["cauchy", "welsch"], "maid_error": MAID_ERRORS}.get(f.name)
        p.add_argument(_flag(f.name), dest=f.name, type=_option_parser(f.name, hints[f.name]), choices=choices,
                       default=argparse.SUPPRESS, help=help_text)


def read_config_file(path: str | Path) -> dict:
    """The options of a JSON config file, with a clear error for a missing file, a folder, invalid
    JSON or anything but a JSON object."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist; pass the JSON file of options")
    if path.is_dir():
        raise IsADirectoryError(f"config file {path} is a directory; pass a JSON file of options (e.g. run.json)")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a JSON object of options (name: value), got "
                         f"{_json_kind(values)}")
    return values


def requested_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options asked for: the ``--config`` file's, overridden by the flags given."""
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(read_config_file(args.config))
    for f in fields(TrainConfig):
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_dict(requested_options(args))


def resumed_config(out: str | Path, requested: dict[str, Any]) -> TrainConfig:
    """The stored config of the run in ``out`` with the requested options applied: display options
    and a larger ``budget``/``max_iterations`` are taken, anything that would change the run is
    refused (:func:`config_changes`)."""
    out = Path(out)
    stored = _stored_config(out)
    if stored is None:
        raise FileNotFoundError(f"--resume: {out} holds no run to continue (no config.json); start the run without "
                                "--resume")
    unknown = sorted(set(requested) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; see `isgd train --help` for the options")
    base = {**TrainConfig.defaults(), **{k: v for k, v in stored.items() if k not in DISPLAY_OPTIONS}}
    cfg = TrainConfig.from_dict({**base, **requested})
    config_changes(stored, cfg, out)  # refuses changes of the run itself
    return cfg


class InjectedFailure(RuntimeError):
    """Raised by ``--fail-at-iteration`` (tests of fault handling)."""


class _FailAt:
    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def on_start(self, run) -> None:
        pass

    def on_step(self, run, record) -> None:
        if run.state.iteration == self.iteration:
            raise InjectedFailure(f"injected failure after iteration {self.iteration}")

    def on_end(self, run) -> None:
        pass


def launch_distributed(cfg: TrainConfig, out: str, nproc: int, resume: bool, fail_at: int | None, fail_rank: int) -> int:
    """Run ``bilevel train`` under torchrun with ``nproc`` processes; a failing rank stops all of them."""
    import os
    import subprocess
    import sys
    import tempfile

    if nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(cfg.as_dict(), fh)
        cfg_path = fh.name
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "bilevel", "train", "--config", cfg_path, "--out", str(out)]
    if resume:
        cmd.append("--resume")
    if fail_at is not None:
        cmd += ["--fail-at-iteration", str(fail_at), "--fail-rank", str(fail_rank)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    try:
        proc = subprocess.run(cmd, env=env)
    finally:
        os.unlink(cfg_path)
    if proc.returncode != 0:
        log.error("a rank of the %d-process run failed (exit status %d; its error is printed above). All ranks were "
                  "stopped; continue from the last checkpoint with: isgd train --out %s --resume --nproc %d",
                  nproc, proc.returncode, out, nproc)
        return 4
    return 0


def run_train(args: argparse.Namespace) -> int:
    import os

    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out DIR, the run directory to continue")
        cfg = resumed_config(args.out, requested_options(args))
    else:
        cfg = config_from_args(args)
    out = args.out or f"runs/{cfg.method}-{cfg.task}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_writable_directory(Path(out), "--out")
    if args.nproc != 1 and "WORLD_SIZE" not in os.environ:
        return launch_distributed(cfg, out, args.nproc, args.resume, args.fail_at_iteration, args.fail_rank)
    extra = []
    if args.fail_at_iteration is not None and int(os.environ.get("RANK", "0")) == args.fail_rank:
        extra.append(_FailAt(args.fail_at_iteration))
    res = train(cfg, out, resume=args.resume, extra_callbacks=extra)
    log.info("results in %s", res.run_dir.path)
    return 3 if res.diverged else 0
