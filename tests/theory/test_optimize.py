"""Optimal zeta, eta: closed forms and numerical searches against brute force."""

from __future__ import annotations

import numpy as np
import pytest

import theory as th

ZETAS = np.concatenate([0.5 + np.geomspace(1e-3, 0.5, 150), np.linspace(1.0, 30.0, 600)])
ETAS = np.geomspace(1e-4, 1e4, 700)


def _brute(fun, feasible=None, zetas=ZETAS, etas=ETAS):
    Z, E = np.meshgrid(zetas, etas, indexing="ij")
    vals = fun(Z, E)
    if feasible is not None:
        vals = np.where(feasible(Z, E), vals, np.inf)
    k = np.unravel_index(np.argmin(vals), vals.shape)
    return float(vals[k]), float(Z[k]), float(E[k])


CASES = [
    dict(A=1.0, B=0.5, C=0.3, L=2.0, delta0=1.0, eps2=0.05, alpha=0.01, T=1000),
    dict(A=0.2, B=0.0, C=2.0, L=1.0, delta0=5.0, eps2=0.5, alpha=0.05, T=200),
    dict(A=3.0, B=1.2, C=0.1, L=2.0, delta0=1.0, eps2=0.2, alpha=0.3, T=50),  # step condition binds
]


@pytest.mark.parametrize("kw", CASES)
def test_theorem1_parameters_against_brute_force(kw) -> None:
    opt = th.optimal_theorem1_parameters(**kw)
    step_ok = lambda Z, E: kw["alpha"] <= th.theorem1_step_bound(zeta=Z, eta=E, B=kw["B"], L=kw["L"])  # noqa: E731
    rhs = lambda Z, E: th.theorem1_rhs(**kw, zeta=Z, eta=E, enforce_step=False)  # noqa: E731
    brute, _, _ = _brute(rhs, step_ok)
    local, _, _ = _brute(
        rhs, step_ok, np.linspace(0.8, 1.2, 1001) * opt.zeta, np.linspace(0.8, 1.2, 1001) * opt.eta
    )
    at_opt = th.theorem1_rhs(**kw, zeta=opt.zeta, eta=opt.eta)  # raises if the step condition fails
    assert at_opt == pytest.approx(opt.value, rel=1e-9)
    assert opt.value <= min(brute, local) * (1 + 1e-9)
    assert opt.value >= local * (1 - 1e-4)  # a fine grid around the optimum comes close


def test_constraint_flag() -> None:
    assert th.optimal_theorem1_parameters(**CASES[2]).constraint_active
    assert not th.optimal_theorem1_parameters(**CASES[0]).constraint_active
    assert th.optimal_theorem1_parameters(**CASES[0]).method == "closed form"


def test_theorem1_degenerate_cases() -> None:
    no_eps = th.optimal_theorem1_parameters(A=1.0, B=0.0, C=1.0, L=1.0, delta0=1.0, eps2=0.0, alpha=0.1, T=10)
    assert not no_eps.attained and np.isinf(no_eps.zeta)
    with pytest.raises(ValueError, match="alpha L B"):
        th.optimal_theorem1_parameters(A=1.0, B=20.0, C=1.0, L=1.0, delta0=1.0, eps2=0.1, alpha=0.1, T=10)


@pytest.mark.parametrize("kw", CASES[:2])
def test_source_parameters_against_brute_force(kw) -> None:
    opt = th.optimal_source_parameters(**kw)
    brute, _, _ = _brute(lambda Z, E: th.theorem1_rhs_source(**kw, zeta=Z, eta=E, enforce_step=False))
    assert th.theorem1_rhs_source(**kw, zeta=opt.zeta, eta=opt.eta) == pytest.approx(opt.value, rel=1e-9)
    assert opt.value <= brute * (1 + 1e-7)
    assert opt.value >= brute * (1 - 1e-3)


def test_bias_floor_and_corollary_bound() -> None:
    assert th.optimal_bias_floor(0.3).zeta == 1.0
    brute = np.min(th.c(ZETAS, 0.3) / th.b(ZETAS))
    assert th.optimal_bias_floor(0.3).value <= brute * (1 + 1e-12)
    assert th.optimal_bias_floor(0.3).value == pytest.approx(brute, rel=1e-4)
    assert th.optimal_corollary1_bound(0.3).value == pytest.approx(float(np.min(th.corollary1_bound(eps2=0.3, zeta=ZETAS))), rel=1e-4)


@pytest.mark.parametrize(
    "kw",
    [
        dict(A=1.0, B=0.5, C=0.3, L=2.0, delta0=1.0, eps2=0.05),
        dict(A=0.0, B=2.0, C=0.0, L=1.0, delta0=1.0, eps2=0.1),
        dict(A=0.01, B=0.0, C=5.0, L=1.0, delta0=0.1, eps2=1.0),
    ],
)
@pytest.mark.parametrize("zeta", [0.75, 1.0, 4.0])
def test_corollary1_eta_against_brute_force(kw, zeta) -> None:
    opt = th.optimal_corollary1_eta(**kw, zeta=zeta)
    vals = th.corollary1_iterations(**kw, zeta=zeta, eta=np.geomspace(1e-4, 1e4, 200_000))
    assert opt.value <= float(np.min(vals)) * (1 + 1e-12)
    assert opt.value == pytest.approx(float(np.min(vals)), rel=1e-3)


def test_corollary1_eta_limit_case() -> None:
    opt = th.optimal_corollary1_eta(A=0.0, B=0.0, C=0.0, L=1.0, delta0=1.0, eps2=0.1)
    assert not opt.attained and opt.eta == 0.0
    small = th.corollary1_iterations(A=0.0, B=0.0, C=0.0, L=1.0, delta0=1.0, eps2=0.1, zeta=1.0, eta=1e-9)
    assert small == pytest.approx(opt.value, rel=1e-6)
