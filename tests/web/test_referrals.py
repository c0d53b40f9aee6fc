"""``?ref=`` capture through both adapters, across the login hops, claimed at sign-up."""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie

from tierline import Tierline
from tierline.web import referral_cookie

from .apps import WebClient


def _referral_set_cookie(headers: list[str]) -> SimpleCookie:
    parsed: SimpleCookie = SimpleCookie()
    for header in headers:
        if header.startswith(referral_cookie.COOKIE_NAME + "="):
            parsed.load(header)
    return parsed


def test_ref_on_any_page_sets_a_signed_httponly_lax_cookie(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    reply = client.get("/login?ref=NOT-CHECKED-YET")
    assert reply.status == 200
    morsel = _referral_set_cookie(reply.set_cookies)[referral_cookie.COOKIE_NAME]
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["max-age"] == str(30 * 24 * 3600)
    assert morsel["path"] == "/"
    # Signed with the app's key: the code is inside, but not forgeable.
    assert referral_cookie.read_cookie(sqlite_tl.settings, morsel.value) == "NOT-CHECKED-YET"
    assert client.get("/login").set_cookies == []  # no ?ref=, no cookie written


def test_cookie_survives_the_login_hops_and_is_claimed_at_signup(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    sqlite_tl.ensure_account("referrer")
    code = sqlite_tl.referral_code("referrer")

    client.get(f"/login?ref={code}")
    assert client.post("/login", data={"email": "new@example.com"}).status == 200
    assert client.get("/verify").status == 200
    assert client.cookie(referral_cookie.COOKIE_NAME) is not None

    reply = client.post("/signup", data={"account": "newcomer"})
    assert reply.status == 200, reply.text
    assert reply.json() == {"referrer": "referrer"}
    assert client.cookie(referral_cookie.COOKIE_NAME) is None  # cleared after the claim
    assert sqlite_tl.referral_stats("referrer").pending == 1


def test_bad_code_is_reported_at_claim_not_at_capture(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    assert client.get("/login?ref=NOSUCHCODE").status == 200
    reply = client.post("/signup", data={"account": "victor"})
    assert reply.status == 400
    assert "NOSUCHCODE" in reply.json()["error"]
    assert client.cookie(referral_cookie.COOKIE_NAME) is None  # reported once, then gone
    again = client.post("/signup", data={"account": "victor"})
    assert again.json() == {"referrer": None}


def test_self_referral_is_reported_at_claim(client: WebClient, sqlite_tl: Tierline) -> None:
    sqlite_tl.ensure_account("wendy")
    code = sqlite_tl.referral_code("wendy")
    client.get(f"/login?ref={code}")
    reply = client.post("/signup", data={"account": "wendy"})
    assert reply.status == 400
    assert reply.json()["error"]


def test_signup_without_a_captured_code_claims_nothing(client: WebClient) -> None:
    reply = client.post("/signup", data={"account": "xavier"})
    assert reply.json() == {"referrer": None}


def test_claim_on_every_dialect(
    make_client: Callable[[Tierline], WebClient], dialect_tl: Tierline
) -> None:
    client = make_client(dialect_tl)
    dialect_tl.ensure_account("yara")
    client.get(f"/login?ref={dialect_tl.referral_code('yara')}")
    assert client.post("/signup", data={"account": "zack"}).json() == {"referrer": "yara"}
