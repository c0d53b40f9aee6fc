"""Test doubles that speak real wire formats: webhook payload fixtures and a fake Stripe API.

``load_fixture("stripe", "invoice.paid")`` reads ``tests/fixtures/stripe/invoice.paid.json``;
``signed_delivery(provider, payload, secret, timestamp)`` serializes a payload and signs it with
the provider's real scheme, giving the ``(headers, body)`` a webhook endpoint would receive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tierline.billing.providers import sign_for

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_names(provider: str) -> list[str]:
    """Every fixture name of ``provider`` (file names without ``.json``), sorted."""
    return sorted(path.stem for path in (FIXTURES_DIR / provider).glob("*.json"))


def load_fixture(provider: str, name: str) -> dict[str, Any]:
    """The decoded JSON payload of ``tests/fixtures/<provider>/<name>.json``."""
    payload = json.loads((FIXTURES_DIR / provider / f"{name}.json").read_text())
    assert isinstance(payload, dict)
    return payload


def signed_delivery(
    provider: str, payload: dict[str, Any], secret: str, timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and raw body of ``payload`` as ``provider`` would deliver it."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", **sign_for(provider, body, secret, timestamp)}
    return headers, body
