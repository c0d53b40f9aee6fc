"""Referral codes on accounts, attribution, stats and the first-payment conversion."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from tierline import AccessSource, Tierline
from tierline.accounts.models import Account
from tierline.accounts.service import get_account
from tierline.catalog.spec import Catalog, ReferralPolicy, RewardRecipient
from tierline.credits.models import CreditGrant
from tierline.errors import NotFoundError, ValidationError
from tierline.referrals import codes
from tierline.referrals.models import Referral
from tierline.referrals.service import Conversion

from ..access.seed import tierline_on
from ..clock import FrozenClock

MakeTierline = Callable[..., Tierline]
POLICY = ReferralPolicy(reward_days=30, reward_to=RewardRecipient.BOTH, stripe_coupon="WELCOME")


@pytest.fixture
def sqlite_tl(sqlite_url: URL, clock: FrozenClock) -> Iterator[Tierline]:
    tl = tierline_on(sqlite_url, clock, catalog=Catalog(referrals=POLICY))
    yield tl
    tl.close()


def count(tl: Tierline, column: Any) -> int:
    with tl.ctx.sessions() as session:
        return int(session.scalar(select(func.count(column))) or 0)


def test_code_is_assigned_once_and_survives_a_collision(
    sqlite_tl: Tierline, monkeypatch: pytest.MonkeyPatch
) -> None:
    tl = sqlite_tl
    tl.ensure_account("a")
    tl.ensure_account("b")
    code_a = tl.referral_code("a")
    assert tl.referral_code("a") == code_a
    drawn = iter([code_a, code_a, "QRST6789"])
    monkeypatch.setattr(codes, "new_code", lambda: next(drawn))
    assert tl.referral_code("b") == "QRST6789"  # two collisions with a's code, then a new one
    assert tl.accounts.get("b").referral_code == "QRST6789"
    with pytest.raises(NotFoundError, match="'ghost'"):
        tl.referral_code("ghost")


def test_attribution_errors_change_nothing(sqlite_tl: Tierline) -> None:
    tl = sqlite_tl
    tl.ensure_account("alice")
    code = tl.referral_code("alice")
    accounts_before = count(tl, Account.id)
    with pytest.raises(ValidationError, match="'xyz' is not valid"):
        tl.attribute_referral("newbie", "xyz")
    with pytest.raises(NotFoundError, match="no account has referral code 'zzzz-zzzz'"):
        tl.attribute_referral("newbie", "zzzz-zzzz")
    assert count(tl, Account.id) == accounts_before  # "newbie" was not left behind
    with pytest.raises(ValidationError, match="cannot use its own referral code"):
        tl.attribute_referral("alice", code.lower())

    info = tl.attribute_referral("bob", f" {code[:4]}-{code[4:]} ")
    assert (info.referrer_ref, info.referred_ref, info.code) == ("alice", "bob", code)
    assert info.converted_at is None
    with pytest.raises(ValidationError, match="'bob' was already referred"):
        tl.attribute_referral("bob", code)
    with pytest.raises(ValidationError, match="cannot be referred back"):
        tl.attribute_referral("alice", tl.referral_code("bob"))
    assert count(tl, Referral.id) == 1
    with tl.ctx.sessions() as session:
        bob = get_account(session, "bob")
        assert bob.referred_by_id == get_account(session, "alice").id


def convert(tl: Tierline, ref: str) -> Conversion | None:
    with tl.ctx.sessions.begin() as session:
        return tl.referrals.on_first_payment(session, get_account(session, ref))


def test_first_payment_converts_once_and_credits_both(
    sqlite_tl: Tierline, clock: FrozenClock
) -> None:
    tl = sqlite_tl
    tl.ensure_account("alice")
    tl.attribute_referral("bob", tl.referral_code("alice"))
    assert convert(tl, "alice") is None  # alice was not referred
    stats = tl.referral_stats("alice")
    assert (stats.pending, stats.converted, stats.credited, stats.active_credits) == (1, 0, 0, 0)

    conversion = convert(tl, "bob")
    assert conversion is not None
    assert (conversion.referrer_ref, conversion.referred_ref) == ("alice", "bob")
    assert conversion.stripe_coupon == "WELCOME"
    assert convert(tl, "bob") is None
    stats = tl.referral_stats("alice")
    assert (stats.code, stats.pending, stats.converted, stats.credited, stats.active_credits) == (
        tl.referral_code("alice"),
        0,
        1,
        1,
        1,
    )
    for ref in conversion.refs:
        status = tl.status(ref)
        assert (status.source, status.days_remaining) == (AccessSource.CREDIT, 30)
    keys = {g.idempotency_key for ref in ("alice", "bob") for g in tl.credits.history(ref)}
    assert keys == {
        f"referral:{conversion.referral_id}:referrer",
        f"referral:{conversion.referral_id}:referred",
    }
    clock.advance(days=31)
    assert tl.referral_stats("alice").active_credits == 0


def test_reward_to_referrer_only(sqlite_url: URL, clock: FrozenClock) -> None:
    policy = ReferralPolicy(reward_days=7, reward_to=RewardRecipient.REFERRER)
    tl = tierline_on(sqlite_url, clock, catalog=Catalog(referrals=policy))
    try:
        tl.ensure_account("alice")
        tl.attribute_referral("bob", tl.referral_code("alice"))
        conversion = convert(tl, "bob")
        assert conversion is not None and conversion.stripe_coupon is None
        assert len(tl.credits.history("alice")) == 1
        assert tl.credits.history("bob") == []
    finally:
        tl.close()


def test_stats_of_unknown_account(sqlite_tl: Tierline) -> None:
    with pytest.raises(NotFoundError):
        sqlite_tl.referral_stats("ghost")
    sqlite_tl.ensure_account("quiet")
    assert sqlite_tl.referral_stats("quiet").code is None


def test_racing_first_payments_convert_exactly_once(make_tierline: MakeTierline) -> None:
    tl = make_tierline(catalog=Catalog(referrals=POLICY))
    tl.ensure_account("alice")
    tl.attribute_referral("bob", tl.referral_code("alice"))
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def worker() -> None:
        try:
            with tl.ctx.sessions.begin() as session:
                account = get_account(session, "bob")
                barrier.wait()
                results.append(tl.referrals.on_first_payment(session, account))
        except Exception as exc:  # collected: the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(r is None for r in results) == [False, True]
    assert count(tl, CreditGrant.id) == 2
    with tl.ctx.sessions() as session:
        referral = session.scalars(select(Referral)).one()
        assert referral.converted_at is not None and referral.credited_at is not None
    assert tl.status("alice").expires_at == tl.ctx.clock() + timedelta(days=30)


def _attribute_each_other(tl: Tierline, a: str, b: str) -> list[Any]:
    """``a`` and ``b`` attributed with each other's code at the same moment."""
    codes_ = {a: tl.referral_code(a), b: tl.referral_code(b)}
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def worker(referred: str, referrer: str) -> None:
        barrier.wait()
        try:
            results.append(tl.attribute_referral(referred, codes_[referrer]))
        except ValidationError as exc:
            results.append(exc)

    threads = [
        threading.Thread(target=worker, args=(b, a)),
        threading.Thread(target=worker, args=(a, b)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_attributions_never_make_a_mutual_referral(make_tierline: MakeTierline) -> None:
    """Two accounts each attributed with the other's code at once: one attribution is refused,
    as it is when they come one after the other. (Both passed before the two account rows
    were locked: each transaction checked ``referrer.referred_by_id`` before the other's
    write committed.)"""
    tl = make_tierline(catalog=Catalog(referrals=POLICY))
    for round_ in range(5):
        a, b = f"a{round_}", f"b{round_}"
        tl.ensure_account(a)
        tl.ensure_account(b)
        results = _attribute_each_other(tl, a, b)
        refused = [r for r in results if isinstance(r, ValidationError)]
        assert len(refused) == 1, f"round {round_}: {results}"
