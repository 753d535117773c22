"""Scaling: time versus the number of images m and versus the image side, and MAID's memory
versus m with chunked full-batch evaluation.

* time of one full-batch gradient pass (``m`` images, chunks of ``--chunk``) and of one
  hypergradient evaluation at a fixed number of iterations, versus ``m``: log-log slope (goal 1);
* time of one gradient per image versus the side ``s`` (pixels ``s^2``): slope in pixels (goal 1);
* peak memory of a full-batch MAID-style evaluation (:func:`bilevel.methods.evaluate_batch`)
  versus ``m``, each ``m`` in a fresh process on the CPU (peak RSS) or with
  ``torch.cuda.max_memory_allocated`` on a GPU: flat when chunked.

Writes ``benchmarks/results/scaling_<device>.json``.
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script (python benchmarks/bench_x.py) from a source checkout
    import sys
    from pathlib import Path as _Path

    sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
from benchmarks.common import interleaved, save_result

from bilevel.data import DENOISING_SIGMA, embedded_crops, make_measurements
from bilevel.foe import FieldOfExperts
from bilevel.methods import TrainingData, evaluate_batch
from bilevel.operators import Identity
from bilevel.problem import LowerLevelProblem
from bilevel.sampling import FullBatch

log = logging.getLogger("bench_scaling")


def data(m: int, side: int, dtype, device) -> TrainingData:
    base = embedded_crops("train", side)
    x = torch.cat([base] * (-(-m // base.shape[0])))[:m]
    y = make_measurements(Identity(), x, DENOISING_SIGMA, 0).y
    return TrainingData(x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device))


def slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def memory_probe(m: int, side: int, chunk: int, device: str) -> int:
    """Run one full-batch evaluation of m images in this process and return its peak memory."""
    dev = torch.device(device)
    d = data(m, side, torch.float32, dev)
    fam = FieldOfExperts()
    problem = LowerLevelProblem(Identity(), fam, 0.0)
    theta = fam.init_theta(dtype=torch.float32, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    evaluate_batch(problem, theta, d, FullBatch(m).draw(), 1e-2, 1e-2, None, chunk)
    if dev.type == "cuda":
        return int(torch.cuda.max_memory_allocated(dev))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--ms", nargs="+", type=int, default=[16, 32, 64, 128, 256],
                    help="numbers of images (at least --chunk, so every pass runs full chunks)")
    ap.add_argument("--sides", nargs="+", type=int, default=[32, 48, 64, 96, 128],
                    help="image sides of the time-versus-pixels sweep (batches of 8)")
    ap.add_argument("--m-side", type=int, default=96,
                    help="image side of the time- and memory-versus-m sweeps (default: the paper's 96)")
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--probe", nargs=3, type=int, metavar=("M", "SIDE", "CHUNK"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.probe:
        print(memory_probe(*args.probe, args.device))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dev = torch.device(args.device)
    fam = FieldOfExperts()
    problem = LowerLevelProblem(Identity(), fam, 0.0)
    theta = fam.init_theta(dtype=torch.float32, device=dev)
    # time versus m: a full-batch gradient pass in chunks
    t_m = []
    for m in args.ms:
        d = data(m, args.m_side, torch.float32, dev)
        lower = problem.bind(theta, d.y)

        def grad_pass(d=d, lower=lower):
            for i in range(0, m, args.chunk):
                lower.gradient(d.y[i:i + args.chunk], torch.arange(i, min(m, i + args.chunk), device=dev))

        t_m.append(interleaved({"g": grad_pass}, args.repeats, dev)["g"])
        log.info("m = %4d: gradient pass %.4f s", m, t_m[-1])
    # time versus side
    t_s = []
    for s in args.sides:
        d = data(8, s, torch.float32, dev)
        lower = problem.bind(theta, d.y)
        t_s.append(interleaved({"g": lambda lower=lower, d=d: lower.gradient(d.y)}, args.repeats, dev)["g"])
        log.info("side %4d: gradient %.4f s", s, t_s[-1])
    pixels = [s * s for s in args.sides]
    # memory versus m (fresh process each on the CPU)
    mem = []
    for m in args.ms:
        if dev.type == "cuda":
            mem.append(memory_probe(m, args.m_side, args.chunk, args.device))
        else:
            outp = subprocess.run([sys.executable, __file__, "--device", "cpu", "--probe", str(m), str(args.m_side),
                                   str(args.chunk)], capture_output=True, text=True, check=True)
            mem.append(int(outp.stdout.strip().splitlines()[-1]))
        log.info("m = %4d: peak memory of a full-batch evaluation %.1f MiB", m, mem[-1] / 2**20)
    result = {
        "benchmark": "scaling", "device": str(dev), "chunk": args.chunk, "m_side": args.m_side,
        "time_vs_m": {"m": args.ms, "seconds": t_m, "loglog_slope": slope(args.ms, t_m)},
        "time_vs_pixels": {"side": args.sides, "pixels": pixels, "seconds": t_s, "loglog_slope": slope(pixels, t_s),
                           "seconds_per_pixel_image": [t / (p * 8) for t, p in zip(t_s, pixels)],
                           "loglog_slope_without_smallest": slope(pixels[1:], t_s[1:]) if len(pixels) > 2 else None,
                           "note": "batches of 8 images; the smallest side shows the per-call overhead"},
        "memory_vs_m": {"m": args.ms, "peak_bytes": mem, "loglog_slope": slope(args.ms, mem),
                        "note": "CPU: peak RSS of a fresh process (includes the interpreter and the m training images); "
                                "CUDA: torch.cuda.max_memory_allocated"},
        "goals": {"time_vs_m_slope": "1 +/- 0.1", "time_vs_pixels_slope": "1 +/- 0.1", "memory": "flat in m beyond the data"},
    }
    log.info("slopes: time vs m %.2f, time vs pixels %.2f, memory vs m %.2f", result["time_vs_m"]["loglog_slope"],
             result["time_vs_pixels"]["loglog_slope"], result["memory_vs_m"]["loglog_slope"])
    save_result(result, args.out, f"scaling_{dev.type}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
