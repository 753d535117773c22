"""The registry: every claim unit by id, in the order of the paper (then its sources).

:func:`register` adds a claim (a claim of another paper is one module with its units and one call
per unit, see the README's "Adding a claim"); :func:`get_claim` and :func:`select_claims` look them up.
"""

from __future__ import annotations

from typing import Sequence

from ..statement import Claim

__all__ = ["CLAIMS", "register", "unregister", "get_claim", "select_claims"]

CLAIMS: dict[str, Claim] = {}
"""Every registered claim, by id, in registration order."""


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add ``claim`` to the registry (``replace`` to overwrite a claim with the same id).

    Raises
    ------
    ValueError
        If the id is taken (and ``replace`` is false) or the claim has no family.
    """
    if claim.id in CLAIMS and not replace:
        raise ValueError(f"a claim with id {claim.id!r} is registered already; choose another id or pass replace=True")
    if claim.family is None:
        raise ValueError(f"claim {claim.id!r} has no case family; give it one of validation.engine.families")
    CLAIMS[claim.id] = claim
    return claim


def unregister(claim_id: str) -> None:
    """Remove a claim (tests and examples that register claims of their own)."""
    CLAIMS.pop(claim_id, None)


def get_claim(claim_id: str) -> Claim:
    """The claim ``claim_id``.

    Raises
    ------
    ValueError
        For an unknown id (the message lists the known ones).
    """
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise ValueError(f"unknown claim id {claim_id!r}; known ids: {', '.join(CLAIMS)}") from None


def select_claims(patterns: Sequence[str] | None) -> list[str]:
    """Claim ids matching any of ``patterns`` by prefix (all claims for ``None`` or an empty list).

    Raises
    ------
    ValueError
        If a pattern matches no claim (the message lists the ids).
    """
    ids = list(CLAIMS)
    if not patterns:
        return ids
    out: list[str] = []
    for pat in patterns:
        hit = [key for key in ids if key == pat or key.startswith(pat)]  # a user's pattern, not a branch on a claim
        if not hit:
            raise ValueError(f"no claim id starts with {pat!r}; known ids: {', '.join(ids)}")
        out.extend(c for c in hit if c not in out)
    return out
