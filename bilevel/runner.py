"""The upper-level loop: a pure step plus callbacks (DESIGN.md, "The flows").

``Runner.run`` repeats ``state, record = method.step(state)`` until a callback or the budget
stops it; everything else (budget, evaluation at tight accuracy, checkpoints, progress bar,
metrics files) is a :class:`Callback`. A step that produces NaN or diverges is discarded: the run
stops with a clear reason and keeps the last good state and checkpoint.

Interruptions: inside :func:`stop_on_interrupt`, Ctrl-C (SIGINT) lets the current iteration finish
and stops the run at a consistent state (``Run.interrupted``): the evaluation and iterate callbacks
then add nothing, the checkpoint is written, and a resumed run continues bit for bit. A second
Ctrl-C stops at once (the last periodic checkpoint stays valid: files written after it are cut
back to it when the run resumes).
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

import torch

from .hypergradient import SquaredError
from .io import append_line, write_bytes_atomic
from .methods import MethodStopped, OptimizerState, TrainingData, WarmStarts, evaluate_batch
from .problem import LowerLevelProblem
from .quality import ssim
from .sampling import FullBatch

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


class Method(Protocol):
    name: str

    def init(self, theta0: torch.Tensor) -> OptimizerState: ...

    def step(self, state: OptimizerState) -> tuple[OptimizerState, dict]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Run:
    """The loop's context, shared with the callbacks."""

    method: Method
    state: OptimizerState
    budget: int
    records: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    stop_reason: str | None = None
    diverged: bool = False
    started: bool = False  # every callback's on_start has run
    interrupted: bool = False  # stopped by Ctrl-C after a complete iteration

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def interrupt(self) -> None:
        """Stop after the current iteration (Ctrl-C)."""
        self.interrupted = True
        self.stop("interrupted")


@contextmanager
def stop_on_interrupt(run: Run, enabled: bool = True) -> Iterator[None]:
    """While the block runs, the first Ctrl-C calls ``run.interrupt()`` instead of raising, so the
    loop stops after the current iteration; a second Ctrl-C raises ``KeyboardInterrupt`` at once.
    Only in the main thread and when Python's default handler is installed (else a no-op)."""
    if (not enabled or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def handler(signum, frame) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        run.interrupt()
        log.warning("interrupt: finishing iteration %d, then writing a checkpoint (Ctrl-C again stops at once; the "
                    "run then resumes from its last periodic checkpoint)", run.state.iteration + 1)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Callback:
    def on_start(self, run: Run) -> None:
        pass

    def on_step(self, run: Run, record: dict) -> None:
        pass

    def on_end(self, run: Run) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _finite(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all())


class Runner:
    """Runs ``method`` until ``budget`` computations, a callback's stop, or a failure."""

    def __init__(self, callbacks: list[Callback], divergence_factor: float = 1e6, max_iterations: int | None = None) -> None:
        self.callbacks = callbacks
        self.divergence_factor = divergence_factor
        self.max_iterations = max_iterations

    def run(self, run: Run) -> Run:
        for cb in self.callbacks:
            cb.on_start(run)
        run.started = True
        first_loss = None
        previous: OptimizerState | None = None  # input of the last successful step: known to be solvable
        while run.stop_reason is None:
            if run.state.computations >= run.budget:
                run.stop("budget")
                break
            if self.max_iterations is not None and run.state.iteration >= self.max_iterations:
                run.stop(f"iteration cap ({self.max_iterations} iterations)")
                break
            try:
                new, record = run.method.step(run.state)
            except MethodStopped as exc:
                run.stop(f"stopped: {exc}")
                break
            except FloatingPointError as exc:
                # the current parameters cannot be solved for: fall back to the previous ones
                if previous is not None:
                    run.state = previous
                    run.records.pop()
                run.diverged = True
                run.stop(f"diverged at iteration {run.state.iteration + 1}: {exc} (the last good state is kept)")
                break
            loss = float(record.get("batch_loss", 0.0))
            if first_loss is None and loss > 0:
                first_loss = loss
            if not _finite(new.theta) or not math.isfinite(loss):
                run.diverged = True
                run.stop(f"diverged at iteration {new.iteration}: non-finite parameters or loss; "
                         "lower the step size (the last good state is kept)")
                break
            if first_loss is not None and loss > self.divergence_factor * first_loss:
                run.diverged = True
                run.stop(f"diverged at iteration {new.iteration}: batch loss {loss:.3g} exceeds "
                         f"{self.divergence_factor:g} x the first one; lower the step size (the last good state is kept)")
                break
            previous = run.state
            run.state = new
            run.records.append(record)
            try:
                for cb in self.callbacks:
                    cb.on_step(run, record)
            except FloatingPointError as exc:  # e.g. the evaluation cannot solve at the new parameters
                run.state = previous
                run.records.pop()
                run.diverged = True
                run.stop(f"diverged at iteration {new.iteration}: {exc} (the last good state is kept)")
        for cb in self.callbacks:
            cb.on_end(run)
        return run


class Evaluator(Callback):
    """Full training loss and PSNR, and test PSNR, at tight accuracy every ``every`` computations.

    Evaluation cost is not charged to the method (it measures, it does not optimize); it has its
    own warm starts, checkpointed with the run.
    """

    def __init__(self, problem: LowerLevelProblem, train: TrainingData, test: TrainingData | None, every: int,
                 eps: float, chunk_size: int = 64, loss: SquaredError = SquaredError(), ctx=None) -> None:
        if every < 1:
            raise ValueError(f"evaluation interval must be >= 1 computation, got {every}")
        self.problem, self.train, self.test = problem, train, test
        self.every, self.eps, self.chunk_size, self.loss, self.ctx = every, eps, chunk_size, loss, ctx
        self.warm_train = WarmStarts(train.y)
        self.warm_test = WarmStarts(test.y) if test is not None else None
        self.next_at = 0

    def _set(self, data: TrainingData, warm: WarmStarts, theta: torch.Tensor) -> tuple[float, float, float]:
        """Loss, mean PSNR and mean SSIM (scikit-image's ``structural_similarity``) of a data set."""
        ev = evaluate_batch(self.problem, theta, data, FullBatch(data.m).draw(), self.eps, None, warm,
                            self.chunk_size, self.loss, ctx=self.ctx)
        # the solutions are the warm starts now; this rank holds those of its images
        mine = torch.arange(data.m) if self.ctx is None else self.ctx.local(torch.arange(data.m))
        total = ssim(warm.x[mine.to(warm.x.device)], data.x_star[mine.to(data.x_star.device)]).sum()
        if self.ctx is not None:
            total = self.ctx.all_reduce(total.to(device=data.y.device))
        return ev.loss, float((10.0 * torch.log10(1.0 / ev.mse)).mean()), float(total) / data.m

    def evaluate(self, run: Run) -> dict:
        t0 = time.perf_counter()
        theta = run.state.theta
        row = {"iteration": run.state.iteration, "computations": run.state.computations, "wall_time": run.state.wall_time}
        row["train_loss"], row["train_psnr"], row["train_ssim"] = self._set(self.train, self.warm_train, theta)
        if self.test is not None:
            row["test_loss"], row["test_psnr"], row["test_ssim"] = self._set(self.test, self.warm_test, theta)
        row["eval_seconds"] = time.perf_counter() - t0
        run.evaluations.append(row)
        log.debug("evaluation %s", row)
        return row

    def _maybe(self, run: Run) -> None:
        if run.state.computations >= self.next_at:
            self.evaluate(run)
            self.next_at = (run.state.computations // self.every + 1) * self.every

    def on_start(self, run: Run) -> None:
        if not run.evaluations:
            self._maybe(run)

    def on_step(self, run: Run, record: dict) -> None:
        self._maybe(run)

    def on_end(self, run: Run) -> None:
        if run.interrupted:  # a resumed run evaluates where the uninterrupted one would
            return
        last = run.evaluations[-1]["computations"] if run.evaluations else -1
        if last != run.state.computations:
            try:
                self.evaluate(run)
            except FloatingPointError as exc:
                log.warning("final evaluation failed: %s", exc)

    def state_dict(self) -> dict[str, Any]:
        out = {"next_at": self.next_at, "warm_train": self.warm_train.state_dict(self.ctx)}
        if self.warm_test is not None:
            out["warm_test"] = self.warm_test.state_dict(self.ctx)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_at = int(state["next_at"])
        self.warm_train.load_state_dict(state["warm_train"])
        if self.warm_test is not None and "warm_test" in state:
            self.warm_test.load_state_dict(state["warm_test"])


class ProgressBar(Callback):
    """Progress over computations: a tqdm bar on a terminal, plain log lines elsewhere.

    ``enabled``: ``None`` (default) shows the bar only when stderr is a terminal (tqdm's
    ``disable=None``); ``True`` always, ``False`` never. Without a bar, a log line is written at
    every ``log_fraction`` of the budget and at least every ``log_seconds`` seconds.
    """

    def __init__(self, description: str, enabled: bool | None = None, log_fraction: float = 0.1,
                 log_seconds: float = 60.0) -> None:
        self.description, self.enabled = description, enabled
        self.log_fraction, self.log_seconds = log_fraction, log_seconds
        self.bar = None
        self._next_fraction = 0.0
        self._last_log = 0.0
        self._t0 = 0.0

    def on_start(self, run: Run) -> None:
        self._t0 = self._last_log = time.monotonic()
        self._next_fraction = self._fraction(run) + self.log_fraction
        if self.enabled is not False:
            from tqdm.auto import tqdm

            bar = tqdm(total=run.budget, desc=self.description, unit="comp", dynamic_ncols=True, leave=False,
                       disable=None if self.enabled is None else False)
            if bar.disable:
                bar.close()
            else:
                self.bar = bar
                bar.update(min(run.state.computations, run.budget))

    def _fraction(self, run: Run) -> float:
        return min(1.0, run.state.computations / max(run.budget, 1))

    def on_step(self, run: Run, record: dict) -> None:
        if self.bar is not None:
            self.bar.update(max(0, min(run.state.computations, run.budget) - self.bar.n))
            self.bar.set_postfix(loss=f"{record.get('batch_loss', 0.0):.4g}", refresh=False)
            return
        now, frac = time.monotonic(), self._fraction(run)
        if frac >= self._next_fraction or now - self._last_log >= self.log_seconds:
            log.info("%s: %3.0f%% (%d of %d computations), iteration %d, loss %.4g, %.0f s", self.description,
                     100 * frac, run.state.computations, run.budget, run.state.iteration,
                     record.get("batch_loss", float("nan")), now - self._t0)
            self._last_log = now
            while self._next_fraction <= frac:
                self._next_fraction += self.log_fraction

    def on_end(self, run: Run) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsWriter(Callback):
    """``metrics.csv`` gets one row per iteration as soon as it is done, ``evaluations.csv`` one row
    per evaluation.

    Each row is appended with a single write, so a reader sees whole rows (a column that appears
    later rewrites the file atomically with the wider header). At the start (fresh or resumed) both
    files are rewritten from the run's records: a resumed run thereby drops the rows that a killed
    run wrote after its last checkpoint, and then appends exactly the rows of an uninterrupted run.
    """

    FILES = {"metrics.csv": "records", "evaluations.csv": "evaluations"}

    def __init__(self, run_dir, enabled: bool = True) -> None:
        self.run_dir, self.enabled = run_dir, enabled
        self.columns: dict[str, list[str]] = {}
        self.written: dict[str, int] = {}

    def _rows(self, run: Run, name: str) -> list[dict]:
        return getattr(run, self.FILES[name])

    def _rewrite(self, name: str, rows: list[dict]) -> None:
        from .tables import union_keys, write_table

        self.columns[name] = union_keys(rows)
        write_table(self.run_dir.file(name), rows, self.columns[name])
        self.written[name] = len(rows)

    def _sync(self, run: Run) -> None:
        from .tables import csv_row

        for name in self.FILES:
            rows = self._rows(run, name)
            new = rows[self.written[name]:]
            if not new:
                continue
            if any(k not in self.columns[name] for r in new for k in r) or not self.columns[name]:
                self._rewrite(name, rows)
                continue
            for r in new:
                append_line(self.run_dir.path / name, csv_row(r, self.columns[name]))
            self.written[name] = len(rows)

    def on_start(self, run: Run) -> None:
        if self.enabled:
            for name in self.FILES:
                self._rewrite(name, self._rows(run, name))

    def on_step(self, run: Run, record: dict) -> None:
        if self.enabled:
            self._sync(run)

    def on_end(self, run: Run) -> None:
        if self.enabled:
            self._sync(run)


class IterateRecorder(Callback):
    """Keeps ``theta`` every ``every`` iterations (and the first and last) for later analysis of the
    trajectory (e.g. bound versus observed): one small file ``iterates/iter_<iteration>.pt`` per
    kept iterate, written once (atomically) when it is kept, so storage grows linearly; read them
    with :func:`load_iterates`. Its checkpointed state is only the list of kept iterations."""

    def __init__(self, run_path: Path, every: int, write: bool = True) -> None:
        if every < 1:
            raise ValueError(f"iterate interval must be >= 1 iteration, got {every}")
        self.folder = Path(run_path) / "iterates"
        self.every, self.write = every, write
        self.kept: list[int] = []

    def _keep(self, run: Run) -> None:
        it = run.state.iteration
        if self.kept and self.kept[-1] == it:
            return
        self.kept.append(it)
        if self.write:
            import io

            buf = io.BytesIO()
            torch.save({"iteration": it, "computations": run.state.computations,
                        "theta": run.state.theta.detach().cpu().clone()}, buf)
            write_bytes_atomic(self.folder / f"iter_{it:09d}.pt", buf.getvalue())

    def on_start(self, run: Run) -> None:
        if not self.kept:
            self._keep(run)

    def on_step(self, run: Run, record: dict) -> None:
        if run.state.iteration % self.every == 0:
            self._keep(run)

    def on_end(self, run: Run) -> None:
        if not run.interrupted:  # a resumed run keeps the iterates the uninterrupted one keeps
            self._keep(run)

    def state_dict(self) -> dict[str, Any]:
        return {"kept": list(self.kept)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kept = [int(i) for i in state["kept"]]
        last = self.kept[-1] if self.kept else -1
        if self.write and self.folder.exists():  # iterates a killed run stored after its last checkpoint
            for f in self.folder.glob("iter_*.pt"):
                if int(f.stem.split("_")[1]) > last:
                    f.unlink()


def load_iterates(run_path: str | Path) -> list[dict]:
    """The stored iterates of a run, ``[{iteration, computations, theta}, ...]`` sorted by iteration."""
    folder = Path(run_path) / "iterates"
    files = sorted(folder.glob("iter_*.pt")) if folder.exists() else []
    if not files:
        raise FileNotFoundError(f"{run_path} holds no stored iterates; train with --iterates-every K (e.g. 5)")
    out = []
    for f in files:
        try:
            out.append(torch.load(f, map_location="cpu", weights_only=False))
        except Exception as exc:  # a truncated file: say which
            raise ValueError(f"iterate file {f} is unreadable ({type(exc).__name__}); delete it or rerun") from None
    return out


class Checkpointer(Callback):
    """Writes ``checkpoints/last.pt`` atomically every ``every`` iterations and at the end, with
    everything a resumed run needs to continue bit for bit (parameters, method and sampler state,
    warm starts, records, the other callbacks' states)."""

    def __init__(self, run_dir, every: int, others: list[Callback], is_main: bool = True) -> None:
        if every < 1:
            raise ValueError(f"checkpoint interval must be >= 1 iteration, got {every}")
        self.run_dir, self.every, self.others, self.is_main = run_dir, every, others, is_main

    @property
    def path(self) -> Path:
        return self.run_dir.path / "checkpoints" / "last.pt"

    def save(self, run: Run) -> None:
        """Every rank calls this (state dicts gather warm starts); only the main rank writes."""
        payload = {
            "version": CHECKPOINT_VERSION,
            "state": run.state.state_dict(),
            "method": run.method.state_dict(),
            "records": run.records,
            "evaluations": run.evaluations,
            "callbacks": [cb.state_dict() for cb in self.others],
        }
        if not self.is_main:
            return
        import io

        buf = io.BytesIO()
        torch.save(payload, buf)
        write_bytes_atomic(self.path, buf.getvalue())

    def on_step(self, run: Run, record: dict) -> None:
        if run.state.iteration % self.every == 0:
            self.save(run)

    def on_end(self, run: Run) -> None:
        self.save(run)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint, with a clear error for a missing, truncated or foreign file."""
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; start the run without --resume")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ValueError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); "
                         "delete it to restart the run from scratch") from None
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is not a checkpoint of this toolkit (version {CHECKPOINT_VERSION})")
    return payload


def restore(run: Run, payload: dict, callbacks: list[Callback], device) -> None:
    """Put a loaded checkpoint back into ``run`` and the callbacks (the inverse of ``save``)."""
    run.state = OptimizerState.from_state_dict(payload["state"], device)
    run.method.load_state_dict(payload["method"])
    run.records = list(payload["records"])
    run.evaluations = list(payload["evaluations"])
    for cb, st in zip(callbacks, payload["callbacks"]):
        cb.load_state_dict(st)
