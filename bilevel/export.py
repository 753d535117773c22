"""Learned regularizers as small self-describing files that ``isgd denoise`` and ``isgd filters`` read.

A regularizer file (``regularizer.json``, written by every finished training run and by
``isgd export RUN_DIR``) holds everything needed to use a learned regularizer without its run
directory::

    format, version     "isgd-regularizer", 1
    family              the family's describe() dict (rebuilt by
                        bilevel.regularizer.regularizer_from_description)
    channels            image channels the regularizer acts on
    theta               the learned parameters (d numbers, exact float64 values)
    theta_dtype         the floating-point type it was trained in
    task, operator      the lower-level problem it was learned for (operator.describe())
    sigma, mu           noise level of the training measurements and ridge mu of the lower level
    training            the run's full config
    source              run directory, iteration, computations, stop reason, final evaluation,
                        git commit, and whether the run had finished

JSON keeps the file readable and loads without unpickling anything.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .io import write_json_atomic
from .operators import make_operator
from .problem import LowerLevelProblem
from .regularizer import Regularizer, regularizer_from_description

log = logging.getLogger(__name__)

FORMAT = "isgd-regularizer"
VERSION = 1
FILE_NAME = "regularizer.json"


@dataclass
class LearnedRegularizer:
    """A learned regularizer with the problem it was learned for (see the module docstring)."""

    theta: torch.Tensor  # (d,) float64 on the CPU
    family: Regularizer
    task: str
    operator: dict
    sigma: float
    mu: float
    theta_dtype: str = "float64"
    training: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return int(self.family.channels)

    def problem(self, operator: dict | None = None, mu: float | None = None) -> LowerLevelProblem:
        """The lower-level problem ``1/2 ||A x - y||^2 + R_theta(x) + mu/2 ||x||^2`` with the
        training operator and ridge (or the ones given)."""
        desc = dict(operator or self.operator)
        name = desc.pop("name")
        op = make_operator(name, **{k: v for k, v in desc.items() if k in ("size", "sigma", "padding")})
        return LowerLevelProblem(op, self.family, self.mu if mu is None else mu)

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "family": self.family.describe(), "channels": self.channels,
                "theta": [float(v) for v in self.theta.to(torch.float64).tolist()], "theta_dtype": self.theta_dtype,
                "task": self.task, "operator": self.operator, "sigma": self.sigma, "mu": self.mu,
                "training": self.training, "source": self.source}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it may be damaged") from None


def from_run_directory(run: str | os.PathLike) -> LearnedRegularizer:
    """The learned regularizer of a run directory: its final parameters, or those of its last
    checkpoint when the run has not finished (``source.finished`` says which)."""
    from .train import TrainConfig, make_regularizer
    from .rundir import git_commit

    run = Path(run)
    if not (run / "config.json").exists():
        raise FileNotFoundError(f"{run} is not a run directory (no config.json); pass a run directory of `isgd train` "
                                f"or a regularizer file ({FILE_NAME})")
    stored = _read_json(run / "config.json")
    cfg = TrainConfig.from_dict({**TrainConfig.defaults(), **{k: v for k, v in stored.items() if k != "progress"}})
    summary = _read_json(run / "summary.json") if (run / "summary.json").exists() else None
    description = None
    if (run / "theta_final.pt").exists():
        payload = _torch_load(run / "theta_final.pt")
        theta, description = payload["theta"], payload.get("regularizer")
        source = {"finished": True, "iteration": summary and summary.get("iterations"),
                  "computations": summary and summary.get("computations"),
                  "stop_reason": summary and summary.get("stop_reason"), "final": summary and summary.get("final")}
    elif (run / "checkpoints" / "last.pt").exists():
        from .runner import load_checkpoint

        payload = load_checkpoint(run / "checkpoints" / "last.pt")
        theta = payload["state"]["theta"]
        evals = payload.get("evaluations") or [{}]
        source = {"finished": False, "iteration": int(payload["state"]["iteration"]),
                  "computations": payload["state"]["cost"].get("computations"), "stop_reason": None,
                  "final": evals[-1]}
        log.warning("%s has not finished: using the parameters of its last checkpoint (iteration %s)", run,
                    source["iteration"])
    else:
        raise FileNotFoundError(f"{run} holds no learned parameters yet (no theta_final.pt, no checkpoint); train it "
                                "first")
    family = regularizer_from_description(description) if description else make_regularizer(cfg)
    meta = _read_json(run / "meta.json") if (run / "meta.json").exists() else {}
    source.update(run_dir=str(run.resolve()), git_commit=meta.get("git_commit") or git_commit())
    theta = torch.as_tensor(theta).detach().to("cpu", torch.float64).reshape(-1)
    return _checked(LearnedRegularizer(theta, family, cfg.task, make_operator(cfg.spec.operator).describe(),
                                       float(cfg.noise), float(cfg.ridge), cfg.dtype, cfg.run_dict(), source), run)


def _torch_load(path: Path) -> dict:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for damaged files
        raise ValueError(f"{path} is damaged or not a file of this toolkit ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or "theta" not in payload:
        raise ValueError(f"{path} holds no learned parameters ('theta')")
    return payload


def _checked(reg: LearnedRegularizer, where: Path) -> LearnedRegularizer:
    if reg.theta.numel() != reg.family.dim:
        raise ValueError(f"{where}: theta has {reg.theta.numel()} entries, the family {reg.family.describe()['name']} "
                         f"needs {reg.family.dim}")
    if not bool(torch.isfinite(reg.theta).all()):
        raise ValueError(f"{where}: theta holds NaN or infinite values; the run diverged before it was stored")
    return reg


def export_regularizer(run: str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """Write the learned regularizer of a run directory to ``path`` (default ``RUN/regularizer.json``)."""
    reg = from_run_directory(run)
    target = Path(path) if path is not None else Path(run) / FILE_NAME
    return write_json_atomic(target, reg.as_json())


def load_regularizer(path: str | os.PathLike) -> LearnedRegularizer:
    """A learned regularizer from a regularizer file, a run directory (its ``regularizer.json``, else
    its parameters and config) or a run's ``theta_final.pt``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a run directory of `isgd train` or a regularizer file "
                                f"({FILE_NAME}, written by `isgd export`)")
    if path.is_dir():
        return load_regularizer(path / FILE_NAME) if (path / FILE_NAME).exists() else from_run_directory(path)
    if path.suffix == ".pt":
        return from_run_directory(path.parent)
    d = _read_json(path)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"{path} is not a regularizer file of this toolkit (format {FORMAT!r})")
    if d.get("version") != VERSION:
        raise ValueError(f"{path} has version {d.get('version')!r}; this toolkit reads version {VERSION}")
    missing = sorted({"family", "theta", "task", "operator", "sigma", "mu"} - set(d))
    if missing:
        raise ValueError(f"{path} lacks {missing}; export it again with `isgd export RUN_DIR`")
    family = regularizer_from_description(d["family"])
    if "channels" in d and int(d["channels"]) != family.channels:
        raise ValueError(f"{path}: channels = {d['channels']} disagrees with its family ({family.channels})")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d["theta"]):
        raise ValueError(f"{path}: theta must be a list of numbers")
    theta = torch.tensor([float(v) for v in d["theta"]], dtype=torch.float64)
    if not math.isfinite(float(d["sigma"])) or float(d["mu"]) < 0:
        raise ValueError(f"{path}: sigma must be finite and mu >= 0")
    return _checked(LearnedRegularizer(theta, family, str(d["task"]), dict(d["operator"]), float(d["sigma"]),
                                       float(d["mu"]), str(d.get("theta_dtype", "float64")), dict(d.get("training", {})),
                                       dict(d.get("source", {}))), path)


def add_export_arguments(p) -> None:
    p.add_argument("run", metavar="RUN_DIR", help="run directory of `isgd train`")
    p.add_argument("--out", metavar="FILE", default=None,
                   help=f"regularizer file to write (default: RUN_DIR/{FILE_NAME})")


def run_export(args) -> int:
    from .rundir import check_writable_file

    if args.out:
        check_writable_file(args.out, "--out")
    path = export_regularizer(args.run, args.out)
    reg = load_regularizer(path)
    log.info("%s: %s regularizer (d = %d, %d channels) learned for %s at sigma = %.4g, mu = %g%s", path,
             reg.family.describe()["name"], reg.family.dim, reg.channels, reg.task, reg.sigma, reg.mu,
             "" if reg.source.get("finished") else f" (unfinished run, iteration {reg.source.get('iteration')})")
    return 0
