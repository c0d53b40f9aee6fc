"""Account refs are compared exactly on every dialect: case and accents make another account.

MariaDB's default collation would match ``"ALICE"`` and ``"alicé"`` to ``"alice"``; revision
0007 gives the ref column a binary collation there.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tierline import Tierline

from .seed import CATALOG, add_subscription, add_tiers

MakeTierline = Callable[..., Tierline]
VARIANTS = ["ALICE", "Alice", "alicé"]


@pytest.mark.parametrize("other_ref", VARIANTS)
def test_a_ref_differing_in_case_or_accents_does_not_get_alices_credit(
    make_tierline: MakeTierline, other_ref: str
) -> None:
    tl = make_tierline(catalog=CATALOG)
    add_tiers(tl)
    tl.ensure_account("alice")
    tl.grant_credit("alice", days=30)

    assert tl.status("alice").active
    other = tl.status(other_ref)
    assert not other.active
    assert other.account_ref == other_ref


@pytest.mark.parametrize("other_ref", VARIANTS)
def test_a_ref_differing_in_case_or_accents_does_not_get_alices_subscription(
    make_tierline: MakeTierline, other_ref: str
) -> None:
    tl = make_tierline(catalog=CATALOG)
    add_tiers(tl)
    add_subscription(tl, "alice", "team", "active")

    assert tl.status("alice").tier == "team"
    assert tl.status(other_ref).tier != "team"
    # ...and the other account's own subscription does not leak back to alice.
    add_subscription(tl, other_ref, "pro", "active")
    assert (tl.status("alice").tier, tl.status(other_ref).tier) == ("team", "pro")
