"""Samplers against their stated laws; schedules against closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bilevel.sampling import FullBatch, Independent, Single, TauNice, WithReplacement, make_sampler
from bilevel.schedules import Schedule, constant, geometric, inverse_sqrt, polynomial


def _empirical_moments(sampler, draws: int):
    m = sampler.m
    v = np.zeros((draws, m))
    for t in range(draws):
        b = sampler.draw()
        v[t, b.indices.numpy()] = b.weights.numpy() * m
    return v


@pytest.mark.parametrize(
    "sampler",
    [
        TauNice(6, 2, seed=1),
        TauNice(6, 4, seed=2, reshuffle=False),
        WithReplacement(5, 3, seed=3, q=[0.1, 0.2, 0.3, 0.25, 0.15]),
        Independent(5, [0.2, 0.5, 0.9, 0.4, 1.0], seed=4),
        Single(4, seed=5),
        Single(4, seed=6, q=[0.1, 0.2, 0.3, 0.4]),
    ],
    ids=lambda s: s.name,
)
def test_empirical_moments_match_law(sampler):
    draws = 20000
    v = _empirical_moments(sampler, draws)
    law = sampler.law()
    mean_exact = np.asarray(law.mean(), dtype=float)
    M_exact = np.asarray(law.second_moment_matrix(), dtype=float)
    np.testing.assert_allclose(mean_exact, 1.0)
    # 6 standard errors, from the sample variance of each entry
    se_mean = v.std(axis=0) / math.sqrt(draws)
    assert np.all(np.abs(v.mean(axis=0) - mean_exact) <= 6 * se_mean + 1e-12)
    prod = v[:, :, None] * v[:, None, :]
    se_M = prod.std(axis=0) / math.sqrt(draws)
    assert np.all(np.abs(prod.mean(axis=0) - M_exact) <= 6 * se_M + 1e-12)
    # inclusion frequencies
    incl = (v > 0).mean(axis=0)
    p_exact = np.array([sum(p for vec, p in zip(*law.support()) if vec[i] > 0) for i in range(sampler.m)], dtype=float)
    p_exact = np.clip(p_exact, 0.0, 1.0)
    assert np.all(np.abs(incl - p_exact) <= 6 * np.sqrt(p_exact * (1 - p_exact) / draws) + 1e-12)


def test_tau_nice_epochs_cover_each_image_once():
    s = TauNice(10, 3, seed=0)
    for _ in range(4):
        seen = np.concatenate([s.draw().indices.numpy() for _ in range(3)])
        assert len(set(seen.tolist())) == 9  # 3 batches of 3 distinct images, one left over per epoch
    assert s.epoch == 4


def test_sampler_state_roundtrip():
    a = TauNice(12, 5, seed=7)
    for _ in range(3):
        a.draw()
    state = a.state_dict()
    b = TauNice(12, 5, seed=99)
    b.load_state_dict(state)
    for _ in range(5):
        assert torch.equal(a.draw().indices, b.draw().indices)


def test_weights_are_v_over_m():
    b = FullBatch(4).draw()
    assert torch.equal(b.indices, torch.arange(4)) and torch.allclose(b.weights, torch.full((4,), 0.25, dtype=torch.float64))
    t = TauNice(8, 2, seed=0).draw()
    assert torch.allclose(t.weights, torch.full((2,), 0.5, dtype=torch.float64))


def test_bad_sampler_arguments():
    with pytest.raises(ValueError, match="larger than the training set"):
        make_sampler("tau_nice", 4, 5, 0)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("stratified", 4, 2, 0)
    with pytest.raises(ValueError, match="probabilities"):
        WithReplacement(3, 2, q=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        Independent(3, [0.0, 0.5, 0.5])


def test_schedules_closed_forms():
    ks = np.arange(0, 50)
    assert all(constant(0.3)(k) == 0.3 for k in ks)
    np.testing.assert_allclose([inverse_sqrt(2.0)(k) for k in ks], 2.0 / np.sqrt(ks + 1))
    np.testing.assert_allclose([polynomial(1.5, 0.75)(k) for k in ks], 1.5 / (ks + 1) ** 0.75)
    np.testing.assert_allclose([geometric(1.0, 0.9)(k) for k in ks], 0.9**ks)
    assert not constant(1.0).square_summable and not inverse_sqrt(1.0).square_summable
    assert polynomial(1.0, 0.6).square_summable and not polynomial(1.0, 0.5).square_summable
    assert geometric(1.0, 0.5).square_summable


@pytest.mark.parametrize("kwargs", [dict(kind="constant", a0=-1e-3), dict(kind="constant", a0=0.0),
                                    dict(kind="polynomial", a0=1.0, power=-1.0), dict(kind="geometric", a0=1.0, rate=1.0),
                                    dict(kind="cosine", a0=1.0), dict(kind="constant", a0=float("nan"))])
def test_bad_schedules(kwargs):
    with pytest.raises(ValueError):
        Schedule(**kwargs)
