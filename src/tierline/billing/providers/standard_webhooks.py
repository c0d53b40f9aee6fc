"""Standard Webhooks signatures (https://www.standardwebhooks.com/), as Polar and Whop send them.

Headers
    ``webhook-id`` (the message id; the same id on every retry of one message),
    ``webhook-timestamp`` (unix seconds), ``webhook-signature``: one or more space-separated
    ``v1,<base64 HMAC-SHA256>`` values (several while the sender rotates its secret). The
    signed content is ``f"{webhook-id}.{webhook-timestamp}.{body}"``; the timestamp must be
    within the tolerance of now in either direction (the specification and both SDKs: 5
    minutes). Unknown versions (``v1a,...`` asymmetric signatures) are skipped.

Key derivation: the trap
    The specification derives the HMAC key by base64-decoding the secret after its ``whsec_``
    prefix. Polar and Whop do not: they key the HMAC with the secret's raw UTF-8 bytes, so a
    generic verifier handed their secret derives the wrong key and rejects every genuine
    delivery (the Whop SDK's ``whop_sdk.lib.verify_webhook`` and the polar-sdk's
    ``validate_event`` both base64-*encode* the secret before handing it to the
    ``standardwebhooks`` package, to cancel its decode). Each provider therefore declares its
    :class:`KeyDerivation`; nothing guesses.

The message id is returned inside the payload under :data:`WEBHOOK_ID_KEY` (a key no provider
sends: it has a hyphen), so the provider's ``parse`` can use it as the event's dedup key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from hashlib import sha256
from typing import Any, ClassVar

from tierline.billing.providers.base import WebhookRejected
from tierline.billing.providers.declared import DeclaredProvider, Field
from tierline.billing.providers.signing import (
    DELIVERY_ID_KEY,
    Delivery,
    HmacScheme,
    required_header,
    unix_seconds,
)
from tierline.bounds import BAD_TEXT, shown

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
VERSION = "v1"
#: The specification's and both SDKs' timestamp tolerance.
DEFAULT_TOLERANCE_SECONDS = 300
#: Where :meth:`StandardWebhooksScheme.verify` puts the ``webhook-id`` in the payload.
WEBHOOK_ID_KEY = DELIVERY_ID_KEY
_SPEC_PREFIX = "whsec_"


def _raw_utf8(secret: str) -> bytes:
    return secret.encode("utf-8")


def _spec_base64(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(_SPEC_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected(
            "no_secret_configured",
            f"a configured Standard Webhooks secret is not base64 after {_SPEC_PREFIX!r}",
        ) from exc


class KeyDerivation(Enum):
    """How a provider turns its configured secret into the HMAC key."""

    #: The secret's own UTF-8 bytes (Polar, Whop).
    RAW_UTF8 = "raw_utf8"
    #: The specification's: base64-decode what follows ``whsec_``.
    SPEC_BASE64 = "spec_base64"

    def key(self, secret: str) -> bytes:
        """The HMAC key for ``secret``."""
        derive: Callable[[str], bytes] = (
            _raw_utf8 if self is KeyDerivation.RAW_UTF8 else _spec_base64
        )
        return derive(secret)


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    """The exact bytes signed: ``{id}.{timestamp}.{body}``."""
    return f"{message_id}.{timestamp}.".encode() + body


@dataclass(frozen=True)
class StandardWebhooksScheme(HmacScheme):
    """One provider's use of Standard Webhooks: its name, secret setting and key derivation.

    :meth:`verify` (shared by every scheme) raises ``missing_signature`` when a header is
    absent, ``malformed_signature`` for a timestamp that is not unix seconds, then
    ``bad_signature``, ``stale_timestamp``; the payload it returns carries the message id
    under :data:`WEBHOOK_ID_KEY`.
    """

    provider: str
    setting: str
    derivation: KeyDerivation

    def signature(self, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
        """The base64 signature (without ``v1,``) of one message."""
        content = signed_content(message_id, timestamp, body)
        return self._base64(secret, content)

    def _base64(self, secret: str, content: bytes) -> str:
        mac = hmac.new(self.derivation.key(secret), content, sha256)
        return base64.b64encode(mac.digest()).decode("ascii")

    def sign(
        self,
        body: bytes,
        secret: str,
        timestamp: int | None = None,
        message_id: str | None = None,
    ) -> dict[str, str]:
        """The three headers a delivery of ``body`` carries (timestamp: now; id: random)."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        msg_id = message_id or f"msg_{_secrets.token_hex(12)}"
        return {
            ID_HEADER: msg_id,
            TIMESTAMP_HEADER: str(ts),
            SIGNATURE_HEADER: f"{VERSION},{self.signature(secret, msg_id, ts, body)}",
        }

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The ``v1`` signatures over ``{webhook-id}.{webhook-timestamp}.{body}``."""
        message_id = required_header(headers, ID_HEADER).strip()
        raw_ts = required_header(headers, TIMESTAMP_HEADER).strip()
        value = required_header(headers, SIGNATURE_HEADER)
        if BAD_TEXT.search(message_id):  # no UTF-8 encoder takes a lone surrogate
            raise WebhookRejected(
                "malformed_signature", f"{ID_HEADER} {shown(message_id)} is not valid text"
            )
        timestamp = unix_seconds(raw_ts)
        if timestamp is None:
            raise WebhookRejected(
                "malformed_signature", f"{TIMESTAMP_HEADER} {raw_ts[:40]!r} is not unix seconds"
            )
        return Delivery(
            received=[
                part.encode("utf-8", "replace")
                for version, sep, part in (item.partition(",") for item in value.split())
                if sep and version == VERSION
            ],
            content=signed_content(message_id, timestamp, body),
            timestamp=timestamp,
            stamp=f"{TIMESTAMP_HEADER} {timestamp}",
            message_id=message_id,
        )

    def expected(self, secret: str, delivery: Delivery) -> bytes:
        """The base64 signature of the delivery's content under the declared derivation."""
        return self._base64(secret, delivery.content).encode()

    def mismatch(self, tried: int) -> str:
        """The ``bad_signature`` message, naming the key derivation."""
        return (
            f"no {VERSION} signature in {SIGNATURE_HEADER} matches the body for any "
            f"configured secret ({tried} tried; {self.provider} keys the HMAC with the "
            f"secret's {self.derivation.value.replace('_', ' ')})"
        )

    def accept(self, payload: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
        """The payload with the ``webhook-id`` under :data:`WEBHOOK_ID_KEY`."""
        payload[WEBHOOK_ID_KEY] = delivery.message_id
        return payload


class StandardWebhooksProvider(DeclaredProvider):
    """A declared provider that signs with Standard Webhooks (Polar, Whop).

    Its dedup key is the ``webhook-id``; its envelope is ``{"type", "timestamp" (RFC 3339),
    "data"}``; the tolerance is the specification's. A subclass declares its ``scheme`` (the
    key derivation), its subscription, facts, statuses and lifecycle.
    """

    scheme: ClassVar[StandardWebhooksScheme]
    default_tolerance = DEFAULT_TOLERANCE_SECONDS
    event_id_field = Field.of(WEBHOOK_ID_KEY)
    event_type_field = Field.of("type", kind="text")
    occurred_at_field = Field.of("timestamp", kind="iso")
