"""What both web adapters share: the paid-access gate's answers, routes' paths, CSRF tokens.

Nothing here imports a web framework; :mod:`tierline.web.fastapi` and
:mod:`tierline.web.flask` turn these plain values into responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from tierline.access.status import DenialReason
from tierline.accounts.service import AccountRef, clean_ref
from tierline.billing.checkout import RETURN_PATH
from tierline.billing.providers import is_enabled
from tierline.billing.result import IngestOutcome, IngestResult
from tierline.errors import ConfigurationError, NotFoundError, ValidationError
from tierline.facade import Tierline
from tierline.settings import TierlineSettings
from tierline.usage.decision import UsageDecision, UsageReason

#: Where the adapters mount their routes; checkout URLs and redirects rely on them.
BILLING_PREFIX = "/billing"
SETTINGS_PATH = RETURN_PATH
CHECKOUT_PATH = f"{BILLING_PREFIX}/checkout"
STATIC_PATH = f"{BILLING_PREFIX}/static"
WEBHOOK_PATH = "/webhooks"

#: Said when ``TIERLINE_SECRET_KEY`` is unset, at start-up of either adapter.
UNSET_SIGNER_MESSAGE = (
    "TIERLINE_SECRET_KEY is not set: Tierline signs its settings-page forms and referral "
    "cookies with it, and every worker and restart must share the same key. Generate one with "
    '`python -c "import secrets; print(secrets.token_urlsafe(32))"` and set it in the '
    "environment (or pass TierlineSettings(secret_key=...)); `tierline demo` makes its own"
)

#: How long a settings-page form stays valid.
CSRF_MAX_AGE_SECONDS = 24 * 3600


def signing_key(settings: TierlineSettings) -> str:
    """The key that signs Tierline's cookies and form tokens: ``settings.secret_key``.

    There is no per-process fallback: a random key per process would make a form served by one
    worker fail on another (403) and log everyone's referral out on each restart.

    Raises:
        ConfigurationError: the key is unset or blank (:data:`UNSET_SIGNER_MESSAGE`).
    """
    key = settings.secret_key
    if key is None or not key.strip():
        raise ConfigurationError(UNSET_SIGNER_MESSAGE)
    return key


@dataclass(frozen=True)
class Denial:
    """A refused request: the HTTP status and the JSON body to answer with."""

    status_code: int
    body: dict[str, Any]


UNAUTHENTICATED = Denial(401, {"error": "unauthenticated"})


def current_ref(value: AccountRef | None) -> str | None:
    """What a host's ``current_account`` returned, as the canonical account ref (or ``None``).

    ``session["user_id"] = user.id`` works as it is: an int, a str or a UUID is accepted and
    normalised (:func:`~tierline.accounts.service.clean_ref`), so the pages, their forms and
    the gates agree on one account.

    Raises:
        ValidationError: not a usable id (a bool, an empty string, ...).
    """
    return None if value is None else clean_ref(value)


def invalid_account(exc: ValidationError) -> Denial:
    """The gate's answer when the host's ``current_account`` returned an unusable id."""
    return Denial(400, {"error": "invalid_account_ref", "detail": str(exc)})


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def payment_required(
    settings: TierlineSettings,
    reason: DenialReason,
    tier: str | None,
    feature: str | None = None,
) -> Denial:
    """The 402 answer: a machine-readable reason, the account's tier and where to upgrade."""
    body: dict[str, Any] = {
        "error": "payment_required",
        "reason": reason.value,
        "tier": tier,
        "upgrade_url": settings.upgrade_url,
    }
    if feature is not None:
        body["feature"] = feature
    return Denial(402, body)


def check_access(
    tl: Tierline,
    account_ref: AccountRef | None,
    authorization: str | None,
    feature: str | None = None,
) -> Denial | None:
    """Decide a gated request: ``None`` lets it through, a :class:`Denial` refuses it.

    The admin bearer token passes every gate. Without a current account the answer is 401.
    Without ``feature`` the account needs active paid access; with it, the feature. A missing
    feature is reported as ``feature_not_in_tier`` when the account has paid access, and with
    the reason it has none otherwise (that is what an upgrade would fix first); either way the
    body names the ``feature``.
    """
    if tl.is_admin_token(bearer_token(authorization)):
        return None
    try:
        account_ref = current_ref(account_ref)
    except ValidationError as exc:
        return invalid_account(exc)
    if account_ref is None:
        return UNAUTHENTICATED
    try:
        if feature is not None and tl.has_feature(account_ref, feature):
            return None
        status = tl.status(account_ref)
    except NotFoundError:
        return payment_required(tl.settings, DenialReason.UNKNOWN_ACCOUNT, None, feature)
    if feature is None:
        if status.active:
            return None
        return payment_required(
            tl.settings, status.reason or DenialReason.NO_SUBSCRIPTION, status.tier
        )
    if status.active or status.reason is None:
        reason = DenialReason.FEATURE_NOT_IN_TIER
    else:
        reason = status.reason
    return payment_required(tl.settings, reason, status.tier, feature)


def quota_exceeded(settings: TierlineSettings, decision: UsageDecision) -> Denial:
    """The 402 answer of a refused quota: ``reason`` ``quota_exceeded`` with the counter."""
    return Denial(
        402,
        {
            "error": "payment_required",
            "reason": UsageReason.QUOTA_EXCEEDED.value,
            "feature": decision.feature,
            "limit": decision.limit,
            "used": decision.used,
            "resets_at": decision.resets_at.isoformat() if decision.resets_at else None,
            "upgrade_url": settings.upgrade_url,
        },
    )


def consume_quota(
    tl: Tierline,
    account_ref: AccountRef | None,
    authorization: str | None,
    feature: str,
    amount: int = 1,
) -> tuple[str | None, Denial | None]:
    """Count ``amount`` uses of ``feature`` for a gated request (``require_quota``).

    Returns the account ref whose use was counted (``None`` when nothing was: the admin bearer
    token passes without counting) and ``None``, or a :class:`Denial`: 401/400 as
    :func:`check_access`, 402 ``quota_exceeded`` with the limit, the count and when it resets,
    or 402 with :func:`check_access`'s reason when the feature is not granted at all.
    """
    if tl.is_admin_token(bearer_token(authorization)):
        return None, None
    try:
        ref = current_ref(account_ref)
    except ValidationError as exc:
        return None, invalid_account(exc)
    if ref is None:
        return None, UNAUTHENTICATED
    decision = tl.usage.track(ref, feature, amount)
    if decision.allowed:
        return ref, None
    if decision.reason is UsageReason.QUOTA_EXCEEDED:
        return None, quota_exceeded(tl.settings, decision)
    return None, check_access(tl, ref, authorization, feature)


def _csrf_serializer(settings: TierlineSettings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(settings), salt="tierline.form")


def csrf_token(settings: TierlineSettings, account_ref: str) -> str:
    """A token bound to the account, put in every form the settings pages post."""
    return _csrf_serializer(settings).dumps(account_ref)


def csrf_valid(settings: TierlineSettings, token: str | None, account_ref: str) -> bool:
    """Whether ``token`` was issued by :func:`csrf_token` for this account and is fresh.

    The forms start checkouts (and, with the fake provider, complete them), so a page on
    another site must not be able to post them on the user's behalf.
    """
    if not token:
        return False
    try:
        value = _csrf_serializer(settings).loads(token, max_age=CSRF_MAX_AGE_SECONDS)
    except BadSignature:
        return False
    return bool(value == account_ref)


def body_too_large(settings: TierlineSettings, size: int | None = None) -> IngestResult:
    """The answer to a webhook body over ``max_body_bytes``, refused before it is read whole."""
    seen = f"{size} bytes" if size is not None else "more than that"
    return IngestResult(
        IngestOutcome.REJECTED,
        detail=f"body_too_large: the webhook body is {seen}; the limit is "
        f"{settings.max_body_bytes} bytes (TIERLINE_MAX_BODY_BYTES)",
        reason="body_too_large",
    )


def webhook_mounted(settings: TierlineSettings, provider: str) -> bool:
    """Whether ``POST /webhooks/<provider>`` exists: a known provider that is turned on.

    The others answer 404 like any route the app does not have (the fake provider's, unless
    ``enable_fake_provider``), before the body is read.
    """
    return is_enabled(provider, settings)


def fake_checkout_mounted(settings: TierlineSettings) -> bool:
    """Whether the fake provider's checkout page is served (only when it is turned on)."""
    return settings.enable_fake_provider


def webhook_answer(result: IngestResult) -> tuple[int, dict[str, object]]:
    """The HTTP status and JSON body answering a delivery: a refusal names its reason code
    only (:meth:`IngestResult.response_body`); the details are in the log."""
    return result.status_code, result.response_body()


def declared_length(value: str | None) -> int | None:
    """The ``Content-Length`` header as a number, or ``None`` when absent or unreadable."""
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    digits = None if value is None else value.strip()
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return int(digits)
    except ValueError:
        # More digits than int() converts (sys.get_int_max_str_digits(), 4300 by default):
        # unreadable like any other, so the body is read up to the limit as received.
        return None


FORM_EXPIRED = "This form has expired or did not come from this site; reload the page and retry."
