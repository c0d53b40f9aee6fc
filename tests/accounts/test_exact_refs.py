"""``ensure_account`` keeps refs differing only in case or accents apart, on every dialect."""

from __future__ import annotations

from collections.abc import Callable

from tierline import Tierline

MakeTierline = Callable[..., Tierline]


def test_refs_differing_only_in_case_or_accents_are_distinct_accounts(
    make_tierline: MakeTierline,
) -> None:
    tl = make_tierline()
    refs = ["alice", "ALICE", "Alice", "alicé", "ALICÉ", "straße", "STRASSE", "strasse"]

    created = [tl.ensure_account(ref) for ref in refs]

    assert [account.ref for account in created] == refs
    assert len({account.id for account in created}) == len(refs)
    # A second call finds each one again, not a look-alike.
    assert [tl.ensure_account(ref).id for ref in refs] == [account.id for account in created]
