"""``track()`` idempotency keys and account refs are compared exactly on every dialect."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from tierline import Tierline
from tierline.errors import ValidationError
from tierline.usage.models import UsageKey

from .seed import CATALOG, add_tiers

MakeTierline = Callable[..., Tierline]


def test_keys_differing_only_in_case_or_accents_each_count_once(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    keys = ["req-a", "REQ-A", "req-á"]

    first = [tl.usage.track("acct", "quotes", idempotency_key=key) for key in keys]
    again = [tl.usage.track("acct", "quotes", idempotency_key=key) for key in keys]

    assert [d.duplicate for d in first] == [False, False, False]
    assert [d.used for d in first] == [1, 2, 3]
    assert [d.duplicate for d in again] == [True, True, True]
    assert tl.usage.check("acct", "quotes").used == 3
    with tl.ctx.sessions() as session:
        stored = session.scalars(select(UsageKey.key).order_by(UsageKey.id)).all()
    assert stored == keys


def test_uses_of_refs_differing_only_in_case_count_apart(make_tierline: MakeTierline) -> None:
    tl = make_tierline(CATALOG)
    add_tiers(tl)

    for _ in range(3):
        assert tl.usage.track("acct", "quotes").allowed
    # The free tier's 3 a day are acct's; ACCT has its own.
    assert not tl.usage.track("acct", "quotes").allowed
    assert tl.usage.track("ACCT", "quotes").used == 1
    assert tl.usage.check("acct", "quotes").used == 3


@pytest.mark.parametrize("spaced", ["req ", " req", "req\u3000"])
def test_a_key_with_spaces_around_it_is_refused_on_every_dialect(
    make_tierline: MakeTierline, spaced: str
) -> None:
    # MariaDB's utf8mb4_bin pads with spaces when it compares: "req " would be the key "req"
    # there (a duplicate, counted once) and another key on SQLite and PostgreSQL. Refused
    # everywhere instead, for usage and credit keys alike, and nothing is written.
    tl = make_tierline(CATALOG)
    add_tiers(tl)
    tl.usage.track("acct", "quotes", idempotency_key="req")
    with pytest.raises(ValidationError, match="spaces around it"):
        tl.usage.track("acct", "quotes", idempotency_key=spaced)
    assert tl.usage.check("acct", "quotes").used == 1
    tl.grant_credit("acct", days=3, idempotency_key="req")
    with pytest.raises(ValidationError, match="spaces around it"):
        tl.grant_credit("acct", days=3, idempotency_key=spaced)
    assert len(tl.credits.history("acct")) == 1
