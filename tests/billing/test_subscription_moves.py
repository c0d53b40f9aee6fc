"""A subscription whose snapshot (or checkout) names another account moves to it: the account
it leaves loses that access at once, in this process's cache and in other processes' (the
change is reported for both accounts), on every dialect and through every apply path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tierline import Tierline
from tierline.billing.providers import fake
from tierline.catalog.spec import Catalog, TierSpec

from ..clock import FrozenClock
from .inbox_helpers import deliver, fake_event

CATALOG = Catalog(tiers={"pro": TierSpec(key="pro", name="Pro", providers={"fake": ("pro",)})})


def test_a_moved_subscription_takes_its_access_from_the_account_it_left(
    make_tierline: Callable[..., Tierline], clock: FrozenClock
) -> None:
    tl = make_tierline(CATALOG, cache_ttl_seconds=300)
    tl.sync_catalog()
    heard: list[tuple[str, bool, bool]] = []
    tl.on_access_change(lambda ref, old, new: heard.append((ref, old.active, new.active)))
    start = clock()

    def send(event_type: str, account: str, seconds: int) -> None:
        payload = fake_event(
            event_type, account, start + timedelta(seconds=seconds), subscription_id="sub_move"
        )
        assert deliver(tl, "fake", payload).status_code == 200

    send(fake.SUBSCRIPTION_CREATED, "xena", 0)
    assert tl.status("xena").active  # and cached for 300 s
    send(fake.SUBSCRIPTION_UPDATED, "yuri", 60)
    assert tl.status("yuri").active
    assert not tl.status("xena").active
    send(fake.CHECKOUT_COMPLETED, "zoe", 120)
    assert tl.status("zoe").active
    assert not tl.status("yuri").active
    assert ("xena", True, False) in heard
    assert ("yuri", True, False) in heard
