"""README's "Adding a claim": the example claim, added the documented way, is searched and proven."""

from __future__ import annotations

import re
from pathlib import Path

from theory import proofs as P
from validation.engine.claims import CLAIMS, unregister
from validation.engine.search import HOLDS, search_claim

README = Path(__file__).resolve().parents[2] / "README.md"


def _example_code() -> str:
    text = README.read_text()
    section = text.split("### Adding a claim", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README's 'Adding a claim' has no python block"
    return blocks[0]


def test_readme_example_claim() -> None:
    namespace: dict = {}
    try:
        exec(compile(_example_code(), "README.md", "exec"), namespace)  # noqa: S102 - the documented example itself
        assert "example.kr_gd" in CLAIMS
        claim = CLAIMS["example.kr_gd"]
        assert claim.proof().status == P.PROVEN
        res = search_claim("example.kr_gd", budget=15, seed=0)
        assert res.severity == HOLDS and res.printed.applicable >= 10, (res.printed.failed_hypotheses, res.skip_reasons)
    finally:
        unregister("example.kr_gd")
    assert "example.kr_gd" not in CLAIMS


def test_readme_witness_schema_lists_every_field() -> None:
    from validation.engine.claims import get_claim
    from validation.engine.families import RunCase
    from validation.engine.problems import theorem1_witness_scenario
    from validation.engine.search import evaluate_case
    from validation.engine.statement import PRINTED
    from validation.engine.witness import witness_json
    from fractions import Fraction

    claim = get_claim("paper.theorem1")
    case = RunCase(theorem1_witness_scenario(), T=14, step=Fraction(1), zeta=Fraction(1), eta=Fraction(1), source="prop3")
    obj = witness_json(evaluate_case(claim, claim.readings(), case, exact=True)[PRINTED], commit=None)
    table = README.read_text().split("### Witness files", 1)[1].split("###", 1)[0]
    for key in obj:
        if key in ("note", "boundary"):
            assert key in table or key == "note"
            continue
        assert f"`{key}`" in table, key
