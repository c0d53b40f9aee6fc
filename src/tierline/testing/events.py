"""Signed webhook deliveries for tests: what a provider would POST, ready to ingest.

Payloads come from :mod:`tierline.billing.simulate` (the builders behind ``tierline
simulate``, whose shapes are checked against the providers' documented payloads); this module
only adds what a test needs on top: naming an event by the provider's real type, choosing the
subscription status, signing at the test clock's time, and a test secret.

    event = stripe_event("customer.subscription.updated", account="user-42", tier="pro",
                         status="past_due", catalog=tl, now=clock)
    tl.ingest("stripe", event.headers, event.body)          # or client.post(url, ...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierline.errors import ValidationError
from tierline.testing.clock import FrozenClock

if TYPE_CHECKING:
    from tierline.catalog.spec import Catalog
    from tierline.facade import Tierline

#: The webhook secret the kit signs with and :func:`settings_for_tests` configures for every
#: provider. Stripe's secrets look like ``whsec_...``; the others accept any string.
TEST_WEBHOOK_SECRET = "whsec_tierline_testing_secret"  # noqa: S105 - a test fixture's secret


@dataclass(frozen=True)
class SignedEvent:
    """One delivery: ``body`` (bytes, byte for byte what is signed) and its ``headers``.

    Pass both to ``Tierline.ingest(provider, headers, body)`` or post them with an HTTP
    client (``client.post(f"/webhooks/{provider}", content=event.body,
    headers=event.headers)``).
    """

    provider: str
    type: str
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The provider's event id (Stripe ``id``, Paddle ``event_id``, fake ``id``)."""
        return str(self.payload.get("id") or self.payload.get("event_id"))


def provider_event(
    provider: str,
    event_type: str,
    *,
    account: str,
    tier: str,
    status: str | None = None,
    catalog: Catalog | Tierline | str | Path | None = None,
    secret: str = TEST_WEBHOOK_SECRET,
    now: datetime | FrozenClock | float | None = None,
) -> SignedEvent:
    """A signed ``provider`` delivery of ``event_type`` about ``account``'s subscription.

    Args:
        provider: a provider :mod:`tierline.billing.simulate` builds payloads for
            (``stripe``, ``paddle``, ``fake``).
        event_type: the provider's own type (``customer.subscription.updated``,
            ``subscription.past_due``...) or one of ``tierline simulate``'s events
            (``subscription.canceled``...).
        account: the account ref the subscription belongs to.
        tier: the tier's key; with ``catalog`` it is mapped to the provider's key (the Stripe
            lookup key, say), without one it is used as the provider's key as it is.
        status: the subscription's status in the payload (``active``, ``trialing``,
            ``past_due``, ``canceled``...); default: the event's usual one.
        catalog: a :class:`~tierline.catalog.spec.Catalog`, a catalog file, or the
            :class:`~tierline.Tierline` whose catalog to use.
        secret: the webhook secret to sign with (default :data:`TEST_WEBHOOK_SECRET`).
        now: the event's time: a datetime, a :class:`FrozenClock` (its current time), unix
            seconds, or the real time. Sign at the clock of the ``Tierline`` that verifies it:
            providers' signatures carry a timestamp checked against a tolerance.

    Raises:
        ValidationError: an unknown provider or event type (the message lists the valid ones).
        NotFoundError: ``tier`` is not in ``catalog``.
    """
    from tierline.billing import simulate

    event = _simulated_event(provider, event_type)
    key = simulate.external_key(_catalog(catalog), tier, provider) if catalog else tier
    moment = _unix_seconds(now)
    payload = simulate.build_payload(
        provider, event, account_ref=account, external_key=key, now=moment
    )
    if status is not None:
        _STATUS_SETTERS.get(provider, _cannot_set_status(provider))(payload, status)
    body, headers = simulate.signed_request(provider, payload, secret, int(moment))
    headers["User-Agent"] = "tierline-testing"
    return SignedEvent(provider, simulate.EVENT_TYPES[(provider, event)], payload, body, headers)


def stripe_event(event_type: str, **options: Any) -> SignedEvent:
    """:func:`provider_event` for Stripe (``customer.subscription.created|updated|deleted``,
    ``checkout.session.completed``)."""
    return provider_event("stripe", event_type, **options)


def paddle_event(event_type: str, **options: Any) -> SignedEvent:
    """:func:`provider_event` for Paddle Billing (``subscription.created|updated|...``)."""
    return provider_event("paddle", event_type, **options)


def fake_event(event_type: str, **options: Any) -> SignedEvent:
    """:func:`provider_event` for the offline ``fake`` provider."""
    return provider_event("fake", event_type, **options)


def _simulated_event(provider: str, event_type: str) -> str:
    from tierline.billing import simulate

    if event_type in simulate.SIMULATED_EVENTS:
        simulate.provider_event_type(provider, event_type)  # checks the provider
        return event_type
    for (name, event), real in simulate.EVENT_TYPES.items():
        if name == provider and real == event_type:
            return event
    if provider not in simulate.SIMULATED_PROVIDERS:
        simulate.provider_event_type(provider, simulate.SIMULATED_EVENTS[0])  # raises
    known = sorted({real for (name, _), real in simulate.EVENT_TYPES.items() if name == provider})
    raise ValidationError(
        f"cannot build a {provider} event of type {event_type!r}; valid types: {', '.join(known)}"
    )


def _catalog(catalog: Catalog | Tierline | str | Path) -> Catalog:
    from tierline.catalog.config import load_catalog
    from tierline.catalog.spec import Catalog

    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, str | Path):
        return load_catalog(Path(catalog))
    return catalog.catalog_spec


def _unix_seconds(now: datetime | FrozenClock | float | None) -> float:
    if now is None:
        import time

        return time.time()
    if isinstance(now, FrozenClock):
        return now.timestamp()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


# -- the subscription status of each provider's payload --------------------------------------
def _set_stripe_status(payload: dict[str, Any], status: str) -> None:
    # Stripe: the event's ``data.object`` is the Subscription object, whose ``status`` is one of
    # incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused.
    obj = payload["data"]["object"]
    if obj.get("object") != "subscription":
        raise ValidationError(f"a Stripe {payload['type']} event carries no subscription status")
    obj["status"] = status


def _set_paddle_status(payload: dict[str, Any], status: str) -> None:
    # Paddle Billing: ``data`` is the subscription entity; status is one of active, canceled,
    # past_due, paused, trialing.
    payload["data"]["status"] = status


def _set_fake_status(payload: dict[str, Any], status: str) -> None:
    payload["data"]["subscription"]["status"] = status


def _cannot_set_status(provider: str) -> Callable[[dict[str, Any], str], None]:
    def refuse(_payload: dict[str, Any], _status: str) -> None:
        raise ValidationError(f"status= is not supported for {provider} events yet")

    return refuse


_STATUS_SETTERS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "stripe": _set_stripe_status,
    "paddle": _set_paddle_status,
    "fake": _set_fake_status,
}
