"""Credit idempotency keys are compared exactly on every dialect."""

from __future__ import annotations

from collections.abc import Callable

from tierline import Tierline

MakeTierline = Callable[..., Tierline]


def test_keys_differing_only_in_case_or_accents_are_separate_grants(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline()
    tl.ensure_account("a")
    tl.ensure_account("b")

    first = tl.grant_credit("a", days=1, idempotency_key="promo-x")
    # Neither a retry of "promo-x" nor "another account's key": a key of its own.
    upper = tl.grant_credit("b", days=2, idempotency_key="PROMO-X")
    accented = tl.grant_credit("b", days=3, idempotency_key="prómo-x")

    assert len({first.id, upper.id, accented.id}) == 3
    assert [g.idempotency_key for g in tl.credits.history("b")] == ["prómo-x", "PROMO-X"]
    assert tl.grant_credit("a", days=9, idempotency_key="promo-x") == first
