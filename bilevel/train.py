"""Learning FoE regularizers: configuration, orchestration and the ``train`` command.

``train(config, out)`` builds the data, the lower-level problem, the method (ISGD, MAID or IGD) and
the callbacks from a :class:`TrainConfig`, runs them in a run directory (see
:mod:`bilevel.rundir`) and returns a :class:`TrainResult`. ``resume=True`` continues a killed run
from its last checkpoint, bit for bit on the CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import resource
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .data import TASKS, embedded_crops, make_measurements
from .distributed import from_environment, local_device, shutdown
from .foe import FieldOfExperts
from .io import write_bytes_atomic
from .methods import ISGD, MAID, MAID_ERRORS, MAIDSettings, TrainingData
from .operators import make_operator
from .problem import LowerLevelProblem
from .rundir import RunDirectory
from .runner import Checkpointer, Evaluator, IterateRecorder, ProgressBar, Run, Runner, load_checkpoint, restore
from .sampling import SAMPLERS, make_sampler
from .schedules import SCHEDULES, Schedule

log = logging.getLogger(__name__)

METHODS = ("isgd", "maid", "igd")


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
    checkpoint_every: int = 25
    iterates_every: int = 0
    chunk_size: int = 64
    dtype: str = "float32"
    device: str = "auto"
    init_scale: float = 0.02
    init_nu: float = 0.05
    per_expert_smoothing: bool = False
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
    progress: bool = True

    def __post_init__(self) -> None:
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
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; use one of {SAMPLERS}")
        if self.step not in SCHEDULES or self.accuracy not in SCHEDULES:
            raise ValueError(f"step and accuracy schedules must be one of {SCHEDULES}")
        for name in ("alpha0", "delta_ratio", "eval_eps", "init_scale", "init_nu", "budget", "eval_every",
                     "checkpoint_every", "chunk_size", "batch_size"):
            positive(name)
        if not isinstance(self.iterates_every, int) or self.iterates_every < 0:
            raise ValueError(f"iterates_every must be an integer >= 0, got {self.iterates_every!r}")
        for name in ("eps0", "sigma", "crop", "train_count", "test_count", "max_iterations"):
            if getattr(self, name) is not None:
                positive(name)
        if self.mu is not None and not (math.isfinite(self.mu) and self.mu >= 0):
            raise ValueError(f"mu must be >= 0, got {self.mu}")
        if self.maid_error not in MAID_ERRORS:
            raise ValueError(f"maid_error must be one of {MAID_ERRORS}, got {self.maid_error!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("budget", "eval_every", "checkpoint_every", "chunk_size", "batch_size", "seed"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be an integer, got {getattr(self, name)!r}")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def defaults(cls) -> dict:
        """The default value of every option that has one (used to resume runs stored before an
        option existed)."""
        return {f.name: f.default for f in fields(cls) if f.default is not dataclasses.MISSING}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; see `isgd train --help` for the options")
        return cls(**d)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA device is available; use --device cpu")
    return dev


def _load_images(source: str, split: str, size: int, count: int | None, seed: int) -> torch.Tensor:
    if source == "embedded":
        return embedded_crops(split, size, count)
    from .datasets import load_crops

    return load_crops(source, size, count, split=split)


def load_data(cfg: TrainConfig, device: torch.device, dtype: torch.dtype) -> tuple[LowerLevelProblem, TrainingData, TrainingData | None]:
    """Crops, operator, measurements (noise fixed by ``seed``) and the lower-level problem."""
    op = make_operator(cfg.spec.operator)
    train_x = _load_images(cfg.data, "train", cfg.crop_size, cfg.train_count, cfg.seed)
    test_src = cfg.test_data or (cfg.data if cfg.data == "embedded" else None)
    test_x = _load_images(test_src, "test", cfg.crop_size, cfg.test_count, cfg.seed) if test_src else None
    if cfg.method == "isgd" and cfg.sampler in ("tau_nice", "independent") and cfg.batch_size > train_x.shape[0]:
        raise ValueError(f"batch size {cfg.batch_size} is larger than the training set (m = {train_x.shape[0]}); "
                         "lower --batch-size or add images")

    def measure(x: torch.Tensor, seed: int) -> TrainingData:
        m = make_measurements(op, x, cfg.noise, seed)
        return TrainingData(m.x_star.to(device=device, dtype=dtype), m.y.to(device=device, dtype=dtype))

    train = measure(train_x, cfg.seed)
    test = measure(test_x, cfg.seed + 1) if test_x is not None else None
    fam = FieldOfExperts(per_expert_smoothing=cfg.per_expert_smoothing)
    return LowerLevelProblem(op, fam, cfg.ridge), train, test


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


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def train(cfg: TrainConfig, out: str | Path, resume: bool = False, extra_callbacks: list | None = None) -> TrainResult:
    """Run (or resume) a training run into the run directory ``out``.

    ``extra_callbacks`` run after the built-in ones (evaluation, progress, checkpoints).
    """
    device = local_device(resolve_device(cfg.device))
    dtype = torch.float32 if cfg.dtype == "float32" else torch.float64
    owns_group = not torch.distributed.is_initialized()
    ctx = from_environment(device)
    try:
        return _train(cfg, out, resume, extra_callbacks, device, dtype, ctx)
    finally:
        if ctx is not None and owns_group:
            shutdown()


def _train(cfg, out, resume, extra_callbacks, device, dtype, ctx) -> TrainResult:
    is_main = ctx is None or ctx.is_main
    if is_main:
        run_dir = RunDirectory.create(out, cfg.as_dict(), cfg.seed, exist_ok=resume,
                                      defaults=TrainConfig.defaults())
    if ctx is not None:
        ctx.barrier()  # the run directory exists (and was validated) before any rank reads it
        if not is_main:
            run_dir = RunDirectory.open(out)
            logging.getLogger("bilevel").setLevel(logging.WARNING)
    problem, train_data, test_data = load_data(cfg, device, dtype)
    method = build_method(cfg, problem, train_data, ctx)
    theta0 = problem.regularizer.init_theta(scale=cfg.init_scale, nu=cfg.init_nu, dtype=dtype, device=device)
    run = Run(method, method.init(theta0), cfg.budget)
    evaluator = Evaluator(problem, train_data, test_data, cfg.eval_every, cfg.eval_eps, cfg.chunk_size, ctx=ctx)
    progress = ProgressBar(f"{method.name} {cfg.task}", enabled=cfg.progress and is_main)
    stateful: list = [evaluator]
    if cfg.iterates_every:
        stateful.append(IterateRecorder(run_dir.path, cfg.iterates_every, write=is_main))
    checkpointer = Checkpointer(run_dir, cfg.checkpoint_every, stateful, is_main=is_main)
    if resume and checkpointer.path.exists():
        restore(run, load_checkpoint(checkpointer.path), stateful, device)
        log.info("resuming %s at iteration %d (%d computations)", run_dir.path, run.state.iteration, run.state.computations)
    elif resume:
        log.info("no checkpoint in %s yet: starting from the beginning", run_dir.path)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    Runner([*stateful, progress, checkpointer, *(extra_callbacks or [])], max_iterations=cfg.max_iterations).run(run)
    seconds = time.perf_counter() - t0
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
    if run.diverged:
        log.error("run stopped: %s", run.stop_reason)
    else:
        log.info("%s finished (%s): %d iterations, %d computations, train PSNR %.2f dB%s", method.name, run.stop_reason,
                 run.state.iteration, run.state.computations, last_eval.get("train_psnr", float("nan")),
                 f", test PSNR {last_eval['test_psnr']:.2f} dB" if "test_psnr" in last_eval else "")
    return TrainResult(run_dir, run.state.theta, run.records, run.evaluations, run.stop_reason or "", run.diverged, summary)


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
    "max_iterations": "stop after this many upper-level iterations even if budget is left",
    "certify": "log a certified error bound with every ISGD hypergradient (the direct bound: no extra solve, a few %% "
               "of an iteration); MAID always certifies with its --maid-error oracle",
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
    "checkpoint_every": "write a checkpoint every this many iterations",
    "iterates_every": "store theta every this many iterations in iterates.pt (0: off)",
    "chunk_size": "images solved at once (bounds memory of full-batch evaluations)",
    "dtype": "float32 or float64",
    "device": "torch device: auto (cuda if available), cpu, cuda, cuda:1, ...",
    "init_scale": "initial regularization scale e^{theta_0}",
    "init_nu": "initial smoothing parameter nu",
    "per_expert_smoothing": "one smoothing parameter per expert (d = 1491) instead of a shared one (d = 1482)",
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
    "progress": "show a progress bar",
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="JSON file of options (keys as below, with underscores); "
                                                     "options given on the command line override it")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<method>-<task>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (launches torchrun; gloo on CPU, NCCL on GPUs). "
                        "Ranks split every mini-batch and all-reduce the hypergradient; results equal one process "
                        "up to floating-point reduction order (default: 1)")
    p.add_argument("--fail-at-iteration", type=int, default=None, metavar="K",
                   help="fault injection for testing: raise an error on rank --fail-rank after iteration K")
    p.add_argument("--fail-rank", type=int, default=0, metavar="R", help="rank that --fail-at-iteration fails (default: 0)")
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_text = f"{_HELP[f.name]} (default: {default})"
        if f.type in ("bool", bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
            continue
        kind = {"int": int, "float": float, "int | None": int, "float | None": float}.get(str(f.type), str)
        choices = {"task": sorted(TASKS), "method": METHODS, "sampler": SAMPLERS, "step": SCHEDULES,
                   "accuracy": SCHEDULES, "dtype": ["float32", "float64"], "maid_error": MAID_ERRORS}.get(f.name)
        p.add_argument(flag, dest=f.name, type=kind, choices=choices, default=argparse.SUPPRESS, help=help_text)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        path = Path(args.config)
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        try:
            values.update(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
    for f in fields(TrainConfig):
        if hasattr(args, f.name):
            values[f.name] = getattr(args, f.name)
    return TrainConfig.from_dict(values)


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

    cfg = config_from_args(args)
    out = args.out or f"runs/{cfg.method}-{cfg.task}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.resume and not args.out:
        raise ValueError("--resume needs --out DIR, the run directory to continue")
    if args.nproc != 1 and "WORLD_SIZE" not in os.environ:
        return launch_distributed(cfg, out, args.nproc, args.resume, args.fail_at_iteration, args.fail_rank)
    extra = []
    if args.fail_at_iteration is not None and int(os.environ.get("RANK", "0")) == args.fail_rank:
        extra.append(_FailAt(args.fail_at_iteration))
    res = train(cfg, out, resume=args.resume, extra_callbacks=extra)
    log.info("results in %s", res.run_dir.path)
    return 3 if res.diverged else 0
