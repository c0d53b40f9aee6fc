"""Host ids of any simple type: ``3``, ``"3"`` and a UUID name one account everywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from flask import Flask, jsonify

from tierline import AccountRef, Tierline
from tierline.errors import ValidationError
from tierline.web.fastapi import TierlineFastAPI
from tierline.web.flask import TierlineFlask, require_paid
from tierline.web.pages import settings_page_context

from .apps import element, form_token

USER_UUID = uuid.UUID("0F8FAD5B-D9CB-469F-A165-70867728950E")


class Session:
    """What the host's session holds: ``session["user_id"] = user.id``."""

    user_id: Any = None


def fastapi_client(tl: Tierline, session: Session) -> Any:
    app = FastAPI()
    billing = TierlineFastAPI(tl, current_account=lambda request: session.user_id)
    billing.install(app)

    @app.get("/reports")
    def reports(account: str | None = Depends(billing.require_paid)) -> dict[str, Any]:
        return {"account": account}

    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def flask_client(tl: Tierline, session: Session) -> Any:
    app = Flask(__name__)
    billing = TierlineFlask(tl=tl, current_account=lambda: session.user_id)
    billing.init_app(app)

    @app.get("/reports")
    @require_paid
    def reports() -> Any:
        return jsonify(account=billing.account())

    return app.test_client()


CLIENTS: dict[str, Callable[[Tierline, Session], Any]] = {
    "fastapi": fastapi_client,
    "flask": flask_client,
}


def text_of(response: Any) -> str:
    return response.get_data(as_text=True) if hasattr(response, "get_data") else response.text


def json_of(response: Any) -> Any:
    return json.loads(text_of(response))


@pytest.mark.parametrize(
    ("ref", "canonical"),
    [(3, "3"), ("3", "3"), (USER_UUID, str(USER_UUID).lower()), (2**62, str(2**62))],
)
def test_facade_accepts_int_str_and_uuid(
    make_tierline: Callable[..., Tierline], ref: AccountRef, canonical: str
) -> None:
    tl = make_tierline()
    account = tl.ensure_account(ref)
    assert account.ref == canonical
    assert tl.ensure_account(canonical).id == account.id
    grant = tl.grant_credit(ref, days=2)
    assert grant.account_ref == canonical
    assert tl.status(canonical).active
    assert tl.status(ref) == tl.status(canonical)
    assert tl.has_feature(ref, "anything") == tl.has_feature(canonical, "anything")
    assert tl.referral_code(ref) == tl.referral_code(canonical)
    tl.attribute_referral(uuid.UUID(int=7), tl.referral_code(ref))
    assert tl.referral_stats(ref).pending == 1
    assert tl.accounts.get(str(uuid.UUID(int=7))).ref == "00000000-0000-0000-0000-000000000007"
    assert tl.revoke_credit(ref) == 1
    assert [a.ref for a in tl.accounts.list()] == [canonical, str(uuid.UUID(int=7))]


@pytest.mark.parametrize("bad", [True, False, 3.0, None, b"3", [3], "", " 3", "a\x00b", 10**300])
def test_facade_refuses_what_is_not_an_id(make_tierline: Callable[..., Tierline], bad: Any) -> None:
    tl = make_tierline()
    with pytest.raises(ValidationError, match="account ref"):
        tl.ensure_account(bad)
    assert tl.accounts.list() == []


@pytest.mark.parametrize("adapter", sorted(CLIENTS))
@pytest.mark.parametrize("user_id", [3, USER_UUID])
def test_settings_page_and_checkout_with_a_typed_current_account(
    adapter: str, user_id: AccountRef, sqlite_tl: Tierline
) -> None:
    session = Session()
    session.user_id = user_id
    client = CLIENTS[adapter](sqlite_tl, session)
    canonical = str(user_id).lower()

    page = client.get("/billing/settings")
    assert page.status_code == 200, text_of(page)
    assert element(text_of(page), "tier-badge")[0] == "Free"
    assert sqlite_tl.accounts.get(canonical).ref == canonical
    token = form_token(text_of(page))

    reply = client.post("/billing/checkout/team", data={"csrf_token": token})
    assert reply.status_code == 303, text_of(reply)
    assert "/billing/fake-checkout" in reply.headers["location"]

    assert client.get("/reports").status_code == 402
    sqlite_tl.grant_credit(user_id, days=1)
    gated = client.get("/reports")
    assert gated.status_code == 200
    assert json_of(gated)["account"] == canonical


@pytest.mark.parametrize("adapter", sorted(CLIENTS))
def test_a_current_account_that_is_not_an_id_is_a_400(adapter: str, sqlite_tl: Tierline) -> None:
    session = Session()
    session.user_id = True
    client = CLIENTS[adapter](sqlite_tl, session)
    page = client.get("/billing/settings")
    assert page.status_code == 400
    assert "is a bool" in text_of(page)
    gated = client.get("/reports")
    assert gated.status_code == 400
    assert json_of(gated)["error"] == "invalid_account_ref"
    assert sqlite_tl.accounts.list() == []


def test_page_context_normalises_the_ref(sqlite_tl: Tierline) -> None:
    assert settings_page_context(sqlite_tl, 42).account_ref == "42"
