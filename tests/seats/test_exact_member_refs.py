"""Seat member refs are compared exactly on every dialect: ``ALICE`` is not ``alice``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tierline import Tierline
from tierline.errors import ValidationError

from ..access.seed import add_subscription
from ..usage.seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]


def test_members_differing_only_in_case_or_accents_take_a_seat_each(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    add_subscription(tl, "org", "team", "active", period_end=datetime(2026, 7, 1, tzinfo=UTC))
    members = ["alice", "ALICE", "alicé"]

    for member in members:
        tl.seats.assign("org", member)

    seated = tl.seats.list("org")
    assert seated.assigned == 3
    assert sorted(m.member_ref for m in seated.members) == sorted(members)
    assert tl.seats.unassign("org", "ALICE")
    assert sorted(m.member_ref for m in tl.seats.list("org").members) == ["alice", "alicé"]


@pytest.mark.parametrize("member", ["m\x00", "m\ud800", "m" * 300])
def test_unassign_refuses_a_bad_member_ref_on_every_dialect(
    make_tierline: Callable[..., Tierline], member: object
) -> None:
    tl = make_tierline()
    tl.ensure_account("org")
    with pytest.raises(ValidationError, match="member ref"):
        tl.seats.unassign("org", member)  # type: ignore[arg-type]
