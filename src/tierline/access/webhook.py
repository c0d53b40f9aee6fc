"""The signed ``access.changed`` POST to the host's own URL (``access_webhook_url``).

Signed with the Standard Webhooks scheme (https://www.standardwebhooks.com/) through the
``standardwebhooks`` package (``pip install 'tierline[access-webhooks]'``): headers
``webhook-id`` (the outbox item's id, the same on every retry, so the receiver can drop a
duplicate), ``webhook-timestamp`` and ``webhook-signature``; the receiver checks them with
``standardwebhooks.Webhook(secret).verify(body, headers)``. The body is::

    {"type": "access.changed", "timestamp": "<ISO 8601>",
     "data": {"account": ref, "old": <AccessStatus.to_dict()>, "new": ..., "occurred_at": ...}}

Delivered through the outbox, never on the writer's thread: after the commit the item goes to
the Tierline object's background delivery thread (:mod:`tierline.outbox.background`), so a slow
receiver never slows ``tl.ingest`` or ``tl.grant_credit``; a worker (``tierline outbox run``)
delivers it like any other item. Only the status code matters: the response body is never read.
An answer other than 2xx, or no status line and headers within :data:`TIMEOUT_SECONDS` of the
try's start (a total deadline over connecting, sending and reading, however slowly the receiver
trickles bytes), is a failed try, retried with backoff and ``dead`` after
``outbox_max_attempts`` (``tierline outbox list``).

The process that delivers (the writer's, or the worker's) must have both settings; without them
the item fails with a :class:`~tierline.errors.ConfigurationError` naming them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tierline.errors import ConfigurationError
from tierline.outbox.deliverers import Delivery

#: Seconds a receiver has, in all, to take one try and answer its status line and headers.
TIMEOUT_SECONDS = 10.0
EVENT_TYPE = "access.changed"


def deliver_access_webhook(delivery: Delivery) -> None:
    """POST the change to ``access_webhook_url``; raises on a refused or unanswered try.

    Raises:
        ConfigurationError: no URL or secret, or the ``standardwebhooks``/``httpx`` packages
            are missing (the item fails visibly until the setting is fixed).
        RuntimeError: the receiver answered outside 2xx.
    """
    settings = delivery.settings
    url, secret = settings.access_webhook_url, settings.access_webhook_secret
    if not url or not secret:
        raise ConfigurationError(
            "access webhook: set TIERLINE_ACCESS_WEBHOOK_URL and TIERLINE_ACCESS_WEBHOOK_SECRET"
        )
    try:
        import httpcore
        from standardwebhooks import Webhook

        from tierline.access.deadline import post_status
    except ImportError as exc:  # pragma: no cover - both ship with the extra
        raise ConfigurationError(
            f"access webhook needs {exc.name}: pip install 'tierline[access-webhooks]'"
        ) from exc
    now = datetime.now(UTC)
    body = json.dumps(
        {"type": EVENT_TYPE, "timestamp": now.isoformat(), "data": dict(delivery.payload)},
        sort_keys=True,
        separators=(",", ":"),
    )
    msg_id = f"msg_tierline_{delivery.item_id}"
    try:
        signature = Webhook(secret).sign(msg_id, now, body)
    except Exception as exc:
        raise ConfigurationError(
            f"access webhook: TIERLINE_ACCESS_WEBHOOK_SECRET is not a Standard Webhooks "
            f"secret (whsec_ + base64): {type(exc).__name__}"
        ) from None
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    try:
        status = post_status(url, body.encode(), headers, TIMEOUT_SECONDS)
    except httpcore.TimeoutException:
        raise TimeoutError(
            f"access webhook receiver did not answer within {TIMEOUT_SECONDS:g} s"
        ) from None
    if not 200 <= status < 300:
        raise RuntimeError(f"access webhook receiver answered {status}")
