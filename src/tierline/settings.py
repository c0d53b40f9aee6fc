"""Settings read from the environment (``TIERLINE_*``) or given in code."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tierline.db.engine import DEFAULT_DATABASE_URL, DEFAULT_POOL_SIZE

#: Secrets lists accept several values, comma-separated, so a secret can be rotated.
SecretList = Annotated[list[str], NoDecode]


#: The prefix of a Standard Webhooks secret (optional, as ``standardwebhooks`` reads it).
STANDARD_WEBHOOKS_PREFIX = "whsec_"
#: The shortest signing key the access webhook accepts, in bytes (the Standard Webhooks
#: reference libraries generate 24- to 64-byte keys).
MIN_ACCESS_WEBHOOK_KEY_BYTES = 16


class TierlineSettings(BaseSettings):
    """Every setting Tierline reads; each can be set as ``TIERLINE_<NAME>``."""

    # hide_input_in_errors: a refused value (a secret) is never echoed in the error.
    model_config = SettingsConfigDict(
        env_prefix="TIERLINE_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    #: PostgreSQL and MariaDB: connections each engine keeps open, as many as the requests
    #: (webhooks included) the app serves at once; as many again are opened beyond it under a
    #: burst and closed afterwards.
    db_pool_size: int = Field(default=DEFAULT_POOL_SIZE, ge=1, le=1000)
    #: The catalog file (tiers, features, limits, provider links, referral rewards).
    catalog: str = "tierline.toml"

    # -- access -------------------------------------------------------------------------
    #: Days a past-due subscription keeps access while the provider retries the payment.
    past_due_grace_days: int = Field(default=3, ge=0)
    #: Seconds a cached ``status()`` may be served; 0 turns the in-process cache off.
    cache_ttl_seconds: float = Field(default=0.0, ge=0)
    #: PostgreSQL: writes publish ``NOTIFY tierline_access`` and every process caching
    #: ``status()`` listens, so a change made anywhere reaches every cache within milliseconds
    #: (elsewhere, and with this off, another process's change is seen after the TTL).
    cache_notify: bool = True
    #: POST a signed ``access.changed`` event (Standard Webhooks) here after each access change
    #: (an ``http://`` or ``https://`` URL; checked when the settings load).
    access_webhook_url: str | None = None
    #: The Standard Webhooks secret of those POSTs: ``whsec_`` (optional) + the base64 of a key
    #: of at least :data:`MIN_ACCESS_WEBHOOK_KEY_BYTES` bytes; needed with the URL, in every
    #: process that delivers (the worker's too).
    access_webhook_secret: str | None = None
    #: A bearer token that passes every paid-access gate (compared in constant time).
    admin_token: str | None = None

    # -- usage metering -----------------------------------------------------------------
    #: The time zone whose midnights and first days of the month start usage periods (an IANA
    #: name such as ``Europe/Paris``, read with :mod:`zoneinfo`).
    usage_timezone: str = "UTC"
    #: ``calendar``: monthly periods start on the 1st; ``anniversary``: on the day of the
    #: month of the account's subscription period end (accounts without one use calendar).
    usage_alignment: Literal["calendar", "anniversary"] = "calendar"
    #: PostgreSQL only: ``False`` runs the usage counter's statements with
    #: ``synchronous_commit = off`` (about twice the hot-counter throughput; a server crash
    #: may lose the last fraction of a second of counted uses, never corrupt them).
    usage_synchronous_commit: bool = True

    # -- webhooks -----------------------------------------------------------------------
    stripe_webhook_secret: SecretList = Field(default_factory=list)
    paddle_webhook_secret: SecretList = Field(default_factory=list)
    polar_webhook_secret: SecretList = Field(default_factory=list)
    whop_webhook_secret: SecretList = Field(default_factory=list)
    lemonsqueezy_webhook_secret: SecretList = Field(default_factory=list)
    #: Turns on the offline ``fake`` provider: ``POST /webhooks/fake``, the fake checkout
    #: page and ``ingest("fake", ...)``. Whoever holds its secret can make any account paid, so
    #: it is off unless asked for: ``tierline demo`` and the test helpers turn it on; anything
    #: else needs ``TIERLINE_ENABLE_FAKE_PROVIDER=1`` *and* ``TIERLINE_FAKE_WEBHOOK_SECRET``
    #: (there is no default secret; enabled without one is a start-up error).
    enable_fake_provider: bool = False
    fake_webhook_secret: SecretList = Field(default_factory=list)
    #: Largest webhook body accepted, in bytes.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    #: Stripe's tolerance for the signed timestamp (its SDK's default is 300 s).
    stripe_tolerance_seconds: int = Field(default=300, ge=0)
    #: Paddle's tolerance for the signed timestamp (its SDK's default is 5 s).
    paddle_tolerance_seconds: int = Field(default=5, ge=0)
    #: Polar's and Whop's tolerance for ``webhook-timestamp`` (Standard Webhooks: 300 s).
    polar_tolerance_seconds: int = Field(default=300, ge=0)
    whop_tolerance_seconds: int = Field(default=300, ge=0)
    #: Lemon Squeezy signs no timestamp: a delivery whose ``data.attributes.updated_at`` is
    #: further than this from now is refused as ``stale_timestamp`` (bounds replays; its
    #: retries span minutes). Default: 3 days.
    lemonsqueezy_max_event_age_seconds: int = Field(default=3 * 24 * 3600, gt=0)

    # -- outbound provider APIs ---------------------------------------------------------
    stripe_api_key: str | None = None
    #: The Stripe mode this app accepts events of: ``live`` or ``test``. Unset, the API key's
    #: prefix decides (``sk_live_``/``rk_live_`` or ``sk_test_``/``rk_test_``); with neither,
    #: both modes are accepted. An event of the other mode is stored as ``ignored`` (200).
    stripe_mode: Literal["live", "test"] | None = None
    #: Base URL of Stripe's API; tests point it at a local fake speaking Stripe's wire format.
    stripe_api_base: str | None = None

    paddle_api_key: str | None = None
    #: Base URL of Paddle's API; unset, ``https://sandbox-api.paddle.com`` for a sandbox key
    #: (``pdl_sdbx_...``) and ``https://api.paddle.com`` otherwise. Tests point it at a fake.
    paddle_api_base: str | None = None

    # -- outbox (provider calls after the commit) ----------------------------------------
    #: Tries of an outbox item before it is ``dead`` (then only ``tierline outbox retry``).
    outbox_max_attempts: int = Field(default=10, ge=1)
    #: The first retry's delay; each further retry doubles it (with jitter), up to the max.
    outbox_backoff_seconds: float = Field(default=30.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0)
    #: How long a worker holds an item while it calls the provider (longer than any call).
    outbox_lease_seconds: float = Field(default=300.0, gt=0)
    #: Deliver an item right after the commit that wrote it (else only the worker does).
    outbox_inline: bool = True
    #: Polar API (``https://api.polar.sh``; sandbox ``https://sandbox-api.polar.sh``).
    polar_access_token: str | None = None
    polar_api_base: str = "https://api.polar.sh"
    #: Whop API v1 (``https://api.whop.com/api/v1``) and the hub where members manage billing.
    whop_api_key: str | None = None
    whop_api_base: str = "https://api.whop.com/api/v1"
    whop_hub_url: str = "https://whop.com/@me/settings/memberships/"
    #: Lemon Squeezy API and the store checkouts are created in.
    lemonsqueezy_api_key: str | None = None
    lemonsqueezy_store_id: str | None = None
    lemonsqueezy_api_base: str = "https://api.lemonsqueezy.com"
    #: A plan change to a tier ranked lower (``sort_order``) takes effect at the end of the
    #: paid period and is billed from then, without an immediate credit; the account keeps its
    #: tier until then (see ``tierline.billing.scheduled``). ``False``: prorated and effective
    #: at once, like upgrades.
    downgrade_at_period_end: bool = True

    #: The provider a checkout uses when the caller names none (e.g. ``fake`` for an offline
    #: demo whose catalog also links Stripe prices); unset, the tier's first provider link.
    checkout_provider: str | None = None

    # -- web ----------------------------------------------------------------------------
    #: Signs the settings-page forms (CSRF) and the referral cookie; every worker must share it.
    #: Required by the web adapters (unset is a start-up error); ``tierline demo`` makes one.
    secret_key: str | None = None
    #: Where the app is reachable, for checkout return URLs and invite links.
    public_url: str = "http://127.0.0.1:8000"
    #: Where a 402 response sends the user to upgrade.
    upgrade_url: str = "/billing/settings"
    #: The host app's own page the settings page links back to ("Back to the app").
    app_url: str | None = None
    #: A directory searched before Tierline's templates: put ``tierline/base.html`` there to
    #: render the billing pages inside the host's layout (see the README, "Self-service").
    templates_dir: str | None = None

    def paddle_api_url(self) -> str:
        """Paddle's API base: ``paddle_api_base``, else the sandbox for a sandbox key
        (``pdl_sdbx_...``), else live (https://developer.paddle.com/api-reference/about/paddle-api)."""
        if self.paddle_api_base:
            return self.paddle_api_base.rstrip("/")
        key = self.paddle_api_key or ""
        if key.startswith("pdl_sdbx_"):
            return "https://sandbox-api.paddle.com"
        return "https://api.paddle.com"

    @field_validator("usage_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"usage_timezone {value!r} is not an IANA time zone such as 'UTC' or 'Europe/Paris'"
            ) from exc
        return value

    @field_validator("access_webhook_url", "access_webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("access_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "access_webhook_url must be an http:// or https:// URL with a host, "
                "such as https://app.example.com/hooks/tierline (the value given is not "
                "repeated: a URL may hold a password)"
            )
        return value.strip()

    @field_validator("access_webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        encoded = value.removeprefix(STANDARD_WEBHOOKS_PREFIX)
        try:
            # What standardwebhooks.Webhook(secret) does, strictly: it skips characters outside
            # the base64 alphabet, and so signs with a key the receiver may not share.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
            problem = "is not base64"
        else:
            problem = f"decodes to {len(key)} bytes"
        if len(key) < MIN_ACCESS_WEBHOOK_KEY_BYTES:
            raise ValueError(
                f"access_webhook_secret {problem}: it must be a Standard Webhooks secret, "
                f"{STANDARD_WEBHOOKS_PREFIX} followed by the base64 of a key of at least "
                f"{MIN_ACCESS_WEBHOOK_KEY_BYTES} random bytes (24 to 64 are recommended), e.g. "
                "python -c \"import base64,os; print('whsec_' + "
                'base64.b64encode(os.urandom(32)).decode())"'
            )
        return value

    @field_validator("stripe_mode", mode="before")
    @classmethod
    def _empty_mode_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "stripe_webhook_secret",
        "paddle_webhook_secret",
        "polar_webhook_secret",
        "whop_webhook_secret",
        "lemonsqueezy_webhook_secret",
        "fake_webhook_secret",
        mode="before",
    )
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
