"""AccountService: find-or-create by the host's id, validation, and concurrent creation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tierline import Tierline
from tierline.accounts.models import Account
from tierline.accounts.service import AccountInfo, clean_ref
from tierline.bounds import check_identifier
from tierline.errors import NotFoundError, ValidationError

MakeTierline = Callable[..., Tierline]

# Validation happens before any SQL, so one dialect is enough for the refusal cases.
sqlite_only = pytest.mark.parametrize("dialect", ["sqlite"])


def account_rows(tl: Tierline) -> int:
    with tl.ctx.sessions() as session:
        return session.scalar(select(func.count()).select_from(Account)) or 0


def test_ensure_creates_once_and_returns_the_same_account(make_tierline: MakeTierline) -> None:
    tl = make_tierline()

    first = tl.accounts.ensure("user_42")
    second = tl.accounts.ensure("user_42")

    assert first == second
    assert (first.ref, first.email, first.referral_code) == ("user_42", None, None)
    assert tl.accounts.get("user_42") == first
    assert account_rows(tl) == 1


def test_email_is_set_updated_and_kept_when_not_given(make_tierline: MakeTierline) -> None:
    tl = make_tierline()

    assert tl.accounts.ensure("acme", " billing@acme.test ").email == "billing@acme.test"
    assert tl.accounts.ensure("acme").email == "billing@acme.test"
    assert tl.accounts.ensure("acme", "new@acme.test").email == "new@acme.test"
    assert tl.accounts.get("acme").email == "new@acme.test"


@sqlite_only
@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (" acme", "surrounding whitespace"),
        ("x" * 256, "at most 255"),
        ("a\x00b", "control character"),
        ("a\x01b", "control character"),
        ("tab\there", "control character"),
        ("bell\x07", "control character"),
        ("del\x7f", "control character"),
        ("\ud800x", "unpaired surrogate"),
        ("a\x85b", "control character"),
        ("a\u202eb", "control character"),
        ("\u200b", "control character"),
    ],
)
def test_a_bad_ref_is_refused_and_creates_nothing(
    make_tierline: MakeTierline, ref: str, fragment: str
) -> None:
    tl = make_tierline()
    with pytest.raises(ValidationError, match=fragment):
        tl.accounts.ensure(ref)
    assert account_rows(tl) == 0


@sqlite_only
@pytest.mark.parametrize("email", ["nope", "a@b", "@acme.test", "a@", "x@" + "a" * 320 + ".io"])
def test_a_bad_email_is_refused_and_changes_nothing(
    make_tierline: MakeTierline, email: str
) -> None:
    tl = make_tierline()
    tl.accounts.ensure("acme", "ok@acme.test")

    with pytest.raises(ValidationError, match="is not an email address"):
        tl.accounts.ensure("acme", email)
    with pytest.raises(ValidationError):
        tl.accounts.ensure("newcomer", email)

    assert tl.accounts.get("acme").email == "ok@acme.test"
    assert account_rows(tl) == 1


def test_get_of_an_unknown_ref_names_it(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    with pytest.raises(NotFoundError, match="no account with ref 'ghost'"):
        tl.accounts.get("ghost")


def test_list_is_oldest_first_and_pages(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    for ref in ("c", "a", "b"):
        tl.accounts.ensure(ref)

    assert [a.ref for a in tl.accounts.list()] == ["c", "a", "b"]
    assert [a.ref for a in tl.accounts.list(limit=1, offset=1)] == ["a"]
    assert tl.accounts.list(offset=3) == []


def test_concurrent_ensure_of_one_ref_yields_one_row(make_tierline: MakeTierline) -> None:
    tl = make_tierline()
    workers = 8
    start = threading.Barrier(workers)

    def ensure(_: int) -> AccountInfo:
        start.wait()
        return tl.accounts.ensure("racy", "racy@acme.test")

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(ensure, range(workers)))

    assert {info.id for info in results} == {tl.accounts.get("racy").id}
    assert account_rows(tl) == 1


@given(st.text(min_size=1, max_size=300))
def test_every_ref_an_account_may_have_is_one_a_provider_payload_may_name(ref: str) -> None:
    # An account created by the host must be one a webhook can pay for: the payload's account
    # ref is held to tierline.bounds.check_identifier.
    try:
        accepted = clean_ref(ref)
    except ValidationError:
        return
    assert check_identifier(accepted, field="account ref", max_length=255) == accepted
