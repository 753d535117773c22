"""The exact-expectation engine against brute-force enumeration, Monte Carlo and closed forms."""

from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from validation_testkit import brute_force, exact_engines, monte_carlo, two_point_problem

from theory.sampling import FiniteLaw, Independent, SingleUniform, TauNice
from validation.engine import rational as rq
from validation.engine.exact import AffineBias, MomentEngine, QuadraticFiniteSum, Schedule


@settings(max_examples=25, deadline=None)
@given(exact_engines())
def test_engine_equals_brute_force_enumeration(engine: MomentEngine) -> None:
    """Exact moments equal the average over every sample path (K^T paths, T <= 3), any law and error model."""
    K = engine.support.vectors.shape[0]
    T = 3 if K <= 4 else 2
    summ = engine.run(T)
    grad_sq, eps2 = brute_force(engine, T)
    assert list(summ.grad_sq) == grad_sq
    assert list(summ.eps2) == eps2
    assert summ.min_grad_sq == min(grad_sq)
    assert summ.eps2_max == max(eps2[:T]) and summ.eps2_T == eps2[T]


def test_brute_force_with_time_varying_error_and_per_outcome_maps() -> None:
    """A geometric accuracy schedule and one affine error map per outcome (3-element law, d = 2)."""
    pr = QuadraticFiniteSum([[[2, 1], [1, 2]], [[1, 0], [0, 0]], [[0, 0], [0, 3]]], [[1, 0], [0, -1], [Fraction(1, 2), 0]], [0, 1, 0])
    law = TauNice(3, 2)
    P = [[[Fraction(1, 4), 0], [0, -Fraction(1, 4)]], [[0, Fraction(1, 2)], [0, 0]], [[0, 0], [Fraction(1, 3), 0]]]
    bias = AffineBias("outcome", [[1, 0], [0, 1], [1, -1]], P, Schedule("geometric", 1, rho=Fraction(1, 2)))
    eng = MomentEngine(pr, law, bias, Fraction(1, 5), [1, -2])
    grad_sq, eps2 = brute_force(eng, 4)
    summ = eng.run(4)
    assert list(summ.grad_sq) == grad_sq and list(summ.eps2) == eps2


def test_engine_matches_monte_carlo_within_sampling_error() -> None:
    """Float64 moments agree with 4000 simulated runs within 5 standard errors (from the sample variance)."""
    pr = QuadraticFiniteSum([[[3, 1], [1, 1]], [[1, 0], [0, 2]], [[0, 0], [0, 1]]], [[1, 0], [0, 1], [-1, 1]], [0, 0, 0])
    law = Independent([Fraction(1, 2), Fraction(3, 4), Fraction(1, 3)])
    bias = AffineBias("component", [[Fraction(1, 2), 0], [0, -1], [1, 1]], [[[Fraction(1, 10), 0], [0, 0]]] * 3)
    exact = MomentEngine(pr, law, bias, Fraction(1, 10), [2, -1])
    T = 30
    samples, _ = monte_carlo(exact, T, runs=4000, seed=11)
    floats = MomentEngine(pr.to_float(), law, AffineBias(bias.mode, rq.as_float(bias.r), rq.as_float(bias.P)), 0.1, [2.0, -1.0])
    summ = floats.run(T, keep_sequences=True)
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    assert se[0] <= 1e-12 * mean[0] and math.isclose(mean[0], summ.grad_sq[0], rel_tol=1e-12)  # theta_0 is deterministic
    z = np.abs(mean[1:] - summ.grad_sq[1:]) / se[1:]
    assert np.all(z < 5.0), float(z.max())
    assert np.all(np.abs(summ.grad_sq - np.array(exact.run(T).grad_sq, dtype=float)) <= 1e-12 * np.abs(summ.grad_sq))


@pytest.mark.parametrize("schedule, T", [(Schedule(), 300), (Schedule("geometric", 1, rho=Fraction(9, 10)), 60),
                                         (Schedule("step", 1, after=Fraction(1, 3), at=120), 300), (Schedule("power", 1, p=1), 100)])
def test_float_scan_equals_exact_rationals(schedule: Schedule, T: int) -> None:
    """Chunked matrix powers (and step-by-step schedules) in float64 equal the exact recursion to rounding."""
    pr = QuadraticFiniteSum([[[2, 0], [0, 1]], [[1, Fraction(1, 2)], [Fraction(1, 2), 1]]], [[1, 0], [0, 2]], [0, 0])
    law = SingleUniform(2)
    P = [[[Fraction(1, 10), 0], [0, 0]], [[0, 0], [0, Fraction(-1, 10)]]]
    ex = MomentEngine(pr, law, AffineBias("component", [[1, 0], [0, 1]], P, schedule), Fraction(1, 5), [1, 1])
    fl = MomentEngine(pr.to_float(), law, AffineBias("component", [[1.0, 0], [0, 1]], rq.as_float(P), schedule), 0.2, [1.0, 1.0])
    cps = [7, T // 2, T]
    e, f = ex.run(T, checkpoints=cps), fl.run(T, checkpoints=cps, keep_sequences=True)
    np.testing.assert_allclose(f.grad_sq, rq.as_float(e.grad_sq), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(f.eps2, rq.as_float(e.eps2), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(f.running_min, rq.as_float(e.running_min), rtol=1e-10)
    assert abs(f.min_grad_sq - float(e.min_grad_sq)) <= 1e-10 * float(e.min_grad_sq) + f.abs_error
    assert math.isclose(f.f_gap_T, float(e.f_gap_T), rel_tol=1e-10, abs_tol=1e-14)


def test_theorem1_witness_moments_match_theory() -> None:
    """Theorem 1's exponent witness: f_1 = theta^2, f_2 = 0, E||grad f(theta_t)||^2 = (5/2)^t exactly at alpha = 3/2."""
    eng = MomentEngine(two_point_problem(), SingleUniform(2), AffineBias.zero(1), Fraction(3, 2), [1])
    assert list(eng.run(14).grad_sq) == [Fraction(5, 2) ** t for t in range(14)]


def test_horizon_ten_million_in_well_under_a_second() -> None:
    r"""T = 10^7 against the closed form: f_1 = theta^2, f_2 = 0, single uniform gives E theta_t^2 = rho^t."""
    alpha = 1e-7
    rho = ((1 - 2 * alpha) ** 2 + 1) / 2
    eng = MomentEngine(two_point_problem().to_float(), SingleUniform(2), AffineBias.zero(1, exact=False), alpha, [1.0])
    eng.run(1000)  # warm up
    t0 = time.perf_counter()
    summ = eng.run(10**7, checkpoints=[10, 10**6, 10**7])
    seconds = time.perf_counter() - t0
    assert seconds < 2.0, seconds  # about 0.1 s on one core; generous for loaded CI machines
    assert summ.argmin == 10**7 - 1
    assert math.isclose(summ.min_grad_sq, rho ** (10**7 - 1), rel_tol=1e-9)
    np.testing.assert_allclose(summ.running_min, [rho**9, rho ** (10**6 - 1), rho ** (10**7 - 1)], rtol=1e-9)


def test_divergent_and_decaying_runs_stay_finite() -> None:
    """Moments growing like 40^t (overflow beyond float64 for t ~ 200) and decaying to 0 are scanned without NaN."""
    grow = MomentEngine(two_point_problem().to_float(), SingleUniform(2), AffineBias.zero(1, exact=False), 5.0, [1.0])
    s = grow.run(10**5)
    assert s.reliable and s.min_grad_sq == 1.0 and s.argmin == 0
    decay = MomentEngine(two_point_problem().to_float(), SingleUniform(2), AffineBias.zero(1, exact=False), 0.5, [1.0])
    s = decay.run(10**5)
    assert s.reliable and 0.0 <= s.min_grad_sq < 1e-100


def test_heavy_tailed_law_and_moments_method() -> None:
    """A heavy-tailed finite law (E[v_i^2] large): moments(t) equals the enumeration of two steps."""
    vals = [Fraction(0), Fraction(1, 2), Fraction(8)]
    probs = [Fraction(1, 2), Fraction(3, 8), Fraction(1, 8) - Fraction(0)]
    mean = sum(v * p for v, p in zip(vals, probs))
    law = FiniteLaw([[v / mean, v / mean] for v in vals], probs)
    pr = QuadraticFiniteSum([[[1]], [[2]]], [[1], [-1]], [0, 0])
    eng = MomentEngine(pr, law, AffineBias("constant", [Fraction(1, 3)]), Fraction(1, 20), [3])
    m1, m2 = eng.moments(2)
    sup = eng.support
    V, P = rq.as_exact(sup.vectors), rq.as_exact(sup.probs)
    first, second = Fraction(0), Fraction(0)
    for a in range(len(P)):
        for b in range(len(P)):
            th = Fraction(3)
            for k in (a, b):
                g = (V[k, 0] * (th + 1) + V[k, 1] * (2 * th - 1)) / 2 + Fraction(1, 3)
                th = th - Fraction(1, 20) * g
            first += P[a] * P[b] * th
            second += P[a] * P[b] * th * th
    assert m1[0] == first and m2[0, 0] == second


def test_schedules() -> None:
    geo = Schedule("geometric", 2, rho=Fraction(1, 2))
    assert geo.value(3, exact=True) == Fraction(1, 4) and geo.summable
    assert sum(geo.value(t, exact=True) ** 2 for t in range(200)) <= geo.square_sum_bound() == Fraction(16, 3)
    pw = Schedule("power", 1, p=1)
    assert pw.summable and sum(pw.value(t, exact=True) ** 2 for t in range(2000)) <= pw.square_sum_bound()
    assert not Schedule().summable and Schedule().square_sum_bound() is None
    assert Schedule("step", 1, after=0, at=5).segments(8) == [(0, 5, 1), (5, 8, 0)]
    assert Schedule.from_json(geo.to_json()) == geo
    with pytest.raises(ValueError, match="rho"):
        Schedule("geometric", 1, rho=Fraction(3, 2))
    with pytest.raises(ValueError, match="kind"):
        Schedule("sometimes")


def test_bad_inputs_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        QuadraticFiniteSum([[[1, 2], [0, 1]]], [[0, 0]], [0])
    with pytest.raises(ValueError, match="d <= 3"):
        QuadraticFiniteSum([np.eye(4, dtype=int).tolist()], [[0] * 4], [0])
    with pytest.raises(ValueError, match="alpha > 0"):
        MomentEngine(two_point_problem(), SingleUniform(2), AffineBias.zero(1), Fraction(0), [1])
    with pytest.raises(ValueError, match="exact=True needs"):
        MomentEngine(two_point_problem(), SingleUniform(2), AffineBias.zero(1), 0.5, [1], exact=True)
    with pytest.raises(ValueError, match="m = 3"):
        MomentEngine(two_point_problem(), SingleUniform(3), AffineBias.zero(1), Fraction(1), [1])
    with pytest.raises(ValueError, match="unbounded below"):
        QuadraticFiniteSum([[[0]]], [[1]], [0]).component_inf()
