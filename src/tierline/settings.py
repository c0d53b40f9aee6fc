"""Settings read from the environment (``TIERLINE_*``) or given in code."""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tierline.db.engine import DEFAULT_DATABASE_URL

#: Secrets lists accept several values, comma-separated, so a secret can be rotated.
SecretList = Annotated[list[str], NoDecode]


class TierlineSettings(BaseSettings):
    """Every setting Tierline reads; each can be set as ``TIERLINE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    #: The catalog file (tiers, features, limits, provider links, referral rewards).
    catalog: str = "tierline.toml"

    # -- access -------------------------------------------------------------------------
    #: Days a past-due subscription keeps access while the provider retries the payment.
    past_due_grace_days: int = Field(default=3, ge=0)
    #: Seconds a cached ``status()`` may be served; 0 turns the in-process cache off.
    cache_ttl_seconds: float = Field(default=0.0, ge=0)
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
    fake_webhook_secret: SecretList = Field(default_factory=lambda: ["fake-webhook-secret"])
    #: Largest webhook body accepted, in bytes.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    #: Stripe's tolerance for the signed timestamp (its SDK's default is 300 s).
    stripe_tolerance_seconds: int = Field(default=300, ge=0)
    #: Paddle's tolerance for the signed timestamp (its SDK's default is 5 s).
    paddle_tolerance_seconds: int = Field(default=5, ge=0)

    # -- outbound provider APIs ---------------------------------------------------------
    stripe_api_key: str | None = None
    #: The Stripe mode this app accepts events of: ``live`` or ``test``. Unset, the API key's
    #: prefix decides (``sk_live_``/``rk_live_`` or ``sk_test_``/``rk_test_``); with neither,
    #: both modes are accepted. An event of the other mode is stored as ``ignored`` (200).
    stripe_mode: Literal["live", "test"] | None = None
    #: Base URL of Stripe's API; tests point it at a local fake speaking Stripe's wire format.
    stripe_api_base: str | None = None

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

    @field_validator("stripe_mode", mode="before")
    @classmethod
    def _empty_mode_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "stripe_webhook_secret", "paddle_webhook_secret", "fake_webhook_secret", mode="before"
    )
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
