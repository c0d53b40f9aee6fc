"""The paid-access gate through both adapters: 401, 402 with its reason, admin bypass."""

from __future__ import annotations

from collections.abc import Callable

from tierline import Tierline

from .apps import ADMIN_TOKEN, WebClient


def test_without_an_account_the_gate_answers_401(client: WebClient) -> None:
    for path in ("/reports", "/export"):
        reply = client.get(path)
        assert reply.status == 401
        assert reply.json() == {"error": "unauthenticated"}


def test_free_account_gets_402_with_no_subscription(client: WebClient) -> None:
    reply = client.get("/reports", account="alice")
    assert reply.status == 402
    assert reply.json() == {
        "error": "payment_required",
        "reason": "no_subscription",
        "tier": "free",
        "upgrade_url": "/billing/settings",
    }
    feature = client.get("/export", account="alice")
    assert feature.status == 402
    assert feature.json() == {
        "error": "payment_required",
        "reason": "no_subscription",
        "tier": "free",
        "upgrade_url": "/billing/settings",
        "feature": "export",
    }


def test_paid_account_without_the_feature_gets_feature_not_in_tier(
    client: WebClient, sqlite_tl: Tierline
) -> None:
    sqlite_tl.ensure_account("carol")
    sqlite_tl.assign_exempt("carol", "partner")
    assert client.get("/reports", account="carol").status == 200
    reply = client.get("/export", account="carol")
    assert reply.status == 402
    assert reply.json() == {
        "error": "payment_required",
        "reason": "feature_not_in_tier",
        "tier": "partner",
        "upgrade_url": "/billing/settings",
        "feature": "export",
    }
    sqlite_tl.ensure_account("dave")
    sqlite_tl.assign_exempt("dave", "staff")
    assert client.get("/export", account="dave").status == 200


def test_admin_bearer_token_passes_every_gate(client: WebClient) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in ("/reports", "/export"):
        assert client.get(path, **auth).status == 200
        assert client.get(path, account="alice", **auth).status == 200
    wrong = client.get("/reports", account="alice", Authorization=f"Bearer {ADMIN_TOKEN}x")
    assert wrong.status == 402


def test_the_gate_on_every_dialect(
    make_client: Callable[[Tierline], WebClient], dialect_tl: Tierline
) -> None:
    client = make_client(dialect_tl)
    assert client.get("/reports", account="frank").json()["reason"] == "no_subscription"
    dialect_tl.ensure_account("frank")
    dialect_tl.grant_credit("frank", days=3)
    body = client.get("/reports", account="frank").json()
    assert body == {"ok": True, "account": "frank"}
