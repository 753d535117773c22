r"""The claims of the paper and of the sources it cites, one unit per claim (:class:`~validation.engine.statement.Claim`).

Modules, one per part:

lemmas            Lemmas 1-3, Proposition 1 (8) and (9), Remark 1
theorem           Theorem 1, Corollary 1, Remark 2 (with their readings)
khaled_richtarik  [18]: Propositions 2 and 3, the nonconvex SGD theorem and its corollary
demidovich        [5]: Theorem 3 under Assumption 9 (as the paper cites it)
ehrhardt_roberts  [9]: the a-posteriori hypergradient error bound
routes            proof routes shared by several claims
registry          the registry (:data:`CLAIMS`, :func:`register`, :func:`get_claim`, :func:`select_claims`)

Nothing about a claim lives outside its unit: no table is keyed by claim id, and no code branches on one.
"""

from __future__ import annotations

from . import demidovich, ehrhardt_roberts, khaled_richtarik, lemmas, theorem
from .registry import CLAIMS, get_claim, register, select_claims, unregister

__all__ = ["CLAIMS", "get_claim", "register", "unregister", "select_claims"]

for _module in (lemmas, theorem, khaled_richtarik, demidovich, ehrhardt_roberts):
    for _claim in _module.CLAIMS:
        register(_claim)
