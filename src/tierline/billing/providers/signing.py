"""Timestamped HMAC-SHA256 webhook signatures: the scheme Stripe, Paddle and the fake share.

Each provider sends one header holding a unix timestamp and one or more hex HMAC-SHA256
signatures of ``f"{timestamp}{joiner}{body}"``; they differ only in the header's name, its
separators and its key names:

=========  ======================  =========  =========  ========  ======
provider   header                  separator  timestamp  hash key  joiner
=========  ======================  =========  =========  ========  ======
stripe     ``Stripe-Signature``    ``,``      ``t``      ``v1``    ``.``
paddle     ``Paddle-Signature``    ``;``      ``ts``     ``h1``    ``:``
fake       ``Tierline-Signature``  ``,``      ``t``      ``v1``    ``.``
=========  ======================  =========  =========  ========  ======

:class:`SignatureScheme` verifies and signs any of them with the standard library only. Several
signatures in one header (a provider rolling its secret) and several configured secrets (you
rolling yours) are both accepted: any signature matching any secret passes.

Every scheme is an :class:`HmacScheme`, whose one ``verify`` fixes the order of the checks
(secrets configured, signature, timestamp, JSON) and differs only in how a scheme reads its
headers: :class:`SignatureScheme` above, :class:`BodyHmacScheme` (Lemon Squeezy's hex HMAC of
the body, no timestamp) and
:class:`~tierline.billing.providers.standard_webhooks.StandardWebhooksScheme` (Polar, Whop).
"""

from __future__ import annotations

import hmac
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, ClassVar

from tierline import bounds
from tierline.billing.providers.base import WebhookRejected

# Unix seconds have 10 digits until 2286; a longer value is not a timestamp (and int() of a
# few thousand digits raises ValueError instead of answering).
_MAX_TIMESTAMP_DIGITS = 12


def unix_seconds(raw: str) -> int | None:
    """A signed header's timestamp as unix seconds, or None when it is not one.

    Only ASCII digits, at most ``_MAX_TIMESTAMP_DIGITS`` of them: ``int()`` of a few thousand
    digits raises instead of answering, and no genuine timestamp is that long.
    """
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_TIMESTAMP_DIGITS:
        return None
    return int(raw)


#: "Now" for timestamp checks: unix seconds, or an aware datetime (so a Tierline clock fits).
Clock = Callable[[], float | datetime]


def unix_now(clock: Clock) -> float:
    """Read ``clock`` as unix seconds, whether it returns a number or an aware datetime."""
    now = clock()
    return now.timestamp() if isinstance(now, datetime) else float(now)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, matched case-insensitively (None when absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message`` keyed by the UTF-8 bytes of ``secret``."""
    return hmac.new(secret.encode("utf-8"), message, sha256).hexdigest()


#: The payload key under which a verified payload carries an event id that travels outside the
#: body (Standard Webhooks' ``webhook-id`` header); a stored event gets its id back there on
#: replay (:func:`decode_stored`). No provider's own payload uses this key.
DELIVERY_ID_KEY = "webhook-id"


def decode_stored(payload: str, provider: str, event_id: str) -> dict[str, Any]:
    """A stored body decoded for replay, as :meth:`verify` returned it on arrival.

    The body is decoded like a delivery (:func:`decode_json_object`), and the event id it was
    stored under is put back under :data:`DELIVERY_ID_KEY`, where a provider whose id is a
    header finds it; other providers never read that key.
    """
    decoded = decode_json_object(payload, provider)
    decoded[DELIVERY_ID_KEY] = event_id
    return decoded


def decode_json_object(body: bytes | str, provider: str) -> dict[str, Any]:
    """Decode a verified body (or a stored one, on replay); it must be a JSON object.

    The body must be UTF-8 without a byte order mark and nest at most
    :data:`tierline.bounds.MAX_JSON_DEPTH` levels (checked before decoding, so a deep body is
    refused without recursion). Raises :class:`WebhookRejected` ``malformed_json`` otherwise.
    """
    try:
        raw = body.encode("utf-8") if isinstance(body, str) else body
        bounds.check_no_bom(raw, field=f"{provider} webhook body")
        bounds.check_json_depth(raw, field=f"{provider} webhook body")
        text = raw.decode("utf-8")
        payload = json.loads(text)
    except bounds.BoundsError as exc:
        raise WebhookRejected("malformed_json", str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise WebhookRejected(
            "malformed_json", f"{provider} webhook body is not valid UTF-8 JSON: {exc}"
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookRejected(
            "malformed_payload",
            f"{provider} webhook body is JSON {type(payload).__name__}, expected an object",
        )
    return payload


def require_secrets(secrets: Sequence[str], provider: str, setting: str) -> None:
    """Raise ``no_secret_configured`` when ``secrets`` is empty: nothing verifies then."""
    if not secrets:
        raise WebhookRejected(
            "no_secret_configured",
            f"no {provider} webhook secret is configured; set {setting} "
            "(several comma-separated secrets are accepted during a rotation)",
        )


def required_header(headers: Mapping[str, str], name: str) -> str:
    """The non-blank value of header ``name``; ``missing_signature`` when it is absent."""
    value = header_value(headers, name)
    if value is None or not value.strip():
        raise WebhookRejected("missing_signature", f"the {name} header is missing or empty")
    return value


def any_matches(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    """Whether any received signature equals any expected one, in constant time per pair.

    Every pair is compared (no early exit) so timing says nothing about which matched.
    """
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(digest, candidate)
    return matched


def check_age(age: float, tolerance: float, what: str) -> None:
    """Raise ``stale_timestamp`` when ``age`` seconds is beyond ``tolerance`` either way."""
    if abs(age) > tolerance:
        when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
        raise WebhookRejected("stale_timestamp", f"{what} is {when} (tolerance {int(tolerance)} s)")


@dataclass(frozen=True)
class Delivery:
    """What a scheme read from one delivery's headers, before any secret is tried."""

    #: The signatures received (each as sent, encoded), any of which may match.
    received: list[bytes]
    #: The exact bytes signed.
    content: bytes
    #: The signed unix timestamp, None for a scheme without one.
    timestamp: int | None = None
    #: How a stale timestamp is named in the error (``Stripe-Signature timestamp 17``).
    stamp: str = ""
    #: The message id a scheme's headers carry (Standard Webhooks ``webhook-id``).
    message_id: str | None = None


class HmacScheme(ABC):
    """An HMAC-SHA256 webhook scheme: :meth:`verify` once, each scheme's spelling in subclasses.

    A subclass sets ``provider`` and ``setting`` (the secrets' setting, named when none is
    configured) and implements :meth:`read` (the signatures and the signed content, raising
    ``missing_signature`` / ``malformed_signature``) and :meth:`sign`; :meth:`expected` (the
    signature a secret gives) defaults to the hex HMAC-SHA256 of the signed content. The order
    of checks is fixed here: secrets configured, signature, then timestamp, so
    ``stale_timestamp`` is only ever said of an authentic delivery (a replay, or a clock that
    is off), never of a forgery.
    """

    provider: str
    setting: str

    @abstractmethod
    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The delivery's signatures and signed content."""

    def expected(self, secret: str, delivery: Delivery) -> bytes:
        """The signature ``secret`` gives for ``delivery``, as sent (default: hex HMAC)."""
        return hmac_sha256_hex(secret, delivery.content).encode()

    @abstractmethod
    def sign(self, body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
        """The headers carrying a valid signature of ``body`` (timestamp defaults to now)."""

    def mismatch(self, tried: int) -> str:
        """The ``bad_signature`` message."""
        return f"no signature matches the body for any configured secret ({tried} tried)"

    def accept(self, payload: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
        """The verified payload as returned (a scheme may add what its headers carry)."""
        return payload

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        *,
        secrets: Sequence[str],
        tolerance: int,
        now: float,
    ) -> dict[str, Any]:
        """Check the signature, then the timestamp; return the decoded JSON object.

        Raises :class:`WebhookRejected` (``no_secret_configured``, ``missing_signature``,
        ``malformed_signature``, ``bad_signature``, ``stale_timestamp``, ``malformed_json``,
        ``malformed_payload``).
        """
        require_secrets(secrets, self.provider, self.setting)
        delivery = self.read(headers, body)
        expected = [self.expected(secret, delivery) for secret in secrets]
        if not any_matches(delivery.received, expected):
            raise WebhookRejected("bad_signature", self.mismatch(len(secrets)))
        if delivery.timestamp is not None:
            check_age(now - delivery.timestamp, tolerance, delivery.stamp)
        return self.accept(decode_json_object(body, self.provider), delivery)


@dataclass(frozen=True)
class SignatureScheme(HmacScheme):
    """One provider's spelling of the timestamped HMAC-SHA256 header."""

    provider: str
    header: str
    separator: str
    timestamp_key: str
    hash_key: str
    joiner: str
    #: The setting that holds this provider's secrets, named in "no secret" errors.
    setting: str

    @classmethod
    def stripe_style(cls, provider: str, header: str, setting: str) -> SignatureScheme:
        """Stripe's spelling (``t=<unix>,v1=<hex>`` over ``{t}.{body}``) in header ``header``."""
        return cls(provider, header, ",", "t", "v1", ".", setting)

    def signed_content(self, timestamp: int, body: bytes) -> bytes:
        """The exact bytes the provider signs: timestamp, joiner, raw body."""
        return f"{timestamp}{self.joiner}".encode() + body

    def sign(self, body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
        """Headers carrying a valid signature of ``body`` (timestamp defaults to now)."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        digest = hmac_sha256_hex(secret, self.signed_content(ts, body))
        value = f"{self.timestamp_key}={ts}{self.separator}{self.hash_key}={digest}"
        return {self.header: value}

    def parse_header(self, value: str) -> tuple[int, list[str]]:
        """Split the header into its timestamp and its signatures for :attr:`hash_key`.

        Unknown keys (Stripe's ``v0`` test signature, future schemes) are skipped.
        """
        timestamps: list[str] = []
        signatures: list[str] = []
        for item in value.split(self.separator):
            item = item.strip()
            if not item:
                continue
            key, sep, part = item.partition("=")
            if not sep:
                raise self._malformed(value, f"item {item!r} has no '='")
            key, part = key.strip(), part.strip()
            if key == self.timestamp_key:
                timestamps.append(part)
            elif key == self.hash_key:
                signatures.append(part)
        if len(timestamps) != 1:
            raise self._malformed(
                value, f"expected exactly one {self.timestamp_key}=<unix seconds>"
            )
        timestamp = unix_seconds(timestamps[0])
        if timestamp is None:
            raise self._malformed(
                value, f"{self.timestamp_key}={bounds.shown(timestamps[0])} is not unix seconds"
            )
        if not signatures:
            raise self._malformed(value, f"no {self.hash_key}=<hex signature>")
        return timestamp, signatures

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The header's signatures for :attr:`hash_key` over ``{timestamp}{joiner}{body}``."""
        timestamp, signatures = self.parse_header(required_header(headers, self.header))
        return Delivery(
            received=[sig.encode("utf-8", "replace") for sig in signatures],
            content=self.signed_content(timestamp, body),
            timestamp=timestamp,
            stamp=f"{self.header} timestamp {timestamp}",
        )

    def mismatch(self, tried: int) -> str:
        """The ``bad_signature`` message, naming the header."""
        return (
            f"no {self.hash_key} signature in {self.header} matches the body for any "
            f"configured secret ({tried} tried)"
        )

    def _malformed(self, value: str, why: str) -> WebhookRejected:
        return WebhookRejected(
            "malformed_signature",
            f"cannot read the {self.header} header {bounds.shown(value, 120)}: {why}",
        )


@dataclass(frozen=True)
class BodyHmacScheme(HmacScheme):
    """A hex HMAC-SHA256 of the raw body in one header, with no timestamp (Lemon Squeezy).

    Without a signed timestamp a captured delivery verifies forever: the provider using it
    must bound replays itself (see :mod:`tierline.billing.providers.lemonsqueezy`).
    """

    provider: str
    header: str
    setting: str

    def sign(self, body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
        """The header carrying the signature of ``body`` (``timestamp`` is unused)."""
        return {self.header: hmac_sha256_hex(secret, body)}

    def read(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """The header's one hex signature (any case) over the raw body."""
        received = required_header(headers, self.header).strip().lower()
        return Delivery(received=[received.encode("utf-8", "replace")], content=body)

    def mismatch(self, tried: int) -> str:
        """The ``bad_signature`` message, naming the header."""
        return f"{self.header} does not match the body for any configured secret ({tried} tried)"


class SignedProvider:
    """What every provider shares: its signature scheme, secrets, tolerance and clock.

    A provider subclasses it, naming its ``name``, ``scheme`` and ``default_tolerance``, and
    adds its own ``parse``.
    """

    name: str
    scheme: ClassVar[HmacScheme]
    default_tolerance: ClassVar[int]

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance_seconds: int | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.secrets = tuple(secrets)
        self.tolerance_seconds = (
            self.default_tolerance if tolerance_seconds is None else tolerance_seconds
        )
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> Mapping[str, Any]:
        """Check the provider's signature header over the raw body; return the decoded JSON."""
        payload = self.scheme.verify(
            headers,
            body,
            secrets=self.secrets,
            tolerance=self.tolerance_seconds,
            now=unix_now(self.clock),
        )
        self.check(payload)
        return payload

    def check(self, payload: Mapping[str, Any]) -> None:
        """A provider's own check of an authentic payload (default: none); raises
        :class:`WebhookRejected`."""
