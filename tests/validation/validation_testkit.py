"""Shared helpers of the validation tests: brute-force path enumeration, Monte Carlo, small scenarios."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from validation.engine import rational as rq
from validation.engine.exact import AffineBias, MomentEngine, QuadraticFiniteSum, support_of
from validation.engine.problems import DrawPicker, make_scenario

DATA = Path(__file__).resolve().parent / "data"


def outcome_maps(engine: MomentEngine) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, object]]:
    """Per outcome: (G_k, g_k, P_k, r_k, p_k) of an exact engine (independent of its internals)."""
    pr, sup = engine.problem, engine.support
    V, p = rq.as_exact(sup.vectors), rq.as_exact(sup.probs)
    Pk, rk = engine.bias.outcome_maps(sup, pr.m, exact=True)
    out = []
    for k in range(V.shape[0]):
        G = sum((V[k, i] * pr.Q[i] for i in range(pr.m)), np.full((pr.d, pr.d), Fraction(0), dtype=object)) / pr.m
        g = sum((V[k, i] * pr.b[i] for i in range(pr.m)), np.full(pr.d, Fraction(0), dtype=object)) / pr.m
        out.append((G, g, Pk[k], rk[k], p[k]))
    return out


def brute_force(engine: MomentEngine, T: int) -> tuple[list[Fraction], list[Fraction]]:
    """Exact E||grad f(theta_t)||^2 (t < T) and E||e||^2 (t <= T) by enumerating all K^T sample paths."""
    pr = engine.problem
    maps = outcome_maps(engine)
    alpha = engine.alpha
    sched = engine.bias.schedule
    grad_sq = [Fraction(0)] * T
    eps2 = [Fraction(0)] * (T + 1)
    K = len(maps)
    for path in itertools.product(range(K), repeat=T):
        prob = Fraction(1)
        for k in path:
            prob *= maps[k][4]
        if prob == 0:
            continue
        theta = engine.theta0.copy()
        for t in range(T + 1):
            s = sched.value(t, exact=True)
            e_exp = sum((mp[4] * _sq(s * (mp[2].dot(theta) + mp[3])) for mp in maps), Fraction(0))
            eps2[t] += prob * e_exp
            if t == T:
                break
            gr = pr.grad(theta)
            grad_sq[t] += prob * gr.dot(gr)
            G, g, P, r, pk = maps[path[t]]
            z = G.dot(theta) + g + s * (P.dot(theta) + r)
            theta = theta - alpha * z
    # weighting every prefix by the probability of the whole path gives E[.] (continuations sum to 1)
    return grad_sq, eps2


def _sq(v: np.ndarray) -> Fraction:
    return v.dot(v)


def monte_carlo(engine: MomentEngine, T: int, runs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ||grad f(theta_t)||^2 over ``runs`` independent ISGD runs (float64): array (runs, T)."""
    rng = np.random.default_rng(seed)
    pr = engine.problem
    maps = outcome_maps(engine)
    G = np.array([rq.as_float(m[0]) for m in maps])
    g = np.array([rq.as_float(m[1]) for m in maps])
    P = np.array([rq.as_float(m[2]) for m in maps])
    r = np.array([rq.as_float(m[3]) for m in maps])
    p = np.array([float(m[4]) for m in maps])
    Qm, bm = rq.as_float(pr.Q_mean), rq.as_float(pr.b_mean)
    theta = np.tile(rq.as_float(engine.theta0), (runs, 1))
    alpha = float(engine.alpha)
    out = np.empty((runs, T))
    for t in range(T):
        grad = theta @ Qm.T + bm
        out[:, t] = np.sum(grad * grad, axis=1)
        k = rng.choice(len(p), size=runs, p=p)
        s = float(engine.bias.schedule.value(t))
        z = np.einsum("nij,nj->ni", G[k], theta) + g[k] + s * (np.einsum("nij,nj->ni", P[k], theta) + r[k])
        theta = theta - alpha * z
    return out, p


@st.composite
def exact_engines(draw, max_m: int = 3, max_d: int = 2, max_support: int = 9):
    """A small exact engine: scenario from the generators, a step and a start."""
    pk = DrawPicker(draw)
    sc = make_scenario(pk, m=draw(st.integers(1, max_m)), d=draw(st.integers(1, max_d)),
                       problem_kind=draw(st.sampled_from(["commuting", "general", "interpolating"])))
    law = sc.sampling_law()
    if support_of(law).vectors.shape[0] > max_support:
        sc = make_scenario(pk, m=1, d=sc.problem.d, problem_kind="commuting", law_kind="single_uniform")
        law = sc.sampling_law()
    alpha = draw(st.sampled_from([Fraction(1, 4), Fraction(1, 10), Fraction(1, 2), Fraction(1)]))
    return MomentEngine(sc.problem, law, sc.bias, alpha, sc.theta0)


def two_point_problem() -> QuadraticFiniteSum:
    """f_1 = theta^2, f_2 = 0 (Theorem 1's exponent witness)."""
    return QuadraticFiniteSum([[[2]], [[0]]], [[0], [0]], [0, 0])


def zero_bias(d: int) -> AffineBias:
    return AffineBias.zero(d)
