"""Regenerate the committed witnesses of ``tests/validation/data/`` (run from a clean checkout).

    python tests/validation/make_witness_data.py

Deterministic: fixed cases and seeded searches without a time limit.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from validation.engine.claims import get_claim
from validation.engine.exact import AffineBias, QuadraticFiniteSum
from validation.engine.families import LimitCase, RunCase
from validation.engine.problems import LawSpec, Scenario, theorem1_witness_scenario
from validation.engine.search import evaluate_case, search_claim
from validation.engine.statement import PRINTED
from validation.engine.witness import save_witness, witness_json

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    out: dict[str, dict] = {}
    t1 = get_claim("paper.theorem1")
    case = RunCase(theorem1_witness_scenario(), T=14, step=Fraction(1), zeta=Fraction(1), eta=Fraction(1), source="prop3")
    out["theorem1_exponent_exact.json"] = witness_json(evaluate_case(t1, t1.readings(), case, exact=True)[PRINTED], seed=0)
    res = search_claim("paper.theorem1", budget=45, seed=0)
    out["theorem1_accuracy_exact.json"] = witness_json(res.mechanisms()["max accuracy"], seed=0)
    res = search_claim("paper.corollary1", budget=40, seed=0)
    w = res.mechanisms()["max accuracy"]
    out[f"corollary1_accuracy_{'exact' if w.exact else 'float64'}.json"] = witness_json(w, seed=0)
    r2 = get_claim("paper.remark2")
    pr = QuadraticFiniteSum([[[Fraction(2)]], [[Fraction(4)]]], [[Fraction(2)], [Fraction(8)]], [Fraction(3, 4), Fraction(2)])
    sc = Scenario(pr, LawSpec("tau_nice", {"m": 2, "tau": 1}), AffineBias.zero(1), [Fraction(1, 2)], {"family": "commuting", "bias": "zero"})
    one = evaluate_case(r2, r2.readings(), LimitCase(sc, Fraction(1), Fraction(2), "prop2", Fraction(1, 2)), exact=True)
    out["remark2_fixed_step_exact.json"] = witness_json(one["fixed step"], seed=0)
    half = evaluate_case(r2, r2.readings(), LimitCase(sc, Fraction(1, 2), Fraction(2), "prop2", Fraction(1, 2)), exact=True)
    out["remark2_zeta_half_ill_posed.json"] = witness_json(half[PRINTED], seed=0)
    for old in DATA.glob("*.json"):  # only now: the commit recorded above is the clean one
        if old.name not in out:
            old.unlink()
    for name, obj in out.items():
        save_witness(DATA / name, obj)


if __name__ == "__main__":
    main()
