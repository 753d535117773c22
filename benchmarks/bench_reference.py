"""The reference unit of the cost model on this machine: alone and with two runs at a time.

``isgd figures --estimate`` counts every run of a plan in *reference units*
(:func:`validation.experiments.evidence.reference_unit_seconds`: CPU seconds of one image-iteration of
a certified hypergradient, batch 8, 96x96 crops, float32, one torch thread). To turn units into hours
it needs the unit's seconds on an idle machine, measured the way the plan runs: ``--processes``
single-threaded processes at once (default 2, the paper scale's two runs at a time on two cores),
each timing the unit at the same time. The unit alone (one process) is measured too, so the cost of
sharing the machine (memory bandwidth, caches) shows as a ratio from the same run.

Run it on an otherwise idle machine; the cores busy in the second before it starts (and the load average,
which lags by a minute) are recorded beside the numbers.
Writes ``benchmarks/results/reference_unit_<device>.json``; the estimate reads
``unit_seconds`` (the mean over the concurrent processes).

Usage: ``python benchmarks/bench_reference.py [--processes N] [--repeats R] [--out FILE]``
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import statistics

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import save_result

log = logging.getLogger("bench_reference")


def _unit_in_this_process(repeats: int) -> float:
    """The reference unit measured in a process with one torch thread."""
    import torch

    torch.set_num_threads(1)
    from validation.experiments.evidence import reference_unit_seconds

    return reference_unit_seconds(repeats)


def concurrent_units(processes: int, repeats: int) -> list[float]:
    """The unit measured in ``processes`` fresh single-threaded processes running at the same time."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        return list(pool.map(_unit_in_this_process, [repeats] * processes))


def busy_cores(seconds: float = 1.0) -> float | None:
    """Cores busy over the last ``seconds`` (from ``/proc/stat``; ``None`` where it does not exist). Unlike
    the load average it does not lag: it tells whether the machine is idle right now."""
    import time

    def sample() -> tuple[int, int] | None:
        try:
            fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields) - idle, sum(fields)

    a = sample()
    time.sleep(seconds)
    b = sample()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)


def measure(processes: int, repeats: int) -> dict:
    """The unit alone and with ``processes`` at once (seconds), and their ratio."""
    if processes < 1 or repeats < 1:
        raise ValueError(f"processes and repeats must be positive, got {processes} and {repeats}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    busy = busy_cores()
    alone = concurrent_units(1, repeats)[0]
    together = concurrent_units(processes, repeats)
    unit = statistics.fmean(together)
    return {"benchmark": "reference_unit", "device": "cpu", "processes": processes, "repeats": repeats,
            "load_at_start": load, "busy_cores_at_start": busy, "alone_seconds": alone, "concurrent_seconds": together, "unit_seconds": unit,
            "concurrent_over_alone": unit / alone,
            "definition": "CPU seconds of one image-iteration of a certified hypergradient (batch 8, 96x96 "
                          "embedded crops, sigma 25/255, float32, eps = delta = 1e-3, cold start, one torch "
                          "thread), the smallest of `repeats` measurements in each process"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--processes", type=int, default=2,
                    help="single-threaded processes measuring at the same time (the runs of a plan at a time; default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="measurements per process; the smallest counts (default 3)")
    ap.add_argument("--out", default=None, help="output JSON (default benchmarks/results/reference_unit_cpu.json)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        res = measure(args.processes, args.repeats)
    except ValueError as err:
        ap.error(str(err))
    log.info("reference unit: %.3f ms alone, %.3f ms with %d at a time (x%.2f)", res["alone_seconds"] * 1e3,
             res["unit_seconds"] * 1e3, args.processes, res["concurrent_over_alone"])
    save_result(res, args.out, "reference_unit_cpu.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
