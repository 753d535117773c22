"""Data-parallel evaluation with ``torch.distributed`` (gloo on the CPU, NCCL on GPUs).

Every rank runs the same upper-level loop with the same seeds, so all ranks draw the same
mini-batches and hold the same ``theta``. Within a batch, image ``i`` is solved by rank
``i mod world_size`` (always the same rank, so its warm starts stay local); the ranks' partial sums
of the hypergradient, bounds, losses and costs are combined with ``all_reduce``. The result equals
the single-process run up to the order of floating-point additions. Rank 0 alone writes the run
directory; checkpoints gather every rank's warm starts first.

Launch with ``torchrun --nproc-per-node N -m bilevel train ...`` or ``isgd train --nproc N``.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local(self, indices: torch.Tensor) -> torch.Tensor:
        """Positions (into ``indices``) of the images this rank solves."""
        return ((indices % self.world_size) == self.rank).nonzero().squeeze(1)

    def all_reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
        return t

    def barrier(self) -> None:
        dist.barrier()


def from_environment(device: torch.device, timeout_s: float = 600.0) -> DistContext | None:
    """Join the process group described by torchrun's environment (``WORLD_SIZE > 1``), else ``None``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    ctx = DistContext(dist.get_rank(), dist.get_world_size(), backend)
    log.debug("rank %d of %d (%s)", ctx.rank, ctx.world_size, backend)
    return ctx


def local_device(device: torch.device) -> torch.device:
    """On GPUs, each rank uses the device of its local rank."""
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(dev)
        return dev
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
