r"""Mini-batch samplers: draws of the paper's sampling vectors ``v ~ D`` with ``E[v_i] = 1``.

A draw returns the images it touches and their weights ``w_i = v_i / m``, so that the stochastic
hypergradient of the paper's (2) is ``z_v = (1/m) sum_i v_i z_i = sum_i w_i z_i``. Every sampler
states its law as a :mod:`theory.sampling` object (exact second moments, Khaled & Richtarik
constants) and keeps its random state in a serializable form, so a resumed run draws the same
batches as the uninterrupted one.

=====================  =========================================================================
``tau_nice``           a subset of ``tau`` images without replacement, ``v_i = m/tau`` on it. With
                       ``reshuffle`` (default) each epoch is a fresh permutation cut into batches
                       (the ``m mod tau`` left-over images of an epoch are skipped in that epoch);
                       every batch is marginally a uniform ``tau``-subset (Gower et al.'s tau-nice).
``with_replacement``   ``tau`` i.i.d. draws with probabilities ``q``: ``v_i = count_i/(tau q_i)``.
``independent``        image ``i`` in the batch with probability ``p_i``: ``v_i = 1/p_i``.
``single``             one image, probability ``q_i``: ``v = e_i/q_i``.
``full``               every image, ``v = 1`` (deterministic: IGD and MAID).
=====================  =========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from theory import sampling as laws

SAMPLERS = ("tau_nice", "with_replacement", "independent", "single", "full")


class Batch(NamedTuple):
    """Images of one draw (sorted, distinct) and their weights ``w_i = v_i / m``."""

    indices: torch.Tensor  # (b,) long
    weights: torch.Tensor  # (b,) float64

    @property
    def size(self) -> int:
        return int(self.indices.numel())


def _probabilities(q, m: int, name: str) -> np.ndarray:
    if q is None:
        return np.full(m, 1.0 / m)
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (m,) or not np.all(np.isfinite(q)) or np.any(q <= 0) or abs(q.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must be {m} positive probabilities summing to 1")
    return q


class Sampler:
    """Base class: a seeded numpy generator whose state is checkpointed."""

    name = "sampler"

    def __init__(self, m: int, seed: int) -> None:
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"the training set must hold at least one image, got m = {m}")
        self.m = m
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def draw(self) -> Batch:
        raise NotImplementedError

    def law(self) -> laws.SamplingLaw | None:
        raise NotImplementedError

    @property
    def expected_batch_size(self) -> float:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _batch(self, idx: np.ndarray, v: np.ndarray) -> Batch:
        order = np.argsort(idx, kind="stable")
        return Batch(torch.as_tensor(idx[order], dtype=torch.long), torch.as_tensor(v[order] / self.m, dtype=torch.float64))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "m": self.m}


class TauNice(Sampler):
    name = "tau_nice"

    def __init__(self, m: int, tau: int, seed: int = 0, reshuffle: bool = True) -> None:
        super().__init__(m, seed)
        if not isinstance(tau, int) or not 1 <= tau <= m:
            raise ValueError(f"batch size tau must be an integer in [1, m = {m}], got {tau}")
        self.tau = tau
        self.reshuffle = reshuffle
        self.perm: np.ndarray | None = None
        self.pos = 0
        self.epoch = 0

    def draw(self) -> Batch:
        if not self.reshuffle:
            idx = self.rng.choice(self.m, size=self.tau, replace=False)
        else:
            if self.perm is None or self.pos + self.tau > self.m:
                self.perm = self.rng.permutation(self.m)
                self.pos = 0
                self.epoch += 1
            idx = self.perm[self.pos:self.pos + self.tau]
            self.pos += self.tau
        return self._batch(np.asarray(idx), np.full(self.tau, self.m / self.tau))

    def law(self) -> laws.SamplingLaw:
        return laws.TauNice(self.m, self.tau)

    @property
    def expected_batch_size(self) -> float:
        return float(self.tau)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "perm": None if self.perm is None else self.perm.tolist(),
                "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.perm = None if state["perm"] is None else np.asarray(state["perm"], dtype=np.int64)
        self.pos, self.epoch = int(state["pos"]), int(state["epoch"])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tau": self.tau, "reshuffle": self.reshuffle}


class WithReplacement(Sampler):
    name = "with_replacement"

    def __init__(self, m: int, tau: int, seed: int = 0, q=None) -> None:
        super().__init__(m, seed)
        if not isinstance(tau, int) or tau < 1:
            raise ValueError(f"number of draws tau must be a positive integer, got {tau}")
        self.tau = tau
        self.q = _probabilities(q, m, "with-replacement probabilities q")

    def draw(self) -> Batch:
        draws = self.rng.choice(self.m, size=self.tau, replace=True, p=self.q)
        idx, counts = np.unique(draws, return_counts=True)
        return self._batch(idx, counts / (self.tau * self.q[idx]))

    def law(self) -> laws.SamplingLaw:
        return laws.WithReplacement(self.q, self.tau)

    @property
    def expected_batch_size(self) -> float:
        return float(np.sum(1.0 - (1.0 - self.q) ** self.tau))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "tau": self.tau, "q": self.q.tolist()}


class Independent(Sampler):
    name = "independent"

    def __init__(self, m: int, p, seed: int = 0) -> None:
        super().__init__(m, seed)
        p = np.full(m, float(p)) if np.ndim(p) == 0 else np.asarray(p, dtype=np.float64)
        if p.shape != (m,) or not np.all((p > 0) & (p <= 1)):
            raise ValueError(f"inclusion probabilities p must be in (0, 1], one per image (m = {m})")
        self.p = p

    def draw(self) -> Batch:
        idx = np.nonzero(self.rng.random(self.m) < self.p)[0]
        return self._batch(idx, 1.0 / self.p[idx])

    def law(self) -> laws.SamplingLaw:
        return laws.Independent(self.p)

    @property
    def expected_batch_size(self) -> float:
        return float(self.p.sum())

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "p": self.p.tolist()}


class Single(Sampler):
    name = "single"

    def __init__(self, m: int, seed: int = 0, q=None) -> None:
        super().__init__(m, seed)
        self.q = _probabilities(q, m, "single-element probabilities q")
        self.uniform = q is None

    def draw(self) -> Batch:
        i = int(self.rng.choice(self.m, p=self.q))
        return self._batch(np.array([i]), np.array([1.0 / self.q[i]]))

    def law(self) -> laws.SamplingLaw:
        return laws.SingleUniform(self.m) if self.uniform else laws.SingleImportance(self.q)

    @property
    def expected_batch_size(self) -> float:
        return 1.0

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "q": None if self.uniform else self.q.tolist()}


class FullBatch(Sampler):
    name = "full"

    def __init__(self, m: int, seed: int = 0) -> None:
        super().__init__(m, seed)

    def draw(self) -> Batch:
        return self._batch(np.arange(self.m), np.ones(self.m))

    def law(self) -> laws.SamplingLaw:
        return laws.FiniteLaw([np.ones(self.m)], [1])

    @property
    def expected_batch_size(self) -> float:
        return float(self.m)


def make_sampler(name: str, m: int, batch_size: int, seed: int, probabilities=None, reshuffle: bool = True) -> Sampler:
    """Build a sampler by name (see the module docstring); ``batch_size`` is ``tau``, or for
    ``independent`` the expected batch size (``p_i = batch_size/m`` unless ``probabilities``);
    ``reshuffle`` applies to ``tau_nice`` (``False``: independent draws)."""
    if name == "tau_nice":
        if batch_size > m:
            raise ValueError(f"batch size {batch_size} is larger than the training set (m = {m}); lower --batch-size")
        return TauNice(m, batch_size, seed, reshuffle=reshuffle)
    if name == "with_replacement":
        return WithReplacement(m, batch_size, seed, probabilities)
    if name == "independent":
        if batch_size > m:
            raise ValueError(f"expected batch size {batch_size} is larger than the training set (m = {m})")
        return Independent(m, probabilities if probabilities is not None else batch_size / m, seed)
    if name == "single":
        return Single(m, seed, probabilities)
    if name == "full":
        return FullBatch(m, seed)
    raise ValueError(f"unknown sampler {name!r}; use one of {SAMPLERS}")
